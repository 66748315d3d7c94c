"""The json / cbor / bare encodings, against the frames recorded in protocol.md."""

from __future__ import annotations

import json

import pytest

from rivetkit_web.errors import ActorError, ActorSpecifier, ProtocolError
from rivetkit_web.protocol import cbor
from rivetkit_web.protocol.encoding import (
    ENCODINGS,
    BareEncoding,
    CborEncoding,
    JsonEncoding,
    decode_http_error,
    get_encoding,
)
from rivetkit_web.protocol.messages import (
    ActionRequest,
    ActionResponse,
    ErrorMessage,
    Event,
    Init,
    SubscriptionRequest,
)

from ._wire import bare_error_body, bare_str, bare_to_client, bare_uint, cbor_to_client, same

try:
    import cbor2
except ImportError:  # pragma: no cover
    cbor2 = None

JSON = get_encoding("json")
CBOR = get_encoding("cbor")
BARE = get_encoding("bare")
ALL = ["json", "cbor", "bare"]
H = bytes.fromhex


# --------------------------------------------------------------------------- registry


def test_registry():
    assert set(ENCODINGS) == {"json", "cbor", "bare"}
    assert isinstance(JSON, JsonEncoding) and isinstance(CBOR, CborEncoding)
    assert isinstance(BARE, BareEncoding)
    assert (JSON.binary, CBOR.binary, BARE.binary) == (False, True, True)
    assert JSON.content_type == "application/json"
    assert CBOR.content_type == BARE.content_type == "application/octet-stream"
    assert repr(BARE) == "<Encoding bare>"


@pytest.mark.parametrize("name", ["", "JSON", "msgpack", None, 1, b"json"])
def test_unknown_encoding_raises_value_error(name):
    with pytest.raises(ValueError, match="unknown encoding"):
        get_encoding(name)


# --------------------------------------------------------------------------- JSON (§4, verified bytes)

INIT_JSON = ('{"body":{"tag":"Init","val":{"actorId":"dh1m0af9llhoftz28lgmwi3kq8cl00",'
             '"connectionId":"6c42e2b1-4c2d-4085-a59f-1bf5744a0090"}}}')
EVENT_JSON = '{"body":{"tag":"Event","val":{"args":["hello","carol"],"name":"msg"}}}'
RESPONSE_JSON = '{"body":{"tag":"ActionResponse","val":{"id":["$BigInt","0"],"output":1}}}'
ERROR_JSON = ('{"body":{"tag":"Error","val":{"actionId":["$BigInt","1"],"actor":{"actorId":"dh1m…",'
              '"generation":1,"key":"w38bd4n"},"code":"my_code","group":"user","message":"nope",'
              '"metadata":{"a":1,"b":[2,3]}}}}')
CONN_ERROR_JSON = ('{"body":{"tag":"Error","val":{"actionId":null,"code":"forbidden","group":"user",'
                   '"message":"rejected by onBeforeConnect","metadata":{"why":"reject"}}}}')


def test_json_to_server_frames_match_the_js_client():
    assert JSON.encode_to_server(SubscriptionRequest("msg", True)) == (
        '{"body":{"tag":"SubscriptionRequest","val":{"eventName":"msg","subscribe":true}}}'
    )
    assert JSON.encode_to_server(ActionRequest(0, "say", ["hello"])) == (
        '{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","0"],"name":"say","args":["hello"]}}}'
    )
    assert JSON.encode_to_server(ActionRequest(1, "fail", [])) == (
        '{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","1"],"name":"fail","args":[]}}}'
    )
    assert JSON.encode_to_server(SubscriptionRequest("msg", False)).endswith('"subscribe":false}}}')


def test_json_frames_are_text_with_compat_values_and_raw_unicode():
    frame = JSON.encode_to_server(ActionRequest(2**60, "é", [b"\x01", 2**60, ["$x", 1]]))
    assert isinstance(frame, str)
    assert json.loads(frame)["body"]["val"] == {
        "id": ["$BigInt", str(2**60)], "name": "é",
        "args": [["$Uint8Array", "AQ=="], ["$BigInt", str(2**60)], ["$$x", 1]],
    }
    assert "é" in frame  # not \u00e9: ensure_ascii is off


