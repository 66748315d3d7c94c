"""The CPython transport: HTTP with ``httpx``, WebSockets with ``websockets``.

One pooled ``httpx.AsyncClient`` per client (HTTP/1.1 keep-alive, so repeated
stateless actions reuse one TCP connection), and one ``websockets`` client connection
per WebSocket. Library exceptions are turned into the contract's
:class:`~rivetkit_web.errors.TransportError` / :class:`.WebSocketClosed`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from .._redact import install
from ..errors import TransportError, WebSocketClosed
from .base import HttpResponse, WebSocketMessage

__all__ = ["NativeTransport", "NativeWebSocket"]

logger = logging.getLogger("rivetkit_web.transport")
# httpx logs every request URL at INFO; websockets (through this logger) logs
# handshakes at DEBUG. Both can carry tokens and params: redact them.
_ws_logger = install("httpx", "httpcore.http11", "httpcore.connection", "rivetkit_web.transport.websockets")

_DEFAULT_CONNECT_TIMEOUT = 10.0
_MAX_MESSAGE_SIZE = 64 * 1024 * 1024


class NativeWebSocket:
    """A ``websockets`` client connection behind the transport contract."""

    __slots__ = ("_ws",)

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    @property
    def subprotocol(self) -> str | None:
        return self._ws.subprotocol

    @staticmethod
    def _closed(exc: ConnectionClosed) -> WebSocketClosed:
        """The close the peer sent (or, failing that, ours; 1006 if none)."""
        frame = exc.rcvd if exc.rcvd is not None else exc.sent
        if frame is None:
            return WebSocketClosed(1006, "")
        return WebSocketClosed(frame.code, frame.reason)

    async def send(self, message: WebSocketMessage) -> None:
        try:
            await self._ws.send(message)
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    async def recv(self) -> WebSocketMessage:
        try:
            return await self._ws.recv()
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        try:
            await self._ws.close(code, reason)
        except Exception:  # already broken: nothing left to close
            logger.debug("error while closing websocket", exc_info=True)


class NativeTransport:
    """:class:`~rivetkit_web.transport.base.Transport` for CPython."""

    def __init__(self, *, connect_timeout: float = _DEFAULT_CONNECT_TIMEOUT) -> None:
        self._connect_timeout = connect_timeout
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(None, connect=self._connect_timeout),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                follow_redirects=False,
                trust_env=True,
            )
        return self._http

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        client = self._client()
        httpx_timeout = httpx.Timeout(timeout, connect=min(timeout or self._connect_timeout,
                                                           self._connect_timeout))
        try:
            response = await client.request(
                method, url, headers=dict(headers), content=body, timeout=httpx_timeout
            )
        except httpx.TimeoutException as exc:
            raise TransportError(
                f"{method} request timed out ({type(exc).__name__})", timeout=True
            ) from None
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} request failed: {_describe(exc)}") from None
        return HttpResponse(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=response.content,
        )

    async def open_websocket(
        self,
        url: str,
        *,
        protocols: Sequence[str],
        timeout: float | None = None,
    ) -> NativeWebSocket:
        limit = timeout if timeout is not None else self._connect_timeout
        try:
            ws = await connect(
                url,
                subprotocols=[Subprotocol(p) for p in protocols],
                open_timeout=limit,
                max_size=_MAX_MESSAGE_SIZE,
                compression=None,
                user_agent_header=None,
                proxy=None,
                logger=_ws_logger,
            )
        except (TimeoutError, asyncio.TimeoutError):
            raise TransportError("WebSocket handshake timed out", timeout=True) from None
        except InvalidURI:
            raise TransportError("invalid WebSocket URL") from None
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise TransportError(
                f"WebSocket handshake rejected with HTTP {status}", status=status
            ) from None
        except InvalidHandshake as exc:
            raise TransportError(f"WebSocket handshake rejected: {_describe(exc)}") from None
        except OSError as exc:
            raise TransportError(f"WebSocket connection failed: {_describe(exc)}") from None
        return NativeWebSocket(ws)

    async def aclose(self) -> None:
        if self._http is not None:
            client, self._http = self._http, None
            await client.aclose()


def _describe(exc: BaseException) -> str:
    """A short description of a library exception, without URLs (they may hold tokens)."""
    text = str(exc) or type(exc).__name__
    if "://" in text:
        return type(exc).__name__
    cause: Any = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError) and cause.strerror:
        return f"{type(exc).__name__}: {cause.strerror}"
    return f"{type(exc).__name__}: {text}"

