"""Feature scenarios shared by every runtime: CPython and Pyodide in Chromium.

Each ``scenario_*`` coroutine takes a fresh client (connected to the real test
backend, see ``tests/backend``) and a unique string for keys, and asserts real
behaviour with plain ``assert``s. ``tests/integration/test_scenarios.py`` runs them
on CPython for every encoding; ``tests/browser/test_scenarios_browser.py`` loads this
very file into Pyodide and runs the same functions through the browser transport.

This module imports nothing but the standard library and ``rivetkit_web`` so that it
runs unchanged under Pyodide.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from rivetkit_web import (
    ActionTimeout,
    ActorError,
    Client,
    ConnDisposed,
    ConnectionLost,
    WebSocketClosed,
)

Scenario = Callable[[Client, str], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__.removeprefix("scenario_")] = fn
    return fn


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true; fail with ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def expect_actor_error(awaitable: Awaitable[Any], group: str, code: str) -> ActorError:
    try:
        result = await awaitable
    except ActorError as exc:
        assert (exc.group, exc.code) == (group, code), f"expected {group}.{code}, got {exc!r}"
        return exc
    raise AssertionError(f"expected ActorError {group}.{code}, got result {result!r}")


# --------------------------------------------------------------------------- stateless


@scenario
async def scenario_stateless_actions(client: Client, uid: str) -> None:
    counter = client.counter.get_or_create(["stateless", uid])
    assert await counter.increment(2) == 2
    assert await counter.action("increment", 3) == 5
    assert await counter.getCount() == 5
    assert await counter.setCount(-7) == -7
    # Another handle to the same key reaches the same actor.
    assert await client.counter.get_or_create(["stateless", uid]).getCount() == -7


@scenario
async def scenario_get_never_creates(client: Client, uid: str) -> None:
    missing = client.counter.get(["never-created", uid])
    await expect_actor_error(missing.resolve(), "actor", "not_found")
    await expect_actor_error(missing.getCount(), "actor", "not_found")
    await client.counter.get_or_create(["never-created", uid]).increment(1)
    assert await missing.getCount() == 1  # now it exists, the same handle finds it


@scenario
async def scenario_create_and_get_for_id(client: Client, uid: str) -> None:
    handle = await client.inputActor.create(["created", uid], input={"mode": "ranked", "n": 3})
    actor_id = await handle.resolve()
    assert isinstance(actor_id, str) and actor_id
    assert await handle.getInput() == {"mode": "ranked", "n": 3}
    by_id = client.inputActor.get_for_id(actor_id)
    assert await by_id.getInput() == {"mode": "ranked", "n": 3}
    assert await client.inputActor.get(["created", uid]).resolve() == actor_id
    await expect_actor_error(client.inputActor.create(["created", uid]), "actor", "duplicate_key")


@scenario
async def scenario_resolve_is_stable(client: Client, uid: str) -> None:
    handle = client.counter.get_or_create(["resolve", uid])
    first = await handle.resolve()
    assert await handle.resolve() == first
    assert await client.counter.get(["resolve", uid]).resolve() == first
    assert await handle.getActorId() == first
    conn = handle.connect()
    try:
        await conn.ready(timeout=15)
        assert conn.actor_id == first
    finally:
        await conn.dispose()


@scenario
async def scenario_create_with_input(client: Client, uid: str) -> None:
    handle = client.inputActor.get_or_create(["input", uid], create_with_input={"greeting": "héllo", "big": 2**60})
    assert await handle.getInput() == {"greeting": "héllo", "big": 2**60}
    # Input only applies on creation.
    again = client.inputActor.get_or_create(["input", uid], create_with_input={"greeting": "other"})
    assert await again.getInput() == {"greeting": "héllo", "big": 2**60}
    assert await client.inputActor.get_or_create(["no-input", uid]).getInput() is None


@scenario
async def scenario_keys_are_distinct(client: Client, uid: str) -> None:
    """Keys that the JS client's query URL confuses reach distinct actors here."""
    groups = [
        [["a/b", "c"], ["a", "b/c"], ["a", "b", "c"]],
        [["x,y"], ["x", "y"]],
        [[], [""], ["", ""]],
        [["back\\slash"], ["back", "slash"], ["back\\", "slash"]],
        [["100%"], ["100%25"]],
        [["ünï", "cødé ✓"], ["ünï cødé ✓"]],
        [["k" * 300], ["k" * 299], ["k" * 150, "k" * 150]],
    ]
    for group in groups:
        ids = []
        for key in group:
            full = [uid, *key]
            handle = client.counter.get_or_create(full)
            assert await handle.getKey() == full, f"actor for {full!r} reports another key"
            ids.append(await handle.resolve())
        assert len(set(ids)) == len(ids), f"keys {group!r} reached the same actor"
    # A plain string is a one-part key.
    assert await client.counter.get_or_create(f"str-{uid}").getKey() == [f"str-{uid}"]


