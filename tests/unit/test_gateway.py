"""Gateway URLs, headers, subprotocols and REST requests, against the JS client's (§1, §2, §4, §6, §7)."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from rivetkit_web.protocol import cbor
from rivetkit_web.protocol.endpoint import parse_endpoint, redact_url
from rivetkit_web.protocol.gateway import (
    MAX_QUERY_INPUT_SIZE,
    Create,
    GetForId,
    GetForKey,
    GetOrCreateForKey,
    action_path,
    build_gateway_url,
    connection_protocols,
    encode_conn_params,
    encode_input,
    gateway_headers,
    rest_actors_path,
    rest_create_body,
    rest_get_by_id_path,
    rest_get_by_key_path,
    rest_headers,
)

JS = parse_endpoint("http://my%20ns:t%2Fok@127.0.0.1:7520/base/")  # protocol.md §1
LOCAL = parse_endpoint("http://127.0.0.1:7520")


def ws(url: str) -> str:
    return url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)


# --------------------------------------------------------------------------- §1: the verified JS shapes


def test_js_rest_request():
    assert JS.url(rest_actors_path(JS)) == "http://127.0.0.1:7520/base/actors?namespace=my%20ns"
    assert rest_headers(JS, json_body=True) == {
        "content-type": "application/json", "authorization": "Bearer t/ok",
    }


def test_js_query_gateway_action():
    url = build_gateway_url(JS, GetOrCreateForKey("counter", ()), action_path("getCount"))
    assert url == (
        "http://127.0.0.1:7520/base/gateway/counter/action/getCount?rvt-namespace=my+ns"
        "&rvt-method=getOrCreate&rvt-runner=default&rvt-crash-policy=sleep&rvt-token=t%2Fok"
    )
    assert gateway_headers(JS)["x-rivet-token"] == "t/ok"


def test_js_actor_id_gateway_action_and_websocket():
    url = build_gateway_url(JS, GetForId("counter", "abc"), action_path("getCount"))
    assert url == "http://127.0.0.1:7520/base/gateway/abc@t%2Fok/action/getCount"
    assert ws(build_gateway_url(JS, GetForId("counter", "abc"), "/connect")) == (
        "ws://127.0.0.1:7520/base/gateway/abc@t%2Fok/connect"
    )
    # no token subprotocol on the /gateway/{id} form
    assert not any(p.startswith("rivet_token") for p in connection_protocols("bare"))


# --------------------------------------------------------------------------- §2a/§2c/§4/§6 examples


def test_get_gateway_url_example():
    url = build_gateway_url(LOCAL, GetOrCreateForKey("room", ("r1",)))
    assert url == (
        "http://127.0.0.1:7520/gateway/room?rvt-namespace=default&rvt-method=getOrCreate"
        "&rvt-runner=default&rvt-key=r1&rvt-crash-policy=sleep"
    )


def test_key_with_slash_example():
    url = build_gateway_url(LOCAL, GetOrCreateForKey("counter", ("a/b", "c1")), "/action/increment")
    assert url == (
        "http://127.0.0.1:7520/gateway/counter/action/increment?rvt-namespace=default"
        "&rvt-method=getOrCreate&rvt-runner=default&rvt-key=a%2Fb%2Cc1&rvt-crash-policy=sleep"
    )


def test_connect_url_example():
    url = ws(build_gateway_url(parse_endpoint("http://host"), GetOrCreateForKey("room", ("w1",)), "/connect"))
    assert url == (
        "ws://host/gateway/room/connect?rvt-namespace=default&rvt-method=getOrCreate"
        "&rvt-runner=default&rvt-key=w1&rvt-crash-policy=sleep"
    )


def test_get_has_no_runner_input_or_crash_policy():
    url = build_gateway_url(LOCAL, GetForKey("counter", ("missing",)), "/action/getCount")
    assert url == (
        "http://127.0.0.1:7520/gateway/counter/action/getCount?rvt-namespace=default"
        "&rvt-method=get&rvt-key=missing"
    )
    assert build_gateway_url(LOCAL, GetForKey("c", ())) == (
        "http://127.0.0.1:7520/gateway/c?rvt-namespace=default&rvt-method=get"
    )


def test_raw_fetch_path_keeps_the_user_query_first():
    url = build_gateway_url(LOCAL, GetOrCreateForKey("room", ()), "/request/hello?a=1")
    assert url.startswith("http://127.0.0.1:7520/gateway/room/request/hello?a=1&rvt-namespace=default&")
    assert build_gateway_url(LOCAL, GetForId("room", "id1"), "/request/x") == (
        "http://127.0.0.1:7520/gateway/id1/request/x"
    )
    assert build_gateway_url(LOCAL, GetForKey("r", ()), "/request/x?").endswith(
        "/request/x?rvt-namespace=default&rvt-method=get"
    )
    assert build_gateway_url(LOCAL, GetForKey("r", ()), "/request/x?a=1&").endswith(
        "/request/x?a=1&rvt-namespace=default&rvt-method=get"
    )


@pytest.mark.parametrize("path", ["/request/page#top", "/request/page?a=1#top", "/request/x#a?b"])
def test_fragment_in_path_keeps_rvt_params_in_the_query(path):
    # regression: the rvt-* query used to be appended after the '#', where HTTP clients drop it
    url = build_gateway_url(LOCAL, GetForKey("r", ("k",)), path)
    parts = urlsplit(url)
    assert parse_qs(parts.query)["rvt-namespace"] == ["default"]
    assert parts.fragment == "" and "#" not in url
    assert parts.path.startswith("/gateway/r/request/")


def test_fragment_is_dropped_from_actor_id_urls():
    assert build_gateway_url(LOCAL, GetForId("r", "id1"), "/request/x?a=1#top") == (
        "http://127.0.0.1:7520/gateway/id1/request/x?a=1"
    )


def test_pool_region_input_token_and_skip_ready_wait():
    ep = parse_endpoint("https://ns:tok@h", pool="gpu")
    query = GetOrCreateForKey("room", ("k",), input={"a": 1}, has_input=True, region="eu")
    url = build_gateway_url(ep, query, "/connect", skip_ready_wait=True)
    assert url == (
        "https://h/gateway/room/connect?rvt-namespace=ns&rvt-method=getOrCreate&rvt-runner=gpu"
        "&rvt-key=k&rvt-input=oWFhAQ&rvt-region=eu&rvt-crash-policy=sleep&rvt-token=tok"
        "&rvt-skip-ready-wait=true"
    )
    # rvt-input is base64url without padding of CBOR(input)
    assert base64.urlsafe_b64decode("oWFhAQ==") == cbor.dumps({"a": 1})


def test_input_none_is_sent_when_given():
    url = build_gateway_url(LOCAL, GetOrCreateForKey("r", (), input=None, has_input=True))
    assert "&rvt-input=9g&" in url  # CBOR null = f6


def test_input_uses_base64url_alphabet():
    url = build_gateway_url(LOCAL, GetOrCreateForKey("r", (), input=b"\xfb\xff", has_input=True))
    raw = url.split("rvt-input=")[1].split("&")[0]
    assert "+" not in raw and "/" not in raw and "=" not in raw
    assert cbor.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))) == [
        "$Uint8Array", "+/8="
    ]


def test_input_too_big_for_a_query_url():
    big = "x" * MAX_QUERY_INPUT_SIZE
    with pytest.raises(ValueError, match="at most"):
        build_gateway_url(LOCAL, GetOrCreateForKey("r", (), input=big, has_input=True))


@pytest.mark.parametrize("key", [("a,b",), ("",), ("a", "")])
def test_ambiguous_keys_cannot_use_query_urls(key):
    for query in (GetForKey("r", key), GetOrCreateForKey("r", key)):
        with pytest.raises(ValueError, match="resolve"):
            build_gateway_url(LOCAL, query)


def test_names_and_ids_are_percent_encoded():
    assert build_gateway_url(LOCAL, GetForId("n", "a/b c")) == "http://127.0.0.1:7520/gateway/a%2Fb%20c"
    assert build_gateway_url(LOCAL, GetForKey("my actor/x", ())).startswith(
        "http://127.0.0.1:7520/gateway/my%20actor%2Fx?"
    )
    assert action_path("getCount") == "/action/getCount"
    assert action_path("a b/c?é") == "/action/a%20b%2Fc%3F%C3%A9"


def test_query_values_use_urlsearchparams_encoding():
    ep = parse_endpoint("http://h", namespace="a b&c", token="x y+z")
    url = build_gateway_url(ep, GetForKey("r", ("k ey",)))
    assert "rvt-namespace=a+b%26c" in url and "rvt-key=k+ey" in url and "rvt-token=x+y%2Bz" in url


def test_gateway_urls_redact_cleanly():
    ep = parse_endpoint("http://ns:s%2F3cret@h/base")
    for url in (
        build_gateway_url(ep, GetForId("r", "abc"), "/connect"),
        build_gateway_url(ep, GetOrCreateForKey("r", ("k",)), "/connect"),
        ws(build_gateway_url(ep, GetForKey("r", ()), "/websocket/x?q=1")),
    ):
        assert "s%2F3cret" in url
        redacted = redact_url(url)
        assert "3cret" not in redacted and "***" in redacted


# --------------------------------------------------------------------------- headers and subprotocols (§3, §4, §7)


def test_action_headers():
    headers = gateway_headers(
        JS, encoding="json", content_type="application/json", conn_params='{"name":"alice"}',
        extra={"x-custom": "1"},
    )
    assert headers == {
        "x-custom": "1", "x-rivet-encoding": "json", "content-type": "application/json",
        "x-rivet-conn-params": '{"name":"alice"}', "x-rivet-token": "t/ok",
    }
    assert gateway_headers(LOCAL) == {}
    assert gateway_headers(LOCAL, skip_ready_wait=True) == {"x-rivet-skip-ready-wait": "1"}


def test_extra_headers_are_not_mutated():
    extra = {"a": "b"}
    gateway_headers(JS, extra=extra, encoding="bare")
    assert extra == {"a": "b"}


def test_connection_protocols():
    assert connection_protocols("bare") == ["rivet", "rivet_encoding.bare"]
    assert connection_protocols("json", '{"name":"carol"}') == [
        "rivet", "rivet_encoding.json", "rivet_conn_params.%7B%22name%22%3A%22carol%22%7D",
    ]
    # the JS buildWebSocketProtocols order: rivet, encoding, [target...], skip, params
    assert connection_protocols("cbor", "{}", skip_ready_wait=True) == [
        "rivet", "rivet_encoding.cbor", "rivet_skip_ready_wait", "rivet_conn_params.%7B%7D",
    ]


def test_conn_params_subprotocol_is_a_valid_token():
    # Sec-WebSocket-Protocol entries are RFC 7230 tokens: no spaces, quotes, parens, commas, non-ASCII
    params = encode_conn_params({"n": "a b,(c)'\"é/;"})
    entry = connection_protocols("json", params)[-1]
    tchar = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert set(entry) <= tchar - {"'"}


def test_encode_conn_params():
    assert encode_conn_params({"name": "carol"}) == '{"name":"carol"}'
    assert encode_conn_params({"é": [1, None, True]}) == '{"é":[1,null,true]}'
    assert encode_conn_params(None) == "null"


@pytest.mark.parametrize("bad", [{"a": object()}, {"b": b"bytes"}, {1j}])
def test_conn_params_type_errors(bad):
    with pytest.raises(TypeError):
        encode_conn_params(bad)


@pytest.mark.parametrize("bad", [float("nan"), {"x": float("inf")}, {"big": "x" * 5000}])
def test_conn_params_value_errors(bad):
    with pytest.raises(ValueError):
        encode_conn_params(bad)


def test_conn_params_limit_counts_utf8_bytes():
    assert encode_conn_params("é" * 2045)  # 4090 bytes + 2 quotes = 4092 <= 4096
    with pytest.raises(ValueError):
        encode_conn_params("é" * 2048)


# --------------------------------------------------------------------------- REST (§2b)


def test_rest_paths():
    assert rest_get_by_key_path(LOCAL, "room", ("org/1", "r1")) == (
        "/actors?name=room&key=org%5C%2F1%2Fr1&namespace=default"
    )
    assert rest_get_by_key_path(JS, "room", ()) == "/actors?name=room&key=%2F&namespace=my%20ns"
    assert rest_get_by_id_path(JS, "dht7") == "/actors?actor_ids=dht7&namespace=my%20ns"
    assert rest_actors_path(LOCAL) == "/actors?namespace=default"


def test_rest_create_body_matches_the_engine_shape():
    query = GetOrCreateForKey("room", ("org/1", "r1"), input={"a": 1}, has_input=True)
    body = rest_create_body(LOCAL, query)
    assert body == (
        b'{"name":"room","key":"org\\\\/1/r1","runner_name_selector":"default",'
        b'"crash_policy":"sleep","input":"oWFhAQ=="}'
    )
    assert base64.b64decode(json.loads(body)["input"]) == encode_input({"a": 1})


def test_rest_create_body_options():
    ep = parse_endpoint("http://h", pool="gpu")
    body = json.loads(rest_create_body(ep, Create("c", (), region="eu"), crash_policy="destroy"))
    assert body == {"name": "c", "key": "/", "runner_name_selector": "gpu",
                    "crash_policy": "destroy", "datacenter": "eu"}
    body = json.loads(rest_create_body(ep, Create("c", ("x",), input=2**64, has_input=True)))
    assert cbor.loads(base64.b64decode(body["input"])) == ["$BigInt", str(2**64)]


def test_rest_headers_without_token():
    assert rest_headers(LOCAL) == {}
    assert rest_headers(LOCAL, json_body=True) == {"content-type": "application/json"}


def test_encode_input():
    assert encode_input({"a": 1}) == bytes.fromhex("a1616101")
    assert encode_input(b"\x01\x02\x03") == cbor.dumps(["$Uint8Array", "AQID"])
    with pytest.raises(TypeError):
        encode_input(object())
    with pytest.raises(ValueError):
        encode_input(float("nan"))


def test_query_reprs_hide_the_input():
    assert "secret" not in repr(GetOrCreateForKey("r", (), input="secret", has_input=True))
    assert "secret" not in repr(Create("r", (), input="secret", has_input=True))


def test_to_websocket_url():
    from rivetkit_web.protocol.gateway import to_websocket_url

    assert to_websocket_url("http://h/gateway/a/connect?x=1") == "ws://h/gateway/a/connect?x=1"
    assert to_websocket_url("https://h:8443/b/gateway/a@t%2Fok/connect") == (
        "wss://h:8443/b/gateway/a@t%2Fok/connect"
    )
    assert to_websocket_url("ws://h/x") == "ws://h/x"
    url = build_gateway_url(JS, GetForId("counter", "abc"), "/connect")
    assert to_websocket_url(url) == "ws://127.0.0.1:7520/base/gateway/abc@t%2Fok/connect"
