"""Benchmark worker for the two CPython clients: ``ours`` (rivetkit_web) and ``raw`` (the floor).

Driven by ``bench/run.py`` over stdin/stdout, one JSON command per line; every reply
is one line ``@@BENCH@@ {json}`` on stdout (anything else on stdout/stderr is log
noise and ignored). The same command set is implemented by ``bench/js/bench.mjs``
for the JS client, so run.py can interleave the clients round by round.

* ``--client ours``: the public API of rivetkit_web (``create_client``, handles,
  ``connect()``, ``on()``), exactly what an application would write.
* ``--client raw``: the floor. A bare ``websockets`` connection to the gateway's
  ``/connect`` with hand-written JSON (or BARE) frames, and a kept-alive
  ``httpx.AsyncClient`` for HTTP. No client logic: no envelope objects, no id
  bookkeeping beyond a counter, no value conversion, no decoding beyond what is
  needed to count frames.

Commands (all times in milliseconds, measured with ``time.perf_counter``):

=========  ==============================================  =========================
cmd        arguments                                       reply
=========  ==============================================  =========================
setup      endpoint, encoding                              info
rtt        key, n, warmup                                  samples (one per action)
pipeline   key, n, warmup                                  elapsed for n in flight
http       key, n, warmup                                  samples
connect    key, n                                          samples (connect → 1st action)
resolve    key, n                                          samples (new handle each)
fanout     key, conns, events                              elapsed until all received
memory     key, conns                                      bytes per open connection
exit                                                       (exits)
=========  ==============================================  =========================
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
import traceback
from typing import Any
from urllib.parse import quote

MARK = "@@BENCH@@ "
FANOUT_TIMEOUT = 600.0
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)  # the rivetkit_web of this checkout, not an installed one

now = time.perf_counter


def ms(seconds: float) -> float:
    return seconds * 1000.0


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # pragma: no cover - not Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class FanoutTally:
    """Events received per connection in a fan-out; :meth:`wait` returns the time the
    last connection got its last event."""

    def __init__(self, conns: int, events: int) -> None:
        self.counts = [0] * conns
        self.events = events
        self.left = conns
        self.t_last = 0.0
        self.done = asyncio.Event()

    def tick(self, i: int) -> None:
        self.counts[i] += 1
        if self.counts[i] == self.events:
            self.left -= 1
            if self.left == 0:
                self.t_last = now()
                self.done.set()

    async def wait(self) -> float:
        try:
            await asyncio.wait_for(self.done.wait(), FANOUT_TIMEOUT)
        except TimeoutError:
            raise TimeoutError(f"fan-out incomplete after {FANOUT_TIMEOUT} s: received "
                               f"{min(self.counts)}..{max(self.counts)} of {self.events} per connection") from None
        return self.t_last

    @property
    def delivered(self) -> int:
        return sum(self.counts)


async def timed_calls(n: int, call) -> tuple[list[float], float]:
    """``n`` sequential ``await call()``: each one's wall time and the CPU time of all (ms)."""
    out = []
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = now()
        await call()
        out.append(ms(now() - t0))
    return out, ms(time.process_time() - cpu0)


async def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = now() + timeout
    while not predicate():
        if now() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.002)


# --------------------------------------------------------------------------- ours