def test_json_decodes_the_recorded_session():
    assert JSON.decode_to_client(INIT_JSON) == Init(
        "dh1m0af9llhoftz28lgmwi3kq8cl00", "6c42e2b1-4c2d-4085-a59f-1bf5744a0090"
    )
    assert JSON.decode_to_client(EVENT_JSON) == Event("msg", ["hello", "carol"])
    assert JSON.decode_to_client(RESPONSE_JSON) == ActionResponse(0, 1)
    assert JSON.decode_to_client(ERROR_JSON) == ErrorMessage(
        "user", "my_code", "nope", {"a": 1, "b": [2, 3]}, 1,
        ActorSpecifier("dh1m…", 1, "w38bd4n"),
    )
    assert JSON.decode_to_client(CONN_ERROR_JSON) == ErrorMessage(
        "user", "forbidden", "rejected by onBeforeConnect", {"why": "reject"}, None, None
    )


def test_json_accepts_bytes_frames_and_plain_number_ids():
    assert JSON.decode_to_client(RESPONSE_JSON.encode()) == ActionResponse(0, 1)
    frame = '{"body":{"tag":"ActionResponse","val":{"id":7,"output":null}}}'
    assert JSON.decode_to_client(frame) == ActionResponse(7, None)
    frame = '{"body":{"tag":"ActionResponse","val":{"id":7.0,"output":null}}}'
    assert JSON.decode_to_client(frame) == ActionResponse(7, None)


def test_json_decodes_compat_values_in_outputs_and_events():
    frame = ('{"body":{"tag":"ActionResponse","val":{"id":["$BigInt","3"],'
             '"output":{"n":["$BigInt","12345678901234567890"],"b":["$Uint8Array","AQID"],'
             '"e":["$$x",1]}}}}')
    assert same(JSON.decode_to_client(frame).output,
                {"n": 12345678901234567890, "b": b"\x01\x02\x03", "e": ["$x", 1]})
    frame = '{"body":{"tag":"Event","val":{"name":"e","args":[["$BigInt","9"]]}}}'
    assert JSON.decode_to_client(frame) == Event("e", [9])


def test_event_without_args_and_error_without_optional_fields():
    assert JSON.decode_to_client('{"body":{"tag":"Event","val":{"name":"e"}}}') == Event("e", [])
    msg = JSON.decode_to_client('{"body":{"tag":"Error","val":{"group":"g","code":"c"}}}')
    assert msg == ErrorMessage("g", "c", "", None, None, None)


def test_error_actor_with_bad_fields_is_lenient():
    frame = ('{"body":{"tag":"Error","val":{"group":"g","code":"c","message":"m",'
             '"actor":{"actorId":"a","generation":true,"key":5}}}}')
    assert JSON.decode_to_client(frame).actor == ActorSpecifier("a", None, None)
    frame = '{"body":{"tag":"Error","val":{"group":"g","code":"c","actor":{"generation":1}}}}'
    assert JSON.decode_to_client(frame).actor is None


# --------------------------------------------------------------------------- CBOR


def test_cbor_to_server_is_the_json_envelope_with_uint_ids():
    frame = CBOR.encode_to_server(ActionRequest(0, "say", ["hello"]))
    assert isinstance(frame, bytes)
    assert cbor.loads(frame) == {
        "body": {"tag": "ActionRequest", "val": {"id": 0, "name": "say", "args": ["hello"]}}
    }
    expected = (
        "a1" "64" "626f6479" "a2" "63" "746167" "6d" + b"ActionRequest".hex()
        + "63" "76616c" "a3" "62" "6964" "00" "64" "6e616d65" "63" "736179"
        "64" "61726773" "81" "65" "68656c6c6f"
    )
    assert frame.hex() == expected
    sub = CBOR.encode_to_server(SubscriptionRequest("msg", True))
    assert cbor.loads(sub) == {
        "body": {"tag": "SubscriptionRequest", "val": {"eventName": "msg", "subscribe": True}}
    }


