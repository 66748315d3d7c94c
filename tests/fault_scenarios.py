"""Fault scenarios shared by every runtime: CPython and Pyodide in Chromium.

Each ``scenario_*`` coroutine takes a client already pointed at a fault proxy
(``tests/support/proxy.py``) in front of the real test backend, a unique string for
actor keys, and a :class:`Faults` that breaks the network between them through the
proxy's HTTP control API. It asserts what a user of the client sees: statuses, the
errors of in-flight and queued actions, reconnects, restored subscriptions, prompt
dispose (the README's "What the client guarantees on disconnect and reconnect").

``tests/integration/test_resilience.py`` runs them on CPython;
``tests/browser/test_resilience_browser.py`` writes this very file into the demo
page's Pyodide and runs the same functions through the browser transport, where a cut
TCP connection surfaces as close 1006 and a refused handshake as a bare error event.

This module imports nothing at module level but the standard library and
``rivetkit_web``: :class:`Faults` talks HTTP with ``httpx`` on CPython and with
``pyodide.http.pyfetch`` under Pyodide, each imported only where it is used.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from rivetkit_web import (
    ActorError,
    Client,
    ConnDisposed,
    ConnectionLost,
    TransportError,
    create_client,
)

#: How long a connection may take to (re)connect in a scenario (a loaded machine and
#: an engine that sometimes leaves a handshake hanging: be generous, it is an upper
#: bound, not a wait).
CONNECT_S = 30.0


class Faults:
    """The fault proxy's control API, over HTTP from wherever this code runs.

    ``endpoint`` is the proxy's client-facing endpoint (what the scenario's client
    uses), for scenarios that create a client of their own.
    """

    def __init__(self, control_url: str, endpoint: str) -> None:
        self.control_url = control_url.rstrip("/")
        self.endpoint = endpoint

    async def cut(self) -> int:
        """Abort every connection through the proxy (RST); returns how many."""
        return int((await self._call("POST", "/cut"))["cut"])

    async def refuse(self, on: bool = True) -> None:
        """Close new connections at once, as if nothing listened."""
        await self._call("POST", f"/refuse?on={int(bool(on))}")

    async def stall(self, on: bool = True) -> None:
        """Accept new connections but never answer."""
        await self._call("POST", f"/stall?on={int(bool(on))}")

    async def inject(self, count: int, status: int = 503, group: str = "guard",
                     code: str = "service_unavailable") -> None:
        """Answer the next ``count`` requests on new connections with a gateway error."""
        await self._call("POST", f"/inject?count={count}&status={status}&group={group}&code={code}")

    async def reset(self) -> None:
        await self._call("POST", "/reset")

    async def stats(self) -> dict[str, Any]:
        """``{"accepted": n, "open": n, "refuse": b, "stall": b, "cuts": n}``."""
        return await self._call("GET", "/stats")  # type: ignore[no-any-return]

    async def _call(self, method: str, path: str) -> Any:
        url = self.control_url + path
        if sys.platform == "emscripten":
            from pyodide.http import pyfetch  # type: ignore[import-not-found]

            response = await pyfetch(url, method=method, cache="no-store")
            status, text = int(response.status), await response.text()
        else:
            import httpx

            async with httpx.AsyncClient(trust_env=False, timeout=10.0) as http:
                response = await http.request(method, url)
            status, text = response.status_code, response.text
        if status != 200:
            raise AssertionError(f"fault proxy {method} {path}: HTTP {status}: {text}")
        return json.loads(text)


FaultScenario = Callable[[Client, str, Faults], Awaitable[None]]
FAULT_SCENARIOS: dict[str, FaultScenario] = {}


def fault_scenario(fn: FaultScenario) -> FaultScenario:
    FAULT_SCENARIOS[fn.__name__.removeprefix("scenario_")] = fn
    return fn


def _now() -> float:
    return asyncio.get_running_loop().time()


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true; fail with ``what`` after ``timeout`` seconds."""
    deadline = _now() + timeout
    while not predicate():
        if _now() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def assert_recovered(statuses: list[str], what: str) -> None:
    """``statuses`` (recorded from a connected state) went disconnected → ... → connected:
    only ``disconnected``/``connecting`` in between, ``connected`` once, at the end."""
    assert statuses, f"{what}: no status change at all"
    assert statuses[0] == "disconnected", f"{what}: {statuses}"
    assert statuses[-1] == "connected", f"{what}: {statuses}"
    assert set(statuses[:-1]) <= {"disconnected", "connecting"}, f"{what}: {statuses}"
    assert "connecting" in statuses, f"{what}: never tried again: {statuses}"


