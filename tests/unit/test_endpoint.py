"""Endpoint parsing (URL auth ``https://ns:token@host``) and token redaction."""

from __future__ import annotations

import pytest

from rivetkit_web.protocol.endpoint import (
    DEFAULT_ENDPOINT,
    Endpoint,
    parse_endpoint,
    redact,
    redact_url,
)

JS_ENDPOINT = "http://my%20ns:t%2Fok@127.0.0.1:7520/base/"  # protocol.md §1 (verified)


def test_the_verified_js_endpoint():
    ep = parse_endpoint(JS_ENDPOINT)
    assert ep.base_url == "http://127.0.0.1:7520/base"
    assert ep.namespace == "my ns"
    assert ep.token == "t/ok"
    assert ep.pool == "default"
    assert ep.url("/actors?namespace=x") == "http://127.0.0.1:7520/base/actors?namespace=x"
    assert ep.url("metadata") == "http://127.0.0.1:7520/base/metadata"


def test_defaults():
    ep = parse_endpoint(DEFAULT_ENDPOINT)
    assert ep == Endpoint("http://localhost:6420", "default", None, "default")
    assert DEFAULT_ENDPOINT == "http://localhost:6420"


@pytest.mark.parametrize(
    "url, base",
    [
        ("http://localhost:6420", "http://localhost:6420"),
        ("http://localhost:6420/", "http://localhost:6420"),
        ("https://api.rivet.dev", "https://api.rivet.dev"),
        ("https://app.example.com/api/rivet", "https://app.example.com/api/rivet"),
        ("https://app.example.com/api/rivet///", "https://app.example.com/api/rivet"),
        ("  http://h:1/  ", "http://h:1"),
        ("HTTP://LocalHost:80/Base", "http://localhost:80/Base"),
        ("http://[::1]:6420/x", "http://[::1]:6420/x"),
        ("ws://h:1", "http://h:1"),
        ("wss://h/p", "https://h/p"),
    ],
)
def test_base_url(url, base):
    assert parse_endpoint(url).base_url == base


def test_namespace_only_url_auth():
    ep = parse_endpoint("https://my-ns@h")
    assert (ep.namespace, ep.token, ep.base_url) == ("my-ns", None, "https://h")


def test_url_auth_is_percent_decoded():
    ep = parse_endpoint("https://n%C3%A9s:a%40b%3Ac%23d%20e+f@h")
    assert ep.namespace == "nés"
    assert ep.token == "a@b:c#d e+f"
    assert "@" not in ep.base_url


def test_separate_options_merge():
    ep = parse_endpoint("http://h", namespace="ns", token="tok", pool="gpu")
    assert (ep.namespace, ep.token, ep.pool) == ("ns", "tok", "gpu")
    ep = parse_endpoint("http://ns@h", token="tok")
    assert (ep.namespace, ep.token) == ("ns", "tok")
    ep = parse_endpoint("http://h", namespace="", token="")
    assert (ep.namespace, ep.token) == ("default", None)


@pytest.mark.parametrize(
    "url, kwargs, match",
    [
        ("http://h?x=1", {}, "query"),
        ("http://h/#frag", {}, "fragment"),
        ("http://:tok@h", {}, "token without a namespace"),
        ("http://ns@h", {"namespace": "other"}, "namespace both"),
        ("http://ns:tok@h", {"token": "other"}, "token both"),
        ("ftp://h", {}, "scheme"),
        ("h:6420", {}, "scheme"),
        ("localhost", {}, "scheme"),
        ("", {}, "scheme"),
        ("http://", {}, "no host"),
        ("http:///path", {}, "no host"),
        ("http://h:99999", {}, "invalid endpoint"),
        ("http://h:port", {}, "invalid endpoint"),
        ("http://[::1", {}, "invalid endpoint"),
    ],
)
def test_bad_endpoints_raise_value_error(url, kwargs, match):
    with pytest.raises(ValueError, match=match):
        parse_endpoint(url, **kwargs)


@pytest.mark.parametrize(
    "args, kwargs",
    [((None,), {}), ((b"http://h",), {}), ((1,), {}), (("http://h",), {"namespace": 1}),
     (("http://h",), {"token": b"t"}), (("http://h",), {"pool": ["p"]})],
)
def test_non_str_arguments_raise_type_error(args, kwargs):
    with pytest.raises(TypeError):
        parse_endpoint(*args, **kwargs)


# --------------------------------------------------------------------------- secrecy


def test_repr_and_str_never_show_the_token():
    ep = parse_endpoint("https://ns:s3cr3t-tok@h")
    for text in (repr(ep), str(ep), f"{ep}", repr([ep])):
        assert "s3cr3t" not in text
    assert "<redacted>" in repr(ep)
    assert "token" not in repr(parse_endpoint("https://h"))


