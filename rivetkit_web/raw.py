"""Raw access to an actor's own handlers: HTTP responses and WebSockets.

:class:`RawResponse` is what ``handle.fetch()`` returns (the body is already
received); :class:`RawWebSocket` is what ``handle.web_socket()`` returns, a socket to
the actor's ``onWebSocket`` handler carrying whole text or binary messages.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .errors import WebSocketClosed
from .transport.base import WebSocketConnection, WebSocketMessage

__all__ = ["RawResponse", "RawWebSocket"]


class RawResponse:
    """An HTTP response from the actor's ``onRequest`` handler."""

    __slots__ = ("_body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers: Mapping[str, str] = dict(headers)
        self._body = body

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    async def bytes(self) -> bytes:
        return self._body

    async def text(self) -> str:
        return self._body.decode(_charset(self.headers.get("content-type", "")), "replace")

    async def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` if it is not JSON)."""
        return json.loads(self._body)

    def __repr__(self) -> str:
        return f"<RawResponse {self.status} {len(self._body)} bytes>"


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"


class RawWebSocket:
    """A WebSocket to the actor's ``onWebSocket`` handler.

    ``async for message in ws`` yields messages until the socket closes; it ends
    quietly on a normal close (1000/1001) and raises :class:`WebSocketClosed`
    otherwise, like ``websockets``.
    """

    def __init__(self, socket: WebSocketConnection) -> None:
        self._socket = socket
        self.close_code: int | None = None
        self.close_reason: str | None = None

    @property
    def subprotocol(self) -> str | None:
        return self._socket.subprotocol

    async def send(self, message: str | bytes | bytearray | memoryview) -> None:
        """Send a text (``str``) or binary (bytes-like) message."""
        if isinstance(message, (bytearray, memoryview)):
            message = bytes(message)
        if not isinstance(message, (str, bytes)):
            raise TypeError(f"message must be str or bytes, not {type(message).__name__}")
        try:
            await self._socket.send(message)
        except WebSocketClosed as exc:
            self._record(exc)
            raise

    async def recv(self) -> WebSocketMessage:
        """The next message; raises :class:`WebSocketClosed` once closed."""
        try:
            return await self._socket.recv()
        except WebSocketClosed as exc:
            self._record(exc)
            raise

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket (idempotent)."""
        await self._socket.close(code, reason)
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason

    def _record(self, exc: WebSocketClosed) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = exc.code, exc.reason

    def __aiter__(self) -> AsyncIterator[WebSocketMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[WebSocketMessage]:
        while True:
            try:
                yield await self.recv()
            except WebSocketClosed as exc:
                if exc.code in (1000, 1001):
                    return
                raise

    async def __aenter__(self) -> RawWebSocket:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "open" if self.close_code is None else f"closed {self.close_code}"
        return f"<RawWebSocket {state}>"
