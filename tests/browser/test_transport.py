"""BrowserTransport inside Chromium: Pyodide in the demo page, the real backend.

Each test runs a Python snippet in the page's Pyodide (``window.rivetkitDemo.pyodide``)
that drives ``rivetkit_web.transport.browser.BrowserTransport`` directly and returns a
JSON report; the assertions are made here.
"""

from __future__ import annotations

import json
import socket
import textwrap
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pyodide_page import open_demo_page

pytestmark = pytest.mark.browser

QUERY = (
    "rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default"
    "&rvt-key={key}&rvt-crash-policy=sleep"
)

PRELUDE = """
import asyncio, json
from rivetkit_web.transport.browser import BrowserTransport, live_proxy_count, open_sockets
from rivetkit_web.transport.base import HttpResponse, TransportError, WebSocketClosed
transport = BrowserTransport()
report = {}

async def settle():
    # let queued close events / releases run
    for _ in range(5):
        await asyncio.sleep(0.02)
"""


@pytest.fixture(scope="module")
def py_page(browser: Any, page_url: Any, pw: Any) -> Iterator[Any]:
    """One demo page for the whole module (Pyodide starts once)."""
    with open_demo_page(browser, page_url, pw, page_errors=False, dump_console=40) as (page, _):
        yield page


@pytest.fixture
def run(py_page: Any, run_python: Any) -> Any:
    """``run(body, **values)``: run a snippet after PRELUDE in the page; return ``report``."""

    def run_snippet(body: str, **values: Any) -> dict[str, Any]:
        return _run(run_python, py_page, body, **values)

    return run_snippet


def _run(run_python: Any, page: Any, body: str, **values: Any) -> dict[str, Any]:
    code = PRELUDE
    for name, value in values.items():
        code += f"{name} = {value!r}\n"
    code += textwrap.dedent(body) + "\njson.dumps(report)\n"
    return json.loads(run_python(page, code))


def gateway(endpoint: str, actor: str, path: str, key: str, *, ws: bool = False) -> str:
    base = endpoint.replace("http://", "ws://").replace("https://", "wss://") if ws else endpoint
    return f"{base}/gateway/{actor}{path}?{QUERY.format(key=key)}"


@pytest.fixture(scope="module")
def black_hole() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (for timeouts)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        server.close()


@pytest.fixture(scope="module")
def refused_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


def test_http_action(run: Any, endpoint: str) -> None:
    key = f"t-{uuid.uuid4().hex[:8]}"
    report = run(
        """
        report["before"] = live_proxy_count()
        headers = {"x-rivet-encoding": "json", "content-type": "application/json"}
        for n in (1, 2):
            r = await transport.request("POST", url, headers=headers, body=b'{"args":[%d]}' % n, timeout=15)
            report[f"r{n}"] = [r.status, json.loads(r.body)]
        report["headers"] = dict(r.headers)
        report["after"] = live_proxy_count()
        """,
        url=gateway(endpoint, "counter", "/action/increment", key),
    )
    assert report["r1"] == [200, {"output": 1}]
    assert report["r2"] == [200, {"output": 3}]
    headers = report["headers"]
    assert all(k == k.lower() for k in headers)
    assert headers["content-type"].startswith("application/json")
    assert headers.get("x-rivet-actor")  # exposed by the gateway's CORS headers
    assert report["before"] == report["after"] == 0


def test_http_error_status_is_a_response(run: Any, endpoint: str) -> None:
    report = run(
        """
        r = await transport.request("POST", url, headers={"x-rivet-encoding": "json",
            "content-type": "application/json"}, body=b'{"args":[]}', timeout=15)
        report["status"] = r.status
        report["body"] = json.loads(r.body)
        """,
        url=gateway(endpoint, "counter", "/action/doesNotExist", "t-err"),
    )
    assert report["status"] == 404
    assert report["body"]["group"] == "actor"
    assert report["body"]["code"] == "action_not_found"


def test_raw_request_bytes_body(run: Any, endpoint: str) -> None:
    report = run(
        """
        r = await transport.request("GET", hello, headers={}, timeout=15)
        report["hello"] = [r.status, r.body.decode()]
        payload = bytes(range(256)) * 40   # 10 KiB of binary, sent as a Uint8Array
        r = await transport.request("POST", echo, headers={"content-type": "application/octet-stream"},
                                    body=payload, timeout=15)
        report["echo_ok"] = r.status == 200 and r.body == payload
        report["echo_len"] = len(r.body)
        r = await transport.request("POST", echo, headers={"content-type": "text/plain"},
                                    body="héllo".encode(), timeout=15)
        report["text"] = r.body.decode()
        """,
        hello=gateway(endpoint, "rawActor", "/request/hello", "t1"),
        echo=gateway(endpoint, "rawActor", "/request/echo", "t1"),
    )
    assert report["hello"] == [200, "hello"]
    assert report["echo_ok"], report
    assert report["echo_len"] == 10240
    assert report["text"] == "héllo"


