"""Smoke test of ``bench/responder.mjs``, the minimal protocol responder of the benchmarks.

rivetkit_web against it, per encoding: one action round trip on a connection, one
stateless HTTP action, one event, one ``resolve()``; and the responder's counters
see that traffic. Needs only Node 22 from ``tests/backend/node_modules`` (no engine).
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Iterator

import pytest

from rivetkit_web import create_client

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(REPO, "bench")


@pytest.fixture(scope="module")
def responder() -> Iterator[object]:
    sys.path.insert(0, BENCH)
    try:
        from responder import NODE, Responder
    finally:
        sys.path.remove(BENCH)
    if not os.path.exists(NODE):
        pytest.skip("tests/backend/node_modules is not installed (run the integration backend once)")
    r = Responder()
    try:
        r.start(timeout=30)
        yield r
    finally:
        r.stop()
    assert not r.running


@pytest.mark.parametrize("encoding", ["json", "bare", "cbor"])
async def test_round_trip_http_action_and_event(responder, encoding: str) -> None:
    key = f"smoke-{uuid.uuid4().hex[:8]}"
    before = await asyncio.to_thread(responder.stats)
    async with create_client(responder.endpoint, encoding=encoding, timeout=10) as client:
        counter = client.counter.get_or_create([key])
        assert await counter.increment(2) == 2  # stateless HTTP action
        async with counter.connect() as conn:
            assert await conn.increment(3) == 5  # round trip on the connection (same actor state)
            assert await conn.getKey() == [key]

        events = client.eventActor.get_or_create([key])
        got: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        async with events.connect() as receiver, events.connect() as sender:
            receiver.on("tick", lambda value: got.done() or got.set_result(value))
            await receiver.echo(0)  # the subscription is sent before this action: now active
            assert await sender.emit("tick", {"n": [1, 2.5, "x"]}) is None
            assert await asyncio.wait_for(got, 5) == {"n": [1, 2.5, "x"]}

        actor_id = await client.counter.get_or_create([key]).resolve()
        async with client.counter.get_for_id(actor_id).connect() as by_id:
            assert await by_id.getCount() == 5
    after = await asyncio.to_thread(responder.stats)
    assert after["ws_frames_in"] - before["ws_frames_in"] >= 6
    assert after["http_requests"] - before["http_requests"] >= 2
    assert after["cpu_user_us"] >= before["cpu_user_us"]