# --------------------------------------------------------------------------- cut


async def _dispose_promptly(conn: Any, queued: asyncio.Future[Any], what: str) -> None:
    """``dispose()`` returns within 1 s, goes ``idle`` and fails the queued action."""
    started = _now()
    await conn.dispose()
    took = _now() - started
    assert took < 1.0, f"{what} took {took:.2f} s"
    assert conn.status == "idle"
    try:
        await asyncio.wait_for(queued, 1.0)
    except ConnDisposed:
        pass
    else:
        raise AssertionError("the queued action did not fail with ConnDisposed")


@fault_scenario
async def scenario_cut_mid_session(client: Client, uid: str, faults: Faults) -> None:
    """Every socket is cut while an action is in flight: that action fails at once
    (never resent), every connection comes back, ``get_params`` runs again, the
    subscription is restored and events after the reconnect arrive exactly once."""
    calls = 0

    async def get_params() -> dict[str, str]:
        nonlocal calls
        calls += 1
        return {"name": f"attempt{calls}"}

    conn = client.paramsActor.get_or_create(["cut", uid], get_params=get_params).connect()
    counter = client.lifecycleActor.get_or_create(["cut", uid]).connect()
    slow = client.slowActor.get_or_create(["cut", uid]).connect()
    try:
        await asyncio.gather(*(c.ready(timeout=CONNECT_S) for c in (conn, counter, slow)))
        assert await conn.whoami() == f"attempt{calls}"
        calls_before = calls
        statuses: list[str] = []
        conn.on_status_change(statuses.append)
        counter_statuses: list[str] = []
        counter.on_status_change(counter_statuses.append)
        slow_statuses: list[str] = []
        slow.on_status_change(slow_statuses.append)
        closes: list[bool] = []
        conn.on_close(lambda: closes.append(True))
        ticks: list[int] = []
        counter.on("tick", ticks.append)
        await counter.broadcastTick(1)
        await wait_until(lambda: ticks == [1], what="the tick before the cut")

        wait_ms = 2500
        in_flight = asyncio.ensure_future(slow.wait(wait_ms))
        await asyncio.sleep(0.3)  # the action reached the actor
        assert not in_flight.done(), "the slow action answered early"
        cut_at = _now()
        assert await faults.cut() >= 3, "the three connections did not go through the proxy"
        try:
            result = await asyncio.wait_for(in_flight, wait_ms / 1000)
        except (ConnectionLost, ActorError):
            pass  # a clear error, neither a hang nor a silent resend
        else:
            raise AssertionError(f"the in-flight action returned {result!r} after its socket was cut")
        failed_after = _now() - cut_at
        assert failed_after < 2.0, f"the in-flight action failed only {failed_after:.2f} s after the cut"

        await wait_until(
            lambda: all(c.status == "connected" and "disconnected" in log for c, log in
                        ((conn, statuses), (counter, counter_statuses), (slow, slow_statuses))),
            timeout=CONNECT_S, what="every connection back after the cut",
        )
        slow_back_at = _now()
        assert_recovered(statuses, "params connection")
        assert_recovered(counter_statuses, "event connection")
        assert_recovered(slow_statuses, "connection of the cut action")
        assert closes == [True], f"on_close fired {len(closes)} times"
        assert calls > calls_before, "get_params was not awaited again before reconnecting"
        assert await conn.whoami() == f"attempt{calls}", "the reconnect did not use fresh params"

        await counter.broadcastTick(2)
        await wait_until(lambda: len(ticks) >= 2, what="the tick after the cut")
        # Never resent: the cut action ran once on the actor. Had the client resent it
        # after the reconnect, a second run would have completed by now too.
        await asyncio.sleep(max(0.0, slow_back_at + wait_ms / 1000 + 0.7 - _now()))
        assert ticks == [1, 2], f"events after the reconnect: {ticks} (expected each once)"
        assert await slow.count() <= 1, "the in-flight action was sent again after the reconnect"
    finally:
        await asyncio.gather(conn.dispose(), counter.dispose(), slow.dispose())