@pytest.mark.skipif(cbor2 is None, reason="cbor2 not installed")
def test_cbor_to_server_is_readable_by_cbor2():
    frame = CBOR.encode_to_server(ActionRequest(2**40, "a", [1.5, b"\x00", 2**70]))
    assert cbor2.loads(frame) == {"body": {"tag": "ActionRequest", "val": {
        "id": 2**40, "name": "a",
        "args": [1.5, ["$Uint8Array", "AA=="], ["$BigInt", str(2**70)]]}}}


def test_cbor_decodes_init_event_response_error():
    assert CBOR.decode_to_client(cbor_to_client(Init("a", "c"))) == Init("a", "c")
    assert CBOR.decode_to_client(cbor_to_client(Event("msg", ["hello", "carol"]))) == Event(
        "msg", ["hello", "carol"]
    )
    err = ErrorMessage("user", "my_code", "nope", {"a": 1}, 4, ActorSpecifier("x", 2, "k"))
    assert CBOR.decode_to_client(cbor_to_client(err)) == err


def test_cbor_accepts_the_js_eight_byte_id_form():
    # {"body":{"tag":"ActionResponse","val":{"id":1b 00..05,"output":1}}}
    frame = cbor.dumps({"body": {"tag": "ActionResponse", "val": {"id": 5, "output": 1}}})
    js_frame = frame.replace(b"\x62id\x05", b"\x62id\x1b" + (5).to_bytes(8, "big"))
    assert js_frame != frame
    assert CBOR.decode_to_client(js_frame) == ActionResponse(5, 1)


# --------------------------------------------------------------------------- BARE (§4, verified bytes)


def test_bare_to_server_frames_match_the_js_client():
    assert BARE.encode_to_server(SubscriptionRequest("msg", True)) == H("040001036d736701")
    assert BARE.encode_to_server(SubscriptionRequest("msg", False)) == H("040001036d736700")
    assert BARE.encode_to_server(ActionRequest(0, "say", ["hello"])) == H(
        "04000000037361790781" "6568656c6c6f"
    )


def test_bare_action_request_ids_are_leb128():
    frame = BARE.encode_to_server(ActionRequest(300, "a", []))
    assert frame == H("0400" "00" "ac02" "0161" "0180")
    frame = BARE.encode_to_server(ActionRequest(2**64 - 1, "a", []))
    assert frame[3:13] == H("ffffffffffffffffff01")


def test_bare_decodes_the_recorded_frames():
    assert BARE.decode_to_client(H("040003036d73670d826568656c6c6f656361726f6c")) == Event(
        "msg", ["hello", "carol"]
    )
    assert BARE.decode_to_client(H("0400020001" "01")) == ActionResponse(0, 1)


def test_bare_decodes_init_and_errors():
    frame = H("0400" "00") + bare_str("actor1") + bare_str("conn1")
    assert BARE.decode_to_client(frame) == Init("actor1", "conn1")
    err = ErrorMessage("user", "my_code", "nope", {"a": 1, "b": [2, 3]}, 1,
                       ActorSpecifier("dh1m", 1, "w38bd4n"))
    assert BARE.decode_to_client(bare_to_client(err)) == err
    conn_err = ErrorMessage("user", "forbidden", "no", None, None, None)
    frame = bare_to_client(conn_err)
    assert frame.endswith(b"\x00\x00\x00")  # no metadata, no action id, no actor
    assert BARE.decode_to_client(frame) == conn_err
    keyless = ErrorMessage("g", "c", "m", None, 2**63, ActorSpecifier("a", 0, None))
    assert BARE.decode_to_client(bare_to_client(keyless)) == keyless


def test_bare_event_with_a_non_array_payload_is_wrapped():
    frame = H("0400" "03") + bare_str("e") + H("01" "05")
    assert BARE.decode_to_client(frame) == Event("e", [5])


def test_bare_accepts_bytearray_frames():
    assert BARE.decode_to_client(bytearray(H("0400020001" "01"))) == ActionResponse(0, 1)


# --------------------------------------------------------------------------- HTTP action bodies (§3)


