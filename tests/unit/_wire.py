"""Test-side helpers: an independent writer for what a server sends, readers for
what the client sends, and a type-strict equality.

Nothing here imports the encoders under test except ``cbor.dumps`` (itself
cross-checked against ``cbor2`` in ``test_cbor.py``) for CBOR payloads.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rivetkit_web.errors import ActorSpecifier
from rivetkit_web.protocol import cbor
from rivetkit_web.protocol.messages import (
    ActionRequest,
    ActionResponse,
    ErrorMessage,
    Event,
    Init,
    SubscriptionRequest,
)
from rivetkit_web.protocol.values import to_compat

VERSION = b"\x04\x00"


# --------------------------------------------------------------------------- equality


def same(a: Any, b: Any) -> bool:
    """Equality that also compares types (``True`` is not ``1``, ``1.0`` is not ``1``)
    and the sign of zero, recursively."""
    if isinstance(a, (bytes, bytearray)) and isinstance(b, (bytes, bytearray)):
        return bytes(a) == bytes(b)
    if type(a) is not type(b):
        if isinstance(a, (set, frozenset)) and isinstance(b, (set, frozenset)):
            return set(a) == set(b)
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


# --------------------------------------------------------------------------- BARE

def bare_uint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def bare_data(b: bytes) -> bytes:
    return bare_uint(len(b)) + b


def bare_str(s: str) -> bytes:
    return bare_data(s.encode("utf-8"))


def bare_opt(payload: bytes | None) -> bytes:
    return b"\x00" if payload is None else b"\x01" + payload


def cbor_value(value: Any) -> bytes:
    return cbor.dumps(to_compat(value))


def bare_actor(actor: ActorSpecifier | None) -> bytes:
    if actor is None:
        return b"\x00"
    assert actor.generation is not None
    return (
        b"\x01" + bare_str(actor.actor_id) + bare_uint(actor.generation)
        + bare_opt(None if actor.key is None else bare_str(actor.key))
    )


def bare_to_client(msg: Any) -> bytes:
    """A ToClient frame as the server writes it (client protocol v4)."""
    if isinstance(msg, Init):
        return VERSION + b"\x00" + bare_str(msg.actor_id) + bare_str(msg.connection_id)
    if isinstance(msg, ErrorMessage):
        return (
            VERSION + b"\x01" + bare_str(msg.group) + bare_str(msg.code) + bare_str(msg.message)
            + bare_opt(None if msg.metadata is None else bare_data(cbor_value(msg.metadata)))
            + bare_opt(None if msg.action_id is None else bare_uint(msg.action_id))
            + bare_actor(msg.actor)
        )
    if isinstance(msg, ActionResponse):
        return VERSION + b"\x02" + bare_uint(msg.id) + bare_data(cbor_value(msg.output))
    if isinstance(msg, Event):
        return VERSION + b"\x03" + bare_str(msg.name) + bare_data(cbor_value(list(msg.args)))
    raise TypeError(msg)


def bare_output_body(value: Any) -> bytes:
    return VERSION + bare_data(cbor_value(value))


def bare_error_body(group: str, code: str, message: str, metadata: Any = None,
                    actor: ActorSpecifier | None = None) -> bytes:
    return (
        VERSION + bare_str(group) + bare_str(code) + bare_str(message)
        + bare_opt(None if metadata is None else bare_data(cbor_value(metadata)))
        + bare_actor(actor)
    )


class BareReader:
    def __init__(self, buf: bytes) -> None:
        assert buf[:2] == VERSION, buf[:2]
        self.buf = buf
        self.pos = 2

    def u8(self) -> int:
        v = self.buf[self.pos]
        self.pos += 1
        return v

    def uint(self) -> int:
        result = shift = 0
        while True:
            b = self.u8()
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return result

    def data(self) -> bytes:
        n = self.uint()
        v = self.buf[self.pos:self.pos + n]
        assert len(v) == n
        self.pos += n
        return v

    def str(self) -> str:
        return self.data().decode("utf-8")

    def done(self) -> None:
        assert self.pos == len(self.buf), "trailing bytes"


def read_bare_to_server(frame: bytes) -> tuple[str, dict[str, Any]]:
    """Decode a ToServer frame the way the server does; values stay JSON-compat."""
    r = BareReader(frame)
    tag = r.u8()
    if tag == 0:
        out = {"id": r.uint(), "name": r.str(), "args": cbor.loads(r.data())}
        r.done()
        return "ActionRequest", out
    if tag == 1:
        out = {"eventName": r.str(), "subscribe": r.u8()}
        r.done()
        assert out["subscribe"] in (0, 1)
        out["subscribe"] = bool(out["subscribe"])
        return "SubscriptionRequest", out
    raise AssertionError(f"unknown ToServer tag {tag}")


# --------------------------------------------------------------------------- json / cbor envelopes


def _actor_obj(actor: ActorSpecifier) -> dict[str, Any]:
    obj: dict[str, Any] = {"actorId": actor.actor_id, "generation": actor.generation}
    if actor.key is not None:
        obj["key"] = actor.key
    return obj


def envelope_to_client(msg: Any, *, cbor_ids: bool, bigint_ids: bool = True) -> dict[str, Any]:
    """The ``{"body":{"tag","val"}}`` dict a server sends (values already compat)."""

    def ident(n: int) -> Any:
        if cbor_ids:
            return n
        return ["$BigInt", str(n)] if bigint_ids else n

    if isinstance(msg, Init):
        tag, val = "Init", {"actorId": msg.actor_id, "connectionId": msg.connection_id}
    elif isinstance(msg, ActionResponse):
        tag, val = "ActionResponse", {"id": ident(msg.id), "output": to_compat(msg.output)}
    elif isinstance(msg, Event):
        tag, val = "Event", {"name": msg.name, "args": to_compat(list(msg.args))}
    elif isinstance(msg, ErrorMessage):
        tag = "Error"
        val = {"group": msg.group, "code": msg.code, "message": msg.message,
               "actionId": None if msg.action_id is None else ident(msg.action_id)}
        if msg.metadata is not None:
            val["metadata"] = to_compat(msg.metadata)
        if msg.actor is not None:
            val["actor"] = _actor_obj(msg.actor)
    else:
        raise TypeError(msg)
    return {"body": {"tag": tag, "val": val}}


def json_to_client(msg: Any, *, bigint_ids: bool = True) -> str:
    return json.dumps(envelope_to_client(msg, cbor_ids=False, bigint_ids=bigint_ids))


def cbor_to_client(msg: Any) -> bytes:
    return cbor.dumps(envelope_to_client(msg, cbor_ids=True))


def to_client_frame(encoding: str, msg: Any) -> str | bytes:
    if encoding == "json":
        return json_to_client(msg)
    if encoding == "cbor":
        return cbor_to_client(msg)
    return bare_to_client(msg)


def output_body(encoding: str, value: Any) -> bytes:
    if encoding == "json":
        return json.dumps({"output": to_compat(value)}).encode()
    if encoding == "cbor":
        return cbor.dumps({"output": to_compat(value)})
    return bare_output_body(value)


def error_body(encoding: str, group: str, code: str, message: str, metadata: Any = None,
               actor: ActorSpecifier | None = None) -> bytes:
    if encoding == "bare":
        return bare_error_body(group, code, message, metadata, actor)
    obj: dict[str, Any] = {"group": group, "code": code, "message": message}
    if metadata is not None:
        obj["metadata"] = to_compat(metadata)
    if actor is not None:
        obj["actor"] = _actor_obj(actor)
    return json.dumps(obj).encode() if encoding == "json" else cbor.dumps(obj)


# --------------------------------------------------------------------------- keys


def deserialize_key(s: str) -> tuple[str, ...]:
    """A port of the JS ``deserializeActorKey`` (the engine's reading of a REST key)."""
    if s == "/":
        return ()
    parts: list[str] = []
    current = ""
    escaping = False
    empty_marker = False
    for ch in s:
        if escaping:
            if ch == "0":
                empty_marker = True
            else:
                current += ch
            escaping = False
        elif ch == "\\":
            escaping = True
        elif ch == "/":
            parts.append("" if empty_marker else current)
            current = ""
            empty_marker = False
        else:
            current += ch
    if escaping:
        current += "\\"
    parts.append("" if empty_marker else current)
    return tuple(parts)


# --------------------------------------------------------------------------- ToServer readers


def read_to_server(encoding: str, frame: str | bytes) -> Any:
    """Decode a ToServer frame with test-side code back into a message object."""
    from rivetkit_web.protocol.values import from_compat

    if encoding == "bare":
        assert isinstance(frame, bytes)
        tag, val = read_bare_to_server(frame)
        if tag == "ActionRequest":
            return ActionRequest(val["id"], val["name"], from_compat(val["args"]))
        return SubscriptionRequest(val["eventName"], val["subscribe"])
    if encoding == "json":
        assert isinstance(frame, str)
        env = json.loads(frame)
    else:
        assert isinstance(frame, bytes)
        env = cbor.loads(frame)
    assert set(env) == {"body"} and set(env["body"]) == {"tag", "val"}
    tag, val = env["body"]["tag"], env["body"]["val"]
    if tag == "ActionRequest":
        assert set(val) == {"id", "name", "args"}
        if encoding == "json":
            assert val["id"][0] == "$BigInt" and isinstance(val["id"][1], str)
            ident = int(val["id"][1])
        else:
            assert type(val["id"]) is int
            ident = val["id"]
        return ActionRequest(ident, val["name"], from_compat(val["args"]))
    assert tag == "SubscriptionRequest", tag
    assert set(val) == {"eventName", "subscribe"}
    return SubscriptionRequest(val["eventName"], val["subscribe"])
