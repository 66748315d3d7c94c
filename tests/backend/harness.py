"""Real RivetKit backend for rivetkit_web's integration tests (stdlib only).

    from tests.backend.harness import Backend   # or put tests/backend on sys.path

    with Backend() as backend:                  # spawns node server.mjs + rivet-engine
        client = ...(backend.endpoint)          # "http://127.0.0.1:<port>"

`Backend.start()` launches `node server.mjs` (the fixture actors of registry.mjs) in
its own process group with a temporary HOME (the engine keeps its DB under
$HOME/.rivetkit), RIVET_RUN_ENGINE_PORT=<free port> and RIVET_RUN_SERVICES=0, then
waits until a real action succeeds. rivetkit spawns a `rivet-engine` in a separate
process group that survives node, so `stop()` kills node's group AND every process
tagged with this backend's id (found through /proc). Cleanup also runs at exit and
on SIGINT/SIGTERM.

By default node runs with an LD_PRELOAD shim (nodelay.c, built on demand with `cc`
into a cache dir) that sets TCP_NODELAY on node's outgoing TCP sockets; without it
the node<->engine link adds ~40 ms to every message.

Command line: `python tests/backend/harness.py [--port N] [--no-nodelay]` starts the
backend, prints the endpoint and runs until Ctrl-C.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

__all__ = ["Backend", "BACKEND_DIR", "READY_KEY"]

log = logging.getLogger("rivetkit_web.tests.backend")

BACKEND_DIR = os.path.dirname(os.path.abspath(__file__))
NODE_BIN = os.path.join(BACKEND_DIR, "node_modules", ".bin", "node")
SERVER_JS = os.path.join(BACKEND_DIR, "server.mjs")
NODELAY_SRC = os.path.join(BACKEND_DIR, "nodelay.c")

#: key of the `counter` actor used by the readiness probe (tests should not use it)
READY_KEY = "__ready__"
TAG_ENV = "RIVETKIT_BACKEND_TAG"
PARENT_ENV = "RIVETKIT_BACKEND_PARENT_PID"

_TERM_GRACE = 3.0  # engine / other processes: SIGTERM -> SIGKILL
_NODE_GRACE = 15.0  # node's graceful shutdown (actors sleep, state flush) while the engine is up
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --------------------------------------------------------------------------- /proc


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("latin-1")
    except OSError:
        return None
    fields = data[data.rfind(")") + 2 :].split()
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _all_pids() -> list[int]:
    try:
        return [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []


def _tagged_pids(tag: str, root: int | None = None) -> set[int]:
    """Live processes carrying our tag in their environment, plus descendants of root."""
    needle = f"{TAG_ENV}={tag}".encode()
    found: set[int] = set()
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        if pid == os.getpid():
            continue
        st = _proc_stat(pid)
        if st is None or st[0] in ("Z", "X"):
            continue
        children.setdefault(st[1], []).append(pid)
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.add(pid)
        except OSError:
            pass
    if root is not None:
        stack = [root]
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        if _alive(root):
            found.add(root)
    return found


def _signal(pids, sig) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _wait_gone(pids, timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    left = {p for p in pids if _alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = {p for p in left if _alive(p)}
    return left


# --------------------------------------------------------------------------- helpers


def _port_free(port: int) -> bool:
    if not 0 < port < 65536:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # like the engine's listener (Rust std/tokio set SO_REUSEADDR): TIME_WAIT is no conflict
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _engine_ports(port: int) -> tuple[int, int, int]:
    return port, port + 1, port + 10


def _pick_port() -> int:
    # Below the Linux ephemeral range (32768+) so outgoing connections cannot take it.
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(12000, 32000)
        if all(_port_free(p) for p in _engine_ports(port)):
            return port
    raise RuntimeError("no free port N with N+1 and N+10 also free")


def _ensure_node_modules() -> None:
    if not os.path.isdir(os.path.join(BACKEND_DIR, "node_modules")):
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                f"{BACKEND_DIR}/node_modules is missing and npm is not on PATH: "
                f"run `npm ci` in {BACKEND_DIR}"
            )
        msg = f"node_modules missing: running `npm ci` in {BACKEND_DIR} (one-time, may take a minute)"
        log.info(msg)
        print(f"[rivetkit backend] {msg}", file=sys.stderr, flush=True)
        res = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BACKEND_DIR,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = res.stdout.decode("utf-8", "replace")
        if res.returncode != 0 and "EUSAGE" in out:
            # The lock lists only the platform packages the registry served when it was made
            # (a mirror without the darwin/win32 builds); `npm ci` then refuses it as out of sync.
            msg = "`npm ci` rejected the lock file; falling back to `npm install`"
            log.info(msg)
            print(f"[rivetkit backend] {msg}", file=sys.stderr, flush=True)
            res = subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=BACKEND_DIR,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out = res.stdout.decode("utf-8", "replace")
        if res.returncode != 0:
            raise RuntimeError(f"`npm ci` failed in {BACKEND_DIR} (exit {res.returncode}):\n{out[-3000:]}")
    if not os.path.exists(NODE_BIN):
        raise RuntimeError(
            f"{NODE_BIN} is missing (rivetkit needs node >= 22; it is a dev dependency): "
            f"run `npm ci` in {BACKEND_DIR}"
        )


_nodelay_lock = threading.Lock()


def _nodelay_lib() -> str | None:
    """Path of the compiled TCP_NODELAY shim, building it if needed; None if unavailable."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    try:
        with open(NODELAY_SRC, "rb") as f:
            src = f.read()
    except OSError:
        log.warning("%s missing: running without the TCP_NODELAY shim", NODELAY_SRC)
        return None
    cache = os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "rivetkit_web",
    )
    lib = os.path.join(cache, f"nodelay-{hashlib.sha256(src).hexdigest()[:16]}.so")
    if os.path.exists(lib):
        return lib
    if cc is None:
        log.warning("no C compiler found: running without the TCP_NODELAY shim (~40 ms extra per message)")
        return None
    with _nodelay_lock:
        if os.path.exists(lib):
            return lib
        try:
            os.makedirs(cache, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache, suffix=".so.tmp")
            os.close(fd)
            res = subprocess.run(
                [cc, "-shared", "-fPIC", "-O2", "-o", tmp, NODELAY_SRC, "-ldl"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            if res.returncode != 0:
                os.unlink(tmp)
                log.warning("building the TCP_NODELAY shim failed; running without it:\n%s",
                            res.stdout.decode("utf-8", "replace"))
                return None
            os.replace(tmp, lib)
        except OSError as e:
            log.warning("cannot build the TCP_NODELAY shim (%s); running without it", e)
            return None
    return lib


# --------------------------------------------------------------------------- cleanup registry

_live: set["Backend"] = set()
_live_lock = threading.RLock()
_hooks_installed = False
_prev_handlers: dict[int, object] = {}


def _cleanup_all() -> None:
    with _live_lock:
        backends = list(_live)
    for b in backends:
        try:
            b.stop()
        except Exception:  # pragma: no cover - best effort at exit
            log.exception("cleanup of %r failed", b)


def _on_signal(signum, frame) -> None:
    _cleanup_all()
    prev = _prev_handlers.get(signum, signal.SIG_DFL)
    if callable(prev):
        prev(signum, frame)
    elif prev == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_cleanup_all)
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; atexit still applies
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            prev = signal.getsignal(sig)
            if prev is _on_signal or prev == signal.SIG_IGN:
                continue  # already ours, or deliberately ignored (e.g. background job): respect it
            _prev_handlers[sig] = prev if prev is not None else signal.SIG_DFL
            signal.signal(sig, _on_signal)
        except (ValueError, OSError):
            pass


# --------------------------------------------------------------------------- Backend


class Backend:
    """A node + rivet-engine pair serving the fixture actors of registry.mjs."""

    def __init__(
        self,
        *,
        port: int | None = None,
        home: str | None = None,
        nodelay: bool = True,
        log_path: str | None = None,
    ) -> None:
        self._requested_port = port
        self.port: int | None = port
        self._home_arg = home
        self.home: str | None = home
        self.nodelay = nodelay
        self._log_arg = log_path
        self.log_path: str | None = log_path
        self._run_dir: str | None = None  # temp dir we created (home and/or log), removed by stop()
        self._proc: subprocess.Popen | None = None
        self._tag: str | None = None
        self._log_file = None
        self.engine_pids: set[int] = set()
        self.nodelay_active = False
        self.startup_seconds: float | None = None
        self.last_stop_seconds: float | None = None

    # -- public API ---------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise RuntimeError("Backend not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 60.0) -> "Backend":
        if self._proc is not None:
            raise RuntimeError("Backend already started")
        _ensure_node_modules()
        if self._run_dir is None and (self._home_arg is None or self._log_arg is None):
            self._run_dir = tempfile.mkdtemp(prefix="rivetkit-backend-")
        if self.home is None:
            self.home = os.path.join(self._run_dir, "home")
            os.makedirs(self.home, exist_ok=True)
        if self.log_path is None:
            self.log_path = os.path.join(self._run_dir, "server.log")
        if self._requested_port is None:
            self.port = _pick_port()
        try:
            self._start(timeout)
        except BaseException:
            self.stop()  # processes are already gone; drop the temp dir too
            raise
        return self

    def stop(self) -> None:
        # a caller-provided HOME keeps its data: shut down gracefully so actor state is flushed
        self._kill_all(graceful=self._home_arg is not None)
        with _live_lock:
            _live.discard(self)
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None
            if self._home_arg is None:
                self.home = None
            if self._log_arg is None:
                self.log_path = None

    def kill_engine(self) -> None:
        """SIGKILL only the rivet-engine process (node keeps running, the backend is down).

        Bring it back with restart(). Engine quirks: the restarted engine needs ~30-40 s
        (its workflow-worker lease failover) before actors answer again, and actor state
        written in the last ~1 s before the kill (rivetkit saves state every second) is lost.
        """
        pids = self._engine_pids()
        if not pids:
            raise RuntimeError("no rivet-engine process found for this backend")
        self._probe()  # the readiness actor is then awake, so restart() waits for the failover
        _signal(pids, signal.SIGKILL)
        left = _wait_gone(pids, 5.0)
        if left:
            raise RuntimeError(f"rivet-engine {sorted(left)} did not die after SIGKILL")
        log.info("killed rivet-engine %s", sorted(pids))

    def restart(self, timeout: float = 60.0) -> None:
        """Stop node and the engine, start again on the same port and HOME (data kept).

        Graceful: node is stopped first so its actors sleep and flush their state.
        After kill_engine() this takes ~30-40 s (see kill_engine).
        """
        if self.home is None or self.port is None:
            raise RuntimeError("Backend was never started")
        self._kill_all(graceful=True)
        self._start(timeout)

    def log_text(self) -> str:
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __enter__(self) -> "Backend":
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Backend port={self.port} running={self.running} home={self.home!r}>"

    # -- internals ----------------------------------------------------------------

    def _engine_pids(self) -> set[int]:
        if self._tag is None:
            return set()
        root = self._proc.pid if self._proc is not None else None
        pids = {p for p in _tagged_pids(self._tag, root) if "rivet-engine" in _cmdline(p)}
        self.engine_pids |= pids
        return pids

    def _env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RIVET_", "RIVETKIT_", "XDG_")) and k not in ("LD_PRELOAD",)
        }
        env.update(
            HOME=self.home,
            RIVET_RUN_ENGINE_PORT=str(self.port),
            RIVET_RUN_SERVICES="0",
            RIVET_INSPECTOR_DISABLE="1",
            NO_COLOR="1",
            # The engine sheds workflow admission (actor creation/wake) when the CPU usage of
            # the whole host/cgroup is high (default curve: 100% -> 5% of workflows between 70%
            # and 90% CPU). On a busy test machine (browsers, other suites) that makes new actors
            # time out after 15 s with 504 pegboard.route_resolve_query_timeout. Tell it the
            # machine has 1000 cores so it never sheds. (Passed through by rivetkit to the engine.)
            RIVET__RUNTIME__WORKER_CPU_MAX="1000000",
        )
        env[TAG_ENV] = self._tag
        env[PARENT_ENV] = str(os.getpid())
        if self._run_dir is not None:
            env["RIVETKIT_BACKEND_TEMP_DIR"] = self._run_dir  # removed by server.mjs if we die
        self.nodelay_active = False
        if self.nodelay:
            lib = _nodelay_lib()
            if lib:
                preload = os.environ.get("LD_PRELOAD")
                env["LD_PRELOAD"] = f"{lib} {preload}" if preload else lib
                self.nodelay_active = True
        return env

    def _start(self, timeout: float, probe_key: str = READY_KEY) -> None:
        deadline = time.monotonic() + 5.0
        while True:
            busy = [p for p in _engine_ports(self.port) if not _port_free(p)]
            if not busy or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if busy:
            raise RuntimeError(f"port(s) {busy} already in use (the engine needs N, N+1, N+10; N={self.port})")
        self._tag = uuid.uuid4().hex
        self.engine_pids = set()
        os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(
            f"\n===== harness: starting node server.mjs on port {self.port} at {time.strftime('%H:%M:%S')} =====\n".encode()
        )
        self._log_file.flush()
        _install_hooks()
        with _live_lock:
            _live.add(self)
        t0 = time.monotonic()
        self._proc = subprocess.Popen(
            [NODE_BIN, SERVER_JS],
            cwd=BACKEND_DIR,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.info("started node pid %s (port %s, home %s, nodelay %s)",
                 self._proc.pid, self.port, self.home, self.nodelay_active)
        try:
            self._wait_ready(timeout, probe_key)
        except BaseException as e:
            tail = self.log_tail()
            self._kill_all()
            if isinstance(e, RuntimeError):
                raise RuntimeError(f"{e}\n--- server log tail ({self.log_path}) ---\n{tail}") from None
            raise
        self.startup_seconds = time.monotonic() - t0
        log.info("backend ready at %s in %.2fs", self.endpoint, self.startup_seconds)

    def _probe(self, key: str = READY_KEY, timeout: float = 10.0) -> tuple[int | None, str]:
        url = (
            f"{self.endpoint}/gateway/counter/action/getCount?rvt-namespace=default"
            f"&rvt-method=getOrCreate&rvt-runner=default&rvt-key={key}&rvt-crash-policy=sleep"
        )
        req = urllib.request.Request(
            url,
            data=b'{"args":[]}',
            method="POST",
            headers={"x-rivet-encoding": "json", "content-type": "application/json"},
        )
        try:
            with _NO_PROXY.open(req, timeout=max(0.5, timeout)) as resp:
                body = resp.read().decode("utf-8", "replace")
                return resp.status, body
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as e:
            return None, str(e)

    def _wait_ready(self, timeout: float, key: str = READY_KEY) -> None:
        deadline = time.monotonic() + timeout
        last = "no response yet"
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"node server.mjs exited with code {self._proc.returncode} before becoming ready")
            status, body = self._probe(key, min(10.0, deadline - time.monotonic()))
            if status == 200:
                try:
                    json.loads(body)["output"]
                except (ValueError, KeyError, TypeError):
                    raise RuntimeError(f"unexpected readiness response: {body!r}") from None
                if not self._engine_pids():
                    raise RuntimeError(
                        f"an engine answered on port {self.port} but none of ours is running "
                        "(port taken by another backend?)"
                    )
                return
            last = f"HTTP {status}: {body[:300]}" if status else body[:300]
            if time.monotonic() > deadline:
                raise RuntimeError(f"backend not ready after {timeout:.0f}s (last probe: {last})")
            time.sleep(0.1)

    def _kill_all(self, graceful: bool = False) -> None:
        """Kill node (its process group) and every process tagged with this backend.

        graceful (restart(), or a caller-provided HOME whose data must survive): SIGTERM node
        first and give it up to _NODE_GRACE s while the engine is still up, so it can put its
        actors to sleep and flush their state; then SIGTERM the engine.
        Otherwise (temp HOME, data is discarded): SIGTERM everything at once; node cannot
        finish its shutdown without the engine, so it is SIGKILLed as soon as the engine is gone.
        Anything still alive after _TERM_GRACE s gets SIGKILL.
        """
        proc, self._proc = self._proc, None
        tag = self._tag
        if proc is None and tag is None:
            return
        t0 = time.monotonic()
        node = proc.pid if proc is not None and proc.poll() is None else None
        pids = _tagged_pids(tag, node) if tag else set()
        pids |= {p for p in self.engine_pids if _alive(p) and "rivet-engine" in _cmdline(p)}
        pids.discard(node)
        engines = {p for p in pids if "rivet-engine" in _cmdline(p)}

        def killpg(sig) -> None:
            if node is not None and proc.poll() is None:
                try:
                    os.killpg(node, sig)
                except (ProcessLookupError, PermissionError):
                    pass

        if node is not None:
            killpg(signal.SIGTERM)
            if graceful and any(_alive(p) for p in engines):
                deadline = t0 + _NODE_GRACE
                while proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                if proc.poll() is None:
                    log.warning("node %s did not exit %.1fs after SIGTERM (actor state may not be flushed)",
                                node, time.monotonic() - t0)
        if tag:
            pids |= _tagged_pids(tag, None) - {node}
        _signal(pids, signal.SIGTERM)
        left = _wait_gone(pids, _TERM_GRACE)
        if left:
            log.warning("%s ignored SIGTERM; sending SIGKILL",
                        ", ".join(f"{p} ({_cmdline(p)[:60]})" for p in sorted(left)))
        if node is not None and proc.poll() is None:
            time.sleep(0.2)  # usually exits right after the engine
            killpg(signal.SIGKILL)
        if tag:
            left |= _tagged_pids(tag, None)  # sweep: anything spawned meanwhile
        _signal(left, signal.SIGKILL)
        left = _wait_gone(left, 5.0)
        if left:
            log.error("processes %s survived SIGKILL", sorted(left))
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log.error("node %s survived SIGKILL", proc.pid)
        self.last_stop_seconds = time.monotonic() - t0
        log.info("backend on port %s stopped in %.2fs", self.port, self.last_stop_seconds)
        self._tag = None
        self.engine_pids = set()
        if self._log_file is not None:
            try:
                self._log_file.close()
            except OSError:
                pass
            self._log_file = None


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Run the rivetkit_web test backend until Ctrl-C.")
    ap.add_argument("--port", type=int, default=None, help="engine port N (also uses N+1 and N+10)")
    ap.add_argument("--home", default=None, help="HOME for the engine DB (default: temp dir, deleted at exit)")
    ap.add_argument("--log", default=None, help="server log file (default: inside the temp dir)")
    ap.add_argument("--no-nodelay", action="store_true", help="do not LD_PRELOAD the TCP_NODELAY shim")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[harness] %(message)s")

    backend = Backend(port=args.port, home=args.home, nodelay=not args.no_nodelay, log_path=args.log)
    try:
        backend.start(timeout=args.timeout)
        print(backend.endpoint, flush=True)
        print(f"ready in {backend.startup_seconds:.2f}s; nodelay={'on' if backend.nodelay_active else 'off'}; "
              f"log: {backend.log_path}; Ctrl-C to stop", file=sys.stderr, flush=True)
        while backend.running:
            time.sleep(0.5)
        print("node exited unexpectedly; log tail:\n" + backend.log_tail(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        backend.stop()


if __name__ == "__main__":
    sys.exit(main())