# --------------------------------------------------------------------------- connections


@scenario
async def scenario_connect_and_events(client: Client, uid: str) -> None:
    handle = client.counter.get_or_create(["events", uid])
    statuses: list[str] = []
    async with handle.connect() as conn:
        conn.on_status_change(statuses.append)
        counts: list[int] = []
        conn.on("newCount", counts.append)
        assert await conn.increment(5) == 5
        assert await conn.action("increment", 1) == 6
        await wait_until(lambda: counts == [5, 6], what=f"events [5, 6], got {counts}")
        assert conn.status == "connected"
        assert await handle.increment(10) == 16  # HTTP actions broadcast too
        await wait_until(lambda: counts == [5, 6, 16], what="event from an HTTP action")
    assert conn.status == "idle"
    assert statuses[-1] == "idle"


@scenario
async def scenario_once_and_unsubscribe(client: Client, uid: str) -> None:
    async with client.counter.get_or_create(["once", uid]).connect() as conn:
        once: list[int] = []
        every: list[int] = []
        conn.once("newCount", once.append)
        unsubscribe = conn.on("newCount", every.append)
        await conn.increment(1)
        await wait_until(lambda: every == [1], what="first event")
        await conn.increment(1)
        await wait_until(lambda: every == [1, 2], what="second event")
        unsubscribe()
        probe: list[int] = []
        conn.on("newCount", probe.append)
        await conn.increment(1)
        await wait_until(lambda: probe == [3], what="probe event")
        assert once == [1], once
        assert every == [1, 2], every


@scenario
async def scenario_events_with_several_args(client: Client, uid: str) -> None:
    async with client.eventActor.get_or_create(["multi", uid]).connect() as conn:
        received: list[tuple[Any, ...]] = []
        conn.on("multi", lambda *args: received.append(args))
        async_received: list[tuple[Any, ...]] = []

        async def async_listener(*args: Any) -> None:
            await asyncio.sleep(0)
            async_received.append(args)

        conn.on("multi", async_listener)
        await conn.emitMulti("a", 2, {"c": [3]})
        await wait_until(lambda: bool(received) and bool(async_received), what="multi event")
        assert received == [("a", 2, {"c": [3]})]
        assert async_received == received


@scenario
async def scenario_events_iterator(client: Client, uid: str) -> None:
    async with client.counter.get_or_create(["iter", uid]).connect() as conn:
        seen: list[int] = []

        async def consume() -> None:
            async for (count,) in conn.events("newCount"):
                seen.append(count)
                if len(seen) == 3:
                    return

        task = asyncio.ensure_future(consume())
        await conn.ready(timeout=15)
        for _ in range(3):
            await conn.increment(1)
        await asyncio.wait_for(task, 10)
        assert seen == [1, 2, 3]


@scenario
async def scenario_lifecycle_callbacks(client: Client, uid: str) -> None:
    handle = client.counter.get_or_create(["lifecycle", uid])
    conn = handle.connect()
    assert conn.status == "connecting"  # set before connect() returns
    statuses: list[str] = []
    opened: list[bool] = []
    closed: list[bool] = []
    conn.on_status_change(statuses.append)
    conn.on_open(lambda: opened.append(True))
    conn.on_close(lambda: closed.append(True))
    await conn.ready(timeout=15)
    assert statuses == ["connected"], statuses
    assert opened == [True] and closed == []
    await conn.dispose()
    assert statuses == ["connected", "idle"], statuses
    assert closed == [True]
    await conn.dispose()  # idempotent
    try:
        await conn.increment(1)
    except ConnDisposed:
        pass
    else:
        raise AssertionError("action on a disposed connection did not raise")