def test_action_args_bodies():
    assert JSON.encode_action_args([5]) == b'{"args":[5]}'
    assert CBOR.encode_action_args([2]) == H("a1" "6461726773" "81" "02")
    assert BARE.encode_action_args([3]) == H("0400" "02" "8103")
    assert JSON.encode_action_args([]) == b'{"args":[]}'
    assert json.loads(JSON.encode_action_args([2**64, {"é": b"\x01"}])) == {
        "args": [["$BigInt", str(2**64)], {"é": ["$Uint8Array", "AQ=="]}]
    }
    assert JSON.encode_action_args(("a",)) == b'{"args":["a"]}'


def test_action_output_bodies():
    assert JSON.decode_action_output(b'{"output":5}') == 5
    assert CBOR.decode_action_output(H("a1666f757470757407")) == 7
    assert BARE.decode_action_output(H("0400" "01" "0a")) == 10
    assert JSON.decode_action_output(b"{}") is None
    assert JSON.decode_action_output(b'{"output":["$BigInt","12345678901234567890"]}') == (
        12345678901234567890
    )
    assert JSON.decode_action_output(b'{"output":["$Uint8Array","AQID"]}') == b"\x01\x02\x03"
    bare_bigint = H("0400" "1e" "82" "67") + b"$BigInt" + H("74") + b"12345678901234567890"
    assert BARE.decode_action_output(bare_bigint) == 12345678901234567890


# --------------------------------------------------------------------------- HTTP errors (§3)

USER_ERROR_JSON = (b'{"actor":{"actorId":"dht7","generation":1,"key":"org\\\\/1/r4"},"code":"my_code",'
                   b'"group":"user","message":"nope","metadata":{"a":1,"b":[2,3]}}')
JSON_HEADERS = {"content-type": "application/json", "x-rivet-ray-id": "ray123"}


@pytest.mark.parametrize("encoding", ALL)
def test_json_error_bodies_are_read_as_json_whatever_the_encoding(encoding):
    error = decode_http_error(get_encoding(encoding), 500, JSON_HEADERS, USER_ERROR_JSON)
    assert isinstance(error, ActorError)
    assert (error.group, error.code, error.message) == ("user", "my_code", "nope")
    assert error.metadata == {"a": 1, "b": [2, 3]}
    assert error.actor == ActorSpecifier("dht7", 1, "org\\/1/r4")
    assert error.status == 500 and error.ray_id == "ray123"
    assert error.full_code == "user.my_code"
    assert str(error) == "nope (user.my_code)"


def test_gateway_not_found_error():
    body = (b'{"group":"actor","code":"not_found",'
            b'"message":"The actor does not exist or was destroyed."}')
    error = decode_http_error(BARE, 404, {"content-type": "application/json; charset=utf-8"}, body)
    assert (error.group, error.code, error.status) == ("actor", "not_found", 404)
    assert error.metadata is None and error.actor is None and error.ray_id is None


def test_bare_error_body():
    body = bare_error_body("user", "my_code", "nope", {"a": 1, "n": 2**70},
                           ActorSpecifier("dht7", 3, "k"))
    error = decode_http_error(BARE, 500, {"content-type": "application/octet-stream"}, body)
    assert (error.group, error.code, error.message) == ("user", "my_code", "nope")
    assert error.metadata == {"a": 1, "n": 2**70}
    assert error.actor == ActorSpecifier("dht7", 3, "k")
    body = bare_error_body("user", "x", "y")
    error = decode_http_error(BARE, 400, {}, body)
    assert error.metadata is None and error.actor is None


def test_cbor_error_body():
    body = cbor.dumps({"group": "user", "code": "c", "message": "m",
                       "metadata": ["$BigInt", "99999999999999999999"]})
    error = decode_http_error(CBOR, 500, {}, body)
    assert (error.group, error.code, error.message) == ("user", "c", "m")
    assert error.metadata == 99999999999999999999