@pytest.mark.parametrize(
    "url",
    [
        "http://ns:tok@h:99999",  # bad port
        "http://ns:tok@h:abc",
        "ftp://ns:tok@h",  # bad scheme
        "http://ns:tok@h?x=1",
        "http://ns:tok@h#f",
        "http://ns:tok@[::1",
    ],
)
def test_error_messages_never_show_the_token(url):
    with pytest.raises(ValueError) as info:
        parse_endpoint(url.replace("tok", "s3cr3t"))
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize("url", ["https://ns:sk_abc/def@host", "https://ns:sk_abc?def@host",
                                 "https://ns:sk_abc#def@host"])
def test_error_message_hides_a_mis_escaped_token(url):
    with pytest.raises(ValueError) as info:
        parse_endpoint(url)
    assert "sk_abc" not in str(info.value)


@pytest.mark.parametrize(
    "url, redacted",
    [
        ("http://ns:tok@h/x", "http://ns:***@h/x"),
        ("http://ns:p@ss@h", "http://ns:***@h"),
        ("http://h/gateway/abc@t%2Fok/connect", "http://h/gateway/abc@***/connect"),
        ("ws://h/base/gateway/abc@t%2Fok/connect", "ws://h/base/gateway/abc@***/connect"),
        ("http://h/gateway/abc@tok", "http://h/gateway/abc@***"),
        ("http://h/gateway/abc@tok?a=1", "http://h/gateway/abc@***?a=1"),
        ("http://h/gateway/room/action/x?rvt-namespace=n&rvt-token=t%2Fok",
         "http://h/gateway/room/action/x?rvt-namespace=n&rvt-token=***"),
        ("http://h/gateway/room?rvt-token=t&rvt-skip-ready-wait=true",
         "http://h/gateway/room?rvt-token=***&rvt-skip-ready-wait=true"),
        ("http://ns:tok@h/gateway/abc@tok/c?rvt-token=tok",
         "http://ns:***@h/gateway/abc@***/c?rvt-token=***"),
        # nothing to hide
        ("http://h/gateway/room?rvt-namespace=n", "http://h/gateway/room?rvt-namespace=n"),
        ("http://ns@h/x", "http://ns@h/x"),
        ("http://h/x@y", "http://h/x@y"),
    ],
)
def test_redact_url(url, redacted):
    assert redact_url(url) == redacted


def test_redact_url_of_garbage():
    assert redact_url("http://[::1") == "http://[::1"  # nothing secret to hide
    assert redact_url("") == ""


# --------------------------------------------------------------------------- redact (log lines)


@pytest.mark.parametrize(
    "line, expected",
    [
        # httpx INFO request line
        ('HTTP Request: POST http://h/gateway/r/action/x?rvt-namespace=n&rvt-token=t%2Fok '
         '"HTTP/1.1 200 OK"',
         'HTTP Request: POST http://h/gateway/r/action/x?rvt-namespace=n&rvt-token=*** '
         '"HTTP/1.1 200 OK"'),
        # websockets DEBUG handshake lines
        ("> GET /gateway/abc@t%2Fok/connect HTTP/1.1", "> GET /gateway/abc@***/connect HTTP/1.1"),
        ("> Sec-WebSocket-Protocol: rivet, rivet_encoding.json, "
         "rivet_conn_params.%7B%22name%22%3A%22carol%22%7D",
         "> Sec-WebSocket-Protocol: rivet, rivet_encoding.json, rivet_conn_params.***"),
        ("> Sec-WebSocket-Protocol: rivet, rivet_target.actor, rivet_actor.abc, "
         "rivet_token.sk_abc, rivet_skip_ready_wait",
         "> Sec-WebSocket-Protocol: rivet, rivet_target.actor, rivet_actor.abc, "
         "rivet_token.***, rivet_skip_ready_wait"),
        ("> Authorization: Bearer t/ok", "> Authorization: ***"),
        ("x-rivet-token: t/ok", "x-rivet-token: ***"),
        ("X-Rivet-Conn-Params: %7B%22a%22%7D", "X-Rivet-Conn-Params: ***"),
        ("connecting to ws://ns:tok@h/gateway/abc@tok/connect?rvt-token=tok",
         "connecting to ws://ns:***@h/gateway/abc@***/connect?rvt-token=***"),
        # nothing secret
        ("> GET /gateway/room/connect?rvt-namespace=n HTTP/1.1",
         "> GET /gateway/room/connect?rvt-namespace=n HTTP/1.1"),
        ("rivet, rivet_encoding.bare", "rivet, rivet_encoding.bare"),
    ],
)
def test_redact_log_lines(line, expected):
    assert redact(line) == expected


def test_redact_url_is_redact():
    assert redact_url("http://h/gateway/a@tok") == redact("http://h/gateway/a@tok")


@pytest.mark.parametrize(
    "line",
    ['> x-rivet-conn-params: {"token":"s3cret","user":"bob"}',
     'X-Rivet-Conn-Params: ["s3cret"]'],
)
def test_redact_hides_json_conn_params_headers(line):
    assert "s3cret" not in redact(line)