@scenario
async def scenario_conn_params(client: Client, uid: str) -> None:
    handle = client.paramsActor.get_or_create(["params", uid], params={"name": "alice"})
    assert await handle.whoami() == "alice"  # HTTP actions carry params too
    async with handle.connect() as conn:
        assert await conn.whoami() == "alice"
    async with handle.connect({"name": "bob"}) as conn:
        assert await conn.whoami() == "bob"
    calls: list[int] = []

    async def get_params() -> dict[str, str]:
        calls.append(1)
        return {"name": f"dyn{len(calls)}"}

    dynamic = client.paramsActor.get_or_create(["params", uid], get_params=get_params)
    async with dynamic.connect() as conn:
        assert await conn.whoami() == "dyn1"
    assert calls == [1]


@scenario
async def scenario_rejected_connection(client: Client, uid: str) -> None:
    handle = client.paramsActor.get_or_create(["reject", uid], params={"reject": True})
    conn = handle.connect()
    errors: list[ActorError] = []
    conn.on_error(errors.append)
    try:
        await expect_actor_error(conn.ready(timeout=15), "user", "forbidden")
        await wait_until(lambda: conn.status == "idle", what="idle after rejection")
        assert errors and errors[0].code == "forbidden", errors
        assert errors[0].metadata == {"why": "reject"}
        await expect_actor_error(conn.whoami(), "user", "forbidden")
    finally:
        await conn.dispose()
    # HTTP actions run onBeforeConnect too.
    await expect_actor_error(handle.whoami(), "user", "forbidden")


@scenario
async def scenario_errors(client: Client, uid: str) -> None:
    handle = client.errorActor.get_or_create(["errors", uid])
    err = await expect_actor_error(handle.throwUserError(), "user", "my_code")
    assert err.message == "nope" and err.metadata == {"a": 1, "b": [2, 3]}
    err = await expect_actor_error(handle.throwSimpleError(), "user", "user_error")
    assert err.message == "simple"
    err = await expect_actor_error(handle.throwInternal(), "rivetkit", "internal_error")
    assert "secret" not in err.message
    await expect_actor_error(handle.noSuchAction(), "actor", "action_not_found")
    assert await handle.ok() == "ok"
    async with handle.connect() as conn:
        err = await expect_actor_error(conn.throwUserError(), "user", "my_code")
        assert err.metadata == {"a": 1, "b": [2, 3]}
        await expect_actor_error(conn.throwInternal(), "rivetkit", "internal_error")
        assert await conn.ok() == "ok"  # the connection survives action errors
        assert conn.status == "connected"


@scenario
async def scenario_values_round_trip(client: Client, uid: str) -> None:
    handle = client.eventActor.get_or_create(["values", uid])
    values = [
        None, True, 0, -1, 2**53 - 1, 2**53, -(2**70), 1.5, "", "ünïcødé ✓ 🎉",
        [1, [2, [3]]], {"nested": {"list": [1, "two", None]}}, b"\x00\x01\xff",
        ["$BigInt", "not really"], {"$key": "$value"},
    ]
    for value in values:
        assert await handle.echo(value) == value, f"HTTP echo changed {value!r}"
    assert await handle.echoMany(1, "two", [3]) == [1, "two", [3]]
    async with handle.connect() as conn:
        for value in values:
            assert await conn.echo(value) == value, f"connection echo changed {value!r}"


