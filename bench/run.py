"""Benchmarks of rivetkit_web side by side with the JS client and a raw floor.

    python bench/run.py [--size tiny|full] [--out bench/results] [--configs nodelay,stock,responder]

For each configuration of the real engine (``nodelay``: the TCP_NODELAY shim in the
actor runtime, ``stock``: without it) this starts ONE backend
(``tests/backend/harness.py``); for ``responder`` no engine but the minimal protocol
responder ``bench/responder.mjs`` (what each client itself costs). It measures,
against it and in the same run:

* ``js``    the official ``rivetkit/client`` on Node 22 (``bench/js/bench.mjs``);
* ``ours``  ``rivetkit_web`` on CPython (``bench/py_worker.py --client ours``);
* ``floor`` bare ``websockets`` + kept-alive ``httpx`` with hand-written frames
  (``bench/py_worker.py --client raw``);

each with the ``json`` and the ``bare`` encoding. Every client runs in its own
long-lived worker process; the workers are driven round by round with the client
order rotated each round, so slow phases of this shared machine hit every client
alike. Results are ratios (ours/JS, ours/floor), written to ``<out>/latest.json``,
``<out>/latest.md`` and ``<out>/latest.png``. See bench/README.md.

Every backend and worker started here is stopped at the end, on error and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BACKEND_DIR = os.path.join(REPO, "tests", "backend")
NODE = os.path.join(BACKEND_DIR, "node_modules", ".bin", "node")
RIVETKIT_PKG = os.path.join(BACKEND_DIR, "node_modules", "rivetkit")
sys.path.insert(0, BACKEND_DIR)
sys.path.insert(0, HERE)

import report
from harness import Backend
from responder import Responder

MARK = "@@BENCH@@ "
ENCODINGS = ("json", "bare")
KINDS = ("js", "ours", "floor")
CLIENTS = [(kind, enc) for kind in KINDS for enc in ENCODINGS]
# the browser: the JS client and rivetkit_web under Pyodide in ONE Chromium page,
# hosted by one process (bench/browser/worker.py) for all four logical clients
BROWSER_KINDS = ("page-js", "page-ours")
ALL_KINDS = KINDS + BROWSER_KINDS
BROWSER_WORKER = os.path.join(HERE, "browser", "worker.py")
BROWSER_CONFIGS = ("nodelay", "stock")  # the real engine's configurations
# config -> TCP_NODELAY on the server side (responder: set on every accepted socket, no shim)
CONFIGS = {"nodelay": True, "stock": False, "responder": True}
PHASES = ("rtt", "pipeline", "http", "connect", "resolve", "fanout", "memory", "import", "coldstart")

SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "rtt": {"rounds": 10, "n": 200, "warmup": 50},  # 2,000 calls per client
        "pipeline": {"rounds": 3, "n": 1000, "warmup": 20},  # 1,000 in flight
        "http": {"rounds": 10, "n": 30, "warmup": 5},  # 300 calls per client
        "connect": {"rounds": 10, "n": 3},  # 30 connections
        "resolve": {"rounds": 10, "n": 5},  # 50 resolves
        # engine-bound: ~800 deliveries/s here, so ~1 min per client and round
        "fanout": {"rounds": 1, "conns": 50, "events": 1000, "window": 10},
        "memory": {"conns": 50},
        "import_reps": 7,
        "coldstart": {"reps": 5, "warmup": 1},  # browser: fresh contexts per page kind
    },
    "tiny": {
        "rtt": {"rounds": 1, "n": 20, "warmup": 3},
        "pipeline": {"rounds": 1, "n": 20, "warmup": 2},
        "http": {"rounds": 1, "n": 5, "warmup": 1},
        "connect": {"rounds": 1, "n": 2},
        "resolve": {"rounds": 1, "n": 2},
        "fanout": {"rounds": 1, "conns": 3, "events": 10, "window": 10},
        "memory": {"conns": 3},
        "import_reps": 1,
        "coldstart": {"reps": 1, "warmup": 0},
    },
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- workers

_spawned: set[int] = set()  # pids of live workers we started (killed on the way out)


class WorkerError(RuntimeError):
    pass


class Worker:
    """One client in its own process, spoken to with one JSON line per command."""

    def __init__(self, kind: str, encoding: str) -> None:
        self.kind = kind
        self.encoding = encoding
        self.name = f"{kind}/{encoding}"
        self.proc: asyncio.subprocess.Process | None = None
        self.noise: collections.deque[str] = collections.deque(maxlen=40)
        self.info: dict[str, Any] = {}
        self.dead: str | None = None
        self._drain: asyncio.Task[None] | None = None

    def argv(self) -> list[str]:
        if self.kind == "page":
            return [sys.executable, BROWSER_WORKER]
        if self.kind == "js":
            return [NODE, "--expose-gc", os.path.join(HERE, "js", "bench.mjs"), "--rivetkit", RIVETKIT_PKG]
        client = "ours" if self.kind == "ours" else "raw"
        return [sys.executable, os.path.join(HERE, "py_worker.py"), "--client", client]

    async def start(self, endpoint: str, setup: bool = True) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
        env.pop("PYTHONSTARTUP", None)
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv(), cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, limit=1 << 24,
        )
        _spawned.add(self.proc.pid)
        self._drain = asyncio.ensure_future(self._drain_stderr())
        hello = await self._read(60)
        if not hello.get("ok"):
            raise WorkerError(f"{self.name} did not start: {hello}")
        if not setup:
            return
        self.info = (await self.call({"cmd": "setup", "endpoint": endpoint, "encoding": self.encoding}, 60))["info"]

    async def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while True:
            line = await self.proc.stderr.readline()
            if not line:
                return
            self.noise.append(line.decode("utf-8", "replace").rstrip())

    async def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            line = await asyncio.wait_for(self.proc.stdout.readline(), left)
            if not line:
                raise WorkerError(f"{self.name} exited (code {await self.proc.wait()})")
            text = line.decode("utf-8", "replace")
            if text.startswith(MARK):
                return json.loads(text[len(MARK):])
            self.noise.append(text.rstrip())

    async def call(self, cmd: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self.dead:
            raise WorkerError(f"{self.name} is dead ({self.dead})")
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            await self.proc.stdin.drain()
            result = await self._read(timeout)
        except (TimeoutError, WorkerError, ConnectionError, BrokenPipeError) as exc:
            self.dead = f"{cmd['cmd']}: {type(exc).__name__} {exc}".strip()
            await self.kill()
            raise WorkerError(f"{self.name} failed during {cmd['cmd']}: {self.dead}; "
                              f"last output:\n  " + "\n  ".join(list(self.noise)[-15:])) from None
        if not result.get("ok"):
            raise WorkerError(f"{self.name} {cmd['cmd']}: {result.get('error')}; last output:\n  "
                              + "\n  ".join(list(self.noise)[-10:]))
        return result

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None and not self.dead:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(b'{"cmd":"exit"}\n')
                await self.proc.stdin.drain()
                await asyncio.wait_for(self.proc.wait(), 10)
            except (TimeoutError, ConnectionError, BrokenPipeError, RuntimeError):
                pass
        await self.kill()

    async def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                pass
        _spawned.discard(self.proc.pid)
        if self._drain is not None:
            self._drain.cancel()


class PageHost:
    """The browser worker process (bench/browser/worker.py), shared by the page clients.

    Commands of all of them go through one stdin/stdout, one at a time (a lock)."""

    SETUP_TIMEOUT = 300.0  # the first setup builds the assets, starts Chromium and Pyodide

    def __init__(self) -> None:
        self.worker = Worker("page", "-")
        self.worker.name = "browser"
        self.lock = asyncio.Lock()
        self.started = False
        self.stopped = False

    async def ensure(self, endpoint: str) -> None:
        async with self.lock:
            if not self.started:
                self.started = True
                await self.worker.start(endpoint, setup=False)

    async def call(self, cmd: dict[str, Any], timeout: float) -> dict[str, Any]:
        async with self.lock:
            return await self.worker.call(cmd, timeout)

    async def stop(self) -> None:
        if not self.stopped:  # once for all its clients (they stop together)
            self.stopped = True
            await self.worker.stop()


class PageClient:
    """One logical client (``page-js/<enc>``, ``page-ours/<enc>``) of a :class:`PageHost`:
    the Worker interface, every command tagged with ``client``."""

    def __init__(self, host: PageHost, kind: str, encoding: str) -> None:
        self.host = host
        self.kind = kind
        self.encoding = encoding
        self.name = f"{kind}/{encoding}"
        self.info: dict[str, Any] = {}
        self._dead: str | None = None

    @property
    def dead(self) -> str | None:  # this client failed to start, or the whole browser died
        return self._dead or self.host.worker.dead

    @dead.setter
    def dead(self, value: str | None) -> None:
        self._dead = value

    async def start(self, endpoint: str) -> None:
        await self.host.ensure(endpoint)
        cmd = {"cmd": "setup", "endpoint": endpoint, "encoding": self.encoding}
        self.info = (await self.call(cmd, PageHost.SETUP_TIMEOUT))["info"]

    async def call(self, cmd: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self._dead:
            raise WorkerError(f"{self.name} is dead ({self._dead})")
        try:
            return await self.host.call({**cmd, "client": self.name}, timeout)
        except WorkerError as exc:
            raise WorkerError(f"{self.name}: {exc}") from None

    async def stop(self) -> None:
        await self.host.stop()

    async def kill(self) -> None:
        await self.host.worker.kill()


def _kill_leftover_workers() -> None:
    for pid in list(_spawned):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            _spawned.discard(pid)
            continue
        if b"bench" in cmdline:  # still ours (pids are not reused while we have not reaped it)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _spawned.discard(pid)


# --------------------------------------------------------------------------- statistics


def percentile(samples: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    s = sorted(samples)
    if not s:
        raise ValueError("no samples")
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "n": len(samples),
        "min": min(samples),
        "p50": percentile(samples, 50),
        "p90": percentile(samples, 90),
        "p99": percentile(samples, 99),
        "max": max(samples),
        "mean": sum(samples) / len(samples),
    }


def median(values: list[float]) -> float:
    return percentile(values, 50)


# --------------------------------------------------------------------------- import time

IMPORT_SNIPPETS = {
    # what an application pays before its first request
    "ours": ("import time; t0 = time.perf_counter(); import rivetkit_web; t1 = time.perf_counter(); "
             "c = rivetkit_web.create_client('http://127.0.0.1:9'); t2 = time.perf_counter(); "
             "import json; print(json.dumps({'import_ms': (t2 - t0) * 1e3, 'module_only_ms': (t1 - t0) * 1e3}))"),
    "floor": ("import time; t0 = time.perf_counter(); import httpx; "
              "from websockets.asyncio.client import connect; t1 = time.perf_counter(); "
              "import json; print(json.dumps({'import_ms': (t1 - t0) * 1e3}))"),
}


def measure_imports(reps: int) -> dict[str, Any]:
    js_entry = os.path.join(RIVETKIT_PKG, "dist", "tsup", "client", "mod.js")
    js_code = (f"const t0 = performance.now(); await import({json.dumps('file://' + js_entry)}); "
               "console.log(JSON.stringify({import_ms: performance.now() - t0}));")
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in KINDS}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSTARTUP",)}
    for _ in range(reps):
        for kind in KINDS:
            if kind == "js":
                argv = [NODE, "--input-type=module", "-e", js_code]
            else:
                argv = [sys.executable, "-c", IMPORT_SNIPPETS[kind]]
            res = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
                                 check=False)
            if res.returncode != 0:
                raise RuntimeError(f"import timing for {kind} failed: {res.stderr[-2000:]}")
            runs[kind].append(json.loads(res.stdout.strip().splitlines()[-1]))
    out: dict[str, Any] = {}
    for kind, rs in runs.items():
        out[kind] = {key: median([r[key] for r in rs]) for key in rs[0]}
        out[kind]["reps"] = len(rs)
    return out


# --------------------------------------------------------------------------- one configuration


def _timeout(figure: str, params: dict[str, Any]) -> float:
    n = params.get("n", 0)
    return {
        "rtt": 60 + n * 2.0,
        "pipeline": 180 + n * 0.2,
        "http": 60 + n * 5.0,
        "connect": 60 + n * 20.0,
        "resolve": 60 + n * 10.0,
        "fanout": 900,
        "memory": 300,
    }[figure]


async def run_config(cfg: str, endpoint: str, size: dict[str, Any], tag: str,
                     phases: tuple[str, ...] = (), server_stats=None,
                     kinds: tuple[str, ...] = ALL_KINDS) -> dict[str, Any]:
    """``server_stats``: a callable returning the server's counters (the responder's), read
    around every phase into ``data["_server"][figure]``."""
    phases = phases or PHASES
    page_host = PageHost() if any(k in BROWSER_KINDS for k in kinds) else None
    workers: dict[str, Worker | PageClient] = {
        f"{k}/{e}": PageClient(page_host, k, e) if page_host and k in BROWSER_KINDS else Worker(k, e)
        for k in kinds for e in ENCODINGS
    }
    data: dict[str, dict[str, Any]] = {name: {"errors": {}} for name in workers}
    server: dict[str, Any] = {}
    try:
        started = await asyncio.gather(*(w.start(endpoint) for w in workers.values()), return_exceptions=True)
        for (name, w), res in zip(workers.items(), started):
            if isinstance(res, BaseException):
                w.dead = f"start: {res}"
                data[name]["errors"]["start"] = str(res)
                log(f"{cfg}: {name} failed to start: {res}")
            else:
                data[name]["info"] = w.info
        names = list(workers)

        async def phase(figure: str, rounds: int, make_cmd, collect) -> None:
            if figure not in phases:
                return
            t0 = time.monotonic()
            s0 = await _read_stats(server_stats)
            for r in range(rounds):
                order = names[r % len(names):] + names[: r % len(names)]
                for name in order:
                    w = workers[name]
                    if figure in data[name]["errors"] or figure in data[name].get("unsupported", {}):
                        continue
                    cmd = make_cmd(name, r)
                    try:
                        res = await w.call(cmd, _timeout(figure, cmd))
                    except WorkerError as exc:
                        data[name]["errors"][figure] = str(exc)
                        log(f"{cfg}: {name} {figure}: {str(exc).splitlines()[0]}")
                        continue
                    if res.get("unsupported"):  # a known limitation (the JS client's HTTP in Chromium)
                        data[name].setdefault("unsupported", {})[figure] = res["unsupported"]
                        log(f"{cfg}: {name} {figure}: n/a: {res['unsupported']}")
                        continue
                    collect(name, res)
            s1 = await _read_stats(server_stats) if s0 is not None else None
            if s1 is not None:
                server[figure] = _server_delta(s0, s1)
            log(f"{cfg}: {figure} done in {time.monotonic() - t0:.1f}s")

        def key(name: str, actor: str) -> str:
            # one counter actor per client for every figure but the fan-out (eventActor):
            # figures run one after the other, and each new actor costs a creation
            return f"bench-{tag}-{cfg}-{name.replace('/', '-')}-{actor}"

        samples: dict[str, dict[str, list[float]]] = {n: collections.defaultdict(list) for n in names}

        def add_samples(figure: str):
            def collect(name: str, res: dict[str, Any]) -> None:
                samples[name][figure].extend(res["samples_ms"])
                if res.get("cpu_ms") is not None:
                    samples[name][figure + "_cpu_ms"].append(res["cpu_ms"])
            return collect

        def add_rate(name: str, res: dict[str, Any]) -> None:
            samples[name]["pipeline_rate"].append(pp["n"] / res["elapsed_ms"] * 1e3)
            if res.get("cpu_ms") is not None:
                samples[name]["pipeline_cpu_ms"].append(res["cpu_ms"])

        p = size["rtt"]
        await phase("rtt", p["rounds"],
                    lambda name, r: {"cmd": "rtt", "key": key(name, "counter"), "n": p["n"], "warmup": p["warmup"]},
                    add_samples("rtt"))
        pp = size["pipeline"]
        await phase("pipeline", pp["rounds"],
                    lambda name, r: {"cmd": "pipeline", "key": key(name, "counter"), "n": pp["n"],
                                     "warmup": pp["warmup"]},
                    add_rate)
        ph = size["http"]
        await phase("http", ph["rounds"],
                    lambda name, r: {"cmd": "http", "key": key(name, "counter"), "n": ph["n"], "warmup": ph["warmup"]},
                    add_samples("http"))
        pc = size["connect"]
        await phase("connect", pc["rounds"],
                    lambda name, r: {"cmd": "connect", "key": key(name, "counter"), "n": pc["n"]},
                    add_samples("connect"))
        pr = size["resolve"]
        await phase("resolve", pr["rounds"],
                    lambda name, r: {"cmd": "resolve", "key": key(name, "counter"), "n": pr["n"]},
                    add_samples("resolve"))
        pf = size["fanout"]

        def fan_collect(name: str, res: dict[str, Any]) -> None:
            expected = pf["conns"] * pf["events"]
            if res["delivered"] != expected:
                data[name]["errors"]["fanout"] = f"delivered {res['delivered']} of {expected} events"
            samples[name]["fanout_ms"].append(res["elapsed_ms"])
            if res.get("cpu_ms") is not None:
                samples[name]["fanout_cpu_ms"].append(res["cpu_ms"])

        await phase("fanout", pf["rounds"],
                    lambda name, r: {"cmd": "fanout", "key": key(name, "events"), "conns": pf["conns"],
                                     "events": pf["events"], "window": pf["window"]},
                    fan_collect)
        pm = size["memory"]

        def mem_collect(name: str, res: dict[str, Any]) -> None:
            data[name]["memory"] = res

        await phase("memory", 1,
                    lambda name, r: {"cmd": "memory", "key": key(name, "counter"), "conns": pm["conns"]},
                    mem_collect)
        if page_host is not None:  # the browser itself (pseudo-client "_browser"): cold starts
            browser: dict[str, Any] = {"errors": {}, "info": next(
                (w.info for w in workers.values() if isinstance(w, PageClient) and w.info), {})}
            data["_browser"] = browser
            if "coldstart" in phases and not page_host.worker.dead:
                t0, pcs = time.monotonic(), size["coldstart"]
                try:
                    browser["coldstart"] = await page_host.call(
                        {"cmd": "coldstart", "endpoint": endpoint, "reps": pcs["reps"], "warmup": pcs["warmup"],
                         "tag": f"{tag}-{cfg}"}, 300 + 180 * (pcs["reps"] + pcs["warmup"]))
                except WorkerError as exc:
                    browser["errors"]["coldstart"] = str(exc)
                    log(f"{cfg}: browser coldstart: {str(exc).splitlines()[0]}")
                log(f"{cfg}: coldstart done in {time.monotonic() - t0:.1f}s")

        for name in names:
            s = samples[name]
            figs: dict[str, Any] = {}
            details: dict[str, Any] = {}
            if s.get("rtt"):
                details["rtt"] = summary(s["rtt"])
                figs["rtt_p50_ms"] = details["rtt"]["p50"]
                figs["rtt_p99_ms"] = details["rtt"]["p99"]
            if s.get("pipeline_rate"):
                details["pipeline_rates"] = s["pipeline_rate"]
                figs["pipeline_actions_per_s"] = median(s["pipeline_rate"])
            if s.get("http"):
                details["http"] = summary(s["http"])
                figs["http_p50_ms"] = details["http"]["p50"]
                figs["http_p99_ms"] = details["http"]["p99"]
            if s.get("connect"):
                details["connect"] = summary(s["connect"])
                figs["connect_first_action_p50_ms"] = details["connect"]["p50"]
            if s.get("resolve"):
                details["resolve"] = summary(s["resolve"])
                figs["resolve_p50_ms"] = details["resolve"]["p50"]
            if s.get("fanout_ms") and "fanout" not in data[name]["errors"]:
                details["fanout_ms_rounds"] = s["fanout_ms"]
                figs["fanout_ms"] = median(s["fanout_ms"])
                figs["fanout_events_per_s"] = pf["conns"] * pf["events"] / figs["fanout_ms"] * 1e3
            # client CPU (whole process: user + system) per unit of work
            for fig, unit_count in (("rtt", p["rounds"] * p["n"]), ("pipeline", pp["rounds"] * pp["n"]),
                                    ("http", ph["rounds"] * ph["n"]),
                                    ("fanout", pf["rounds"] * pf["conns"] * pf["events"])):
                cpu = s.get(fig + "_cpu_ms")
                if cpu and len(cpu) == (pf["rounds"] if fig == "fanout" else
                                        {"rtt": p, "pipeline": pp, "http": ph}[fig]["rounds"]):
                    figs[f"{fig}_cpu_us"] = sum(cpu) * 1e3 / unit_count
            mem = data[name].get("memory")
            if mem:
                for fig, field in (("mem_per_conn_kib", "per_conn_bytes"),
                                   ("mem_rss_per_conn_kib", "rss_per_conn_bytes")):
                    if mem.get(field) is not None:  # no RSS in a browser page
                        figs[fig] = mem[field] / 1024
            data[name]["figures"] = figs
            data[name]["details"] = details
    except BaseException:  # error, Ctrl-C: no graceful goodbyes
        await asyncio.gather(*(w.kill() for w in workers.values()), return_exceptions=True)
        raise
    await asyncio.gather(*(w.stop() for w in workers.values()), return_exceptions=True)
    if server:
        data["_server"] = server
    return data


async def _read_stats(server_stats) -> dict[str, Any] | None:
    if server_stats is None:
        return None
    try:
        return await asyncio.to_thread(server_stats)
    except (OSError, ValueError) as exc:  # the figures themselves do not depend on it
        log(f"could not read the responder's stats: {exc}")
        return None


def _server_delta(s0: dict[str, Any], s1: dict[str, Any]) -> dict[str, Any]:
    """The responder's CPU and messages during one phase (all clients together)."""
    d = {k: s1[k] - s0[k] for k in ("cpu_user_us", "cpu_system_us", "ws_frames_in", "ws_frames_out",
                                    "http_requests", "ws_connections")}
    cpu = d["cpu_user_us"] + d["cpu_system_us"]
    msgs = d["ws_frames_in"] + d["ws_frames_out"] + d["http_requests"]
    d["cpu_us"] = cpu
    d["cpu_us_per_message"] = cpu / msgs if msgs else None
    return d


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="full")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help="comma-separated subset of: " + ", ".join(CONFIGS))
    ap.add_argument("--phases", default=",".join(PHASES),
                    help="comma-separated subset of: " + ", ".join(PHASES) + " (the others are reported as "
                    "not measured; to re-measure one figure)")
    ap.add_argument("--set", action="append", default=[], metavar="PHASE.PARAM=N",
                    help="override a count of the chosen size, e.g. --set fanout.rounds=3 (repeatable)")
    ap.add_argument("--kinds", default=",".join(ALL_KINDS),
                    help="comma-separated subset of the clients: " + ", ".join(ALL_KINDS)
                    + " (page-*: in Chromium, bench/browser/; only against " + ", ".join(BROWSER_CONFIGS) + ")")
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium clients (page-js, page-ours)")
    args = ap.parse_args(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    for k in kinds:
        if k not in ALL_KINDS:
            ap.error(f"unknown client kind {k!r}")
    if args.no_browser:
        kinds = tuple(k for k in kinds if k not in BROWSER_KINDS)

    def kinds_for(cfg: str) -> tuple[str, ...]:
        return tuple(k for k in kinds if k not in BROWSER_KINDS or cfg in BROWSER_CONFIGS)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for c in configs:
        if c not in CONFIGS:
            ap.error(f"unknown configuration {c!r}")
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    for p in phases:
        if p not in PHASES:
            ap.error(f"unknown phase {p!r}")
    size = json.loads(json.dumps(SIZES[args.size]))
    for item in args.set:
        try:
            path, value = item.split("=", 1)
            section, param = path.split(".", 1) if "." in path else (path, None)
            if param is None:
                size[section] = int(value)
            else:
                if param not in size[section]:
                    raise KeyError(param)
                size[section][param] = int(value)
        except (ValueError, KeyError, TypeError):
            ap.error(f"bad --set {item!r}: expected e.g. fanout.rounds=3 (see SIZES in bench/run.py)")
    tag = secrets.token_hex(3)
    t_start = time.monotonic()
    results: dict[str, Any] = {
        "meta": {
            "size": args.size,
            "params": size,
            "phases": list(phases),
            "kinds": list(kinds),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_start": os.getloadavg(),
            "git": _git_rev(),
        },
        "configs": {},
    }
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)  # like Ctrl-C: stop workers and backends, then exit
    parallel = args.size == "tiny"  # tiny checks that everything works; full measures
    results["meta"]["configs_in_parallel"] = parallel
    backends: list[Backend | Responder] = []

    def start(cfg: str) -> Backend | Responder:
        backend = Responder() if cfg == "responder" else Backend(nodelay=CONFIGS[cfg])
        backends.append(backend)
        log(f"{cfg}: starting {type(backend).__name__.lower()} (nodelay={CONFIGS[cfg]})")
        backend.start()
        log(f"{cfg}: {type(backend).__name__.lower()} at {backend.endpoint} "
            f"(nodelay active: {backend.nodelay_active})")
        return backend

    def stats_of(backend: Backend | Responder):
        return backend.stats if isinstance(backend, Responder) else None

    def record(cfg: str, backend: Backend | Responder, data: dict[str, Any]) -> None:
        results["configs"][cfg] = {
            "nodelay": CONFIGS[cfg],
            "nodelay_active": backend.nodelay_active,
            "backend_startup_s": backend.startup_seconds,
            "clients": data,
        }
        if "_server" in data:  # the responder's own CPU per phase
            results["configs"][cfg]["server"] = data.pop("_server")

    try:
        if "import" in phases and any(k in KINDS for k in kinds):
            log(f"import times ({size['import_reps']} reps)")
            results["imports"] = measure_imports(size["import_reps"])
        if parallel:
            started = [(cfg, start(cfg)) for cfg in configs]

            async def run_all() -> list[dict[str, Any]]:
                return list(await asyncio.gather(*(run_config(cfg, b.endpoint, size, tag, phases, stats_of(b),
                                                              kinds=kinds_for(cfg))
                                                   for cfg, b in started)))

            for (cfg, backend), data in zip(started, asyncio.run(run_all())):
                record(cfg, backend, data)
        else:
            for cfg in configs:
                backend = start(cfg)
                record(cfg, backend, asyncio.run(run_config(cfg, backend.endpoint, size, tag, phases,
                                                            stats_of(backend), kinds=kinds_for(cfg))))
                backend.stop()
                backends.remove(backend)
    except KeyboardInterrupt:
        log("interrupted: stopping workers and backends")
        return 130
    finally:
        _kill_leftover_workers()
        for b in backends:
            b.stop()
    results["meta"]["loadavg_end"] = os.getloadavg()
    results["meta"]["seconds"] = time.monotonic() - t_start
    rows, missing = report.build_rows(results)
    results["rows"] = rows
    results["missing"] = missing
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(report.markdown(results))
    report.chart(results, os.path.join(args.out, "latest.png"))
    log(f"wrote {args.out}/latest.{{json,md,png}} in {results['meta']['seconds']:.0f}s")
    print(report.markdown_tables(results))
    for name, errs in _errors(results):
        log(f"error: {name}: {errs}")
    if missing:
        log(f"{len(missing)} figure(s) missing: {', '.join(missing[:10])}")
        return 1
    return 0


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _errors(results: dict[str, Any]):
    for cfg, c in results["configs"].items():
        for name, d in c["clients"].items():
            for fig, err in d.get("errors", {}).items():
                yield f"{cfg} {name} {fig}", err.splitlines()[0] if err else err


def _git_rev() -> str | None:
    try:
        res = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, timeout=10, check=False)
        return res.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


if __name__ == "__main__":
    sys.exit(main())
