"""The three wire encodings of RivetKit: ``json``, ``cbor`` and ``bare``.

Each :class:`Encoding` turns protocol messages and HTTP action bodies into bytes and
back. They all share the JSON-compat value model of :mod:`.values`:

* ``json``: text frames, ``{"body":{"tag":..,"val":{..}}}``; action ids as
  ``["$BigInt","n"]``.
* ``cbor``: the same envelope as a CBOR map, in binary frames.
* ``bare``: the compact binary schema (client protocol v4) of the JS client's
  default encoding: a ``u16`` little-endian version, a ``u8`` union tag, BARE fields,
  with every free-form value (args, output, metadata) as a CBOR blob.

Decoding never raises anything but :class:`~rivetkit_web.errors.ProtocolError`,
whatever the server sent.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from ..errors import ActorError, ActorSpecifier, ProtocolError, actor_error_from_mapping
from . import cbor
from .messages import (
    ActionRequest,
    ActionResponse,
    ErrorMessage,
    Event,
    Init,
    ToClient,
    ToServer,
)
from .values import from_compat, to_compat

__all__ = [
    "BareEncoding",
    "CborEncoding",
    "ENCODINGS",
    "Encoding",
    "JsonEncoding",
    "get_encoding",
]

PROTOCOL_VERSION = 4
_VERSION_PREFIX = PROTOCOL_VERSION.to_bytes(2, "little")


class Encoding:
    """How messages and action bodies travel for one encoding name."""

    name: ClassVar[str]
    content_type: ClassVar[str]
    binary: ClassVar[bool]

    def encode_to_server(self, message: ToServer) -> str | bytes:
        """The WebSocket frame for one client message (``str`` for text frames)."""
        raise NotImplementedError

    def decode_to_client(self, frame: str | bytes) -> ToClient:
        """The message in one server frame; raises ``ProtocolError``."""
        raise NotImplementedError

    def encode_action_args(self, args: list[Any]) -> bytes:
        """The body of a stateless ``POST .../action/{name}`` request."""
        raise NotImplementedError

    def decode_action_output(self, body: bytes) -> Any:
        """The output in a successful action response body; raises ``ProtocolError``."""
        raise NotImplementedError

    def decode_error_body(self, body: bytes) -> Mapping[str, Any]:
        """The ``{group, code, message, metadata, actor}`` of an error body, with the
        metadata already turned into Python values."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Encoding {self.name}>"


# --------------------------------------------------------------------------- envelope


def _envelope(message: ToServer) -> dict[str, Any]:
    if isinstance(message, ActionRequest):
        return {
            "body": {
                "tag": "ActionRequest",
                "val": {"id": ["$BigInt", str(message.id)], "name": message.name,
                        "args": to_compat(message.args, path="args")},
            }
        }
    return {
        "body": {
            "tag": "SubscriptionRequest",
            "val": {"eventName": message.event_name, "subscribe": message.subscribe},
        }
    }


def _id(value: Any) -> int:
    if type(value) is list and len(value) == 2 and value[0] == "$BigInt" and type(value[1]) is str \
            and value[1].isdecimal():
        return int(value[1])  # what every action id looks like in json: no from_compat
    value = from_compat(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # NaN and infinities are not integers
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError(f"bad action id {value!r}")
    return value


def _str(val: Mapping[str, Any], key: str) -> str:
    value = val.get(key)
    if not isinstance(value, str):
        raise ProtocolError(f"field {key!r} missing or not a string")
    return value


def _optional_str(val: Mapping[str, Any], key: str) -> str:
    value = val.get(key)
    return value if isinstance(value, str) else ""


def _actor(raw: Any) -> ActorSpecifier | None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("actorId"), str):
        return None
    generation = raw.get("generation")
    key = raw.get("key")
    return ActorSpecifier(
        raw["actorId"],
        generation if isinstance(generation, int) and not isinstance(generation, bool) else None,
        key if isinstance(key, str) else None,
    )