class OursClient:
    """rivetkit_web through its public API only."""

    def __init__(self) -> None:
        self.cpu_ms: float | None = None
        self.client: Any = None
        self.conns: dict[str, Any] = {}
        self.handles: dict[str, Any] = {}
        self.warm: set[str] = set()

    async def setup(self, endpoint: str, encoding: str) -> dict[str, Any]:
        from rivetkit_web import __version__, create_client

        self.client = create_client(endpoint, encoding=encoding)
        return {"client": "rivetkit_web", "version": __version__, "encoding": encoding}

    def handle(self, key: str) -> Any:
        h = self.handles.get(key)
        if h is None:
            h = self.handles[key] = self.client.counter.get_or_create([key])
        return h

    async def conn(self, key: str, warmup: int) -> Any:
        c = self.conns.get(key)
        if c is None:
            c = self.conns[key] = self.handle(key).connect()
            await c.ready(timeout=60)
            for _ in range(warmup):
                await c.increment(1)
        return c

    async def rtt(self, key: str, n: int, warmup: int) -> list[float]:
        c = await self.conn(key, warmup)
        out, self.cpu_ms = await timed_calls(n, lambda: c.increment(1))
        return out

    async def pipeline(self, key: str, n: int, warmup: int) -> float:
        c = await self.conn(key, warmup)
        cpu0, t0 = time.process_time(), now()
        await asyncio.gather(*[c.increment(1) for _ in range(n)])
        elapsed = ms(now() - t0)
        self.cpu_ms = ms(time.process_time() - cpu0)
        return elapsed

    async def http(self, key: str, n: int, warmup: int) -> list[float]:
        h = self.handle(key)
        if key not in self.warm:  # warm once per key (the first call may create the actor)
            self.warm.add(key)
            for _ in range(warmup):
                await h.increment(1)
        out, self.cpu_ms = await timed_calls(n, lambda: h.increment(1))
        return out

    async def connect(self, key: str, n: int) -> list[float]:
        h = self.handle(key)
        if key not in self.warm:  # the actor exists and the client looked up /metadata
            self.warm.add(key)
            async with h.connect() as c:
                await c.increment(1)
        out = []
        for _ in range(n):
            t0 = now()
            c = h.connect()
            await c.increment(1)
            out.append(ms(now() - t0))
            await c.dispose()
        return out

    async def resolve(self, key: str, n: int) -> list[float]:
        await self.client.counter.get_or_create([key]).resolve()  # warm: the actor exists
        out = []
        for _ in range(n):
            t0 = now()
            await self.client.counter.get_or_create([key]).resolve()  # a new handle: no cache
            out.append(ms(now() - t0))
        return out

    async def fanout(self, key: str, conns: int, events: int, window: int) -> dict[str, Any]:
        h = self.client.eventActor.get_or_create([key])
        tally = FanoutTally(conns, events)
        synced = [False] * conns

        def on_tick(i: int):
            def cb(_value: Any) -> None:
                tally.tick(i)

            return cb

        def on_sync(i: int):
            def cb(_value: Any) -> None:
                synced[i] = True

            return cb

        receivers = [h.connect() for _ in range(conns)]
        for i, c in enumerate(receivers):
            c.on("tick", on_tick(i))
            c.on("sync", on_sync(i))
        sender = h.connect()
        try:
            await asyncio.wait_for(asyncio.gather(*(c.ready() for c in receivers + [sender])), 120)
            deadline = now() + 60
            while not all(synced):  # every subscription is active on the server
                if now() > deadline:
                    raise TimeoutError("subscriptions never became active")
                await sender.emit("sync", 0)
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)  # let stray sync events drain
            gate = asyncio.Semaphore(window)

            async def emit(i: int) -> None:
                async with gate:
                    await sender.emit("tick", i)

            cpu0, t0 = time.process_time(), now()
            acks = asyncio.gather(*[emit(i) for i in range(events)])
            elapsed = ms(await tally.wait() - t0)
            await acks
            cpu = ms(time.process_time() - cpu0)
            return {"elapsed_ms": elapsed, "delivered": tally.delivered, "cpu_ms": cpu}
        finally:
            await asyncio.gather(*(c.dispose() for c in receivers + [sender]), return_exceptions=True)

    async def memory(self, key: str, conns: int) -> dict[str, Any]:
        import tracemalloc

        h = self.handle(key)
        async with h.connect() as c:  # warm: actor exists, lazy imports done
            await c.increment(1)
        gc.collect()
        rss0 = rss_bytes()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        opened = [h.connect() for _ in range(conns)]
        await asyncio.gather(*(c.increment(1) for c in opened))
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - base
        rss = rss_bytes() - rss0
        tracemalloc.stop()
        await asyncio.gather(*(c.dispose() for c in opened), return_exceptions=True)
        return {"per_conn_bytes": traced / conns, "rss_per_conn_bytes": rss / conns,
                "method": "tracemalloc (Python heap), RSS delta"}

    async def close(self) -> None:
        if self.client is not None:
            await self.client.dispose()