@fault_scenario
async def scenario_repeated_cuts_keep_one_subscription(client: Client, uid: str, faults: Faults) -> None:
    """Several cuts in a row (one before the previous reconnect settled): the
    connection ends up connected with each event delivered once to every listener
    (``on``, ``once``, an ``events()`` iterator that lives across the cuts)."""
    conn = client.lifecycleActor.get_or_create(["recut", uid]).connect()
    iterator: asyncio.Future[None] | None = None
    try:
        await conn.ready(timeout=CONNECT_S)
        ticks: list[int] = []
        once: list[int] = []
        conn.on("tick", ticks.append)
        conn.once("tick", once.append)
        statuses: list[str] = []
        conn.on_status_change(statuses.append)
        iterated: list[int] = []

        async def iterate() -> None:
            async for (n,) in conn.events("tick"):
                iterated.append(n)

        iterator = asyncio.ensure_future(iterate())
        for i in range(3):
            mark = len(statuses)
            assert await faults.cut() >= 1
            if i == 1:
                await asyncio.sleep(0.05)  # cut again while still reconnecting
                await faults.cut()
            await wait_until(lambda mark=mark: "disconnected" in statuses[mark:] and conn.status == "connected",
                             timeout=CONNECT_S, what=f"reconnect after cut {i + 1}")
        await asyncio.sleep(0.3)  # a late-noticed cut would show by now
        await conn.ready(timeout=CONNECT_S)
        assert await conn.broadcastTick(7) == 7
        await wait_until(lambda: bool(ticks), what="the event after the cuts")
        await asyncio.sleep(0.5)
        assert ticks == [7], f"one subscription, one event; got {ticks}"
        assert once == [7], f"once() listener got {once}"
        await conn.broadcastTick(8)
        await wait_until(lambda: len(ticks) >= 2, what="the second event")
        await asyncio.sleep(0.3)
        assert ticks == [7, 8] and once == [7], (ticks, once)
        assert iterated == [7, 8], f"events() across the cuts: {iterated}"
        await conn.dispose()
        await asyncio.wait_for(iterator, 2.0)  # events() ends on dispose
    finally:
        await conn.dispose()
        if iterator is not None and not iterator.done():
            iterator.cancel()


# --------------------------------------------------------------------------- refuse


@fault_scenario
async def scenario_refused_actions_queue_then_flush(client: Client, uid: str, faults: Faults) -> None:
    """While every attempt is refused, actions wait in the queue (nothing fails, nothing
    is lost); once the proxy accepts again they are sent, once each."""
    conn = client.counter.get_or_create(["refuse", uid]).connect()
    try:
        await conn.ready(timeout=CONNECT_S)
        statuses: list[str] = []
        conn.on_status_change(statuses.append)
        await faults.refuse(True)
        accepted = (await faults.stats())["accepted"]
        await faults.cut()
        await wait_until(lambda: statuses.count("connecting") >= 2, timeout=CONNECT_S,
                         what="several refused attempts")
        queued = [asyncio.ensure_future(conn.increment(1)) for _ in range(3)]
        counts: list[int] = []
        conn.on("newCount", counts.append)  # subscribed while disconnected
        await asyncio.sleep(0.3)
        assert not any(task.done() for task in queued), "a queued action ended while refused"
        assert conn.status in ("connecting", "disconnected"), conn.status
        assert (await faults.stats())["accepted"] >= accepted + 2, "refused attempts never reached the proxy"
        await faults.refuse(False)
        results = await asyncio.wait_for(asyncio.gather(*queued), CONNECT_S)
        # Each ran once. (Not checked: the order. The client sends them in order, but
        # the engine may run actions that arrive together on one socket out of order.)
        assert sorted(results) == [1, 2, 3], f"queued actions lost or run twice: {results}"
        assert conn.status == "connected"
        assert_recovered(statuses, "refused connection")
        assert await conn.getCount() == 3
        # The subscription made while disconnected was sent after Init.
        assert await conn.increment(1) == 4
        await wait_until(lambda: 4 in counts, what="the event of a subscription made while refused")
        await asyncio.sleep(0.3)
        assert len(counts) == len(set(counts)), f"an event arrived twice: {counts}"
    finally:
        await faults.refuse(False)
        await conn.dispose()