def test_error_metadata_compat_values_are_decoded():
    body = b'{"group":"g","code":"c","message":"m","metadata":{"b":["$Uint8Array","AQ=="]}}'
    assert decode_http_error(JSON, 500, JSON_HEADERS, body).metadata == {"b": b"\x01"}
    body = b'{"group":"g","code":"c","message":"m","metadata":["$Bogus",1]}'
    assert decode_http_error(JSON, 500, JSON_HEADERS, body).metadata == ["$Bogus", 1]


def test_error_without_message_gets_one():
    error = decode_http_error(JSON, 400, JSON_HEADERS, b'{"group":"g","code":"c"}')
    assert error.message == "g.c"


@pytest.mark.parametrize(
    "encoding, headers, body",
    [
        ("json", JSON_HEADERS, b"<html>Bad gateway</html>"),
        ("json", JSON_HEADERS, b"[1,2]"),
        ("json", JSON_HEADERS, b'{"code":"c"}'),
        ("json", JSON_HEADERS, b'{"group":1,"code":"c"}'),
        ("bare", JSON_HEADERS, b""),
        ("bare", {}, b"Internal Server Error"),
        ("bare", {}, H("0400") + bare_str("g")),
        ("bare", {"content-type": "text/plain"}, H("0500") + bare_str("g") + bare_str("c")),
        ("cbor", {}, b"\xa0"),
        ("cbor", {}, b"\x83\x01\x02\x03"),
        ("cbor", {}, b"\xff\xff"),
    ],
)
def test_undecodable_error_bodies_raise_protocol_error(encoding, headers, body):
    with pytest.raises(ProtocolError):
        decode_http_error(get_encoding(encoding), 500, headers, body)


# --------------------------------------------------------------------------- bad input to encoders


@pytest.mark.parametrize("encoding", ALL)
@pytest.mark.parametrize("bad", [object(), {1: 2}, {"a": {3}.__iter__()}])
def test_unserialisable_args_raise_type_error(encoding, bad):
    enc = get_encoding(encoding)
    with pytest.raises(TypeError):
        enc.encode_to_server(ActionRequest(0, "a", [bad]))
    with pytest.raises(TypeError):
        enc.encode_action_args([bad])


@pytest.mark.parametrize("encoding", ALL)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_args_raise_value_error(encoding, bad):
    enc = get_encoding(encoding)
    with pytest.raises(ValueError):
        enc.encode_to_server(ActionRequest(0, "a", [{"x": bad}]))
    with pytest.raises(ValueError):
        enc.encode_action_args([bad])


@pytest.mark.parametrize("encoding", ["cbor", "bare"])
def test_lone_surrogates_raise_value_error_in_binary_encodings(encoding):
    with pytest.raises(ValueError):
        get_encoding(encoding).encode_to_server(ActionRequest(0, "a", ["\ud800"]))
    with pytest.raises(ValueError):
        get_encoding(encoding).encode_action_args(["\ud800"])
    with pytest.raises(ValueError):
        JSON.encode_action_args(["\ud800"])


def test_json_frame_with_lone_surrogate_is_refused_or_escaped():
    try:
        frame = JSON.encode_to_server(ActionRequest(0, "a", ["\ud800"]))
    except ValueError:
        return
    frame.encode("utf-8")  # a text frame must be valid UTF-8


# --------------------------------------------------------------------------- malformed server frames