def test_raw_websocket_roundtrip_releases_proxies(run: Any, endpoint: str) -> None:
    report = run(
        """
        report["before"] = live_proxy_count()
        ws = await transport.open_websocket(url, protocols=["rivet", "rivet_encoding.json"], timeout=15)
        report["during"] = live_proxy_count()
        report["open_sockets"] = len(open_sockets())
        report["subprotocol"] = ws.subprotocol
        report["welcome"] = await ws.recv()
        await ws.send("ping")
        report["pong"] = await ws.recv()
        await ws.send("héllo wörld")
        report["echo"] = await ws.recv()
        await ws.send(b"\\x01\\x02\\x03\\xff")
        binary = await ws.recv()
        report["binary"] = [type(binary).__name__, list(binary)]
        await ws.close()
        report["after_close"] = live_proxy_count()
        try:
            await ws.recv()
        except WebSocketClosed as e:
            report["recv_closed"] = [e.code, e.reason]
        try:
            await ws.send("late")
        except WebSocketClosed as e:
            report["send_closed"] = e.code
        await ws.close()  # closing twice does nothing
        # many open/close cycles (a reconnecting client) must not leak proxies
        for i in range(5):
            w = await transport.open_websocket(url, protocols=["rivet", "rivet_encoding.json"], timeout=15)
            assert await w.recv() == "welcome"
            await w.close(1000, "cycle")
        await settle()
        report["after_cycles"] = live_proxy_count()
        report["open_after"] = len(open_sockets())
        """,
        url=gateway(endpoint, "rawActor", "/websocket/x", "t1", ws=True),
    )
    assert report["before"] == 0
    assert report["during"] == 4  # open, message, error, close listeners
    assert report["open_sockets"] == 1
    assert report["subprotocol"] == "rivet"
    assert report["welcome"] == "welcome"
    assert report["pong"] == "pong"
    assert report["echo"] == "héllo wörld"
    assert report["binary"] == ["bytes", [255, 3, 2, 1]]
    assert report["after_close"] == 0
    assert report["recv_closed"][0] == 1000
    assert "send_closed" in report
    assert report["after_cycles"] == 0
    assert report["open_after"] == 0


def test_server_close_drains_messages_first(run: Any, endpoint: str) -> None:
    report = run(
        """
        ws = await transport.open_websocket(url, protocols=["rivet", "rivet_encoding.json"], timeout=15)
        assert await ws.recv() == "welcome"
        await ws.send("one")
        await ws.send("two")
        await ws.send("close")          # rawActor closes with 4000 "bye"
        await asyncio.sleep(0.5)        # the close event has arrived by now
        report["closed_flag"] = ws.closed
        report["got"] = [await ws.recv(), await ws.recv()]
        for attempt in range(2):        # every later recv raises too
            try:
                await ws.recv()
            except WebSocketClosed as e:
                report.setdefault("closed", []).append([e.code, e.reason])
        await settle()
        report["proxies"] = live_proxy_count()
        """,
        url=gateway(endpoint, "rawActor", "/websocket/x", "t2", ws=True),
    )
    assert report["closed_flag"] is True
    assert report["got"] == ["one", "two"]
    assert report["closed"] == [[4000, "bye"], [4000, "bye"]]
    assert report["proxies"] == 0


def test_simulated_drop(run: Any, endpoint: str) -> None:
    report = run(
        """
        ws = await transport.open_websocket(url, protocols=["rivet"], timeout=15)
        assert await ws.recv() == "welcome"
        pending = asyncio.ensure_future(ws.recv())
        await asyncio.sleep(0.05)
        ws.simulate_drop()
        try:
            await pending
        except WebSocketClosed as e:
            report["code"] = e.code
        await settle()
        report["proxies"] = live_proxy_count()
        """,
        url=gateway(endpoint, "rawActor", "/websocket/x", "t3", ws=True),
    )
    assert report["code"] == 1006
    assert report["proxies"] == 0


def test_network_errors_and_timeouts(run: Any, black_hole: int, refused_port: int) -> None:
    report = run(
        """
        async def outcome(coro):
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            try:
                result = await coro
            except TransportError as e:
                return {"error": "TransportError", "timeout": e.timeout, "s": round(loop.time() - t0, 2), "msg": str(e)}
            except Exception as e:
                return {"error": type(e).__name__, "msg": str(e)}
            else:
                return {"ok": True}

        report["http_refused"] = await outcome(transport.request(
            "POST", f"http://127.0.0.1:{refused}/x", headers={"content-type": "application/json"},
            body=b"{}", timeout=10))
        report["ws_refused"] = await outcome(transport.open_websocket(
            f"ws://127.0.0.1:{refused}/x", protocols=["rivet"], timeout=10))
        report["http_timeout"] = await outcome(transport.request(
            "GET", f"http://127.0.0.1:{hole}/x", headers={}, timeout=0.5))
        report["ws_timeout"] = await outcome(transport.open_websocket(
            f"ws://127.0.0.1:{hole}/x", protocols=["rivet"], timeout=0.5))
        report["ws_bad_url"] = await outcome(transport.open_websocket(
            "not a url", protocols=["rivet"], timeout=1))
        await settle()
        report["proxies"] = live_proxy_count()
        report["open"] = len(open_sockets())
        """,
        hole=black_hole,
        refused=refused_port,
    )
    for case in ("http_refused", "ws_refused", "ws_bad_url"):
        assert report[case]["error"] == "TransportError", report[case]
        assert report[case]["timeout"] is False, report[case]
    for case in ("http_timeout", "ws_timeout"):
        assert report[case]["error"] == "TransportError", report[case]
        assert report[case]["timeout"] is True, report[case]
        assert 0.4 <= report[case]["s"] < 5, report[case]
    assert report["proxies"] == 0
    assert report["open"] == 0
