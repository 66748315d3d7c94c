"""Where does a stateless HTTP action's time go? Client vs engine, keep-alive or not.

    python bench/http_breakdown.py [--endpoint URL] [--nodelay on|off|both] [-n 40]

Without ``--endpoint`` it starts a backend per configuration (and stops it).
Every variant below is measured interleaved (one request of each, round robin), so
load changes on the machine hit them alike; p50/p90 in ms:

* ``ours``          rivetkit_web ``handle.increment(1)`` (json), query URL
* ``raw keepalive`` httpx POST, the same URL, one kept-alive connection
* ``raw new TCP conn`` httpx POST, the same URL, keep-alive off (a new TCP connection
  per request, same client)
* ``raw new client`` a new ``httpx.AsyncClient`` per request (what a client without a
  shared pool would pay: the client setup, mostly its SSL context, dominates)
* ``raw by id``     httpx POST ``/gateway/{actorId}/action/increment`` (no key lookup)
* ``raw getCount``  the read-only action by id (no state change, no broadcast)
* ``raw onRequest`` ``GET /gateway/{id}/request/hello`` on ``rawActor`` (HTTP tunnel,
  no action machinery)
* ``engine /metadata`` and ``engine GET /actors?actor_ids=``: the engine alone
* ``ws action``     the same action over an open ``/connect`` WebSocket

plus, for ``raw keepalive``, httpx's trace of the request phases: time to get the
connection, to write the request, and to receive the response headers (the server
side), and the client CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests", "backend"))


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


async def measure(endpoint: str, n: int) -> dict[str, list[float]]:
    import httpx
    from websockets.asyncio.client import connect

    from rivetkit_web import create_client

    key = f"httpbd-{uuid.uuid4().hex[:8]}"
    q = f"rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default&rvt-key={key}&rvt-crash-policy=sleep"
    json_h = {"x-rivet-encoding": "json", "content-type": "application/json"}
    url = f"{endpoint}/gateway/counter/action/increment?{q}"
    http = httpx.AsyncClient(timeout=60)
    r = await http.post(url, content=b'{"args":[1]}', headers=json_h)
    r.raise_for_status()
    actor_id = r.headers["x-rivet-actor"]
    r = await http.get(f"{endpoint}/gateway/rawActor/request/hello?{q}")
    raw_id = r.headers["x-rivet-actor"]
    client = create_client(endpoint, encoding="json")
    handle = client.counter.get_or_create([key])
    await handle.increment(0)
    ws = await connect(endpoint.replace("http://", "ws://") + f"/gateway/counter/connect?{q}",
                       subprotocols=["rivet", "rivet_encoding.json"], compression=None)
    await ws.recv()
    ws_id = [0]
    phases: dict[str, list[float]] = {"connection acquired": [], "request written": [],
                                      "response headers (server time)": [], "body read": []}

    async def ws_action() -> None:
        await ws.send('{"body":{"tag":"ActionRequest","val":{"id":' + str(ws_id[0]) + ',"name":"increment","args":[1]}}}')
        ws_id[0] += 1
        await ws.recv()

    async def new_client() -> None:
        async with httpx.AsyncClient(timeout=60) as c:  # what a client without a pool pays
            (await c.post(url, content=b'{"args":[1]}', headers=json_h)).raise_for_status()

    no_keepalive = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_keepalive_connections=0))

    async def new_conn() -> None:  # same client, new TCP connection each time
        (await no_keepalive.post(url, content=b'{"args":[1]}', headers=json_h)).raise_for_status()

    async def traced() -> None:
        marks: dict[str, float] = {}

        async def trace(name: str, info: dict) -> None:
            marks[name] = time.perf_counter()

        t0 = time.perf_counter()
        r = await http.post(url, content=b'{"args":[1]}', headers=json_h, extensions={"trace": trace})
        r.raise_for_status()
        t_end = time.perf_counter()
        acquired = marks.get("connection.connect_tcp.complete",
                             marks.get("http11.send_request_headers.started", t0))
        sent = marks.get("http11.send_request_body.complete", acquired)
        headers = marks.get("http11.receive_response_headers.complete", sent)
        phases["connection acquired"].append((acquired - t0) * 1e3)
        phases["request written"].append((sent - acquired) * 1e3)
        phases["response headers (server time)"].append((headers - sent) * 1e3)
        phases["body read"].append((t_end - headers) * 1e3)

    variants = {
        "ours (rivetkit_web, json)": lambda: handle.increment(1),
        "raw keepalive": traced,
        "raw new TCP conn per request (no keep-alive)": new_conn,
        "raw new httpx client per request": new_client,
        "raw by id": lambda: http.post(f"{endpoint}/gateway/{actor_id}/action/increment",
                                       content=b'{"args":[1]}', headers=json_h),
        "raw getCount by id": lambda: http.post(f"{endpoint}/gateway/{actor_id}/action/getCount",
                                                content=b'{"args":[]}', headers=json_h),
        "raw onRequest by id (rawActor)": lambda: http.get(f"{endpoint}/gateway/{raw_id}/request/hello"),
        "engine GET /metadata": lambda: http.get(f"{endpoint}/metadata?namespace=default"),
        "engine GET /actors?actor_ids=": lambda: http.get(f"{endpoint}/actors?actor_ids={actor_id}&namespace=default"),
        "ws action (open /connect socket)": ws_action,
    }
    out: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, float] = {k: 0.0 for k in variants}
    for _ in range(2):  # warm-up
        for fn in variants.values():
            await fn()
    for samples in phases.values():
        samples.clear()
    for _ in range(n):
        for name, fn in variants.items():
            c0, t0 = time.process_time(), time.perf_counter()
            res = await fn()
            out[name].append((time.perf_counter() - t0) * 1e3)
            cpu[name] += time.process_time() - c0
            if isinstance(res, httpx.Response) and res.status_code >= 400:
                raise RuntimeError(f"{name}: HTTP {res.status_code} {res.text[:200]}")
    await ws.close()
    await client.dispose()
    await http.aclose()
    await no_keepalive.aclose()
    for name in list(out):
        out[name + " :: client CPU ms"] = [cpu[name] / n * 1e3]
    out.update({f"  raw keepalive phase: {k}": v for k, v in phases.items()})
    return out


def report(title: str, res: dict[str, list[float]]) -> None:
    print(f"\n## {title}\n")
    print(f"| {'variant':48s} | {'p50 ms':>8s} | {'p90 ms':>8s} | {'client CPU ms':>13s} |")
    print(f"|{'-' * 50}|{'-' * 10}:|{'-' * 10}:|{'-' * 14}:|")
    for name, samples in res.items():
        if name.endswith(":: client CPU ms"):
            continue
        cpu = res.get(name + " :: client CPU ms")
        cpu_s = f"{cpu[0]:.2f}" if cpu else ""
        print(f"| {name:48s} | {pct(samples, 50):8.1f} | {pct(samples, 90):8.1f} | {cpu_s:>13s} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint")
    ap.add_argument("--nodelay", default="both", choices=["on", "off", "both"])
    ap.add_argument("-n", type=int, default=40)
    args = ap.parse_args()
    if args.endpoint:
        report(args.endpoint, asyncio.run(measure(args.endpoint, args.n)))
        return
    from harness import Backend

    for flag in ([True, False] if args.nodelay == "both" else [args.nodelay == "on"]):
        backend = Backend(nodelay=flag)
        try:
            backend.start()
            report(f"nodelay shim {'on' if flag else 'off'} ({backend.endpoint})",
                   asyncio.run(measure(backend.endpoint, args.n)))
        finally:
            backend.stop()


if __name__ == "__main__":
    main()