BAD_FRAMES = {
    "json": [
        "", "not json", "[]", "null", "42", '"body"', '{"body":1}', '{"body":{"tag":"Init"}}',
        '{"body":{"tag":"Init","val":[]}}', '{"body":{"tag":"Nope","val":{}}}',
        '{"body":{"tag":"Init","val":{"actorId":"a"}}}',
        '{"body":{"tag":"Init","val":{"actorId":1,"connectionId":"c"}}}',
        '{"body":{"tag":"ActionResponse","val":{"output":1}}}',
        '{"body":{"tag":"ActionResponse","val":{"id":1.5,"output":1}}}',
        '{"body":{"tag":"ActionResponse","val":{"id":"1","output":1}}}',
        '{"body":{"tag":"ActionResponse","val":{"id":true,"output":1}}}',
        '{"body":{"tag":"ActionResponse","val":{"id":["$BigInt","x"],"output":1}}}',
        '{"body":{"tag":"ActionResponse","val":{"id":NaN,"output":1}}}',
        '{"body":{"tag":"ActionResponse","val":{"id":-1,"output":1}}}',  # ids are u64
        '{"body":{"tag":"ActionResponse","val":{"id":["$BigInt","-1"],"output":1}}}',
        '{"body":{"tag":"ActionResponse","val":{"id":Infinity,"output":1}}}',
        '{"body":{"tag":"ActionResponse","val":{"id":1e400,"output":1}}}',
        '{"body":{"tag":"ActionResponse","val":{"id":1,"output":["$Nope",1]}}}',
        '{"body":{"tag":"ActionResponse","val":{"id":1,"output":["$Uint8Array","!!"]}}}',
        '{"body":{"tag":"Event","val":{"args":[]}}}',
        '{"body":{"tag":"Error","val":{"group":"g"}}}',
        '{"body":{"tag":"Error","val":{"group":"g","code":"c","actionId":"x"}}}',
        b"\xff\xfe\x00",
    ],
    "cbor": [
        b"", b"\xff", b"\xa0", b"\x80", b"\x01", "text frame", cbor.dumps({"body": {"tag": "Init"}}),
        cbor.dumps({"body": {"tag": "Init", "val": {"actorId": b"a", "connectionId": "c"}}}),
        cbor.dumps({"body": {"tag": "ActionResponse", "val": {"id": -1.5, "output": 1}}}),
        cbor.dumps({"body": {"tag": "ActionResponse", "val": {"id": -1, "output": 1}}}),
        cbor.dumps({"body": {"tag": "ActionResponse", "val": {"id": float("inf"), "output": 1}}}),
        cbor.dumps({"body": {"tag": "ActionResponse", "val": {"id": b"\x01", "output": 1}}}),
        cbor.dumps({"body": {"tag": "Event", "val": {"name": "e", "args": ["$Nope", 1]}}}),
        cbor.dumps({"body": {"tag": 5, "val": {}}}),
        cbor_to_client(Init("a", "c")) + b"\x00",
    ],
    "bare": [
        b"", b"\x04", b"\x04\x00", b"\x03\x00\x00", b"\x05\x00\x00\x01a\x01b", "0400",
        H("0400" "09"),  # unknown tag
        H("0400" "00" "0561"),  # string longer than the frame
        H("0400" "00" "01ff" "0161"),  # invalid UTF-8
        H("0400" "00" "0161" "0161" "00"),  # trailing byte
        H("0400" "02" "ffffffffffffffffffff01" "0101"),  # uint longer than 10 bytes
        H("0400" "02" "00" "02" "8201"),  # CBOR blob that ends early
        H("0400" "02" "00" "01" "1c"),  # invalid CBOR blob
        H("0400" "02" "00" "02" "8261" "24"),  # ["$"...] truncated
        H("0400" "03" "0165" "05" "8264"),  # data cut short
        H("0400" "01" "0167" "0163" "0160" "02"),  # invalid optional flag
        H("0400" "01" "0167" "0163" "0160" "00" "00" "01" "0161"),  # actor without generation
    ],
}


@pytest.mark.parametrize(
    "encoding, frame", [(enc, frame) for enc, frames in BAD_FRAMES.items() for frame in frames]
)
def test_malformed_frames_raise_protocol_error(encoding, frame):
    with pytest.raises(ProtocolError):
        get_encoding(encoding).decode_to_client(frame)


@pytest.mark.parametrize(
    "encoding, body",
    [
        ("json", b""), ("json", b"[]"), ("json", b'{"output":["$BigInt","1.5"]}'),
        ("cbor", b""), ("cbor", b"\x80"), ("cbor", cbor.dumps({"output": ["$Set", 1]})),
        ("bare", b""), ("bare", H("0300" "010a")), ("bare", H("0400" "02" "0a")),
        ("bare", H("0400" "01" "0a" "00")), ("bare", H("0400" "01" "1c")),
    ],
)
def test_malformed_output_bodies_raise_protocol_error(encoding, body):
    with pytest.raises(ProtocolError):
        get_encoding(encoding).decode_action_output(body)


