"""Faults between client and backend, and the client's resources under churn (CPython).

The fault scenarios themselves live in ``tests/fault_scenarios.py``, shared with the
browser suite (``tests/browser/test_resilience_browser.py``): each puts
:class:`support.proxy.FaultProxy` between the client and the real engine, breaks
something through the proxy's HTTP control API, and asserts what the user sees:
statuses, errors of in-flight and queued actions, reconnects, restored subscriptions,
prompt dispose. The other tests here (backend down, destroyed and sleeping actors,
secrets, leaks, soak) are CPython-only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from fault_scenarios import FAULT_SCENARIOS, Faults
from scenarios import wait_until
from support.proxy import FaultProxy, ThreadedFaultProxy

from rivetkit_web import (
    ActorError,
    TransportError,
    create_client,
)

pytestmark = pytest.mark.integration

#: Upper bound for one fault scenario (each normally takes a few seconds).
SCENARIO_TIMEOUT_S = 90.0


@pytest.fixture
async def proxy(endpoint: str) -> AsyncIterator[FaultProxy]:
    """A fault proxy (with its HTTP control API) in this test's event loop."""
    target = urlsplit(endpoint)
    fault_proxy = await FaultProxy.start(target.hostname or "127.0.0.1", target.port or 80)
    try:
        yield fault_proxy
    finally:
        await fault_proxy.close()


@pytest.mark.parametrize("name", sorted(FAULT_SCENARIOS))
async def test_fault_scenario(name: str, proxy: FaultProxy, uid: str) -> None:
    """tests/fault_scenarios.py on CPython: the client reaches the engine through the
    proxy, the scenario breaks the network through the proxy's control API."""
    faults = Faults(proxy.control_url, proxy.endpoint)
    async with create_client(proxy.endpoint, timeout=30) as client:
        await asyncio.wait_for(FAULT_SCENARIOS[name](client, uid, faults), SCENARIO_TIMEOUT_S)
    assert not proxy.refuse and not proxy.stall, "the scenario left a fault switched on"


def test_control_api_from_another_thread(endpoint: str) -> None:
    """ThreadedFaultProxy: its own loop in a thread; the control API speaks plain HTTP
    with CORS (what the browser suite relies on) and changes what the proxy does."""
    import httpx

    target = urlsplit(endpoint)
    with ThreadedFaultProxy(target.hostname or "127.0.0.1", target.port or 80) as proxy:
        with httpx.Client(base_url=proxy.control_url, trust_env=False, timeout=10) as http:
            preflight = http.options("/cut", headers={
                "Origin": "http://127.0.0.1:1", "Access-Control-Request-Method": "POST"})
            assert preflight.status_code == 204
            assert preflight.headers["access-control-allow-origin"] == "*"
            assert "POST" in preflight.headers["access-control-allow-methods"]
            stats = http.get("/stats")
            assert stats.headers["access-control-allow-origin"] == "*"
            assert stats.json() == {"accepted": 0, "open": 0, "refuse": False, "stall": False, "inject": 0,
                                    "cuts": 0}

            # Traffic through the proxy reaches the engine and is counted.
            with httpx.Client(trust_env=False, timeout=10) as through:
                assert through.get(proxy.endpoint + "/metadata").status_code == 200
                assert http.get("/stats").json()["open"] == 1  # kept alive
                assert http.post("/cut").json()["cut"] == 1
                assert http.get("/stats").json()["open"] == 0

                assert http.post("/refuse?on=1").json()["refuse"] is True
                assert proxy.refuse is True
                with pytest.raises(httpx.TransportError):
                    through.get(proxy.endpoint + "/metadata")
                assert http.post("/refuse", params={"on": "0"}).json()["refuse"] is False

                assert http.post("/stall?on=1").json()["stall"] is True
                with pytest.raises(httpx.TimeoutException):
                    through.get(proxy.endpoint + "/metadata", timeout=0.3)
                assert http.post("/reset").json()["stall"] is False
                assert through.get(proxy.endpoint + "/metadata").status_code == 200

            assert http.get("/stats").json()["accepted"] == proxy.accepted >= 4
            assert http.get("/nope").status_code == 404
            assert http.get("/cut").status_code == 405
            assert http.post("/stall?on=maybe").status_code == 400
        proxy.cut()  # thread-safe from here too
    assert proxy._loop is None and not (proxy._thread and proxy._thread.is_alive())