@scenario
async def scenario_bad_input_fails_before_sending(client: Client, uid: str) -> None:
    handle = client.counter.get_or_create(["bad-input", uid])
    for bad in (object(), {1: "int key"}, float("nan")):
        try:
            await handle.increment(bad)
        except (TypeError, ValueError):
            pass
        else:
            raise AssertionError(f"{bad!r} was sent")
    for bad_key in (42, [1, 2], b"bytes"):
        try:
            client.counter.get_or_create(bad_key)  # type: ignore[arg-type]
        except TypeError:
            pass
        else:
            raise AssertionError(f"key {bad_key!r} accepted")
    async with handle.connect() as conn:
        try:
            await conn.increment(object())
        except TypeError:
            pass
        else:
            raise AssertionError("non-serialisable arg sent over the connection")
        assert await conn.increment(1) == 1  # still usable
    assert await handle.increment(1) == 2


@scenario
async def scenario_oversized_message(client: Client, uid: str) -> None:
    """Past the actor's 64 KiB incoming limit: a clear error, and the client recovers."""
    handle = client.eventActor.get_or_create(["oversized", uid])
    big = "x" * 100_000
    await expect_actor_error(handle.echo(big), "message", "incoming_too_long")
    assert await handle.echo("small") == "small"
    async with handle.connect() as conn:
        await expect_actor_error(conn.echo(big), "message", "incoming_too_long")
        assert await conn.echo("small") == "small"  # reconnected by itself


@scenario
async def scenario_concurrent_actions(client: Client, uid: str) -> None:
    async with client.counter.get_or_create(["concurrent", uid]).connect() as conn:
        results = await asyncio.gather(*(conn.increment(1) for _ in range(200)))
        assert sorted(results) == list(range(1, 201))
        slow = client.slowActor.get_or_create(["concurrent", uid]).connect()
        try:
            outputs = await asyncio.gather(*(slow.wait(ms) for ms in (300, 10, 150, 50)))
            assert outputs == [300, 10, 150, 50]  # responses matched by id, not order
        finally:
            await slow.dispose()


@scenario
async def scenario_broadcast_to_many(client: Client, uid: str) -> None:
    handle = client.counter.get_or_create(["fanout", uid])
    conns = [handle.connect() for _ in range(10)]
    received: list[list[int]] = [[] for _ in conns]
    try:
        for conn, sink in zip(conns, received):
            conn.on("newCount", sink.append)
        await asyncio.gather(*(conn.ready(timeout=15) for conn in conns))
        await conns[0].getCount()  # subscriptions were sent before this action
        for conn in conns[1:]:
            await conn.getCount()
        await handle.increment(42)
        await wait_until(lambda: all(sink == [42] for sink in received), what="fan-out")
    finally:
        await asyncio.gather(*(conn.dispose() for conn in conns))


@scenario
async def scenario_server_disconnect_reconnects(client: Client, uid: str) -> None:
    handle = client.lifecycleActor.get_or_create(["kick", uid])
    conn = handle.connect()
    try:
        statuses: list[str] = []
        ticks: list[int] = []
        conn.on("tick", ticks.append)
        await conn.ready(timeout=15)
        conn.on_status_change(statuses.append)
        try:
            await conn.disconnectMe("kicked")
        except (ConnectionLost, ActorError):
            pass  # the server may close before answering
        await wait_until(lambda: statuses[-1:] == ["connected"] and "disconnected" in statuses,
                         timeout=15, what="reconnect")
        assert statuses[0] == "disconnected", statuses
        await conn.broadcastTick(7)  # the subscription was restored after Init
        await wait_until(lambda: ticks == [7], what="event after reconnect")
        assert await conn.ping() == "pong"
    finally:
        await conn.dispose()


@scenario
async def scenario_actor_destroyed_reconnects_to_fresh_actor(client: Client, uid: str) -> None:
    """The actor is destroyed under a live connection: a get_or_create connection comes
    back connected to a fresh actor with the same key."""
    conn = client.lifecycleActor.get_or_create(["destroy", uid]).connect()
    try:
        await conn.ready(timeout=15)
        first = conn.actor_id
        opened: list[bool] = []
        conn.on_open(lambda: opened.append(True))
        try:
            await conn.destroyMe()
        except (ConnectionLost, ActorError):
            pass  # the socket may close before the response
        await wait_until(lambda: bool(opened) and conn.actor_id != first, timeout=20,
                         what="a connection to a fresh actor")
        assert await conn.ping() == "pong"
    finally:
        await conn.dispose()


