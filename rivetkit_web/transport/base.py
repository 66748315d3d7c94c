"""The transport contract: the only place where rivetkit_web touches the network.

A transport does two things, nothing more:

* ``request()`` sends one HTTP request with a fully buffered body and returns the
  fully buffered response (status, headers, body).
* ``open_websocket()`` opens a WebSocket with a list of subprotocols and returns a
  :class:`WebSocketConnection` that sends and receives whole messages.

Everything above this interface (URLs, headers, encodings, retries, reconnects) is
shared by every runtime. Implementations live beside this module: ``native`` (httpx +
websockets, CPython) and ``browser`` (the page's ``fetch`` and ``WebSocket`` through the
Pyodide FFI).

Errors a transport raises are these, never a library's own exception types, so that the layers above behave the same on every runtime:

* :class:`~rivetkit_web.errors.TransportError` when the request could not be made or the socket could not be
  opened (refused, DNS, TLS, reset, timeout, handshake rejected);
* :class:`~rivetkit_web.errors.WebSocketClosed` from ``recv()``/``send()`` once the socket is closed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, Union

from ..errors import TransportError, WebSocketClosed

__all__ = [
    "HttpResponse",
    "Transport",
    "TransportError",
    "WebSocketClosed",
    "WebSocketConnection",
    "WebSocketMessage",
]

WebSocketMessage = Union[str, bytes]
"""A whole WebSocket message: ``str`` for a text frame, ``bytes`` for a binary one."""


@dataclass(frozen=True)
class HttpResponse:
    """A fully received HTTP response. Header names are lower-case."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class WebSocketConnection(Protocol):
    """An open WebSocket carrying whole messages."""

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose, if any."""
        ...

    async def send(self, message: WebSocketMessage) -> None:
        """Send one message: text for ``str``, binary for ``bytes``.

        Raises :class:`WebSocketClosed` if the socket is already closed.
        """
        ...

    async def recv(self) -> WebSocketMessage:
        """Wait for the next message.

        Raises :class:`WebSocketClosed` once the socket is closed (after every message
        received before the close has been returned).
        """
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket and wait (briefly) for the closing handshake.

        Closing an already closed socket does nothing.
        """
        ...


class Transport(Protocol):
    """HTTP requests and WebSockets for one client."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        """Send one request and return its response, whatever its status.

        Raises :class:`TransportError` if no response arrives (refused, reset,
        ``timeout`` seconds passed).
        """
        ...

    async def open_websocket(
        self,
        url: str,
        *,
        protocols: Sequence[str],
        timeout: float | None = None,
    ) -> WebSocketConnection:
        """Open a WebSocket to ``url`` (``ws://`` or ``wss://``) offering ``protocols``.

        Raises :class:`TransportError` if the handshake does not complete within
        ``timeout`` seconds or is rejected.
        """
        ...

    async def aclose(self) -> None:
        """Release pooled connections. The transport is not used afterwards."""
        ...
