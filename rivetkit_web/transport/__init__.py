"""Transports: how rivetkit_web reaches the network on each runtime.

:func:`default_transport` picks one at runtime — the browser's ``fetch`` and
``WebSocket`` under Pyodide (``sys.platform == "emscripten"``), ``httpx`` and
``websockets`` elsewhere — importing only the one it uses, so the wheel needs neither
httpx nor websockets in the browser.
"""

from __future__ import annotations

import sys

from .base import HttpResponse, Transport, TransportError, WebSocketClosed, WebSocketConnection

__all__ = [
    "HttpResponse",
    "Transport",
    "TransportError",
    "WebSocketClosed",
    "WebSocketConnection",
    "default_transport",
    "is_browser",
]


def is_browser() -> bool:
    """True when running under Pyodide in a browser (or any Emscripten build)."""
    return sys.platform == "emscripten"


def default_transport(*, connect_timeout: float = 10.0) -> Transport:
    """A new transport for the runtime this code runs on."""
    if is_browser():
        from .browser import BrowserTransport

        return BrowserTransport()
    from .native import NativeTransport

    return NativeTransport(connect_timeout=connect_timeout)
