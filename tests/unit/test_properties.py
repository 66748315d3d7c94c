"""Property-based tests of the sans-I/O core (hypothesis).

(a) values round-trip through the JSON-compat model; (b) every message and body
round-trips through every encoding, decoded or built by test-side code; (c) garbage
fed to the decoders raises only ProtocolError; (d) cbor.loads raises only
CBORDecodeError; (e) key serializations are injective; (f) parse_endpoint raises only
ValueError/TypeError; (g) backoff delays stay in bounds.
"""

from __future__ import annotations

from collections import OrderedDict

import json
import random
import string
from datetime import timedelta
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from rivetkit_web.errors import ActorSpecifier, ProtocolError
from rivetkit_web.protocol import cbor
from rivetkit_web.protocol.cbor import CBORDecodeError
from rivetkit_web.protocol.encoding import decode_http_error, get_encoding
from rivetkit_web.protocol.endpoint import parse_endpoint, redact, redact_url
from rivetkit_web.protocol.gateway import (
    GetForId,
    GetForKey,
    GetOrCreateForKey,
    build_gateway_url,
    gateway_headers,
    rest_headers,
)
from rivetkit_web.protocol.keys import query_key, serialize_key
from rivetkit_web.protocol.messages import (
    ActionRequest,
    ActionResponse,
    ErrorMessage,
    Event,
    Init,
    SubscriptionRequest,
)
from rivetkit_web.protocol.retry import Backoff
from rivetkit_web.protocol.values import _to_compat_checked, from_compat, to_compat

from . import _wire
from ._wire import BareReader, deserialize_key, same

try:
    import cbor2
except ImportError:  # pragma: no cover
    cbor2 = None

ENCODINGS = ["json", "cbor", "bare"]
# Budgets keep the whole unit suite well under 20 s on a busy 2-core machine.
# The deadline stays on everywhere: a decoder that hangs fails the test.
_DEADLINE = timedelta(milliseconds=500)
FAST = settings(max_examples=50, deadline=_DEADLINE)  # structured values (slow to generate)
FUZZ = settings(max_examples=150, deadline=_DEADLINE,  # cheap random bytes / text
                suppress_health_check=[HealthCheck.too_slow])
FRAMES = settings(max_examples=50, deadline=_DEADLINE, suppress_health_check=[HealthCheck.too_slow])
U64 = st.integers(0, 2**64 - 1)

# --------------------------------------------------------------------------- strategies

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)  # encodable as UTF-8
dollar_text = st.sampled_from(
    ["$", "$BigInt", "$Uint8Array", "$ArrayBuffer", "$Set", "$Undefined", "$$", "$$BigInt", "$$$x"]
) | text.map(lambda s: "$" + s)
ints = st.integers() | st.integers(-(2**70), 2**70) | st.sampled_from([2**53 - 1, 2**53, -(2**53)])
floats = st.floats(allow_nan=False, allow_infinity=False)
hashables = ints | text | dollar_text | st.binary(max_size=8)

scalars = (st.none() | st.booleans() | ints | floats | text | dollar_text | st.binary(max_size=16)
           | st.frozensets(hashables, max_size=4).map(set))


def _containers(children):
    return (
        st.lists(children, max_size=4)
        | st.dictionaries(text | dollar_text, children, max_size=4)
        | st.tuples(dollar_text, children).map(list)  # ["$...", x]: must be escaped
        | st.tuples(dollar_text, children, children).map(list)  # 3 items: not escaped
    )


values = st.recursive(scalars, _containers, max_leaves=8)

# --------------------------------------------------------------------------- (a) values


@FAST
@given(values)
@example(["$BigInt", "5"])
@example(["$$x", ["$Set", [1]]])
@example({"a": [2**64, b"\x00", {"$": ["$", None]}]})
def test_a_compat_round_trip(value):
    assert same(from_compat(to_compat(value)), value)


@FAST
@given(values)
def test_a_compat_round_trip_through_json_and_cbor_bytes(value):
    compat = to_compat(value)
    assert same(from_compat(json.loads(json.dumps(compat))), value)
    assert same(from_compat(cbor.loads(cbor.dumps(compat))), value)