async def test_backend_down_gives_clear_errors_quickly(unused_tcp_port: int) -> None:
    async with create_client(f"http://127.0.0.1:{unused_tcp_port}", timeout=5) as client:
        handle = client.counter.get_or_create("down")
        started = time.monotonic()
        with pytest.raises(TransportError):
            await handle.increment(1)
        with pytest.raises(TransportError):
            await handle.resolve()
        assert time.monotonic() - started < 3
        conn = handle.connect()
        statuses: list[str] = []
        conn.on_status_change(statuses.append)
        with pytest.raises(TimeoutError):
            await conn.ready(timeout=1.5)
        assert "disconnected" in statuses  # it keeps retrying with backoff
        started = time.monotonic()
        await conn.dispose()
        assert time.monotonic() - started < 1.0 and conn.status == "idle"


async def test_secrets_never_logged_or_shown(endpoint: str, uid: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    token = "s3cr3t-t0ken"
    secret_param = "p4ram-v4lue"
    host = endpoint.split("://", 1)[1]
    caplog.set_level(logging.DEBUG)
    client = create_client(f"http://default:{token}@{host}", timeout=30)
    try:
        # The actor echoes "name" but never "password": the secret must not surface.
        params = {"name": "alice", "password": secret_param}
        handle = client.paramsActor.get_or_create(["secret", uid], params=params)
        assert await handle.whoami() == "alice"
        async with handle.connect() as conn:
            assert await conn.whoami() == "alice"
            shown = " ".join([repr(client), repr(handle), repr(conn), str(client.endpoint)])
        with pytest.raises(ActorError) as excinfo:
            await client.errorActor.get_or_create(["secret", uid]).throwUserError()
        shown += str(excinfo.value) + repr(excinfo.value)
    finally:
        await client.dispose()
    everything = shown + "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records, "nothing was logged at DEBUG: the test would prove nothing"
    assert token not in everything
    assert secret_param not in everything


def _open_fds() -> int:
    import os

    return len(os.listdir("/proc/self/fd"))


async def test_no_leaks_after_many_connect_dispose_cycles(endpoint: str, uid: str) -> None:
    async with create_client(endpoint, timeout=30) as client:
        handle = client.counter.get_or_create(["cycles", uid])
        await handle.increment(1)  # warm: actor created, HTTP pool open
        await asyncio.sleep(0.2)
        tasks_before = len(asyncio.all_tasks())
        fds_before = _open_fds()
        for _ in range(200):
            conn = handle.connect()
            conn.on("newCount", lambda *_: None)
            await conn.ready(timeout=15)
            await conn.dispose()
        await asyncio.sleep(0.5)
        assert len(asyncio.all_tasks()) <= tasks_before, "tasks left behind by dispose()"
        assert _open_fds() <= fds_before + 2, "sockets left open by dispose()"
        assert not client._conns


async def test_bounded_soak_many_connections(endpoint: str, uid: str) -> None:
    """50 connections exchanging actions and events for a while (RIVETKIT_SOAK_SECONDS,
    default 10), then everything is released."""
    import os

    seconds = float(os.environ.get("RIVETKIT_SOAK_SECONDS", "10"))
    async with create_client(endpoint, timeout=30) as client:
        handle = client.counter.get_or_create(["soak", uid])
        await handle.getCount()
        tasks_before = len(asyncio.all_tasks())
        fds_before = _open_fds()
        conns = [handle.connect() for _ in range(50)]
        received = [0] * len(conns)
        for i, conn in enumerate(conns):
            def count(*_: object, i: int = i) -> None:
                received[i] += 1
            conn.on("newCount", count)
        await asyncio.gather(*(conn.ready(timeout=30) for conn in conns))
        deadline = asyncio.get_running_loop().time() + seconds
        rounds = 0
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.gather(*(conn.getCount() for conn in conns))
            await conns[rounds % len(conns)].increment(1)
            rounds += 1
        await wait_until(lambda: min(received) == rounds, timeout=15,
                         what=f"every connection to get {rounds} events")
        assert max(received) == rounds, "an event was delivered twice"
        await asyncio.gather(*(conn.dispose() for conn in conns))
        await asyncio.sleep(0.5)
        assert len(asyncio.all_tasks()) <= tasks_before
        assert _open_fds() <= fds_before + 2