# --------------------------------------------------------------------------- raw (the floor)


def _cbor_uint(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    if n < 0x100:
        return bytes([major << 5 | 24, n])
    if n < 0x10000:
        return bytes([major << 5 | 25]) + n.to_bytes(2, "big")
    return bytes([major << 5 | 26]) + n.to_bytes(4, "big")


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _bare_str(s: str) -> bytes:
    b = s.encode()
    return _varint(len(b)) + b


class RawClient:
    """The floor: websockets + httpx with hand-written frames, no client logic."""

    def __init__(self) -> None:
        self.cpu_ms: float | None = None
        self.endpoint = ""
        self.encoding = "json"
        self.http_client: Any = None
        self.sockets: dict[str, Any] = {}
        self.next_id: dict[str, int] = {}
        self.warm: set[str] = set()

    async def setup(self, endpoint: str, encoding: str) -> dict[str, Any]:
        import httpx
        import websockets

        self.endpoint = endpoint.rstrip("/")
        self.encoding = encoding
        self.http_client = httpx.AsyncClient(timeout=60)
        return {"client": "raw websockets+httpx", "websockets": websockets.__version__,
                "httpx": httpx.__version__, "encoding": encoding}

    # -- URLs and frames, written by hand
    def query(self, key: str) -> str:
        return (f"rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default"
                f"&rvt-key={quote(key, safe='')}&rvt-crash-policy=sleep")

    def ws_url(self, name: str, key: str) -> str:
        return self.endpoint.replace("http://", "ws://", 1) + f"/gateway/{name}/connect?{self.query(key)}"

    def action_frame(self, action_id: int, name: str, args_json: str, args_cbor: bytes) -> str | bytes:
        if self.encoding == "json":
            return ('{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","' + str(action_id)
                    + '"],"name":"' + name + '","args":' + args_json + "}}}")
        return b"\x04\x00\x00" + _varint(action_id) + _bare_str(name) + _varint(len(args_cbor)) + args_cbor

    def increment_frame(self, action_id: int) -> str | bytes:
        return self.action_frame(action_id, "increment", "[1]", b"\x81\x01")

    def emit_frame(self, action_id: int, event: str, value: int) -> str | bytes:
        ev = event.encode()
        args_cbor = b"\x82" + _cbor_uint(3, len(ev)) + ev + _cbor_uint(0, value)
        return self.action_frame(action_id, "emit", f'["{event}",{value}]', args_cbor)

    def subscribe_frame(self, event: str) -> str | bytes:
        if self.encoding == "json":
            return '{"body":{"tag":"SubscriptionRequest","val":{"eventName":"' + event + '","subscribe":true}}}'
        return b"\x04\x00\x01" + _bare_str(event) + b"\x01"

    def event_matcher(self, event: str):
        if self.encoding == "json":
            needle = f'"name":"{event}"'
            return lambda frame: needle in frame
        prefix = b"\x04\x00\x03" + _bare_str(event)
        return lambda frame: frame.startswith(prefix)

    async def open(self, name: str, key: str) -> Any:
        from websockets.asyncio.client import connect

        ws = await connect(self.ws_url(name, key), subprotocols=["rivet", f"rivet_encoding.{self.encoding}"],
                           compression=None, max_size=None, open_timeout=60)
        await ws.recv()  # Init
        return ws

    async def sock(self, key: str, warmup: int) -> Any:
        ws = self.sockets.get(key)
        if ws is None:
            ws = self.sockets[key] = await self.open("counter", key)
            self.next_id[key] = 0
            for _ in range(warmup):
                await ws.send(self.increment_frame(self._id(key)))
                await ws.recv()
        return ws

    def _id(self, key: str) -> int:
        i = self.next_id[key]
        self.next_id[key] = i + 1
        return i

    async def rtt(self, key: str, n: int, warmup: int) -> list[float]:
        ws = await self.sock(key, warmup)

        async def round_trip() -> None:
            await ws.send(self.increment_frame(self._id(key)))
            await ws.recv()

        out, self.cpu_ms = await timed_calls(n, round_trip)
        return out

    async def pipeline(self, key: str, n: int, warmup: int) -> float:
        ws = await self.sock(key, warmup)

        async def send_all() -> None:
            for _ in range(n):
                await ws.send(self.increment_frame(self._id(key)))

        cpu0, t0 = time.process_time(), now()
        sender = asyncio.ensure_future(send_all())
        for _ in range(n):
            await ws.recv()
        elapsed = ms(now() - t0)
        await sender
        self.cpu_ms = ms(time.process_time() - cpu0)
        return elapsed

    def http_request(self, key: str):
        url = f"{self.endpoint}/gateway/counter/action/increment?{self.query(key)}"
        if self.encoding == "json":
            body = b'{"args":[1]}'
            headers = {"x-rivet-encoding": "json", "content-type": "application/json"}
        else:
            body = b"\x04\x00\x02\x81\x01"
            headers = {"x-rivet-encoding": "bare", "content-type": "application/octet-stream"}
        return url, body, headers

    async def http(self, key: str, n: int, warmup: int) -> list[float]:
        url, body, headers = self.http_request(key)
        if key not in self.warm:
            self.warm.add(key)
            for _ in range(warmup):
                (await self.http_client.post(url, content=body, headers=headers)).raise_for_status()

        async def post() -> None:
            r = await self.http_client.post(url, content=body, headers=headers)
            r.content  # noqa: B018 - read, as a client would
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")

        out, self.cpu_ms = await timed_calls(n, post)
        return out

    async def connect(self, key: str, n: int) -> list[float]:
        if key not in self.warm:
            self.warm.add(key)
            ws = await self.open("counter", key)
            await ws.send(self.increment_frame(0))
            await ws.recv()
            await ws.close()
        out = []
        for _ in range(n):
            t0 = now()
            ws = await self.open("counter", key)
            await ws.send(self.increment_frame(0))
            await ws.recv()
            out.append(ms(now() - t0))
            await ws.close()
        return out

    async def resolve(self, key: str, n: int) -> list[float]:
        url = f"{self.endpoint}/actors?namespace=default"
        body = json.dumps({"name": "counter", "key": key, "runner_name_selector": "default",
                           "crash_policy": "sleep"}).encode()
        headers = {"content-type": "application/json"}
        out = []
        for i in range(n + 1):  # the first one warms up
            t0 = now()
            r = await self.http_client.put(url, content=body, headers=headers)
            actor_id = r.json()["actor"]["actor_id"]
            if i:
                out.append(ms(now() - t0))
            assert actor_id
        return out

    async def fanout(self, key: str, conns: int, events: int, window: int) -> dict[str, Any]:
        is_tick = self.event_matcher("tick")
        is_sync = self.event_matcher("sync")
        tally = FanoutTally(conns, events)
        synced = [False] * conns
        sender = await self.open("eventActor", key)  # first: creates the actor (no creation race)
        receivers = list(await asyncio.wait_for(
            asyncio.gather(*(self.open("eventActor", key) for _ in range(conns))), 120))
        sockets = [sender, *receivers]

        async def read(i: int, ws: Any) -> None:
            async for frame in ws:
                if is_tick(frame):
                    tally.tick(i)
                elif is_sync(frame):
                    synced[i] = True

        acked = [0]
        ack = asyncio.Event()

        async def read_acks() -> None:
            async for _ in sender:
                acked[0] += 1
                ack.set()

        for ws in receivers:
            await ws.send(self.subscribe_frame("tick"))
            await ws.send(self.subscribe_frame("sync"))
        readers = [asyncio.ensure_future(read(i, ws)) for i, ws in enumerate(receivers)]
        readers.append(asyncio.ensure_future(read_acks()))
        sent = 0
        try:
            deadline = now() + 60
            while not all(synced):
                if now() > deadline:
                    raise TimeoutError("subscriptions never became active")
                await sender.send(self.emit_frame(sent, "sync", 0))
                sent += 1
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)  # let stray sync events drain
            await wait_until(lambda: acked[0] >= sent, 60, "every sync acknowledged")
            cpu0, t0 = time.process_time(), now()
            for i in range(events):
                while sent - acked[0] >= window:  # at most `window` emits in flight
                    ack.clear()
                    await ack.wait()
                await sender.send(self.emit_frame(sent, "tick", i))
                sent += 1
            elapsed = ms(await tally.wait() - t0)
            await wait_until(lambda: acked[0] >= sent, 60, "every emit acknowledged")
            cpu = ms(time.process_time() - cpu0)
            return {"elapsed_ms": elapsed, "delivered": tally.delivered, "cpu_ms": cpu}
        finally:
            for ws in sockets:
                await ws.close()
            for t in readers:
                t.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

    async def memory(self, key: str, conns: int) -> dict[str, Any]:
        import tracemalloc

        ws = await self.open("counter", key)
        await ws.close()
        gc.collect()
        rss0 = rss_bytes()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]

        async def one() -> Any:
            ws = await self.open("counter", key)
            await ws.send(self.increment_frame(0))
            await ws.recv()
            return ws

        opened = await asyncio.gather(*(one() for _ in range(conns)))
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - base
        rss = rss_bytes() - rss0
        tracemalloc.stop()
        for ws in opened:
            await ws.close()
        return {"per_conn_bytes": traced / conns, "rss_per_conn_bytes": rss / conns,
                "method": "tracemalloc (Python heap), RSS delta"}

    async def close(self) -> None:
        for ws in self.sockets.values():
            await ws.close()
        if self.http_client is not None:
            await self.http_client.aclose()


