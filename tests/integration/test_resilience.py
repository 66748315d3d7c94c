"""Faults between client and backend, injected with a loopback proxy (CPython).

Each test puts :class:`support.proxy.FaultProxy` between the client and the real
engine, breaks something, and asserts what the user sees: statuses, errors of
in-flight and queued actions, reconnects, restored subscriptions, prompt dispose.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from rivetkit_web import (
    ActorError,
    ConnDisposed,
    ConnectionLost,
    TransportError,
    create_client,
)
from scenarios import wait_until
from support.proxy import FaultProxy

pytestmark = pytest.mark.integration


@pytest.fixture
async def proxy(endpoint: str) -> AsyncIterator[FaultProxy]:
    target = urlsplit(endpoint)
    fault_proxy = await FaultProxy.start(target.hostname or "127.0.0.1", target.port or 80)
    try:
        yield fault_proxy
    finally:
        await fault_proxy.close()


async def test_cut_connection_fails_in_flight_and_reconnects(proxy: FaultProxy, uid: str) -> None:
    calls = 0

    async def get_params() -> dict[str, str]:
        nonlocal calls
        calls += 1
        return {"name": f"attempt{calls}"}

    async with create_client(proxy.endpoint, timeout=30) as client:
        conn = client.paramsActor.get_or_create(["cut", uid], get_params=get_params).connect()
        counter = client.lifecycleActor.get_or_create(["cut", uid]).connect()
        try:
            await conn.ready(timeout=15)
            await counter.ready(timeout=15)
            assert await conn.whoami() == "attempt1"
            statuses: list[str] = []
            conn.on_status_change(statuses.append)
            ticks: list[int] = []
            counter.on("tick", ticks.append)
            await counter.broadcastTick(1)
            await wait_until(lambda: ticks == [1], what="tick before the cut")

            slow = client.slowActor.get_or_create(["cut", uid]).connect()
            await slow.ready(timeout=15)
            in_flight = asyncio.ensure_future(slow.wait(5_000))
            await asyncio.sleep(0.2)
            started = time.monotonic()
            proxy.cut()
            with pytest.raises((ConnectionLost, ActorError)):
                await in_flight  # a clear error, not a hang and not a silent resend
            assert time.monotonic() - started < 5

            await wait_until(lambda: conn.status == "connected" and "disconnected" in statuses,
                             timeout=20, what="reconnect after the cut")
            assert statuses[0] == "disconnected" and statuses[-1] == "connected", statuses
            assert await conn.whoami() == "attempt2"  # get_params ran again
            await counter.ready(timeout=20)
            await counter.broadcastTick(2)
            await wait_until(lambda: ticks == [1, 2], what="tick after the cut")
            await asyncio.sleep(0.3)
            assert ticks == [1, 2], "an event arrived twice after resubscribing"
            await slow.dispose()
        finally:
            await conn.dispose()
            await counter.dispose()


async def test_actions_wait_while_refused_then_flush(proxy: FaultProxy, uid: str) -> None:
    async with create_client(proxy.endpoint, timeout=30) as client:
        conn = client.counter.get_or_create(["refuse", uid]).connect()
        try:
            await conn.ready(timeout=15)
            statuses: list[str] = []
            conn.on_status_change(statuses.append)
            proxy.refuse = True
            proxy.cut()
            await wait_until(lambda: statuses.count("connecting") >= 2, timeout=10,
                             what="several refused attempts")
            queued = [asyncio.ensure_future(conn.increment(1)) for _ in range(3)]
            await asyncio.sleep(0.3)
            assert not any(task.done() for task in queued)
            proxy.refuse = False
            assert sorted(await asyncio.wait_for(asyncio.gather(*queued), 20)) == [1, 2, 3]
            assert conn.status == "connected"
            assert "disconnected" in statuses and statuses[-1] == "connected"
        finally:
            await conn.dispose()


async def test_stalled_handshake_is_bounded_and_retried(proxy: FaultProxy, uid: str) -> None:
    async with create_client(proxy.endpoint, timeout=30, connect_timeout=0.5) as client:
        proxy.stall = True
        conn = client.counter.get_or_create(["stall", uid]).connect()
        try:
            statuses: list[str] = []
            conn.on_status_change(statuses.append)
            await wait_until(lambda: statuses.count("disconnected") >= 2, timeout=10,
                             what="timed-out attempts")
            proxy.stall = False
            await conn.ready(timeout=15)
            assert await conn.increment(1) == 1
        finally:
            await conn.dispose()


async def test_dispose_during_reconnect_is_prompt(proxy: FaultProxy, uid: str) -> None:
    async with create_client(proxy.endpoint, timeout=30) as client:
        conn = client.counter.get_or_create(["dispose", uid]).connect()
        await conn.ready(timeout=15)
        proxy.refuse = True
        proxy.cut()
        await wait_until(lambda: conn.status != "connected", what="lost connection")
        queued = asyncio.ensure_future(conn.increment(1))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await conn.dispose()
        assert time.monotonic() - started < 1.0
        assert conn.status == "idle"
        with pytest.raises(ConnDisposed):
            await queued
        attempts = proxy.accepted
        await asyncio.sleep(1.0)
        assert proxy.accepted == attempts, "a disposed connection kept reconnecting"


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


async def test_actor_destroyed_reconnects_to_fresh_actor(endpoint: str, uid: str) -> None:
    async with create_client(endpoint, timeout=30) as client:
        handle = client.lifecycleActor.get_or_create(["destroy", uid])
        conn = handle.connect()
        try:
            await conn.ready(timeout=15)
            first = conn.actor_id
            opened: list[bool] = []
            conn.on_open(lambda: opened.append(True))
            try:
                await conn.destroyMe()
            except (ConnectionLost, ActorError):
                pass
            await wait_until(lambda: bool(opened) and conn.actor_id != first, timeout=20,
                             what="a connection to a fresh actor")
            assert await conn.ping() == "pong"
        finally:
            await conn.dispose()


async def test_sleeping_actor_wakes_on_next_action(endpoint: str, uid: str) -> None:
    async with create_client(endpoint, timeout=30) as client:
        async with client.lifecycleActor.get_or_create(["sleep", uid]).connect() as conn:
            wakes = await conn.getWakes()
            await conn.goToSleep()
            await asyncio.sleep(1.0)
            assert await conn.ping() == "pong"
            assert await conn.getWakes() >= wakes
            assert conn.status == "connected"


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
