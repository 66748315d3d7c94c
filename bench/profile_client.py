"""Profile rivetkit_web's hot paths against a backend (cProfile or pyinstrument).

    python bench/profile_client.py [--endpoint URL] [--encoding json|bare]
                                   [--figure rtt|pipeline|fanout|http] [--tool cprofile|pyinstrument|time]

Without ``--endpoint`` it starts its own backend (nodelay shim on) and stops it at
the end. ``--tool time`` just reports the client's CPU time per operation next to the
floor's (``bench/py_worker.py --client raw``) for the same work, which is what the
per-message overhead really is on this machine. The profiles go to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests", "backend"))
sys.path.insert(0, HERE)

import py_worker


async def workload(client, figure: str, n: int, key: str) -> dict | None:
    if figure == "rtt":
        await client.rtt(key, n, 0)
    elif figure == "pipeline":
        for _ in range(max(1, n // 1000)):
            await client.pipeline(key, 1000, 0)
    elif figure == "fanout":
        return await client.fanout(key + "-ev", 50, max(1, n // 50), 10)
    elif figure == "http":
        await client.http(key, n, 0)


async def run(args) -> None:
    clients = {"ours": py_worker.OursClient(), "raw": py_worker.RawClient()}
    for c in clients.values():
        await c.setup(args.endpoint, args.encoding)
    key = f"profile-{os.getpid()}"
    for name, c in clients.items():  # warm: actors exist, sockets open
        await workload(c, args.figure, min(args.n, 100), f"{key}-{name}")
    try:
        for name in (["ours"] if args.tool != "time" else ["raw", "ours"]):
            c = clients[name]
            wall0, cpu0 = time.perf_counter(), time.process_time()
            if args.tool == "cprofile":
                prof = cProfile.Profile()
                prof.enable()
                await workload(c, args.figure, args.n, f"{key}-{name}")
                prof.disable()
                out = io.StringIO()
                st = pstats.Stats(prof, stream=out).strip_dirs()
                st.sort_stats("tottime").print_stats(args.top)
                st.sort_stats("cumulative").print_stats(args.top)
                print(out.getvalue())
            elif args.tool == "pyinstrument":
                from pyinstrument import Profiler

                prof = Profiler(interval=0.0002, async_mode="enabled")
                prof.start()
                await workload(c, args.figure, args.n, f"{key}-{name}")
                prof.stop()
                print(prof.output_text(unicode=False, color=False, show_all=False))
            else:
                res = await workload(c, args.figure, args.n, f"{key}-{name}")
                if res and "cpu_ms" in res:  # fan-out: only the delivery, not the 50 connects
                    print(f"{name:5s} fanout: {res['delivered']} events received in {res['elapsed_ms'] / 1e3:.2f}s, "
                          f"client CPU {res['cpu_ms'] / 1e3:.2f}s "
                          f"({res['cpu_ms'] * 1e3 / res['delivered']:.0f} us CPU per event)", flush=True)
                    continue
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            print(f"{name:5s} {args.figure} n={args.n}: wall {wall:.2f}s, client CPU {cpu:.2f}s "
                  f"({cpu / args.n * 1e6:.0f} us CPU per unit)", flush=True)
    finally:
        for c in clients.values():
            await c.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint")
    ap.add_argument("--encoding", default="json", choices=["json", "bare", "cbor"])
    ap.add_argument("--figure", default="rtt", choices=["rtt", "pipeline", "fanout", "http"])
    ap.add_argument("--tool", default="cprofile", choices=["cprofile", "pyinstrument", "time"])
    ap.add_argument("-n", type=int, default=2000, help="actions (rtt, http), total actions (pipeline), "
                    "total events received (fanout: n/50 events to 50 connections)")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    if args.figure == "fanout":
        args.n = max(args.n, 50)
    backend = None
    if not args.endpoint:
        from harness import Backend

        backend = Backend(nodelay=True)
        backend.start()
        args.endpoint = backend.endpoint
    try:
        asyncio.run(run(args))
    finally:
        if backend is not None:
            backend.stop()


if __name__ == "__main__":
    main()
