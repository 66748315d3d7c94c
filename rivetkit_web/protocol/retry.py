"""Which failures are worth retrying, and how long to wait between tries.

Three questions, answered from an error's ``group``/``code``/``message`` alone:

* :func:`is_lifecycle_retry` — an actor boundary (restart, stop, gateway hiccup) that a
  request should simply be sent again for (the JS client's ``request_retry`` list);
* :func:`is_stale_actor` — the resolved actor is gone or not ready yet; key-based
  handles retry (and re-resolve) on these;
* :func:`is_fatal_connect_error` — retrying a connection cannot fix this (the actor
  rejected the connection, the namespace does not exist, the request is invalid);
  everything else — network failures, close 1006, lifecycle and stale errors,
  5xx — is retried with backoff. This is where we deliberately differ from the JS
  client, which gives up after one plain network failure.

:func:`parse_close_reason` reads the ``group.code#rayId`` form the gateway and actor
put in WebSocket close reasons, and :class:`Backoff` yields the delays.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "Backoff",
    "CloseReason",
    "is_fatal_connect_error",
    "is_lifecycle_retry",
    "is_scheduling_error",
    "is_stale_actor",
    "parse_close_reason",
]

_GUARD_RETRY_CODES = frozenset(
    {
        "service_unavailable",
        "actor_wake_retries_exceeded",
        "actor_stopped_while_waiting",
        "tunnel_request_aborted",
        "tunnel_message_timeout",
        "tunnel_response_closed",
        "gateway_response_start_timeout",
    }
)
_RECONNECT_ONLY = frozenset({("actor", "stopped"), ("ws", "going_away")})
_TRANSPORT_STOPPED = re.compile(r"^Actor [A-Za-z0-9-]+ stopped$")

# Groups and codes no retry can fix.
_FATAL_GROUPS = frozenset({"user", "namespace", "auth"})
_FATAL_CODES = frozenset(
    {
        ("actor", "action_not_found"),
        ("actor", "invalid_request"),
        ("actor", "duplicate_key"),
        ("actor", "no_runner_config_configured"),
        ("guard", "query_invalid_params"),
        ("guard", "query_missing_pool"),
        ("guard", "missing_header"),
        ("guard", "no_route"),
        ("guard", "forbidden"),
        ("guard", "unauthorized"),
        ("datacenter", "not_found"),
        ("client", "connection_rejected"),
    }
)
_FATAL_CODE_NAMES = frozenset({"unauthorized", "forbidden", "invalid_token", "token_invalid"})


def is_lifecycle_retry(group: str, code: str, message: str = "") -> bool:
    """True for transient actor-boundary errors a request should be resent for."""
    if group == "actor" and code == "stopping" and "database accessed after actor stopped" in message:
        return False
    if group == "actor" and code == "restarting":
        return True
    if group == "guard" and code in _GUARD_RETRY_CODES:
        return True
    if group == "actor" and code == "internal_error" and message == "Actor is stopping":
        return True
    if (
        group == "actor"
        and code == "stopping"
        and message == "Actor stopping: Cannot accept new connections while actor is stopping"
    ):
        return True
    return bool(_TRANSPORT_STOPPED.match(message))


def is_reconnect_signal(group: str, code: str) -> bool:
    """True for errors that only mean "this socket is over, open another"."""
    return (group, code) in _RECONNECT_ONLY or group == "ws"


def is_stale_actor(group: str, code: str) -> bool:
    """True when a key handle's actor is missing or not ready (retry and re-resolve)."""
    return group == "actor" and (
        code in {"not_found", "starting", "stopping", "not_configured", "dropped_reply", "destroying"}
        or code.startswith("destroyed_")
    )


def is_scheduling_error(group: str, code: str) -> bool:
    """True when the actor could not be started (the engine may have details)."""
    return group == "guard" and code in {"actor_ready_timeout", "actor_runner_failed"}


def is_fatal_connect_error(group: str, code: str) -> bool:
    """True when reconnecting cannot help: stop and report instead."""
    return group in _FATAL_GROUPS or (group, code) in _FATAL_CODES or code in _FATAL_CODE_NAMES


@dataclass(frozen=True)
class CloseReason:
    """A structured WebSocket close reason ``group.code#rayId``."""

    group: str
    code: str
    ray_id: str | None = None


def parse_close_reason(reason: str) -> CloseReason | None:
    """Parse ``group.code[#rayId]``; ``None`` for any other reason text."""
    main, _, ray_id = reason.partition("#")
    group, dot, code = main.partition(".")
    if not dot or not group or not code or " " in main or "." in code:
        return None
    return CloseReason(group, code, ray_id or None)


class Backoff:
    """Exponential backoff with full jitter over ``[base/2, base]``.

    Delays grow ``initial``, ``initial*factor``, ... up to ``maximum``; each delay is
    drawn uniformly from the upper half of its step so that many clients reconnecting
    at once spread out, while the bounds stay predictable. :meth:`reset` after a
    success starts over.
    """

    def __init__(
        self,
        initial: float = 0.25,
        maximum: float = 30.0,
        factor: float = 2.0,
        *,
        jitter: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1:
            raise ValueError("backoff needs 0 < initial <= maximum and factor >= 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        # The module-level generator unless one is given: a Random per connection costs ~2.5 KiB.
        self._uniform = rng.uniform if rng is not None else random.uniform
        self.attempt = 0

    def step(self) -> float:
        """The upper bound of the next delay (before jitter)."""
        delay = self.initial
        for _ in range(self.attempt):
            delay *= self.factor
            if delay >= self.maximum:
                return self.maximum
        return delay

    def next_delay(self) -> float:
        """The next delay in seconds; advances the sequence."""
        base = self.step()
        self.attempt += 1
        if not self.jitter:
            return base
        return self._uniform(base / 2, base)

    def reset(self) -> None:
        self.attempt = 0

    def __iter__(self) -> Iterator[float]:
        while True:
            yield self.next_delay()
