"""The whole backend (node and engine) restarted under a live connection (CPython).

Uses a backend of its own (restarting the session's would disturb other tests) and
the harness's graceful restart, which keeps the engine's data directory: the same
actor, with its state, answers after the restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from harness import Backend
from rivetkit_web import create_client
from scenarios import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_backend() -> Iterator[Backend]:
    backend = Backend()
    try:
        backend.start()
        yield backend
    finally:
        backend.stop()


async def test_connection_survives_backend_restart(own_backend: Backend, uid: str) -> None:
    params_calls = 0

    async def get_params() -> dict[str, str]:
        nonlocal params_calls
        params_calls += 1
        return {"name": f"p{params_calls}"}

    async with create_client(own_backend.endpoint, timeout=60, connect_timeout=5) as client:
        handle = client.counter.get_or_create(["restart", uid], get_params=get_params)
        conn = handle.connect()
        try:
            await conn.ready(timeout=30)
            counts: list[int] = []
            conn.on("newCount", counts.append)
            statuses: list[str] = []
            conn.on_status_change(statuses.append)
            assert await conn.increment(5) == 5
            await wait_until(lambda: counts == [5], what="event before the restart")
            await asyncio.sleep(1.5)  # rivetkit persists actor state about once a second

            await asyncio.get_running_loop().run_in_executor(None, own_backend.restart)

            await wait_until(lambda: conn.status == "connected" and "disconnected" in statuses,
                             timeout=90, what="reconnect after the restart")
            assert params_calls >= 2, "get_params was not evaluated again"
            assert await conn.getCount() == 5  # same actor, state kept
            assert await conn.increment(1) == 6
            await wait_until(lambda: counts == [5, 6], timeout=15,
                             what="the subscription restored after the restart")
            await asyncio.sleep(0.3)
            assert counts == [5, 6], "an event arrived twice"
        finally:
            await conn.dispose()
