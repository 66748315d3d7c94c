"""rivetkit_web: the Python client for RivetKit actors, in the browser and on CPython.

::

    from rivetkit_web import create_client

    async with create_client("http://127.0.0.1:6420") as client:
        counter = client.counter.get_or_create(["my-counter"])
        print(await counter.increment(1))          # stateless action over HTTP

        async with counter.connect() as conn:      # stateful connection
            conn.on("newCount", lambda count: print("count is now", count))
            await conn.increment(1)

The public API mirrors ``rivetkit/client``; library names are snake_case while actor,
action and event names stay exactly as the backend wrote them.
"""

from __future__ import annotations

from ._version import __version__
from .client import Client, create_client
from .connection import ActorConn, ConnStatus
from .errors import (
    ActionTimeout,
    ActorError,
    ActorSpecifier,
    ClientError,
    ConnDisposed,
    ConnectionLost,
    ProtocolError,
    RivetError,
    TransportError,
    WebSocketClosed,
)
from .handle import ActorAccessor, ActorHandle
from .raw import RawResponse, RawWebSocket

__all__ = [
    "ActionTimeout",
    "ActorAccessor",
    "ActorConn",
    "ActorError",
    "ActorHandle",
    "ActorSpecifier",
    "Client",
    "ClientError",
    "ConnDisposed",
    "ConnStatus",
    "ConnectionLost",
    "ProtocolError",
    "RawResponse",
    "RawWebSocket",
    "RivetError",
    "TransportError",
    "WebSocketClosed",
    "__version__",
    "create_client",
]