@scenario
async def scenario_key_handle_follows_its_actor_after_destroy(client: Client, uid: str) -> None:
    """A key handle addresses its actor by the id the gateway reported (no key lookup
    per request); once that actor is destroyed the handle forgets the id, its actions
    and connections reach the fresh actor with the same key, and no call fails."""
    key = ["destroy-stateless", uid]
    handle = client.lifecycleActor.get_or_create(key)
    assert await handle.ping() == "pong"
    first = await client.lifecycleActor.get_or_create(key).resolve()
    await handle.destroyMe()
    deadline = asyncio.get_running_loop().time() + 20
    while (fresh := await client.lifecycleActor.get_or_create(key).resolve()) == first:
        assert asyncio.get_running_loop().time() < deadline, "the destroyed actor stayed"
        await asyncio.sleep(0.1)
    assert await handle.ping() == "pong"
    async with handle.connect() as conn:
        await conn.ready(timeout=15)
        assert conn.actor_id == fresh
        assert await conn.ping() == "pong"


@scenario
async def scenario_sleeping_actor_wakes_on_next_action(client: Client, uid: str) -> None:
    """A sleeping actor keeps the connection open and wakes on the next action."""
    async with client.lifecycleActor.get_or_create(["sleep", uid]).connect() as conn:
        wakes = await conn.getWakes()
        await conn.goToSleep()
        await asyncio.sleep(1.0)
        assert await conn.ping() == "pong"
        assert await conn.getWakes() >= wakes
        assert conn.status == "connected"


@scenario
async def scenario_action_timeout(client: Client, uid: str) -> None:
    """Each action keeps its own deadline: a short one set after a long one still
    fires on time, and the long one still gets its result."""
    async with client.slowActor.get_or_create(["timeout", uid]).connect() as conn:
        await conn.ready(timeout=15)
        longer = asyncio.ensure_future(conn.action("wait", 800, timeout=10))
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await conn.action("wait", 2000, timeout=0.3)
        except ActionTimeout:
            pass
        else:
            raise AssertionError("slow action did not time out")
        assert loop.time() - started < 1.5, "the short deadline waited for the long one"
        assert await longer == 800
        assert await conn.wait(1) == 1  # the late response is ignored, the conn still works


# --------------------------------------------------------------------------- raw


@scenario
async def scenario_raw_fetch(client: Client, uid: str) -> None:
    handle = client.rawActor.get_or_create(["raw", uid])
    response = await handle.fetch("hello")
    assert response.status == 200 and response.ok
    assert await response.text() == "hello"
    echo = await handle.fetch("/echo", method="POST", body=b"\x00bin\xff",
                              headers={"content-type": "application/octet-stream"})
    assert await echo.bytes() == b"\x00bin\xff"
    assert echo.headers["content-type"].startswith("application/octet-stream")
    data = await (await handle.fetch("json?a=1&b=two")).json()
    assert data == {"ok": True, "query": {"a": "1", "b": "two"}}
    headers = await (await handle.fetch("headers", headers={"x-custom": "yes"})).json()
    assert headers.get("x-custom") == "yes"
    assert (await handle.fetch("status/418")).status == 418
    missing = await handle.fetch("nope")
    assert missing.status == 404 and not missing.ok


@scenario
async def scenario_raw_web_socket(client: Client, uid: str) -> None:
    handle = client.rawActor.get_or_create(["raw-ws", uid])
    ws = await handle.web_socket("chat")
    try:
        assert await ws.recv() == "welcome"
        await ws.send("ping")
        assert await ws.recv() == "pong"
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x01\x02\x03")
        assert await ws.recv() == b"\x03\x02\x01"
        await ws.send("close")
        try:
            await ws.recv()
        except WebSocketClosed as closed:
            assert (closed.code, closed.reason) == (4000, "bye")
        else:
            raise AssertionError("server close not reported")
    finally:
        await ws.close()
    async with await handle.web_socket() as ws2:
        assert await ws2.recv() == "welcome"
        await ws2.send("ping")
        async for message in ws2:
            assert message == "pong"
            break