# --------------------------------------------------------------------------- loop


def reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(MARK + json.dumps(obj) + "\n")
    sys.stdout.flush()


async def serve(kind: str) -> None:
    client: OursClient | RawClient = OursClient() if kind == "ours" else RawClient()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    reply({"ok": True, "hello": kind, "pid": os.getpid()})
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            cmd = json.loads(line)
            op = cmd.pop("cmd")
            if op == "exit":
                return
            try:
                if op == "setup":
                    result: Any = {"info": await client.setup(cmd["endpoint"], cmd["encoding"])}
                elif op in ("rtt", "http"):
                    client.cpu_ms = None
                    result = {"samples_ms": await getattr(client, op)(cmd["key"], cmd["n"], cmd.get("warmup", 0)),
                              "cpu_ms": client.cpu_ms}
                elif op == "pipeline":
                    result = {"elapsed_ms": await client.pipeline(cmd["key"], cmd["n"], cmd.get("warmup", 0)),
                              "cpu_ms": client.cpu_ms}
                elif op in ("connect", "resolve"):
                    result = {"samples_ms": await getattr(client, op)(cmd["key"], cmd["n"])}
                elif op == "fanout":
                    result = await client.fanout(cmd["key"], cmd["conns"], cmd["events"], cmd.get("window", 10))
                elif op == "memory":
                    result = await client.memory(cmd["key"], cmd["conns"])
                else:
                    raise ValueError(f"unknown command {op!r}")
                reply({"ok": True, **result})
            except Exception as exc:  # noqa: BLE001 - reported to run.py
                traceback.print_exc()
                reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        await client.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", choices=["ours", "raw"], required=True)
    args = ap.parse_args()
    asyncio.run(serve(args.client))


if __name__ == "__main__":
    main()
