"""Browser transport: the page's ``fetch`` and ``WebSocket`` through the Pyodide FFI.

This module is imported only under Pyodide (``sys.platform == "emscripten"``); it
imports ``js`` and ``pyodide`` at module level.

Rules it follows (see the Pyodide networking notes):

* Request bodies go to ``fetch`` as a ``Uint8Array`` (or nothing), never as a stream:
  Chromium rejects streaming request bodies over HTTP/1.1.
* The transport adds no header of its own (no ``User-Agent``, no custom ``x-*``), so
  the only CORS preflight headers are those the caller asked for.
* JavaScript event handlers are wrapped with :func:`pyodide.ffi.create_proxy`; every
  proxy is removed from its target and destroyed when the socket closes, is closed,
  fails to open or times out, so nothing leaks across reconnects. The number of live
  proxies is :func:`live_proxy_count` (for leak tests).
* Nothing here blocks: no ``asyncio.run``, no ``run_until_complete``, no threads.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, create_proxy, to_js  # type: ignore[import-not-found]

from .base import HttpResponse, TransportError, WebSocketClosed, WebSocketMessage

__all__ = ["BrowserTransport", "BrowserWebSocket", "live_proxy_count", "open_sockets"]

# WebSocket.readyState values.
_CONNECTING, _OPEN, _CLOSING, _CLOSED = 0, 1, 2, 3

# How long close() waits for the browser's close event.
_CLOSE_WAIT = 1.5

# Headers the browser owns; passing them to fetch is at best ignored and at worst
# turns a simple request into a preflighted one, so the transport never sends them.
_BROWSER_OWNED_HEADERS = frozenset({"user-agent", "content-length", "host", "connection"})

_live_proxies = 0
_open_sockets: set[BrowserWebSocket] = set()


def live_proxy_count() -> int:
    """Proxies this module created and has not destroyed yet (0 when idle)."""
    return _live_proxies


def open_sockets() -> list[BrowserWebSocket]:
    """The sockets that are open right now (any order); for tests and debugging."""
    return list(_open_sockets)


def _new_proxy(fn: Callable[..., Any]) -> Any:
    global _live_proxies
    proxy = create_proxy(fn)
    _live_proxies += 1
    return proxy


def _destroy_proxy(proxy: Any) -> None:
    global _live_proxies
    try:
        proxy.destroy()
    finally:
        _live_proxies -= 1


def _js_error_name(exc: BaseException) -> str:
    name = getattr(exc, "name", None)
    if isinstance(name, str):
        return name
    text = str(exc)
    return text.split(":", 1)[0].strip() if ":" in text else ""


def _js_error_message(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    if isinstance(message, str) and message:
        name = _js_error_name(exc)
        return f"{name}: {message}" if name else message
    return str(exc)


def _to_uint8array(data: bytes | bytearray | memoryview) -> Any:
    # to_js copies a 1-d byte buffer into a fresh Uint8Array.
    return to_js(bytes(data))


def _close_args(code: int, reason: str) -> tuple[int, str]:
    """Make ``code``/``reason`` acceptable to ``WebSocket.close()``.

    Browsers only allow 1000 and 3000-4999 and a reason of at most 123 UTF-8 bytes;
    anything else throws, so other codes become 1000.
    """
    if code != 1000 and not 3000 <= code <= 4999:
        code = 1000
    raw = reason.encode("utf-8")
    if len(raw) > 123:
        reason = raw[:123].decode("utf-8", "ignore")
    return code, reason


class BrowserWebSocket:
    """A browser ``WebSocket`` seen as a :class:`~rivetkit_web.transport.base.WebSocketConnection`."""

    def __init__(self, url: str, protocols: Sequence[str]) -> None:
        self._loop = asyncio.get_running_loop()
        # Received messages, then None once closed. Not an asyncio.Queue: its getter
        # futures come from loop.create_future(), which under Pyodide's WebLoop adds
        # a bookkeeping callback, i.e. one more scheduled task per message.
        self._inbox: deque[WebSocketMessage | None] = deque()
        self._waiters: list[asyncio.Future[None]] = []  # one per waiting recv()
        self._opened: asyncio.Future[None] = self._loop.create_future()
        self._closed_event = asyncio.Event()
        self._close_code: int | None = None
        self._close_reason = ""
        self._listeners: list[tuple[str, Any]] = []
        self._url = url
        try:
            self._ws = js.WebSocket.new(url, to_js(list(protocols)))
        except JsException as exc:  # SyntaxError: bad URL or subprotocol
            raise TransportError(f"cannot open WebSocket {url}: {_js_error_message(exc)}") from None
        self._ws.binaryType = "arraybuffer"
        for name, handler in (
            ("open", self._on_open),
            ("message", self._on_message),
            ("error", self._on_error),
            ("close", self._on_close),
        ):
            proxy = _new_proxy(handler)
            self._listeners.append((name, proxy))
            self._ws.addEventListener(name, proxy)
        _open_sockets.add(self)

    # -- JS event handlers (synchronous, called by the browser) -------------------

    def _on_open(self, _event: Any) -> None:
        if not self._opened.done():
            self._opened.set_result(None)

    def _on_message(self, event: Any) -> None:
        data = event.data
        if isinstance(data, str):
            self._push(data)
        elif hasattr(data, "to_bytes"):  # ArrayBuffer (binaryType = "arraybuffer")
            self._push(data.to_bytes())
        else:  # pragma: no cover - a Blob would mean binaryType was changed
            self._push(bytes(js.Uint8Array.new(data).to_py()))

    def _on_error(self, _event: Any) -> None:
        # The browser gives no detail; before open it is followed by a close event
        # (code 1006), after open too. Fail the open at once instead of waiting.
        if not self._opened.done():
            self._opened.set_exception(TransportError(f"WebSocket {self._url} failed to open"))

    def _on_close(self, event: Any) -> None:
        self._mark_closed(int(event.code), str(event.reason or ""))
        # Do not destroy the proxy that is running right now; release on the next tick.
        self._loop.call_soon(self._release)

    # -- internals ---------------------------------------------------------------

    def _push(self, item: WebSocketMessage | None) -> None:
        self._inbox.append(item)
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():  # a cancelled recv() leaves its waiter cancelled
                    waiter.set_result(None)

    def _mark_closed(self, code: int, reason: str) -> None:
        if self._close_code is None:
            self._close_code = code
            self._close_reason = reason
            self._push(None)  # wakes recv() after the queued messages
            self._closed_event.set()
        if not self._opened.done():
            self._opened.set_exception(
                TransportError(f"WebSocket {self._url} closed before opening (code {code}{', ' + reason if reason else ''})")
            )

    def _release(self) -> None:
        """Remove every listener and destroy its proxy (idempotent)."""
        _open_sockets.discard(self)
        listeners, self._listeners = self._listeners, []
        for name, proxy in listeners:
            try:
                self._ws.removeEventListener(name, proxy)
            finally:
                _destroy_proxy(proxy)

    def _abort(self, code: int = 1000, reason: str = "") -> None:
        """Close without waiting and release the proxies at once."""
        try:
            if self._ws.readyState in (_CONNECTING, _OPEN):
                self._ws.close(*_close_args(code, reason))
        except JsException:
            pass
        self._release()
        self._mark_closed(1006 if self._close_code is None else self._close_code, reason)

    async def _wait_open(self, timeout: float | None) -> None:
        # No shield: on timeout/cancel wait_for cancels _opened, so a late error or
        # close event finds it done and nothing is left unretrieved.
        try:
            await asyncio.wait_for(self._opened, timeout)
        except (asyncio.TimeoutError, TimeoutError):
            self._abort(1000, "open timeout")
            raise TransportError(
                f"WebSocket {self._url} did not open within {timeout} s", timeout=True
            ) from None
        except TransportError:
            self._abort()
            raise
        except BaseException:  # cancelled by the caller
            self._abort()
            raise

    def simulate_drop(self) -> None:
        """Test aid: end the socket as a dropped network would (no close handshake
        seen by the caller): ``recv()`` raises ``WebSocketClosed(1006)``."""
        if self._close_code is not None:
            return
        self._release()  # stop listening first: the browser's close event is ignored
        try:
            self._ws.close(4000, "simulated drop")
        except JsException:
            pass
        self._mark_closed(1006, "")

    # -- WebSocketConnection -----------------------------------------------------

    @property
    def subprotocol(self) -> str | None:
        return str(self._ws.protocol) or None

    @property
    def closed(self) -> bool:
        return self._close_code is not None

    async def send(self, message: WebSocketMessage) -> None:
        if self._close_code is not None or self._ws.readyState != _OPEN:
            raise WebSocketClosed(
                self._close_code if self._close_code is not None else 1006, self._close_reason
            )
        try:
            if isinstance(message, str):
                self._ws.send(message)
            else:
                self._ws.send(_to_uint8array(message))
        except JsException:
            raise WebSocketClosed(
                self._close_code if self._close_code is not None else 1006, self._close_reason
            ) from None

    async def recv(self) -> WebSocketMessage:
        inbox = self._inbox
        while not inbox:
            waiter: asyncio.Future[None] = asyncio.Future(loop=self._loop)
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:  # cancelled before any message came
                    self._waiters.remove(waiter)
        item = inbox[0]
        if item is None:  # stays in the inbox: every later recv() raises too
            assert self._close_code is not None
            raise WebSocketClosed(self._close_code, self._close_reason)
        inbox.popleft()
        return item

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._close_code is not None:
            self._release()
            return
        try:
            self._ws.close(*_close_args(code, reason))
        except JsException:
            pass
        try:
            await asyncio.wait_for(self._closed_event.wait(), _CLOSE_WAIT)
        except (asyncio.TimeoutError, TimeoutError):
            pass
        finally:
            # Either the close event came (its handler scheduled _release) or it did
            # not within the grace period: stop listening either way.
            self._release()
            self._mark_closed(code, reason)


class BrowserTransport:
    """:class:`~rivetkit_web.transport.base.Transport` on ``fetch`` and ``WebSocket``.

    ``credentials`` is passed to ``fetch`` as is (``"omit"``, ``"same-origin"``,
    ``"include"``); ``None`` leaves the browser default (``"same-origin"``).
    """

    def __init__(self, *, credentials: str | None = None) -> None:
        self._credentials = credentials
        self._closed = False

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        controller = js.AbortController.new()
        init: dict[str, Any] = {
            "method": method.upper(),
            "headers": {k: v for k, v in headers.items() if k.lower() not in _BROWSER_OWNED_HEADERS},
            "signal": controller.signal,
        }
        if body is not None:
            init["body"] = _to_uint8array(body)
        if self._credentials is not None:
            init["credentials"] = self._credentials

        timed_out = False

        def on_timeout() -> None:
            nonlocal timed_out
            timed_out = True
            controller.abort()

        loop = asyncio.get_running_loop()
        timer = loop.call_later(timeout, on_timeout) if timeout is not None else None
        try:
            response = await js.fetch(url, to_js(init, dict_converter=js.Object.fromEntries))
            buffer = await response.arrayBuffer()
            status = int(response.status)
            response_headers = {
                str(k).lower(): str(v)
                for k, v in js.Object.fromEntries(response.headers.entries()).to_py().items()
            }
            data = buffer.to_bytes()
        except JsException as exc:
            if timed_out:
                raise TransportError(f"{method} {url}: timed out after {timeout} s", timeout=True) from None
            # TypeError: Failed to fetch (refused, DNS, CORS, reset), AbortError, ...
            raise TransportError(f"{method} {url}: {_js_error_message(exc)}") from None
        except BaseException:
            controller.abort()  # cancelled: stop the request in the browser too
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return HttpResponse(status=status, headers=response_headers, body=data)

    async def open_websocket(
        self,
        url: str,
        *,
        protocols: Sequence[str],
        timeout: float | None = None,
    ) -> BrowserWebSocket:
        ws = BrowserWebSocket(url, protocols)
        await ws._wait_open(timeout)
        return ws

    async def aclose(self) -> None:
        self._closed = True
