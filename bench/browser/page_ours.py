"""rivetkit_web in the bench page's Pyodide: bench/py_worker.py's ``OursClient``, driven from JS.

bench/browser/page.mjs writes this file and bench/py_worker.py (unchanged, the same
file CPython runs) into the Pyodide FS and calls :func:`run` with one command of the
bench protocol as JSON, plus ``client`` (``page-ours/json``, ``page-ours/bare``: one
``OursClient`` each). The dispatch mirrors ``py_worker.serve``; only ``memory``
differs (no RSS in a page: JS heap + Python heap instead).
"""

from __future__ import annotations

import gc
import json
import sys
from typing import Any

import js  # type: ignore[import-not-found]
import py_worker

clients: dict[str, py_worker.OursClient] = {}


async def _full_gc() -> None:
    gc.collect()
    if hasattr(js, "gc"):
        js.gc()
        await py_worker.asyncio.sleep(0.05)
        js.gc()


def _heap() -> float | None:
    mem = getattr(js.performance, "memory", None)
    return None if mem is None else float(mem.usedJSHeapSize)


async def memory(client: py_worker.OursClient, key: str, conns: int) -> dict[str, Any]:
    """Like ``OursClient.memory``: Python heap (tracemalloc) + the JS heap the
    transport's WebSockets and proxies hold (``performance.memory`` after ``gc()``)."""
    import tracemalloc

    h = client.handle(key)
    async with h.connect() as c:  # warm: actor exists, lazy imports done
        await c.increment(1)
    await _full_gc()
    heap0 = _heap()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    opened = [h.connect() for _ in range(conns)]
    await py_worker.asyncio.gather(*(c.increment(1) for c in opened))
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    await _full_gc()
    heap1 = _heap()
    await py_worker.asyncio.gather(*(c.dispose() for c in opened), return_exceptions=True)
    js_heap = None if heap0 is None or heap1 is None else heap1 - heap0
    return {"per_conn_bytes": (traced + (js_heap or 0)) / conns, "rss_per_conn_bytes": None,
            "python_heap_per_conn_bytes": traced / conns,
            "js_heap_per_conn_bytes": None if js_heap is None else js_heap / conns,
            "method": "tracemalloc (Python heap) + JS heap (performance.memory) delta after gc()"}


async def _dispatch(cmd: dict[str, Any]) -> dict[str, Any]:
    name = cmd.pop("client")
    op = cmd.pop("cmd")
    if op == "close":
        for c in clients.values():
            await c.close()
        clients.clear()
        return {}
    if op == "setup":
        client = clients[name] = py_worker.OursClient()
        info = await client.setup(cmd["endpoint"], cmd["encoding"])
        import pyodide  # type: ignore[import-not-found]

        info.update({"pyodide": pyodide.__version__, "python": sys.version.split()[0]})
        return {"info": info}
    client = clients[name]
    if op in ("rtt", "http"):
        return {"samples_ms": await getattr(client, op)(cmd["key"], cmd["n"], cmd.get("warmup", 0))}
    if op == "pipeline":
        return {"elapsed_ms": await client.pipeline(cmd["key"], cmd["n"], cmd.get("warmup", 0))}
    if op in ("connect", "resolve"):
        return {"samples_ms": await getattr(client, op)(cmd["key"], cmd["n"])}
    if op == "fanout":
        res = await client.fanout(cmd["key"], cmd["conns"], cmd["events"], cmd.get("window", 10))
        res.pop("cpu_ms", None)  # the worker measures the page's main thread instead
        return res
    if op == "memory":
        return await memory(client, cmd["key"], cmd["conns"])
    raise ValueError(f"unknown command {op!r}")


async def run(cmd_json: str) -> str:
    """One command (JSON) -> its reply (JSON); errors raise (page.mjs reports them)."""
    return json.dumps(await _dispatch(json.loads(cmd_json)))
