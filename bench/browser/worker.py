"""Benchmark worker for the browser: the JS client and rivetkit_web in ONE Chromium page.

Speaks the command protocol of bench/py_worker.py and bench/js/bench.mjs (one JSON
command per line on stdin, one ``@@BENCH@@ {json}`` reply per command on stdout), so
bench/run.py rotates it with the other clients. One process hosts several logical
clients: every command names one in ``client``:

* ``page-js/<enc>``: the official ``rivetkit/client``, bundled for the browser with
  esbuild (``bench/.work/browser/``, built on demand), ``devtools: false``;
* ``page-ours/<enc>``: ``rivetkit_web`` in the page's Pyodide (the self-hosted
  Pyodide and the wheel that site/build.py builds), driven by the very
  ``OursClient`` of bench/py_worker.py (see page_ours.py).

Both live in the same page of the same Chromium (Debian's /usr/bin/chromium via
Playwright, launched with the flags of playwright.config.py). Around every timed
command the worker reads the renderer main thread's CPU time (CDP
``Performance.getMetrics`` ``TaskDuration`` in thread ticks) and replies it as
``cpu_ms``: the page runs nothing else, so that is the client's own cost.

Extra command ``coldstart`` (``client`` may be anything): fresh browser contexts,
median of ``reps`` (after ``warmup`` untimed rounds, default 1), rotated order:

* ``pyodide``: pyodide_boot.html, ``loadPyodide()`` only; navigation start → ready;
* ``demo``: the demo (site/index.html served by site/serve.py's ``StaticServer`` as
  the browser tests do); navigation start → ``body[data-ready=1]`` and → the result
  of a first action that an init script triggers the moment the page is ready: the
  demo's own client does ``chatRoom.get_or_create(["demo", room]).getHistory()``
  (what joining a room does first; the demo does no action before a user joins);
* ``js``: js_cold.html, the JS client bundle + ``connect()`` + one action.

The JS client's stateless HTTP action fails in Chromium over plain http (it sends a
``ReadableStream`` body with ``duplex: "half"`` → ``net::ERR_ALPN_NEGOTIATION_FAILED``):
``http`` for ``page-js/*`` then replies ``{"ok": true, "unsupported": reason}``.

    python bench/browser/worker.py        # then type commands, e.g.
    {"cmd": "setup", "client": "page-ours/json", "endpoint": "http://127.0.0.1:6420", "encoding": "json"}

Exits (closing the browser) on ``exit``, end of input, or when its parent dies.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))

from support.modules import load_file

BACKEND_DIR = REPO / "tests" / "backend"
RIVETKIT_PKG = BACKEND_DIR / "node_modules" / "rivetkit"
ESBUILD = BACKEND_DIR / "node_modules" / ".bin" / "esbuild"
WORK = BENCH / ".work" / "browser"  # gitignored (bench/.work/)
BUNDLE = WORK / "rivetkit-client.mjs"
MARK = "@@BENCH@@ "
PAGE_READY_TIMEOUT_MS = 180_000
COLD_TIMEOUT_MS = 180_000
#: CPU time of the page's main thread is reported for these commands
CPU_COMMANDS = ("rtt", "pipeline", "http", "fanout")
#: extra Chromium flags: exact performance.memory, gc() for the memory figure
EXTRA_ARGS = ["--enable-precise-memory-info", "--js-flags=--expose-gc"]


def log(msg: str) -> None:
    print(f"[browser-worker {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pw_config() -> ModuleType:
    return load_file("rivetkit_playwright_config", REPO / "playwright.config.py")


def site_serve() -> ModuleType:
    return load_file("rivetkit_site_serve", REPO / "site" / "serve.py")


# --------------------------------------------------------------------------- assets


def rivetkit_version() -> str:
    return json.loads((RIVETKIT_PKG / "package.json").read_text())["version"]


def build_bundle(force: bool = False) -> Path:
    """``rivetkit/client`` bundled for the browser (esbuild, ESM, minified), on demand."""
    stamp = WORK / "rivetkit-client.stamp"
    args = ["--bundle", "--format=esm", "--platform=browser", "--minify", "--sourcefile=entry.mjs"]
    want = json.dumps({"rivetkit": rivetkit_version(), "args": args})
    if not force and BUNDLE.exists() and stamp.exists() and stamp.read_text() == want:
        return BUNDLE
    if not ESBUILD.exists():
        raise RuntimeError(f"{ESBUILD} missing: run npm ci in tests/backend")
    WORK.mkdir(parents=True, exist_ok=True)
    tmp = BUNDLE.with_name(BUNDLE.name + f".{os.getpid()}.tmp")
    subprocess.run([str(ESBUILD), *args, f"--outfile={tmp}", "--log-level=warning"], cwd=BACKEND_DIR,
                   input='export { createClient } from "rivetkit/client";\n', text=True, check=True,
                   timeout=120)
    os.replace(tmp, BUNDLE)
    stamp.write_text(want)
    log(f"bundled rivetkit/client {rivetkit_version()} for the browser: {BUNDLE.stat().st_size:,} bytes")
    return BUNDLE


def build_assets() -> dict[str, Any]:
    """site/build.py (Pyodide, PyScript, micropip, our wheel) and the JS bundle."""
    wheel = load_file("rivetkit_site_build", REPO / "site" / "build.py").build(quiet=True)
    return {"wheel": Path(wheel), "bundle": build_bundle()}


def url_path(path: Path) -> str:
    """The URL path of a repo file on the bench server (which serves the repo root)."""
    return "/" + path.resolve().relative_to(REPO).as_posix()


# --------------------------------------------------------------------------- watchdog


def _watch_parent() -> None:
    """Exit when run.py dies: Playwright's driver then kills the browser it launched."""
    parent = os.getppid()
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            log("parent gone: exiting")
            os._exit(3)


