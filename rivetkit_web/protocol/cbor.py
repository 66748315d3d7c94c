"""A small, pure-Python CBOR (RFC 8949) encoder and decoder.

Pure Python so that it runs unchanged under Pyodide. It covers what RivetKit puts in
CBOR: the JSON-compat value model (see :mod:`.values`) plus byte strings. Integers
use the shortest form, floats are written as float64 and read at every width, tags
other than bignums are read through (their content is returned), and indefinite
lengths are accepted when decoding.

Malformed input raises :class:`CBORDecodeError` (a ``ValueError``), never anything
else, however the bytes are broken.
"""

from __future__ import annotations

import struct
from typing import Any

__all__ = ["CBORDecodeError", "dumps", "loads"]

_MAX_DEPTH = 256


class CBORDecodeError(ValueError):
    """The bytes are not one well-formed CBOR item of a supported kind."""


# --------------------------------------------------------------------------- encode


def dumps(value: Any) -> bytes:
    """Encode ``value`` (None, bool, int, float, str, bytes, list, tuple, dict)."""
    out = bytearray()
    _encode(value, out, 0)
    return bytes(out)


def _head(major: int, length: int, out: bytearray) -> None:
    mt = major << 5
    if length < 24:
        out.append(mt | length)
    elif length < 0x100:
        out.append(mt | 24)
        out.append(length)
    elif length < 0x10000:
        out.append(mt | 25)
        out += length.to_bytes(2, "big")
    elif length < 0x100000000:
        out.append(mt | 26)
        out += length.to_bytes(4, "big")
    else:
        out.append(mt | 27)
        out += length.to_bytes(8, "big")


