"""A loopback TCP proxy that tests control, to put faults between client and engine.

    proxy = await FaultProxy.start("127.0.0.1", engine_port)
    client = create_client(proxy.endpoint)
    proxy.cut()          # drop every open connection (both sides see a reset)
    proxy.refuse = True  # close new connections at once (as if nothing listened)
    proxy.stall = True   # accept new connections but forward nothing
    await proxy.close()

It runs in the caller's event loop and listens on 127.0.0.1 only.

The same faults are reachable over HTTP, from any process, thread or browser page, on
the proxy's own control port (``proxy.control_url``, ``control=False`` to go without)::

    POST /cut               -> {"cut": <connections aborted>, ...stats}
    POST /refuse?on=1|0     -> stats
    POST /stall?on=1|0      -> stats
    POST /reset             -> stats (refuse and stall off)
    GET  /stats             -> {"accepted": n, "open": n, "refuse": b, "stall": b, "cuts": n}

Every answer is JSON with ``Access-Control-Allow-Origin: *``, and ``OPTIONS`` is
answered (CORS preflight), so that Python inside a page (``pyfetch``) can use it.

:class:`ThreadedFaultProxy` runs a :class:`FaultProxy` in a background thread with its
own event loop, for code whose main thread has no free loop (Playwright's sync API)::

    with ThreadedFaultProxy("127.0.0.1", engine_port) as proxy:
        proxy.endpoint, proxy.control_url   # hand these to the code under test
        proxy.cut(); proxy.refuse = True; proxy.stats(); proxy.reset()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Callable
from typing import Any, Self, TypeVar
from urllib.parse import parse_qs, urlsplit

__all__ = ["FaultProxy", "ThreadedFaultProxy"]

T = TypeVar("T")

_CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "*"),
    ("Access-Control-Allow-Private-Network", "true"),
    ("Access-Control-Max-Age", "600"),
)
_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large"}


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.refuse = False
        self.stall = False
        #: Answer this many new connections with ``error_response`` (one HTTP
        #: request each) instead of forwarding them: a gateway hiccup.
        self.inject_errors = 0
        self.error_response = _gateway_error(503, "guard", "service_unavailable")
        self.accepted = 0
        self.cuts = 0
        self._server: asyncio.AbstractServer | None = None
        self._control: asyncio.AbstractServer | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, target_host: str, target_port: int, *, control: bool = True) -> FaultProxy:
        proxy = cls(target_host, target_port)
        proxy._server = await asyncio.start_server(proxy._handle, "127.0.0.1", 0)
        if control:
            proxy._control = await asyncio.start_server(proxy._handle_control, "127.0.0.1", 0)
        return proxy

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def control_url(self) -> str:
        """Base URL of the HTTP control API (no trailing slash)."""
        assert self._control is not None, "started with control=False"
        return f"http://127.0.0.1:{self._control.sockets[0].getsockname()[1]}"

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    def stats(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "open": self.open_connections,
            "refuse": self.refuse,
            "stall": self.stall,
            "inject": self.inject_errors,
            "cuts": self.cuts,
        }

    def cut(self) -> int:
        """Abort every proxied connection, as a network failure would; returns how many."""
        pairs = list(self._pairs)
        for downstream, upstream in pairs:
            for writer in (downstream, upstream):
                if writer is not None:
                    _abort(writer)
        self._pairs.clear()
        self.cuts += 1
        return len(pairs)

    async def close(self) -> None:
        for server in (self._server, self._control):
            if server is not None:
                server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        for server in (self._server, self._control):
            if server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 2.0)

    # ------------------------------------------------------------------ proxying

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Not cancelled by close(): it ends when its pumps (cancelled) or its stalled
        # socket (aborted by cut()) end. asyncio logs an error for a cancelled handler.
        self.accepted += 1
        if self.refuse:
            _abort(writer)
            return
        head = b""
        if self.inject_errors > 0:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                _abort(writer)
                return
            # A browser's CORS preflight goes through; the request it allows does not.
            if not head.startswith(b"OPTIONS ") and self.inject_errors > 0:
                self.inject_errors -= 1
                with contextlib.suppress(Exception):
                    writer.write(self.error_response)
                    await writer.drain()
                    writer.close()
                return
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]
        if self.stall:
            pair = (writer, None)
            self._pairs.add(pair)
            with contextlib.suppress(Exception):
                while await reader.read(65536):
                    pass  # swallow everything, answer nothing
            self._pairs.discard(pair)
            with contextlib.suppress(Exception):
                writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(writer)
            return
        if head:
            up_writer.write(head)
        pair = (writer, up_writer)
        self._pairs.add(pair)
        pumps = [asyncio.ensure_future(_pump(src, dst))
                 for src, dst in ((reader, up_writer), (up_reader, writer))]
        for task in pumps:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._pairs.discard(pair)

    # ------------------------------------------------------------------ control API

    async def _handle_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track()
        try:
            status, body = await self._control_request(reader)
        except asyncio.CancelledError:  # close(): end quietly (see _handle)
            writer.transport.abort()
            return
        except Exception as exc:  # noqa: BLE001 - a malformed or cut request
            status, body = 400, {"error": f"bad request: {type(exc).__name__}"}
        try:
            payload = b"" if status == 204 else json.dumps(body).encode()
            head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
            head += [f"{name}: {value}" for name, value in _CORS_HEADERS]
            head += ["Cache-Control: no-store", "Connection: close",
                     f"Content-Length: {len(payload)}"]
            if payload:
                head.append("Content-Type: application/json")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
            await writer.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _control_request(self, reader: asyncio.StreamReader) -> tuple[int, Any]:
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
        if len(raw) > 16384:
            return 413, {"error": "headers too large"}
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return 400, {"error": "bad request line"}
        method, target, _version = parts
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip() or 0)
        if length:
            if length > 65536:
                return 413, {"error": "body too large"}
            await asyncio.wait_for(reader.readexactly(length), 10.0)  # ignored
        url = urlsplit(target)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        path = url.path.rstrip("/") or "/"
        if method == "OPTIONS":
            return 204, None
        routes: dict[str, tuple[str, Callable[[], Any]]] = {
            "/stats": ("GET", self.stats),
            "/cut": ("POST", lambda: {"cut": self.cut(), **self.stats()}),
            "/refuse": ("POST", lambda: self._toggle("refuse", query)),
            "/stall": ("POST", lambda: self._toggle("stall", query)),
            "/reset": ("POST", self._reset),
            "/inject": ("POST", lambda: self._inject(query)),
        }
        route = routes.get(path)
        if route is None:
            return 404, {"error": f"no such path {path}", "paths": sorted(routes)}
        if method != route[0] and not (method == "HEAD" and route[0] == "GET"):
            return 405, {"error": f"{path} takes {route[0]}"}
        try:
            return 200, route[1]()
        except ValueError as exc:
            return 400, {"error": str(exc)}

    def _toggle(self, name: str, query: dict[str, str]) -> dict[str, Any]:
        value = query.get("on", "1").lower()
        if value not in ("1", "0", "true", "false"):
            raise ValueError("on must be 1 or 0")
        setattr(self, name, value in ("1", "true"))
        return self.stats()

    def _reset(self) -> dict[str, Any]:
        self.refuse = self.stall = False
        self.inject_errors = 0
        return self.stats()

    def _inject(self, query: dict[str, str]) -> dict[str, Any]:
        """``/inject?count=N&status=503&group=guard&code=service_unavailable``."""
        try:
            count = int(query.get("count", "1"))
            status = int(query.get("status", "503"))
        except ValueError:
            raise ValueError("count and status must be integers") from None
        self.inject_errors = count
        self.error_response = _gateway_error(
            status, query.get("group", "guard"), query.get("code", "service_unavailable"))
        return self.stats()


class ThreadedFaultProxy:
    """A :class:`FaultProxy` (with its control API) running in a thread of its own.

    Use it as a context manager (or ``start()``/``stop()``). Its methods and
    properties may be called from any thread; they run in the proxy's loop.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proxy: FaultProxy | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> Self:
        self._thread = threading.Thread(target=self._main, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError("the fault proxy did not start")
        if self._error is not None:
            raise RuntimeError("the fault proxy failed to start") from self._error
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._proxy = loop.run_until_complete(FaultProxy.start(*self.target))
            self._loop = loop
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._proxy.close())
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10.0)
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _call(self, fn: Callable[[FaultProxy], T]) -> T:
        loop, proxy = self._loop, self._proxy
        assert loop is not None and proxy is not None, "the fault proxy is not running"

        async def run() -> T:
            return fn(proxy)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(10.0)

    @property
    def endpoint(self) -> str:
        assert self._proxy is not None
        return self._proxy.endpoint

    @property
    def control_url(self) -> str:
        assert self._proxy is not None
        return self._proxy.control_url

    @property
    def refuse(self) -> bool:
        return self._call(lambda p: p.refuse)

    @refuse.setter
    def refuse(self, on: bool) -> None:
        self._call(lambda p: setattr(p, "refuse", bool(on)))

    @property
    def stall(self) -> bool:
        return self._call(lambda p: p.stall)

    @stall.setter
    def stall(self, on: bool) -> None:
        self._call(lambda p: setattr(p, "stall", bool(on)))

    @property
    def accepted(self) -> int:
        return self._call(lambda p: p.accepted)

    @property
    def open_connections(self) -> int:
        return self._call(lambda p: p.open_connections)

    def cut(self) -> int:
        return self._call(lambda p: p.cut())

    def reset(self) -> dict[str, Any]:
        return self._call(lambda p: p._reset())

    def stats(self) -> dict[str, Any]:
        return self._call(lambda p: p.stats())


def _gateway_error(status: int, group: str, code: str) -> bytes:
    """A complete HTTP response carrying a structured gateway error, as the engine sends."""
    body = json.dumps({"group": group, "code": code, "message": f"injected {group}.{code}"}).encode()
    head = (f"HTTP/1.1 {status} Injected\r\ncontent-type: application/json\r\n"
            "access-control-allow-origin: *\r\naccess-control-expose-headers: *\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode() + body


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:  # RST instead of FIN: a hard failure
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.transport.abort()