# --------------------------------------------------------------------------- the page host


class PageHost:
    """One Chromium, one bench page with both clients; plus fresh contexts for cold starts."""

    def __init__(self) -> None:
        self.pw: Any = None
        self.browser: Any = None
        self.context: Any = None
        self.page: Any = None
        self.cdp: Any = None
        self.bench_server: Any = None
        self.site_servers: dict[str, Any] = {}
        self.assets: dict[str, Any] = {}
        self.boot_info: dict[str, Any] = {}
        self.console: list[str] = []
        self.failed_requests: list[str] = []

    # -- lifecycle
    def start(self) -> None:
        from playwright.sync_api import sync_playwright

        t0 = time.monotonic()
        self.assets = build_assets()
        t_build = time.monotonic() - t0
        # the bench server serves the repo root: bench/browser/*, site/vendor/pyodide/,
        # site/wheels/*.whl, bench/.work/browser/ and bench/py_worker.py on one origin
        self.bench_server = site_serve().StaticServer(directory=REPO).start()
        cfg = pw_config()
        options = cfg.launch_options()
        options["args"] = options["args"] + EXTRA_ARGS
        self.pw = sync_playwright().start()
        self.browser = self.pw.chromium.launch(**options)
        self.context = self.browser.new_context(**cfg.context_options())
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self._note(f"console {m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self._note(f"pageerror: {e}"))
        self.page.on("requestfailed", self._on_request_failed)
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
        base = self.bench_server.url.rstrip("/")
        self.page.goto(base + url_path(HERE / "page.html"))
        self.page.wait_for_function("() => window.bench !== undefined")
        boot = self.page.evaluate(
            "args => window.bench.boot(args)",
            {
                "bundle": base + url_path(self.assets["bundle"]),
                "jsVersion": rivetkit_version(),
                "pyodide": base + "/site/vendor/pyodide/",
                "wheel": base + url_path(self.assets["wheel"]),
                "files": {"py_worker.py": base + url_path(BENCH / "py_worker.py"),
                          "page_ours.py": base + url_path(HERE / "page_ours.py")},
            },
        )
        self.boot_info = {**boot, "build_s": t_build, "start_s": time.monotonic() - t0,
                          "chromium": self.browser.version, "wheel": self.assets["wheel"].name}
        log(f"page ready in {self.boot_info['start_s']:.1f}s: {boot}")

    def _note(self, line: str) -> None:
        self.console.append(line)
        del self.console[:-200]

    def _on_request_failed(self, request: Any) -> None:
        failure = request.failure or "?"
        self.failed_requests.append(f"{request.method} {request.url.split('?')[0]}: {failure}")
        del self.failed_requests[:-20]

    def close(self) -> None:
        if self.page is not None:
            with contextlib.suppress(Exception):  # closing anyway
                self.page.evaluate("() => window.bench.close()")
        for closer in (lambda: self.browser and self.browser.close(), lambda: self.pw and self.pw.stop()):
            with contextlib.suppress(Exception):
                closer()
        for server in [self.bench_server, *self.site_servers.values()]:
            if server is not None:
                server.stop()

    # -- commands
    def main_thread_ms(self) -> float | None:
        try:
            metrics = self.cdp.send("Performance.getMetrics")["metrics"]
        except Exception:  # noqa: BLE001
            return None
        for m in metrics:
            if m["name"] == "TaskDuration":
                return float(m["value"]) * 1e3
        return None

    def command(self, cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd["cmd"]
        if op == "coldstart":
            return self.cold_start(cmd["endpoint"], cmd.get("reps", 1), cmd.get("tag", "x"), cmd.get("warmup", 1))
        if self.page is None:
            self.start()
        name = cmd.get("client", "")
        cpu0 = self.main_thread_ms() if op in CPU_COMMANDS else None
        self.failed_requests.clear()
        try:
            result = self.page.evaluate("cmd => window.bench.run(cmd)", cmd)
        except Exception as exc:  # noqa: BLE001 - the error of the page
            text = _page_error(exc)
            if op == "http" and name.startswith("page-js/") and "Failed to fetch" in text:
                why = "; ".join(sorted({f.split(": ", 1)[-1] for f in self.failed_requests})) or "?"
                return {"unsupported": f"fails in Chromium: {text.splitlines()[0][:160]} ({why})"}
            raise RuntimeError(text) from None
        if cpu0 is not None:
            cpu1 = self.main_thread_ms()
            result["cpu_ms"] = None if cpu1 is None else cpu1 - cpu0
        if op == "setup":
            result["info"] = {**result["info"], **self.boot_info}
        return result

    # -- cold start
    def site_url(self, endpoint: str) -> str:
        server = self.site_servers.get(endpoint)
        if server is None:  # as tests/browser/conftest.py serves the demo
            server = self.site_servers[endpoint] = site_serve().StaticServer(endpoint=endpoint).start()
        return server.url

    def cold_start(self, endpoint: str, reps: int, tag: str, warmup: int = 1) -> dict[str, Any]:
        if self.browser is None:
            self.start()
        base = self.bench_server.url.rstrip("/")
        cfg = pw_config()
        room = f"bench-cold-{tag}"
        key = f"bench-cold-{tag}"
        urls = {
            "pyodide": base + url_path(HERE / "pyodide_boot.html"),
            "demo": cfg.page_url(self.site_url(endpoint)),
            "js": (base + url_path(HERE / "js_cold.html") + "?" + _query(
                bundle=base + url_path(self.assets["bundle"]), endpoint=endpoint, key=key)),
        }
        kinds = list(urls)
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
        for r in range(warmup + reps):  # warm-up rounds: untimed (create the actors, warm the disk cache)
            order = kinds[r % len(kinds):] + kinds[: r % len(kinds)]
            for kind in order:
                res = self._cold_once(kind, urls[kind], room)
                if r >= warmup:
                    runs[kind].append(res)
        out: dict[str, Any] = {"reps": reps, "warmup": warmup, "runs": runs}
        for kind, rs in runs.items():
            for field in rs[0]:
                values = [x[field] for x in rs if isinstance(x.get(field), (int, float))]
                if values:
                    out[f"{kind}_{field}"] = statistics.median(values)
        return out

    def _cold_once(self, kind: str, url: str, room: str) -> dict[str, Any]:
        cfg = pw_config()
        context = self.browser.new_context(**cfg.context_options())
        console: list[str] = []
        try:
            page = context.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            if kind == "demo":
                page.add_init_script(DEMO_FIRST_ACTION_JS.replace("__ROOM__", json.dumps(room)))
            page.goto(url, wait_until="commit")
            handle = page.wait_for_function("() => window.coldResult", timeout=COLD_TIMEOUT_MS, polling=100)
            res = handle.json_value()
            if "error" in res:
                raise RuntimeError(f"cold start {kind}: {res['error']}\n" + "\n".join(console[-20:]))
            if kind == "demo":
                res.update(_demo_breakdown(page))
                res.update(_demo_segments(res))
            return res
        finally:
            context.close()


# The demo does no action by itself before a user joins a room. This init script runs
# the one joining does first (the room's history, a stateless HTTP action) on the
# demo's own client the moment main.py marks the page ready, and records PyScript's
# milestones for the breakdown.
DEMO_FIRST_ACTION_JS = r"""
(() => {
  const room = __ROOM__;
  const marks = {};
  for (const ev of ["py:ready", "py:done", "polyscript:done"]) {
    for (const target of [window, document]) {
      target.addEventListener(ev, () => { if (!(ev in marks)) marks[ev] = performance.now(); }, true);
    }
  }
  // PyScript reports its boot steps as py:progress events ("Loading interpreter", ...)
  addEventListener("py:progress", (e) => { const k = "progress " + e.detail; if (!(k in marks)) marks[k] = performance.now(); });
  window.__coldMarks = marks;
  const code = [
    "import js",
    "_chat = js.window.rivetkitDemo.chat",
    "await _chat.client.chatRoom.get_or_create(['demo', " + JSON.stringify(room) + "]).getHistory()",
    "del _chat",
  ].join("\n");
  let fired = false;
  const fire = () => {
    if (fired || !document.body || document.body.dataset.ready !== "1") return;
    fired = true;
    const ready_ms = performance.now();
    window.rivetkitDemo.pyodide.runPythonAsync(code).then(
      () => { window.coldResult = { ready_ms, ready_mark_ms: Number(document.body.dataset.readyMs),
                                    first_action_ms: performance.now() }; },
      (err) => { window.coldResult = { error: String(err) }; },
    );
  };
  new MutationObserver(fire).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-ready"] });
})();
"""


def _demo_breakdown(page: Any) -> dict[str, Any]:
    """Where the demo's cold start goes: resource fetches and PyScript's milestones."""
    return page.evaluate(
        """() => {
            const out = {};
            const ends = (re) => {
                const e = performance.getEntriesByType("resource").filter((r) => re.test(r.name));
                return e.length ? Math.max(...e.map((r) => r.responseEnd)) : null;
            };
            const starts = (re) => {
                const e = performance.getEntriesByType("resource").filter((r) => re.test(r.name));
                return e.length ? Math.min(...e.map((r) => r.startTime)) : null;
            };
            out.core_js_end_ms = ends(/pyscript\\/core\\.js/);
            out.pyodide_mjs_start_ms = starts(/pyodide\\.mjs/);
            out.wasm_end_ms = ends(/pyodide\\.asm\\.wasm/);
            out.stdlib_end_ms = ends(/python_stdlib\\.zip/);
            out.micropip_start_ms = starts(/micropip-.*\\.whl/);
            out.wheel_start_ms = starts(/rivetkit_web-.*\\.whl/);
            out.wheel_end_ms = ends(/rivetkit_web-.*\\.whl/);
            out.main_py_end_ms = ends(/main\\.py/);
            out.config_json_start_ms = starts(/config\\.json/);
            for (const [k, v] of Object.entries(window.__coldMarks || {})) {
                out[k.toLowerCase().replace(/[^a-z]+/g, "_") + "_ms"] = v;
            }
            return out;
        }"""
    )


def _demo_segments(r: dict[str, Any]) -> dict[str, Any]:
    """The demo's cold start in consecutive segments (ms), from PyScript's milestones."""
    marks = [("pyscript", "progress_loading_interpreter_ms"),  # core.js, PyScript's set-up
             ("interpreter", "progress_loaded_interpreter_ms"),  # loadPyodide()
             ("packages", "progress_loaded_pyodide_ms"),  # micropip + our wheel (config `packages`/`files`)
             ("main_to_ready", "ready_ms"),  # main.py: import rivetkit_web, config.json, create_client
             ("first_action", "first_action_ms")]  # the first action's round trip
    out: dict[str, Any] = {}
    prev = 0.0
    for name, field in marks:
        value = r.get(field)
        if not isinstance(value, (int, float)):
            return {}
        out[f"seg_{name}_ms"] = value - prev
        prev = value
    return out


def _query(**params: str) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def _page_error(exc: BaseException) -> str:
    """The useful part of a Playwright error from page.evaluate (JS or Python traceback)."""
    text = str(exc)
    for prefix in ("Page.evaluate: ", "Error: "):
        text = text.removeprefix(prefix)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if any(ln.startswith("Traceback") for ln in lines):  # a Python error: its last lines
        py = [ln for ln in lines if not ln.lstrip().startswith("at ")]
        return "\n".join(py[-1:] + py[-6:-1])
    return "\n".join(lines[:8])


# --------------------------------------------------------------------------- loop


def reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(MARK + json.dumps(obj) + "\n")
    sys.stdout.flush()


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    threading.Thread(target=_watch_parent, daemon=True, name="watch-parent").start()
    signal.signal(signal.SIGTERM, _terminate)
    host = PageHost()
    reply({"ok": True, "hello": "browser", "pid": os.getpid()})
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            cmd = json.loads(line)
            if cmd.get("cmd") == "exit":
                break
            try:
                reply({"ok": True, **host.command(cmd)})
            except Exception as exc:  # noqa: BLE001 - reported to run.py
                traceback.print_exc()
                tail = "\n".join(host.console[-10:])
                reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"
                       + (f"\n--- page console ---\n{tail}" if tail else "")})
    except KeyboardInterrupt:
        pass
    finally:
        host.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
