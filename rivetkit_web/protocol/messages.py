"""The messages of the RivetKit client protocol (version 4), as frozen dataclasses.

A connection (``/connect`` WebSocket) carries:

* server → client (:data:`ToClient`): :class:`Init` first, then any of
  :class:`ActionResponse`, :class:`Event`, :class:`ErrorMessage`;
* client → server (:data:`ToServer`): :class:`ActionRequest`,
  :class:`SubscriptionRequest`.

Values (``args``, ``output``, ``metadata``) are plain Python values here; the
encodings in :mod:`.encoding` turn them into bytes and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from ..errors import ActorSpecifier

__all__ = [
    "ActionRequest",
    "ActionResponse",
    "ErrorMessage",
    "Event",
    "Init",
    "SubscriptionRequest",
    "ToClient",
    "ToServer",
]


@dataclass(frozen=True)
class Init:
    """The connection is established: the server names the actor and the connection."""

    actor_id: str
    connection_id: str


@dataclass(frozen=True)
class ActionResponse:
    """The result of the action with request id ``id``."""

    id: int
    output: Any


@dataclass(frozen=True)
class Event:
    """A broadcast or direct event; ``args`` are the values the actor emitted."""

    name: str
    args: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class ErrorMessage:
    """An error: for one action when ``action_id`` is set, else for the connection."""

    group: str
    code: str
    message: str
    metadata: Any = None
    action_id: int | None = None
    actor: ActorSpecifier | None = None


@dataclass(frozen=True)
class ActionRequest:
    """Call action ``name`` with ``args``; the response carries the same ``id``."""

    id: int
    name: str
    args: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class SubscriptionRequest:
    """Start (``subscribe=True``) or stop receiving events named ``event_name``."""

    event_name: str
    subscribe: bool


ToClient = Union[Init, ActionResponse, Event, ErrorMessage]
ToServer = Union[ActionRequest, SubscriptionRequest]