# --------------------------------------------------------------------------- bugs

_INF_FRAMES = [
    ("json", '{"body":{"tag":"ActionResponse","val":{"id":Infinity,"output":1}}}'),
    ("json", '{"body":{"tag":"ActionResponse","val":{"id":1e400,"output":1}}}'),
    ("json", '{"body":{"tag":"Error","val":{"group":"g","code":"c","actionId":-Infinity}}}'),
    ("cbor", cbor.dumps({"body": {"tag": "ActionResponse", "val": {"id": float("inf"), "output": 1}}})),
]


@pytest.mark.parametrize("encoding, frame", _INF_FRAMES)
def test_infinite_action_id_is_a_protocol_error(encoding, frame):
    with pytest.raises(ProtocolError):
        get_encoding(encoding).decode_to_client(frame)


_DEPTH = 700  # json.loads accepts it; from_compat (two frames per level) does not


def _outcome(fn) -> str:
    # Report the exception by name: letting a RecursionError propagate makes pytest
    # format a 1000-frame traceback, which takes seconds.
    try:
        fn()
    except ProtocolError:
        return "ProtocolError"
    except RecursionError:
        return "RecursionError"
    return "no error"


@pytest.mark.parametrize("where", ["frame", "frame_bigint_id", "event", "output"])
def test_deep_json_is_a_protocol_error(where):
    # However the frame looks (the usual ["$BigInt","n"] id included), depth is judged alike.
    deep = "[" * _DEPTH + "]" * _DEPTH
    calls = {
        "frame": lambda: JSON.decode_to_client(
            '{"body":{"tag":"ActionResponse","val":{"id":1,"output":%s}}}' % deep),
        "frame_bigint_id": lambda: JSON.decode_to_client(
            '{"body":{"tag":"ActionResponse","val":{"id":["$BigInt","1"],"output":%s}}}' % deep),
        "event": lambda: JSON.decode_to_client(
            '{"body":{"tag":"Event","val":{"name":"e","args":[%s]}}}' % deep),
        "output": lambda: JSON.decode_action_output(('{"output":%s}' % deep).encode()),
    }
    assert _outcome(calls[where]) == "ProtocolError"


def test_deep_error_metadata_keeps_the_error():
    # Metadata is informational: too deep to revive, it is kept as sent, and the
    # error itself (group, code) still comes through.
    deep = "[" * _DEPTH + "]" * _DEPTH
    error = decode_http_error(
        JSON, 500, JSON_HEADERS, ('{"group":"g","code":"c","metadata":%s}' % deep).encode())
    assert (error.group, error.code) == ("g", "c")


def test_deeper_json_is_a_protocol_error():
    deep = "[" * 100_000 + "]" * 100_000
    assert _outcome(lambda: JSON.decode_action_output(('{"output":%s}' % deep).encode())) == (
        "ProtocolError"
    )


def test_deep_cbor_is_a_protocol_error():
    deep = H("81" * 300 + "00")
    with pytest.raises(ProtocolError):
        BARE.decode_action_output(H("0400") + bare_uint(len(deep)) + deep)
    with pytest.raises(ProtocolError):
        CBOR.decode_action_output(H("a1666f7574707574") + deep)


@pytest.mark.parametrize("which", ["frame", "output"])
def test_bare_lone_break_value_is_a_protocol_error(which):
    with pytest.raises(ProtocolError):
        if which == "frame":
            BARE.decode_to_client(H("0400" "02" "00" "01" "ff"))
        else:
            BARE.decode_action_output(H("0400" "01" "ff"))


def test_error_frame_with_unknown_metadata_tag_keeps_the_error():
    # Metadata is informational, on connections as on HTTP: kept as sent.
    message = JSON.decode_to_client(
        '{"body":{"tag":"Error","val":{"group":"g","code":"c","metadata":["$Nope",0]}}}')
    assert (message.group, message.code, message.metadata) == ("g", "c", ["$Nope", 0])