# --------------------------------------------------------------------------- stateless


@fault_scenario
async def scenario_stateless_actions_fail_fast_then_recover(client: Client, uid: str, faults: Faults) -> None:
    """Stateless actions (HTTP) do not hang on a network fault: refused fails at once,
    stalled fails after the client's timeout, both with TransportError; neither
    reached the actor, and the same handle works again when the network is back."""
    handle = client.counter.get_or_create(["http", uid])
    assert await handle.increment(1) == 1
    await faults.refuse(True)
    await faults.cut()  # the pooled keep-alive connections too
    started = _now()
    try:
        result = await handle.increment(1)
    except TransportError:
        pass
    else:
        raise AssertionError(f"an action through a refusing proxy returned {result!r}")
    took = _now() - started
    assert took < 5.0, f"a refused action failed only after {took:.2f} s"
    await faults.refuse(False)
    assert await handle.increment(1) == 2, "the refused action reached the actor"

    request_timeout = 1.0
    async with create_client(faults.endpoint, encoding=client.encoding, timeout=request_timeout,
                             connect_timeout=0.5) as own:
        stalled = own.counter.get_or_create(["http", uid])
        await faults.stall(True)
        await faults.cut()  # the pooled connections (a browser shares them across clients)
        started = _now()
        try:
            result = await stalled.increment(1)
        except TransportError as exc:
            assert exc.timeout, f"not reported as a timeout: {exc!r}"
        else:
            raise AssertionError(f"an action through a stalled proxy returned {result!r}")
        took = _now() - started
        assert took < request_timeout + 0.5 + 2.0, f"a stalled action failed only after {took:.2f} s"
        await faults.stall(False)
        await faults.cut()  # the stalled sockets
        assert await stalled.getCount() == 2, "the stalled action reached the actor"
    assert await handle.increment(1) == 3


# --------------------------------------------------------------------------- stall


@fault_scenario
async def scenario_stalled_handshake_is_bounded(client: Client, uid: str, faults: Faults) -> None:
    """A proxy that accepts and never answers: each attempt gives up after the
    connect timeout (instead of hanging), and the connection recovers once the proxy
    answers again."""
    connect_timeout = 0.5
    # A metadata lookup (bounded by connect_timeout too) may precede the handshake.
    attempt_limit = 2 * connect_timeout + 1.5
    async with create_client(faults.endpoint, encoding=client.encoding, timeout=30,
                             connect_timeout=connect_timeout) as own:
        await faults.stall(True)
        await faults.cut()  # nothing may reach the engine, not even over a pooled socket
        conn = own.counter.get_or_create(["stall", uid]).connect()
        try:
            stamps: list[tuple[str, float]] = [(conn.status, _now())]
            conn.on_status_change(lambda status: stamps.append((status, _now())))
            await wait_until(lambda: [s for s, _ in stamps].count("disconnected") >= 2,
                             timeout=CONNECT_S, what="two timed-out attempts")
            assert conn.status != "connected"
            attempts = [
                end - start
                for (s0, start), (s1, end) in itertools.pairwise(stamps)
                if s0 == "connecting" and s1 == "disconnected"
            ]
            assert len(attempts) >= 2, stamps
            assert max(attempts) < attempt_limit, (
                f"stalled attempts took {[round(a, 2) for a in attempts]} s "
                f"(connect_timeout {connect_timeout} s)"
            )
            assert (await faults.stats())["stall"] is True
            await faults.stall(False)
            await conn.ready(timeout=CONNECT_S)
            assert await conn.increment(1) == 1
        finally:
            await faults.stall(False)
            await conn.dispose()