def _from_envelope(data: Any) -> ToClient:
    """Read a decoded ``{"body":{"tag","val"}}`` envelope (json and cbor)."""
    try:
        body = data["body"]
        tag = body["tag"]
        val = body["val"]
    except (KeyError, TypeError, IndexError) as exc:
        raise ProtocolError("message is not a {body: {tag, val}} envelope") from exc
    if not isinstance(val, Mapping):
        raise ProtocolError("message val is not an object")
    try:
        if tag == "Event":
            args = _compat_value(val.get("args", []))
            if not isinstance(args, list):
                args = [args]
            return Event(_str(val, "name"), args)
        if tag == "ActionResponse":
            return ActionResponse(_id(val.get("id")), _compat_value(val.get("output")))
        if tag == "Init":
            return Init(_str(val, "actorId"), _str(val, "connectionId"))
        if tag == "Error":
            action_id = val.get("actionId")
            return ErrorMessage(
                _str(val, "group"),
                _str(val, "code"),
                _optional_str(val, "message"),
                _lenient_revive(val.get("metadata")),
                None if action_id is None else _id(action_id),
                _actor(val.get("actor")),
            )
    except (ValueError, RecursionError) as exc:  # bad compat tags, bad base64, too deep
        raise ProtocolError(f"malformed {tag} message: {exc}") from None
    raise ProtocolError(f"unknown message tag {tag!r}")


# --------------------------------------------------------------------------- json, cbor


class _EnvelopeEncoding(Encoding):
    """json and cbor: the same ``{"body":{"tag","val"}}`` maps, two serializations."""

    def _dumps(self, value: Any) -> str | bytes:
        raise NotImplementedError

    def _loads(self, data: str | bytes) -> Any:
        """Parse ``data``; raises ``ProtocolError`` whatever is wrong with it."""
        raise NotImplementedError

    def _load_map(self, data: bytes, what: str) -> Mapping[str, Any]:
        value = self._loads(data)
        if not isinstance(value, Mapping):
            raise ProtocolError(f"{what} is not a {self.name} map")
        return value

    def decode_to_client(self, frame: str | bytes) -> ToClient:
        return _from_envelope(self._loads(frame))

    def encode_action_args(self, args: list[Any]) -> bytes:
        body = self._dumps({"args": to_compat(list(args), path="args")})
        return body.encode("utf-8") if isinstance(body, str) else body

    def decode_action_output(self, body: bytes) -> Any:
        return _revive(self._load_map(body, "action response").get("output"), "action output")

    def decode_error_body(self, body: bytes) -> Mapping[str, Any]:
        data = dict(self._load_map(body, "error body"))
        data["metadata"] = _lenient_revive(data.get("metadata"))
        return data


class JsonEncoding(_EnvelopeEncoding):
    """Text frames of JSON; the most readable, and what the engine assumes by default."""

    name = "json"
    content_type = "application/json"
    binary = False

    def _dumps(self, value: Any) -> str:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        if not text.isascii():
            text.encode("utf-8")  # UnicodeEncodeError (a ValueError) for lone surrogates
        return text

    def _loads(self, data: str | bytes) -> Any:
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ProtocolError(f"invalid JSON from server: {exc}") from exc

    def encode_to_server(self, message: ToServer) -> str:
        if type(message) is ActionRequest:  # the hot path: no envelope dicts
            args = self._dumps(to_compat(message.args, path="args"))
            return (f'{{"body":{{"tag":"ActionRequest","val":{{"id":["$BigInt","{message.id}"],'
                    f'"name":{_json_str(message.name)},"args":{args}}}}}}}')
        return self._dumps(_envelope(message))


class CborEncoding(_EnvelopeEncoding):
    """Binary frames: the JSON envelope written as CBOR."""

    name = "cbor"
    content_type = "application/octet-stream"
    binary = True

    def _dumps(self, value: Any) -> bytes:
        return cbor.dumps(value)

    def _loads(self, data: str | bytes) -> Any:
        return _cbor_loads(data)

    def encode_to_server(self, message: ToServer) -> bytes:
        envelope = _envelope(message)
        if isinstance(message, ActionRequest):  # ids are plain uints in CBOR
            envelope["body"]["val"]["id"] = message.id
        return cbor.dumps(envelope)


@functools.lru_cache(maxsize=256)
def _json_str(value: str) -> str:
    """A JSON string literal (action names repeat: cached)."""
    return json.dumps(value, ensure_ascii=False)


