"""Start and stop ``bench/responder.mjs`` (the minimal protocol responder) from Python.

    with Responder() as r:
        client = rivetkit_web.create_client(r.endpoint)
        ...
        r.stats()   # the responder's own CPU time and message counts

The responder listens on a free port picked by the OS (no race), runs in its own
process group, and also exits by itself when our end of its stdin closes (so it
dies with the process that started it, even on SIGKILL). ``stop()`` closes stdin,
then kills the process group. Same ``start/stop/endpoint/startup_seconds/
nodelay_active`` surface as ``tests/backend/harness.Backend``, so ``bench/run.py``
uses either. See bench/README.md.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import tempfile
import time
import urllib.request
from typing import Any, Self

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
NODE = os.path.join(REPO, "tests", "backend", "node_modules", ".bin", "node")
SCRIPT = os.path.join(HERE, "responder.mjs")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Responder:
    """One ``node bench/responder.mjs`` process."""

    nodelay = True  # every accepted socket gets TCP_NODELAY (not a shim: the responder sets it)

    def __init__(self, *, node: str = NODE, log_path: str | None = None, host: str = "127.0.0.1") -> None:
        self.node = node
        self.host = host
        self.log_path = log_path  # every request and frame (responder --log) goes there
        self.endpoint = ""
        self.pid: int | None = None
        self.startup_seconds: float | None = None
        self.nodelay_active = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None

    def start(self, timeout: float = 30.0) -> Self:
        if self._proc is not None:
            raise RuntimeError("Responder already started")
        argv = [self.node, SCRIPT, "--host", self.host, "--port", "0", "--exit-on-stdin-eof"]
        if self.log_path:
            argv.append("--log")
            self._stderr = open(self.log_path, "ab")  # noqa: SIM115 - open as long as the process
        else:
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the process
        t0 = time.monotonic()
        self._proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._stderr, start_new_session=True)
        self.pid = self._proc.pid
        try:
            line = self._first_line(timeout)
            if not line.startswith("RESPONDER "):
                raise ValueError(f"unexpected first line from the responder: {line!r}")
            self.endpoint = json.loads(line[len("RESPONDER "):])["endpoint"]
        except (RuntimeError, TimeoutError, ValueError) as exc:
            err = self._stderr_tail()
            self.stop()
            raise RuntimeError(f"responder did not start: {exc}\n{err}") from None
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        self.nodelay_active = True
        return self

    def _first_line(self, timeout: float) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self._proc.stdout, selectors.EVENT_READ)
        buf = b""
        deadline = time.monotonic() + timeout
        try:
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no endpoint line after {timeout:.0f} s")
                if not sel.select(left):
                    continue
                chunk = os.read(self._proc.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError(f"responder exited (code {self._proc.wait()})")
                buf += chunk
        finally:
            sel.close()
        return buf.split(b"\n", 1)[0].decode("utf-8", "replace")

    def _stderr_tail(self) -> str:
        f = self._stderr
        if f is None:
            return ""
        try:
            f.flush()
            if self.log_path:
                with open(self.log_path, "rb") as g:
                    data = g.read()
            else:
                f.seek(0)
                data = f.read()
        except (OSError, ValueError):
            return ""
        return data.decode("utf-8", "replace")[-3000:]

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stats(self) -> dict[str, Any]:
        """The responder's counters: CPU (µs, user/system), frames, requests, actors."""
        with _NO_PROXY.open(f"{self.endpoint}/__responder/stats", timeout=10) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()  # the responder exits on EOF
            except OSError:
                pass
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
            for sig in (signal.SIGTERM, signal.SIGKILL):  # its own process group (start_new_session)
                if proc.poll() is not None:
                    break
                try:
                    os.killpg(proc.pid, sig)
                except (ProcessLookupError, PermissionError):
                    break
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    pass
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            try:
                self._stderr.close()
            except OSError:
                pass
            self._stderr = None

    def __enter__(self) -> Self:
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the responder until Ctrl-C (the same as ``node bench/responder.mjs``, via Python)."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--log", default=None, help="write every request and frame to this file")
    args = ap.parse_args(argv)
    with Responder(log_path=args.log) as r:
        print(r.endpoint, flush=True)
        try:
            while r.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