# --------------------------------------------------------------------------- dispose


@fault_scenario
async def scenario_dispose_during_reconnect(client: Client, uid: str, faults: Faults) -> None:
    """Disposing a connection that keeps failing to reconnect is immediate, fails the
    queued action with ConnDisposed and stops every further attempt."""
    conn = client.counter.get_or_create(["dispose", uid]).connect()
    try:
        await conn.ready(timeout=CONNECT_S)
        statuses: list[str] = []
        conn.on_status_change(statuses.append)
        await faults.refuse(True)
        await faults.cut()
        await wait_until(lambda: statuses.count("connecting") >= 2, timeout=CONNECT_S,
                         what="reconnect attempts")
        queued = asyncio.ensure_future(conn.increment(1))
        await asyncio.sleep(0.1)
        assert not queued.done()
        await _dispose_promptly(conn, queued, "dispose()")
        attempts = (await faults.stats())["accepted"]
        await asyncio.sleep(1.0)
        assert (await faults.stats())["accepted"] == attempts, "a disposed connection kept reconnecting"
    finally:
        await faults.refuse(False)
        await conn.dispose()


@fault_scenario
async def scenario_dispose_during_stalled_handshake(client: Client, uid: str, faults: Faults) -> None:
    """Disposing a connection whose first attempt hangs (the proxy never answers) does
    not wait for the connect timeout, and releases the hanging sockets."""
    async with create_client(faults.endpoint, encoding=client.encoding, timeout=30,
                             connect_timeout=20) as own:
        handle = own.counter.get_or_create(["dispose-stall", uid])
        assert await handle.getCount() == 0  # metadata read: the attempt goes straight to the WebSocket
        await faults.stall(True)
        await faults.cut()  # start from no connection at all
        try:
            conn = handle.connect()
            queued = asyncio.ensure_future(conn.increment(1))
            deadline = _now() + 10
            while (await faults.stats())["open"] == 0:
                assert _now() < deadline, "the connection attempt never reached the proxy"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            assert conn.status == "connecting", conn.status
            await _dispose_promptly(conn, queued, "dispose() during a hanging handshake")
            deadline = _now() + 5
            while (stats := await faults.stats())["open"] != 0:
                assert _now() < deadline, f"hanging sockets were not closed: {stats}"
                await asyncio.sleep(0.05)
            accepted = stats["accepted"]
            await asyncio.sleep(0.5)
            assert (await faults.stats())["accepted"] == accepted, "a disposed connection tried again"
        finally:
            await faults.stall(False)


@fault_scenario
async def scenario_transient_gateway_errors_are_retried(client: Client, uid: str, faults: Faults) -> None:
    """guard.service_unavailable (a lifecycle boundary) is retried like the JS client
    does; more of them than the retry budget surface as the gateway's ActorError."""
    handle = client.counter.get_or_create(["transient", uid])
    try:
        assert await handle.increment(1) == 1
        # The handle now addresses the actor by id; in a browser the new URL's CORS
        # preflight (which the proxy lets through) is cached after this call.
        assert await handle.increment(1) == 2
        await faults.inject(2)
        await faults.cut()  # pooled connections go: the next requests open new ones
        await asyncio.sleep(0.2)
        assert await handle.increment(1) == 3  # after two injected 503s
        assert (await faults.stats())["inject"] == 0
        await faults.inject(10)
        await faults.cut()
        await asyncio.sleep(0.2)
        try:
            await handle.increment(1)
        except ActorError as exc:
            assert (exc.group, exc.code) == ("guard", "service_unavailable"), repr(exc)
        else:
            raise AssertionError("ten gateway errors in a row did not surface")
    finally:
        await faults.reset()
    assert await handle.getCount() == 3  # the failed call never reached the actor