@FAST
@given(values)
def test_a_compat_output_is_plain_json(value):
    def plain(v):
        if isinstance(v, list):
            return all(plain(x) for x in v)
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        return v is None or isinstance(v, (bool, str, float)) or (
            isinstance(v, int) and abs(v) <= 2**53 - 1)

    assert plain(to_compat(value))


class _Str(str):
    pass


class _Int(int):
    pass


def _subclassed(value):
    """The same value with str/int leaves and containers as subclasses or tuples."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return _Str(value)
    if isinstance(value, int):
        return _Int(value)
    if isinstance(value, list):
        return tuple(_subclassed(item) for item in value)
    if isinstance(value, dict):
        return OrderedDict((_Str(k), _subclassed(item)) for k, item in value.items())
    return value


@FAST
@given(values)
def test_a_fast_and_checked_paths_agree(value):
    """to_compat takes a fast path for exact built-in types; subclasses, tuples and
    other mappings go through the checked one: both give the same wire value."""
    wire = json.dumps(to_compat(value))
    assert json.dumps(to_compat(_subclassed(value))) == wire  # str subclasses stay subclasses
    assert same(_to_compat_checked(value, "value"), to_compat(value))


@FAST
@given(st.text(max_size=8), values)
def test_a_user_pairs_survive_escaping(tag, payload):
    pair = ["$" + tag, payload]
    assert same(from_compat(to_compat(pair)), pair)


# --------------------------------------------------------------------------- (b) messages

actor_specs = st.builds(ActorSpecifier, text, U64, st.none() | text)
to_client = st.one_of(
    st.builds(Init, text, text),
    st.builds(ActionResponse, U64, values),
    st.builds(Event, text, st.lists(values, max_size=4)),
    st.builds(ErrorMessage, text, text, text, st.none() | values, st.none() | U64,
              st.none() | actor_specs),
)
to_server = st.one_of(
    st.builds(ActionRequest, U64, text, st.lists(values, max_size=4)),
    st.builds(SubscriptionRequest, text, st.booleans()),
)


def _same_message(a, b) -> bool:
    if type(a) is not type(b) or a != b:
        return False
    for field in ("output", "args", "metadata"):
        if hasattr(a, field) and not same(getattr(a, field), getattr(b, field)):
            return False
    return True


@FAST
@pytest.mark.parametrize("encoding", ENCODINGS)
@given(msg=to_client)
def test_b_to_client_round_trip(encoding, msg):
    frame = _wire.to_client_frame(encoding, msg)
    assert _same_message(get_encoding(encoding).decode_to_client(frame), msg)


@FAST
@given(msg=to_client.filter(lambda m: isinstance(m, (ActionResponse, ErrorMessage))))
def test_b_json_plain_number_ids(msg):
    assume(msg.action_id is not None if isinstance(msg, ErrorMessage) else True)
    frame = _wire.json_to_client(msg, bigint_ids=False)
    assert _same_message(get_encoding("json").decode_to_client(frame), msg)


@FAST
@pytest.mark.parametrize("encoding", ENCODINGS)
@given(msg=to_server)
def test_b_to_server_round_trip(encoding, msg):
    frame = get_encoding(encoding).encode_to_server(msg)
    assert isinstance(frame, str if encoding == "json" else bytes)
    assert _same_message(_wire.read_to_server(encoding, frame), msg)


@FAST
@pytest.mark.parametrize("encoding", ENCODINGS)
@given(args=st.lists(values, max_size=4))
def test_b_action_args_body(encoding, args):
    body = get_encoding(encoding).encode_action_args(args)
    if encoding == "json":
        compat = json.loads(body)
    elif encoding == "cbor":
        compat = cbor.loads(body)
    else:
        r = BareReader(body)
        compat = {"args": cbor.loads(r.data())}
        r.done()
    assert set(compat) == {"args"}
    assert same(from_compat(compat["args"]), args)


@FAST
@pytest.mark.parametrize("encoding", ENCODINGS)
@given(output=values)
def test_b_action_output_body(encoding, output):
    body = _wire.output_body(encoding, output)
    assert same(get_encoding(encoding).decode_action_output(body), output)


@FAST
@pytest.mark.parametrize("encoding", ENCODINGS)
@given(group=text, code=text, message=text, actor=st.none() | actor_specs,
       status=st.integers(400, 599), ray=st.none() | text, data=st.data())
def test_b_http_error_body(encoding, group, code, message, actor, status, ray, data):
    metadata = data.draw(st.none() | values)
    body = _wire.error_body(encoding, group, code, message, metadata, actor)
    headers = {"content-type": "application/json"} if encoding == "json" else {}
    if ray is not None:
        headers["x-rivet-ray-id"] = ray
    error = decode_http_error(get_encoding(encoding), status, headers, body)
    assert (error.group, error.code, error.message, error.status, error.ray_id) == (
        group, code, message, status, ray)
    assert same(error.metadata, metadata)
    assert error.actor == actor


@pytest.mark.parametrize("metadata", [["$BigInt", "5"], {"a": ["$Uint8Array", "AQID"]}, ["$$x", 1]])
def test_b_bare_http_error_metadata_decoded_once(metadata):
    body = _wire.error_body("bare", "user", "c", "m", metadata)
    assert decode_http_error(get_encoding("bare"), 500, {}, body).metadata == metadata


# --------------------------------------------------------------------------- (c) robustness

_TAGS = ["Init", "ActionResponse", "Event", "Error", "ActionRequest", "SubscriptionRequest"]
_FIELDS = ["actorId", "connectionId", "id", "output", "name", "args", "group", "code",
           "message", "metadata", "actionId", "actor", "eventName"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_infinity=False) | text | dollar_text,
    lambda c: (st.lists(c, max_size=4) | st.dictionaries(st.sampled_from(_FIELDS) | text, c, max_size=4)
               | st.tuples(dollar_text, c).map(list)),
    max_leaves=10,
)
actor_objs = st.fixed_dictionaries({}, optional={"actorId": json_values | text,
                                                 "generation": json_values, "key": json_values})
envelopes = st.builds(
    lambda tag, val: {"body": {"tag": tag, "val": val}},
    st.sampled_from(_TAGS) | json_values,
    st.dictionaries(st.sampled_from(_FIELDS), json_values | U64 | actor_objs, max_size=6) | json_values,
) | json_values


def _only_protocol_errors(fn, *args):
    try:
        fn(*args)
    except ProtocolError:
        pass


def _all_decoders(payload):
    for name in ENCODINGS:
        enc = get_encoding(name)
        _only_protocol_errors(enc.decode_to_client, payload)
        if isinstance(payload, bytes):
            _only_protocol_errors(enc.decode_action_output, payload)
            for headers in ({}, {"content-type": "application/json"},
                            {"content-type": "application/octet-stream"}):
                _only_protocol_errors(decode_http_error, enc, 500, headers, payload)


@FUZZ
@given(st.binary(max_size=64))
@example(b"\x04\x00\x02\x00\x01\xff")
@example(b"\x04\x00")
def test_c_random_bytes(payload):
    _all_decoders(payload)


@FUZZ
@given(st.binary(max_size=64))
def test_c_random_bytes_after_a_bare_header(tail):
    for tag in range(5):
        _all_decoders(b"\x04\x00" + bytes([tag]) + tail)


@FUZZ
@given(st.text(max_size=64))
def test_c_random_text(payload):
    _all_decoders(payload)
    _all_decoders(payload.encode("utf-8", "surrogatepass"))


@FRAMES
@given(envelopes)
def test_c_random_json_and_cbor_documents(doc):
    _all_decoders(json.dumps(doc))
    _all_decoders(json.dumps(doc).encode())
    _all_decoders(cbor.dumps(doc))


def _frames(draw_msg, encoding):
    frame = _wire.to_client_frame(encoding, draw_msg)
    return frame.encode("utf-8") if isinstance(frame, str) else frame


@FRAMES
@pytest.mark.parametrize("encoding", ENCODINGS)
@given(msg=to_client, data=st.data())
def test_c_truncated_valid_frames(encoding, msg, data):
    frame = _frames(msg, encoding)
    cut = data.draw(st.integers(0, len(frame) - 1))
    enc = get_encoding(encoding)
    with pytest.raises(ProtocolError):
        enc.decode_to_client(frame[:cut])
    if encoding == "json":
        with pytest.raises(ProtocolError):
            enc.decode_to_client(frame[:cut].decode("utf-8", "replace"))


@FRAMES
@pytest.mark.parametrize("encoding", ENCODINGS)
@given(msg=to_client, data=st.data())
def test_c_bit_flipped_valid_frames(encoding, msg, data):
    frame = bytearray(_frames(msg, encoding))
    for _ in range(data.draw(st.integers(1, 3))):
        bit = data.draw(st.integers(0, len(frame) * 8 - 1))
        frame[bit // 8] ^= 1 << (bit % 8)
    _only_protocol_errors(get_encoding(encoding).decode_to_client, bytes(frame))


@FRAMES
@pytest.mark.parametrize("encoding", ENCODINGS)
@given(output=values, data=st.data())
def test_c_damaged_output_and_error_bodies(encoding, output, data):
    enc = get_encoding(encoding)
    for body in (_wire.output_body(encoding, output),
                 _wire.error_body(encoding, "g", "c", "m", output, ActorSpecifier("a", 1, "k"))):
        cut = data.draw(st.integers(0, len(body) - 1))
        _only_protocol_errors(enc.decode_action_output, body[:cut])
        _only_protocol_errors(decode_http_error, enc, 500, {}, body[:cut])
        flipped = bytearray(body)
        bit = data.draw(st.integers(0, len(body) * 8 - 1))
        flipped[bit // 8] ^= 1 << (bit % 8)
        _only_protocol_errors(enc.decode_action_output, bytes(flipped))
        _only_protocol_errors(decode_http_error, enc, 500, {}, bytes(flipped))


# --------------------------------------------------------------------------- (d) CBOR

cbor_values = st.recursive(
    st.none() | st.booleans() | ints | st.floats(allow_nan=False) | text | st.binary(max_size=16),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(text | st.integers(), c, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(st.binary(max_size=128))
def test_d_cbor_random_bytes_raise_only_decode_errors(data):
    try:
        cbor.loads(data)
    except CBORDecodeError:
        pass


@FAST
@given(cbor_values)
def test_d_cbor_round_trip(value):
    assert same(cbor.loads(cbor.dumps(value)), value)


@FAST
@given(cbor_values, st.data())
def test_d_cbor_truncated_or_extended_items_are_errors(value, data):
    encoded = cbor.dumps(value)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(CBORDecodeError):
        cbor.loads(encoded[:cut])
    with pytest.raises(CBORDecodeError):
        cbor.loads(encoded + data.draw(st.binary(min_size=1, max_size=4)))


@pytest.mark.skipif(cbor2 is None, reason="cbor2 not installed")
@FAST
@given(cbor_values)
def test_d_cbor_agrees_with_cbor2(value):
    ours = cbor.dumps(value)
    assert same(cbor2.loads(ours), value)
    for canonical in (False, True):
        assert same(cbor.loads(cbor2.dumps(value, canonical=canonical)), value)


# --------------------------------------------------------------------------- (e) keys

# a small alphabet makes collisions likely if the escaping were not injective
key_parts = st.text(st.sampled_from("a0/\\,"), max_size=4) | text
keys = st.lists(key_parts, max_size=4).map(tuple)


@settings(max_examples=200, deadline=_DEADLINE)
@given(keys, keys)
@example(("a/b",), ("a", "b"))
@example(("",), ())
@example(("a,b",), ("a", "b"))
def test_e_key_serializations_are_injective(a, b):
    assume(a != b)
    assert serialize_key(a) != serialize_key(b)
    qa, qb = query_key(a), query_key(b)
    if qa is not None and qb is not None:
        assert qa != qb


@settings(max_examples=150, deadline=_DEADLINE)
@given(keys)
def test_e_serialize_key_is_read_back_by_the_js_parser(key):
    assert deserialize_key(serialize_key(key)) == key


@settings(max_examples=150, deadline=_DEADLINE)
@given(keys)
def test_e_query_key_is_split_back_by_the_engine(key):
    q = query_key(key)
    if q is None:
        assert any(part == "" or "," in part for part in key)
    elif key:
        assert tuple(q.split(",")) == key
    else:
        assert q == ""


# --------------------------------------------------------------------------- (f) endpoints

url_chars = st.text(st.sampled_from("abc:/@?#%[]. 0123456789-_+é\t"), max_size=30)
url_like = st.builds(
    lambda scheme, rest: scheme + rest,
    st.sampled_from(["http://", "https://", "ws://", "wss://", "ftp://", "http:", "", "HTTP://"]),
    url_chars,
)


@FUZZ
@given(st.text(max_size=40) | url_like, st.none() | text, st.none() | text)
def test_f_parse_endpoint_raises_only_value_and_type_errors(url, namespace, token):
    try:
        ep = parse_endpoint(url, namespace=namespace, token=token)
    except (ValueError, TypeError):
        return
    assert ep.base_url.startswith(("http://", "https://"))
    assert not ep.base_url.endswith("/")
    assert "@" not in ep.base_url.split("/")[2]
    assert ep.namespace


tokenish = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=16)


@FAST
@given(ns=tokenish, tok=tokenish)
def test_f_url_auth_round_trips_and_stays_hidden(ns, tok):
    ep = parse_endpoint(f"https://{quote(ns, safe='')}:{quote('SECRET' + tok, safe='')}@h.example/b")
    assert (ep.namespace, ep.token, ep.base_url) == (ns, "SECRET" + tok, "https://h.example/b")
    assert "SECRET" not in repr(ep)


@FAST
@given(tok=tokenish, actor_id=text.filter(bool), path=st.sampled_from(["", "/connect", "/request/x?a=1"]))
def test_f_gateway_urls_redact_every_token(tok, actor_id, path):
    token = "SECRET" + tok
    ep = parse_endpoint("http://h/base", namespace="ns", token=token)
    for query in (GetForId("n", actor_id), GetForKey("n", ("k",)), GetOrCreateForKey("n", ())):
        redacted = redact_url(build_gateway_url(ep, query, path))
        assert "SECRET" not in redacted


# realistic tokens: base64/base64url/JWT-like characters (no quotes, spaces or commas)
realistic_tokens = st.text(st.sampled_from(string.ascii_letters + string.digits + "-_./+=~:"),
                           min_size=1, max_size=40)


@FAST
@given(tok=realistic_tokens)
def test_f_redact_hides_tokens_in_library_log_lines(tok):
    token = "SECRET" + tok
    ep = parse_endpoint("http://h/base", namespace="ns", token=token)
    by_key = build_gateway_url(ep, GetForKey("n", ("k",)), "/action/a")
    by_id = build_gateway_url(ep, GetForId("n", "id1"), "/connect")
    lines = [
        f'HTTP Request: POST {by_key} "HTTP/1.1 200 OK"',  # httpx
        f"> GET {urlsplit(by_id).path} HTTP/1.1",  # websockets
        f"connect {by_id}",
        f"> Sec-WebSocket-Protocol: rivet, rivet_target.actor, rivet_token.{token}, rivet_skip_ready_wait",
    ]
    headers = {**gateway_headers(ep), **rest_headers(ep)}
    lines += [f"> {name}: {value}" for name, value in headers.items()]
    for line in lines:
        assert "SECRET" not in redact(line), line


# --------------------------------------------------------------------------- (g) backoff


@FAST
@given(
    initial=st.floats(0.001, 10),
    spread=st.floats(1, 1000),
    factor=st.floats(1, 5),
    seed=st.integers(),
    attempts=st.integers(1, 60),
)
def test_g_backoff_delays_are_bounded(initial, spread, factor, seed, attempts):
    maximum = initial * spread
    b = Backoff(initial, maximum, factor, rng=random.Random(seed))
    previous_step = 0.0
    for _ in range(attempts):
        step = b.step()
        delay = b.next_delay()
        assert step / 2 <= delay <= step <= maximum
        assert step >= previous_step  # steps never shrink
        previous_step = step
    b.reset()
    assert b.step() == initial


@FAST
@given(initial=st.floats(0.001, 10), factor=st.floats(1, 5), attempts=st.integers(1, 60))
def test_g_backoff_without_jitter_is_exactly_the_step(initial, factor, attempts):
    b = Backoff(initial, initial * 100, factor, jitter=False)
    for _ in range(attempts):
        step = b.step()
        assert b.next_delay() == step <= initial * 100
