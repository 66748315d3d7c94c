"""Every exception rivetkit_web raises, in one place.

::

    RivetError                      base of everything below
    ├── ActorError                  the server (actor, gateway or engine) said no:
    │                               .group .code .message .metadata .actor .ray_id
    ├── ClientError                 the client could not do what was asked
    │   ├── TransportError          the network failed (refused, reset, timed out)
    │   ├── ConnectionLost          a connection closed under an in-flight action
    │   ├── ConnDisposed            the connection was disposed
    │   ├── ActionTimeout           an action got no answer in time (also a TimeoutError)
    │   ├── WebSocketClosed         a raw WebSocket is closed (.code, .reason)
    │   └── ProtocolError           the server sent something we cannot decode
    └── (bad input raises Python's own TypeError / ValueError before anything is sent)

Errors carry no secrets: tokens and connection params never appear in their text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ActionTimeout",
    "ActorError",
    "ActorSpecifier",
    "ClientError",
    "ConnDisposed",
    "ConnectionLost",
    "ProtocolError",
    "RivetError",
    "TransportError",
    "WebSocketClosed",
]


class RivetError(Exception):
    """Base class of every error rivetkit_web raises on purpose."""


@dataclass(frozen=True)
class ActorSpecifier:
    """Which actor instance produced an error: its id, generation and key."""

    actor_id: str
    generation: int | None = None
    key: str | None = None


class ActorError(RivetError):
    """An error reported by the server, with the JS client's fields.

    ``group`` and ``code`` identify the error (``"user"``/``"my_code"`` for a
    ``UserError`` thrown by an action, ``"actor"``/``"not_found"``,
    ``"guard"``/``"..."`` for gateway errors, ``"rivetkit"``/``"internal_error"`` for
    anything the actor did not mean to expose). ``metadata`` is whatever the actor
    attached. Errors created by the client itself use group ``"client"``.
    """

    def __init__(
        self,
        group: str,
        code: str,
        message: str,
        metadata: Any = None,
        *,
        actor: ActorSpecifier | None = None,
        ray_id: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.group = group
        self.code = code
        self.message = message
        self.metadata = metadata
        self.actor = actor
        self.ray_id = ray_id
        self.status = status

    @property
    def full_code(self) -> str:
        """``"group.code"``, as the server writes it in close reasons."""
        return f"{self.group}.{self.code}"

    def __str__(self) -> str:
        return f"{self.message} ({self.group}.{self.code})"

    def __repr__(self) -> str:
        return (
            f"ActorError(group={self.group!r}, code={self.code!r}, "
            f"message={self.message!r}, metadata={self.metadata!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_actor_error,
            (self.group, self.code, self.message, self.metadata, self.actor, self.ray_id, self.status),
        )


def _rebuild_actor_error(
    group: str,
    code: str,
    message: str,
    metadata: Any,
    actor: ActorSpecifier | None,
    ray_id: str | None,
    status: int | None,
) -> ActorError:
    return ActorError(group, code, message, metadata, actor=actor, ray_id=ray_id, status=status)


class ClientError(RivetError):
    """The client could not complete the operation for a reason of its own."""


class TransportError(ClientError):
    """The network failed: no answer from the endpoint, or it did not answer in time.

    ``timeout`` is true when a time limit ran out; ``status`` is the HTTP status when
    a WebSocket handshake was refused with one (not visible in browsers).
    """

    def __init__(self, message: str, *, timeout: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.status = status


class ActionTimeout(ClientError, TimeoutError):
    """An action got no response within its time limit (it may still run on the actor)."""


class WebSocketClosed(ClientError):
    """The WebSocket is closed; ``code`` and ``reason`` come from its close frame.

    ``code`` is 1006 when the connection dropped without a close frame.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"WebSocket closed (code: {code}, reason: {reason})")
        self.code = code
        self.reason = reason


class ConnectionLost(ClientError):
    """The connection closed while an action on it was waiting for its response.

    The action is not retried (it may or may not have run on the actor).
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"Connection lost (code: {code}, reason: {reason})")
        self.code = code
        self.reason = reason


class ConnDisposed(ClientError):
    """The connection was disposed; nothing more can be sent on it."""

    def __init__(self, message: str = "Connection disposed") -> None:
        super().__init__(message)


class ProtocolError(ClientError):
    """The server sent a message or body that does not follow the protocol."""


def actor_error_from_mapping(
    data: Mapping[str, Any], *, status: int | None = None, ray_id: str | None = None
) -> ActorError:
    """Build an :class:`ActorError` from a decoded error object of any encoding.

    Raises :class:`ProtocolError` if the object lacks ``group``/``code``.
    """
    group = data.get("group")
    code = data.get("code")
    if not isinstance(group, str) or not isinstance(code, str):
        raise ProtocolError("error object without group and code")
    message = data.get("message")
    if not isinstance(message, str):
        message = f"{group}.{code}"
    actor = None
    raw_actor = data.get("actor")
    if isinstance(raw_actor, Mapping) and isinstance(raw_actor.get("actorId"), str):
        generation = raw_actor.get("generation")
        key = raw_actor.get("key")
        actor = ActorSpecifier(
            actor_id=raw_actor["actorId"],
            generation=generation if isinstance(generation, int) and not isinstance(generation, bool) else None,
            key=key if isinstance(key, str) else None,
        )
    return ActorError(
        group, code, message, data.get("metadata"), actor=actor, ray_id=ray_id, status=status
    )