def _encode(value: Any, out: bytearray, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError("value is nested too deeply to encode")
    if value is None:
        out.append(0xF6)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif isinstance(value, int):
        if 0 <= value < 2**64:
            _head(0, value, out)
        elif -(2**64) <= value < 0:
            _head(1, -1 - value, out)
        else:  # bignum tags 2/3
            positive = value >= 0
            magnitude = value if positive else -1 - value
            payload = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
            _head(6, 2 if positive else 3, out)
            _head(2, len(payload), out)
            out += payload
    elif isinstance(value, float):
        out.append(0xFB)
        out += struct.pack(">d", value)
    elif isinstance(value, str):
        data = value.encode("utf-8")
        _head(3, len(data), out)
        out += data
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        _head(2, len(data), out)
        out += data
    elif isinstance(value, (list, tuple)):
        _head(4, len(value), out)
        for item in value:
            _encode(item, out, depth + 1)
    elif isinstance(value, dict):
        _head(5, len(value), out)
        for key, item in value.items():
            _encode(key, out, depth + 1)
            _encode(item, out, depth + 1)
    else:
        raise TypeError(f"object of type {type(value).__name__} is not CBOR serializable")


# --------------------------------------------------------------------------- decode


def loads(data: bytes | bytearray | memoryview) -> Any:
    """Decode exactly one CBOR item; trailing bytes are an error."""
    buf = bytes(data)
    value, pos = _Decoder(buf).item(0, 0)
    if value is _BREAK:
        raise CBORDecodeError("a break code is not a CBOR item")
    if pos != len(buf):
        raise CBORDecodeError(f"{len(buf) - pos} trailing bytes after the CBOR item")
    return value


_BREAK = object()


class _Decoder:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf

    def _take(self, pos: int, n: int) -> bytes:
        end = pos + n
        if end > len(self.buf):
            raise CBORDecodeError("CBOR data ends early")
        return self.buf[pos:end]

    def _argument(self, info: int, pos: int) -> tuple[int | None, int]:
        if info < 24:
            return info, pos
        if info == 24:
            return self._take(pos, 1)[0], pos + 1
        if info == 25:
            return int.from_bytes(self._take(pos, 2), "big"), pos + 2
        if info == 26:
            return int.from_bytes(self._take(pos, 4), "big"), pos + 4
        if info == 27:
            return int.from_bytes(self._take(pos, 8), "big"), pos + 8
        if info == 31:
            return None, pos  # indefinite length
        raise CBORDecodeError(f"reserved additional information {info}")

    def item(self, pos: int, depth: int) -> tuple[Any, int]:
        if depth > _MAX_DEPTH:
            raise CBORDecodeError("CBOR data is nested too deeply")
        initial = self._take(pos, 1)[0]
        pos += 1
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return self._simple(info, pos)
        arg, pos = self._argument(info, pos)
        if major == 0:
            if arg is None:
                raise CBORDecodeError("indefinite-length integer")
            return arg, pos
        if major == 1:
            if arg is None:
                raise CBORDecodeError("indefinite-length integer")
            return -1 - arg, pos
        if major in (2, 3):
            return self._string(major, arg, pos, depth)
        if major == 4:
            return self._array(arg, pos, depth)
        if major == 5:
            return self._map(arg, pos, depth)
        # major 6: tag
        if arg is None:
            raise CBORDecodeError("indefinite-length tag")
        content, pos = self.item(pos, depth + 1)
        if content is _BREAK:
            raise CBORDecodeError("a tag cannot wrap a break code")
        if arg in (2, 3) and isinstance(content, bytes):
            magnitude = int.from_bytes(content, "big")
            return (magnitude if arg == 2 else -1 - magnitude), pos
        return content, pos

    def _simple(self, info: int, pos: int) -> tuple[Any, int]:
        if info == 20:
            return False, pos
        if info == 21:
            return True, pos
        if info in (22, 23):
            return None, pos
        if info == 25:
            return struct.unpack(">e", self._take(pos, 2))[0], pos + 2
        if info == 26:
            return struct.unpack(">f", self._take(pos, 4))[0], pos + 4
        if info == 27:
            return struct.unpack(">d", self._take(pos, 8))[0], pos + 8
        if info == 31:
            return _BREAK, pos
        if info < 24:
            return None, pos  # unassigned simple values
        if info == 24:
            self._take(pos, 1)
            return None, pos + 1
        raise CBORDecodeError(f"unsupported simple value {info}")

    def _string(self, major: int, length: int | None, pos: int, depth: int) -> tuple[Any, int]:
        if length is None:
            chunks: list[Any] = []
            while True:
                chunk, pos = self.item(pos, depth + 1)
                if chunk is _BREAK:
                    break
                expected = bytes if major == 2 else str
                if not isinstance(chunk, expected):
                    raise CBORDecodeError("bad chunk in indefinite-length string")
                chunks.append(chunk)
            return (b"".join(chunks) if major == 2 else "".join(chunks)), pos
        raw = self._take(pos, length)
        pos += length
        if major == 2:
            return raw, pos
        try:
            return raw.decode("utf-8"), pos
        except UnicodeDecodeError as exc:
            raise CBORDecodeError("text string is not valid UTF-8") from exc

    def _array(self, length: int | None, pos: int, depth: int) -> tuple[Any, int]:
        items: list[Any] = []
        if length is None:
            while True:
                item, pos = self.item(pos, depth + 1)
                if item is _BREAK:
                    return items, pos
                items.append(item)
        if length > len(self.buf) - pos:
            raise CBORDecodeError("CBOR array longer than the data")
        for _ in range(length):
            item, pos = self.item(pos, depth + 1)
            if item is _BREAK:
                raise CBORDecodeError("unexpected break")
            items.append(item)
        return items, pos

    def _map(self, length: int | None, pos: int, depth: int) -> tuple[Any, int]:
        result: dict[Any, Any] = {}
        count = 0
        while length is None or count < length:
            key, pos = self.item(pos, depth + 1)
            if key is _BREAK:
                if length is None:
                    return result, pos
                raise CBORDecodeError("unexpected break")
            value, pos = self.item(pos, depth + 1)
            if value is _BREAK:
                raise CBORDecodeError("unexpected break")
            if isinstance(key, list):
                key = tuple(key)
            try:
                result[key] = value
            except TypeError as exc:
                raise CBORDecodeError("unhashable CBOR map key") from exc
            count += 1
        return result, pos