_PLAIN_DEPTH = 64
"""Deeper values go through from_compat, so how deep a value may be does not depend on
this shortcut (from_compat raises RecursionError, i.e. ProtocolError, where it must)."""


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` decodes to itself: scalars, and lists/dicts of plain values
    without ``$``-tagged pairs, at most ``_PLAIN_DEPTH`` deep. Such values skip
    :func:`from_compat` (a copy)."""
    kind = type(value)
    if kind is list:
        if len(value) == 2 and type(value[0]) is str and value[0].startswith("$"):
            return False
        items: Any = value
    elif kind is dict:
        items = value.values()
    else:
        return True
    if depth >= _PLAIN_DEPTH:
        return False
    for item in items:  # scalars inline: no call per item
        kind = type(item)
        if (kind is list or kind is dict) and not _plain(item, depth + 1):
            return False
    return True


def _compat_value(value: Any) -> Any:
    """``from_compat(value)``, skipping its copy when ``value`` is plain."""
    return value if _plain(value) else from_compat(value)


def _cbor_loads(data: str | bytes) -> Any:
    if isinstance(data, str):
        raise ProtocolError("expected a binary frame, got text")
    try:
        return cbor.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"invalid CBOR from server: {exc}") from exc


def _cbor_value(data: bytes) -> Any:
    """A CBOR blob holding a JSON-compat value (args, output, metadata)."""
    try:
        return _compat_value(cbor.loads(data))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"invalid CBOR value from server: {exc}") from None


def _cbor_metadata(data: bytes) -> Any:
    """Error metadata: revived where possible, else as the server sent it."""
    try:
        raw = cbor.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"invalid CBOR metadata from server: {exc}") from None
    return _lenient_revive(raw)


def _lenient_revive(value: Any) -> Any:
    """Error metadata is informational: revived where possible, else kept as sent."""
    try:
        return from_compat(value)
    except (ValueError, RecursionError):
        return value


def _revive(value: Any, what: str) -> Any:
    """``from_compat`` for a decoded value; any failure is a ``ProtocolError``."""
    try:
        return from_compat(value)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"malformed {what}: {exc}") from None


# --------------------------------------------------------------------------- bare


class _BareWriter:
    __slots__ = ("out",)

    def __init__(self) -> None:
        self.out = bytearray(_VERSION_PREFIX)

    def uint(self, value: int) -> None:
        while value >= 0x80:
            self.out.append((value & 0x7F) | 0x80)
            value >>= 7
        self.out.append(value)

    def data(self, value: bytes) -> None:
        self.uint(len(value))
        self.out += value

    def str(self, value: str) -> None:
        self.data(value.encode("utf-8"))


class _BareReader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        if len(buf) < 2:
            raise ProtocolError("BARE message too short")
        version = int.from_bytes(buf[:2], "little")
        if version != PROTOCOL_VERSION:
            raise ProtocolError(f"unsupported protocol version {version}")
        self.buf = buf
        self.pos = 2

    def u8(self) -> int:
        if self.pos >= len(self.buf):
            raise ProtocolError("BARE message ends early")
        value = self.buf[self.pos]
        self.pos += 1
        return value

    def bool(self) -> bool:
        value = self.u8()
        if value > 1:
            raise ProtocolError("invalid BARE bool")
        return value == 1

    def uint(self) -> int:
        result = shift = 0
        for _ in range(10):
            byte = self.u8()
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7
        raise ProtocolError("BARE uint too long")

    def data(self) -> bytes:
        length = self.uint()
        end = self.pos + length
        if end > len(self.buf):
            raise ProtocolError("BARE data longer than the message")
        value = self.buf[self.pos:end]
        self.pos = end
        return value

    def str(self) -> str:
        try:
            return self.data().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("BARE string is not UTF-8") from exc

    def actor(self) -> ActorSpecifier | None:
        if not self.bool():
            return None
        actor_id = self.str()
        generation = self.uint()
        key = self.str() if self.bool() else None
        return ActorSpecifier(actor_id, generation, key)

    def end(self) -> None:
        if self.pos != len(self.buf):
            raise ProtocolError("trailing bytes after BARE message")


def _bare_fast(frame: bytes) -> ToClient | None:
    """An ``ActionResponse`` or ``Event`` whose lengths and id fit in one varint byte
    each (nearly all of them), read without the general reader; ``None`` otherwise."""
    size = len(frame)
    if size < 5 or frame[0] != _VERSION_PREFIX[0] or frame[1] != _VERSION_PREFIX[1]:
        return None
    tag = frame[2]
    if tag == 2:  # ActionResponse: id, data
        action_id, length = frame[3], frame[4]
        if action_id >= 0x80 or length >= 0x80 or 5 + length != size:
            return None
        return ActionResponse(action_id, _cbor_value(frame[5:]))
    if tag == 3:  # Event: str name, data args
        name_end = 4 + frame[3]
        if frame[3] >= 0x80 or name_end >= size:
            return None
        length = frame[name_end]
        if length >= 0x80 or name_end + 1 + length != size:
            return None
        try:
            name = frame[4:name_end].decode("utf-8")
        except UnicodeDecodeError:
            return None
        args = _cbor_value(frame[name_end + 1:])
        return Event(name, args if isinstance(args, list) else [args])
    return None


class BareEncoding(Encoding):
    """The JS client's default: compact BARE framing with CBOR values."""

    name = "bare"
    content_type = "application/octet-stream"
    binary = True

    def encode_to_server(self, message: ToServer) -> bytes:
        w = _BareWriter()
        if isinstance(message, ActionRequest):
            args = cbor.dumps(to_compat(message.args, path="args"))
            w.out.append(0)
            w.uint(message.id)
            w.str(message.name)
            w.data(args)
        else:
            w.out.append(1)
            w.str(message.event_name)
            w.out.append(1 if message.subscribe else 0)
        return bytes(w.out)

    def decode_to_client(self, frame: str | bytes) -> ToClient:
        if isinstance(frame, str):
            raise ProtocolError("expected a binary frame, got text")
        fast = _bare_fast(frame)
        if fast is not None:
            return fast
        r = _BareReader(frame)
        tag = r.u8()
        message: ToClient
        if tag == 0:
            message = Init(r.str(), r.str())
        elif tag == 1:
            group, code, msg = r.str(), r.str(), r.str()
            metadata = _cbor_value(r.data()) if r.bool() else None
            action_id = r.uint() if r.bool() else None
            message = ErrorMessage(group, code, msg, metadata, action_id, r.actor())
        elif tag == 2:
            message = ActionResponse(r.uint(), _cbor_value(r.data()))
        elif tag == 3:
            name = r.str()
            args = _cbor_value(r.data())
            message = Event(name, args if isinstance(args, list) else [args])
        else:
            raise ProtocolError(f"unknown BARE message tag {tag}")
        r.end()
        return message

    def encode_action_args(self, args: list[Any]) -> bytes:
        w = _BareWriter()
        w.data(cbor.dumps(to_compat(list(args), path="args")))
        return bytes(w.out)

    def decode_action_output(self, body: bytes) -> Any:
        r = _BareReader(body)
        output = _cbor_value(r.data())
        r.end()
        return output

    def decode_error_body(self, body: bytes) -> Mapping[str, Any]:
        r = _BareReader(body)
        group, code, message = r.str(), r.str(), r.str()
        metadata = _cbor_metadata(r.data()) if r.bool() else None
        actor = r.actor()
        r.end()
        result: dict[str, Any] = {"group": group, "code": code, "message": message,
                                  "metadata": metadata}
        if actor is not None:
            result["actor"] = {"actorId": actor.actor_id, "generation": actor.generation,
                               "key": actor.key}
        return result


# --------------------------------------------------------------------------- registry

ENCODINGS: dict[str, Encoding] = {
    enc.name: enc for enc in (JsonEncoding(), CborEncoding(), BareEncoding())
}


def get_encoding(name: str) -> Encoding:
    """The encoding called ``name``; raises ``ValueError`` for an unknown name."""
    if not isinstance(name, str) or name not in ENCODINGS:
        raise ValueError(
            f"unknown encoding {name!r}: expected one of {', '.join(sorted(ENCODINGS))}"
        )
    return ENCODINGS[name]


def decode_http_error(
    encoding: Encoding, status: int, headers: Mapping[str, str], body: bytes
) -> ActorError:
    """The :class:`ActorError` of a non-2xx gateway or engine response.

    JSON bodies (``content-type: application/json``, as the gateway and engine always
    send) are read as JSON whatever ``encoding`` is; other bodies with ``encoding``.
    Raises ``ProtocolError`` when the body is not an error object.
    """
    ray_id = headers.get("x-rivet-ray-id")
    content_type = headers.get("content-type", "")
    codec: Encoding = ENCODINGS["json"] if "application/json" in content_type else encoding
    return actor_error_from_mapping(codec.decode_error_body(body), status=status, ray_id=ray_id)
