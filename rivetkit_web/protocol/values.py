"""How Python values map to RivetKit's JSON-compatible value model, and back.

RivetKit actors are JavaScript: a value crosses the wire as JSON or CBOR after the
JS client's "JSON compat" transform (``src/common/encoding.ts``), which writes the
types JSON lacks as tagged two-element arrays:

==============================  ==============================  =====================
Python                          wire                            JS on the actor
==============================  ==============================  =====================
``int`` beyond ±(2**53 - 1)     ``["$BigInt", "123…"]``         ``bigint``
``bytes``/``bytearray``/...     ``["$Uint8Array", "<base64>"]`` ``Uint8Array``
``set``/``frozenset``           ``["$Set", [...]]``             ``Set``
``["$x", 1]`` (a user list)     ``["$$x", 1]``                  ``["$x", 1]``
==============================  ==============================  =====================

Decoding also accepts ``$ArrayBuffer`` (→ ``bytes``) and ``$Undefined`` (→ ``None``).
``None``, ``bool``, ``str``, ``float``, smaller ``int``, ``list``/``tuple`` and
``dict`` with ``str`` keys pass through. Anything else raises ``TypeError`` naming the
offending path, before anything is sent.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_SAFE_INTEGER", "from_compat", "to_compat"]

MAX_SAFE_INTEGER = 2**53 - 1

_BIGINT = "$BigInt"
_UINT8ARRAY = "$Uint8Array"
_ARRAYBUFFER = "$ArrayBuffer"
_UNDEFINED = "$Undefined"
_SET = "$Set"


def to_compat(value: Any, *, path: str = "value") -> Any:
    """Return ``value`` in the JSON-compat model, ready for ``json.dumps`` or CBOR.

    Raises ``TypeError`` for values with no RivetKit equivalent (objects, functions,
    non-string dict keys) and ``ValueError`` for NaN and infinities, which JSON
    cannot carry; the message names the offending item (``value[0]['a']``).
    """
    try:
        return _to_compat_fast(value)
    except (TypeError, ValueError):
        return _to_compat_checked(value, path)  # again, to say where the bad item is


def _to_compat_fast(value: Any) -> Any:
    """The common case, on every action: exact built-in types, no path strings."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else [_BIGINT, str(value)]
    if kind is float:
        if value - value != 0.0:  # NaN or an infinity
            raise ValueError("out of range float")
        return value
    if kind is list or kind is tuple:
        items = [_to_compat_fast(item) for item in value]
        if len(items) == 2 and isinstance(items[0], str) and items[0].startswith("$"):
            items[0] = "$" + items[0]
        return items
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError("non-str key")
            out[key] = _to_compat_fast(item)
        return out
    return _to_compat_checked(value, "value")


def _to_compat_checked(value: Any, path: str) -> Any:
    """:func:`to_compat` for any type (subclasses, mappings, sets), tracking the path
    of each item so an error can name it. Slower; the fast path falls back to it."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return int(value)
        return [_BIGINT, str(int(value))]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: out of range float values ({value!r}) cannot be sent")
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return [_UINT8ARRAY, base64.b64encode(bytes(value)).decode("ascii")]
    if isinstance(value, (list, tuple)):
        items = [_to_compat_checked(item, f"{path}[{i}]") for i, item in enumerate(value)]
        if len(items) == 2 and isinstance(items[0], str) and items[0].startswith("$"):
            items[0] = "$" + items[0]
        return items
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"{path}: keys must be str, not {type(key).__name__} ({key!r})"
                )
            out[key] = _to_compat_checked(item, f"{path}[{key!r}]")
        return out
    if isinstance(value, (set, frozenset)):
        return [_SET, [_to_compat_checked(item, f"{path}{{}}") for item in value]]
    raise TypeError(
        f"{path}: object of type {type(value).__name__} is not serializable for RivetKit"
    )


def from_compat(value: Any) -> Any:
    """Return the Python value for a decoded JSON-compat value (the inverse of
    :func:`to_compat`). Raises ``ValueError`` for an unknown ``$`` tag."""
    if isinstance(value, list):
        if len(value) == 2 and isinstance(value[0], str) and value[0].startswith("$"):
            return _from_tagged(value[0], value[1])
        return [from_compat(item) for item in value]
    if isinstance(value, dict):
        return {key: from_compat(item) for key, item in value.items()}
    return value


def _from_tagged(tag: str, payload: Any) -> Any:
    if tag == _BIGINT:
        if isinstance(payload, int):
            return payload
        if not isinstance(payload, str):
            raise ValueError("$BigInt payload must be a string")
        return int(payload)
    if tag in (_UINT8ARRAY, _ARRAYBUFFER):
        if isinstance(payload, (bytes, bytearray)):
            return bytes(payload)
        if not isinstance(payload, str):
            raise ValueError(f"{tag} payload must be base64 text")
        return base64.b64decode(payload, validate=True)
    if tag == _UNDEFINED:
        return None
    if tag == _SET:
        if not isinstance(payload, list):
            raise ValueError("$Set payload must be an array")
        items = [from_compat(item) for item in payload]
        try:
            return set(items)
        except TypeError:  # unhashable members (lists, dicts): keep them as a list
            return items
    if tag.startswith("$$"):
        return [tag[1:], from_compat(payload)]
    raise ValueError(f"unknown JSON-compat tag {tag!r}")
