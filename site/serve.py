#!/usr/bin/env python3
"""Run the browser chat demo: build, start the test backend, serve site/.

    python site/serve.py [--port 8000] [--backend-port 6420] [--endpoint URL] [--host 127.0.0.1]

1. builds the site (``site/build.py``: Pyodide, PyScript, micropip, the rivetkit_web wheel);
2. starts the RivetKit test backend (``tests/backend/harness.py``'s ``Backend``) unless
   ``--endpoint`` names one that already runs;
3. serves site/ over HTTP with the right MIME types (``.mjs``, ``.wasm``, ``.whl``) and
   ``/config.json`` = ``{"endpoint": <backend>}``, which the page reads (a ``?endpoint=``
   query parameter on the page overrides it);
4. prints the URL to open and stops everything on Ctrl-C (or SIGTERM).

The static server is also usable from tests: ``StaticServer(endpoint=...).start()``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import sys
import threading
import time
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

SITE = Path(__file__).resolve().parent
REPO = SITE.parent
HARNESS = REPO / "tests" / "backend" / "harness.py"

MIME_TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".json": "application/json",
    ".toml": "application/toml",
    ".py": "text/x-python",
    ".css": "text/css",
    ".html": "text/html",
    ".map": "application/json",
    ".svg": "image/svg+xml",
}


def load_module(name: str, path: Path) -> ModuleType:
    """Import a file by path (site/ and tests/backend/ are not packages)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    # Set per server class (see StaticServer).
    site_config: dict[str, Any] = {}
    verbose = False

    def end_headers(self) -> None:
        # The wheel keeps its name across rebuilds: never let the browser reuse one.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def do_GET(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] == "/config.json":
            body = json.dumps(self.site_config).encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.verbose:
            super().log_message(format, *args)

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            pass


class StaticServer:
    """Serves site/ (and ``/config.json``) from a background thread."""

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        directory: Path = SITE,
        verbose: bool = False,
    ) -> None:
        config = {"endpoint": endpoint} if endpoint else {}
        handler = type(
            "SiteHandler", (_Handler,), {"site_config": config, "verbose": verbose}
        )
        self._httpd = ThreadingHTTPServer((host, port), partial(handler, directory=str(directory)))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.host = host

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self.host if self.host not in ("0.0.0.0", "") else "127.0.0.1"
        return f"http://{host}:{self.port}/"

    def start(self) -> StaticServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="site-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> StaticServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_backend(port: int | None) -> Any:
    if not HARNESS.exists():
        raise SystemExit(
            f"{HARNESS.relative_to(REPO)} is missing: pass --endpoint URL of a running RivetKit backend"
        )
    harness = load_module("rivetkit_backend_harness", HARNESS)
    return harness.Backend(port=port).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the rivetkit_web browser chat demo.")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="site port (default 8000; 0 = any free port)")
    parser.add_argument("--backend-port", type=int, default=None, help="test backend port (default: a free one)")
    parser.add_argument("--endpoint", default=None, help="use this running RivetKit endpoint instead of starting the test backend")
    parser.add_argument("--no-build", action="store_true", help="skip site/build.py")
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")
    args = parser.parse_args(argv)

    # Ctrl-C and SIGTERM both unwind through the finally blocks below. Install the
    # SIGINT handler explicitly: a shell starting us in the background (`... &`)
    # leaves SIGINT ignored, and Python then keeps ignoring it.
    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)

    backend = None
    server = None
    try:
        if not args.no_build:
            load_module("rivetkit_site_build", SITE / "build.py").build()
        if args.endpoint:
            endpoint = args.endpoint.rstrip("/")
        else:
            print("[serve] starting the RivetKit test backend ...", flush=True)
            t0 = time.monotonic()
            backend = start_backend(args.backend_port)
            endpoint = backend.endpoint.rstrip("/")
            print(f"[serve] backend ready at {endpoint} ({time.monotonic() - t0:.1f} s)", flush=True)
        try:
            server = StaticServer(endpoint=endpoint, host=args.host, port=args.port, verbose=args.verbose)
        except OSError as exc:
            if args.port == 0:
                raise
            print(f"[serve] port {args.port} unavailable ({exc.strerror}); using a free port", flush=True)
            server = StaticServer(endpoint=endpoint, host=args.host, port=0, verbose=args.verbose)
        server.start()
        print(
            f"\n  rivetkit_web chat demo:  {server.url}\n"
            f"  backend endpoint:        {endpoint}\n"
            f"  (open it in two windows to chat with yourself; Ctrl-C to stop)\n",
            flush=True,
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\n[serve] stopping ...", flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if server is not None:
            server.stop()
        if backend is not None:
            backend.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return 0


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main())
