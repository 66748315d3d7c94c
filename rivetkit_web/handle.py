"""Accessors and handles: naming an actor, and calling it over stateless HTTP.

``client.counter`` is an :class:`ActorAccessor`; its ``get``/``get_or_create``/
``get_for_id`` return an :class:`ActorHandle` at once (no request), ``create`` makes
the actor first. A handle calls actions over HTTP (``await handle.increment(1)``),
resolves the actor id, opens connections and raw requests/WebSockets.

Key handles reach their actor through the gateway's query URL when the key allows it
and otherwise resolve the id through the REST API first (which escapes keys
properly), so distinct keys always reach distinct actors.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

from ._callbacks import action_caller
from .client import Client, http_error
from .errors import ActorError
from .protocol import gateway
from .protocol.gateway import (
    ActorQuery,
    Create,
    GetForId,
    GetForKey,
    GetOrCreateForKey,
    build_gateway_url,
    encode_conn_params,
    to_websocket_url,
)
from .protocol.keys import normalize_key, query_key
from .protocol.retry import is_lifecycle_retry, is_scheduling_error, is_stale_actor
from .raw import RawResponse, RawWebSocket
from .transport.base import HttpResponse

if TYPE_CHECKING:
    from .connection import ActorConn

__all__ = ["ActorAccessor", "ActorHandle", "GetParams"]

logger = logging.getLogger("rivetkit_web")

KeyLike = Union[Sequence[str], str, None]
GetParams = Callable[[], Union[Awaitable[Any], Any]]

_LIFECYCLE_ATTEMPTS = 5
_STALE_ATTEMPTS = {GetForKey: 24, GetOrCreateForKey: 60}
_STALE_DELAY = 0.1
_TRANSIENT_HTTP = frozenset({502, 503, 504})
_ACTOR_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""What an actor id taken from a response header may look like (it goes into URLs)."""
_UNSET: Any = object()


class ActorAccessor:
    """The ways to reach actors registered under one name."""

    __slots__ = ("_client", "name")

    def __init__(self, client: Client, name: str) -> None:
        self._client = client
        self.name = name

    def get(
        self,
        key: KeyLike = None,
        *,
        params: Any = None,
        get_params: GetParams | None = None,
    ) -> ActorHandle:
        """A handle to the existing actor with ``key`` (never creates one)."""
        return ActorHandle(self._client, GetForKey(self.name, normalize_key(key)), params, get_params)

    def get_or_create(
        self,
        key: KeyLike = None,
        *,
        params: Any = None,
        get_params: GetParams | None = None,
        create_with_input: Any = _UNSET,
        create_in_region: str | None = None,
    ) -> ActorHandle:
        """A handle to the actor with ``key``, created on first use if missing.

        ``create_with_input`` is passed to the actor's ``createState`` when this call
        creates it.
        """
        has_input = create_with_input is not _UNSET
        if has_input:
            gateway.encode_input(create_with_input)  # TypeError now, not on first use
        query = GetOrCreateForKey(
            self.name,
            normalize_key(key),
            create_with_input if has_input else None,
            has_input,
            create_in_region,
        )
        return ActorHandle(self._client, query, params, get_params)

    def get_for_id(
        self, actor_id: str, *, params: Any = None, get_params: GetParams | None = None
    ) -> ActorHandle:
        """A handle to the actor with this id."""
        if not isinstance(actor_id, str) or not actor_id:
            raise TypeError("actor_id must be a non-empty str")
        return ActorHandle(self._client, GetForId(self.name, actor_id), params, get_params)

    async def create(
        self,
        key: KeyLike = None,
        *,
        input: Any = _UNSET,
        region: str | None = None,
        params: Any = None,
        get_params: GetParams | None = None,
    ) -> ActorHandle:
        """Create a new actor with ``key`` and return a handle to it (by id).

        Raises :class:`ActorError` ``actor.duplicate_key`` if one exists already.
        """
        has_input = input is not _UNSET
        query = Create(self.name, normalize_key(key), input if has_input else None, has_input, region)
        body = gateway.rest_create_body(self._client._endpoint, query)
        if params is not None:
            encode_conn_params(params)
        try:
            data = await self._client._rest("POST", gateway.rest_actors_path(self._client._endpoint), body)
        except ActorError as exc:
            # The engine sometimes reports a duplicate key as the creation it aborted.
            if (exc.group, exc.code) == ("actor", "destroyed_during_creation") and await self._exists(query):
                raise ActorError(
                    "actor", "duplicate_key", "An actor with this name and key already exists.",
                    status=exc.status, ray_id=exc.ray_id,
                ) from exc
            raise
        actor_id = _actor_id_of(data.get("actor") if isinstance(data, dict) else None)
        return ActorHandle(self._client, GetForId(self.name, actor_id), params, get_params)

    async def _exists(self, query: Create) -> bool:
        path = gateway.rest_get_by_key_path(self._client._endpoint, query.name, query.key)
        data = await self._client._rest("GET", path)
        return bool(isinstance(data, dict) and data.get("actors"))

    def __repr__(self) -> str:
        return f"<ActorAccessor {self.name!r}>"


def _actor_id_of(actor: Any) -> str:
    if not isinstance(actor, dict) or not isinstance(actor.get("actor_id"), str):
        from .errors import ProtocolError

        raise ProtocolError("engine response has no actor id")
    actor_id: str = actor["actor_id"]
    return actor_id


class ActorHandle:
    """A stateless handle on one actor.

    Any attribute that is not one of the methods below is an action of the actor:
    ``await handle.increment(5)`` is ``await handle.action("increment", 5)``.
    """

    def __init__(
        self,
        client: Client,
        query: GetForId | GetForKey | GetOrCreateForKey,
        params: Any = None,
        get_params: GetParams | None = None,
    ) -> None:
        if get_params is not None and not callable(get_params):
            raise TypeError("get_params must be callable")
        self._client = client
        self._query = query
        self._params = params
        self._get_params = get_params
        self._params_header = encode_conn_params(params) if params is not None else None
        self._resolved_id: str | None = None
        self._resolve_lock: asyncio.Lock | None = None

    # ------------------------------------------------------------------ naming

    @property
    def name(self) -> str:
        """The actor's registered name."""
        return self._query.name

    @property
    def key(self) -> tuple[str, ...] | None:
        """The key this handle was made with (``None`` for id handles)."""
        return None if isinstance(self._query, GetForId) else self._query.key

    @property
    def query(self) -> ActorQuery:
        return self._query

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_"):
            raise AttributeError(name)
        return action_caller(self.action, name)

    def __repr__(self) -> str:
        if isinstance(self._query, GetForId):
            return f"<ActorHandle {self._query.name!r} id={self._query.actor_id!r}>"
        return f"<ActorHandle {self._query.name!r} key={list(self._query.key)!r}>"

    # ------------------------------------------------------------------ resolve

    async def resolve(self) -> str:
        """The actor id; creates the actor first for ``get_or_create`` handles.

        Raises :class:`ActorError` ``actor.not_found`` for a ``get`` handle whose actor
        does not exist.
        """
        query = self._query
        if isinstance(query, GetForId):
            return query.actor_id
        endpoint = self._client._endpoint
        if isinstance(query, GetForKey):
            data = await self._client._rest("GET", gateway.rest_get_by_key_path(endpoint, query.name, query.key))
            actors = data.get("actors") if isinstance(data, dict) else None
            if not actors:
                raise ActorError(
                    "actor", "not_found", "The actor does not exist or was destroyed.", status=404
                )
            actor_id = _actor_id_of(actors[0])
        else:
            body = gateway.rest_create_body(endpoint, query)
            data = await self._client._rest("PUT", gateway.rest_actors_path(endpoint), body)
            actor_id = _actor_id_of(data.get("actor") if isinstance(data, dict) else None)
        self._resolved_id = actor_id
        return actor_id

    async def _target(self) -> GetForId | GetForKey | GetOrCreateForKey:
        """What to put in the gateway URL: the actor id once known (from ``resolve()``
        or an earlier response), else the query itself; a key that cannot travel in
        a query URL is resolved first.

        Addressing by id spares the gateway its key lookup (~20 ms a request on a
        local engine). A stale id (actor destroyed) is forgotten on the first
        ``actor.not_found``/``destroyed`` and the query is used again.
        """
        query = self._query
        if isinstance(query, GetForId):
            return query
        if self._resolved_id is not None:
            return GetForId(query.name, self._resolved_id)
        if query_key(query.key) is not None:
            return query
        if self._resolve_lock is None:
            self._resolve_lock = asyncio.Lock()
        async with self._resolve_lock:
            if self._resolved_id is None:  # not resolved by a caller that held the lock
                await self.resolve()
        assert self._resolved_id is not None
        return GetForId(query.name, self._resolved_id)

    def _forget_resolution(self) -> None:
        self._resolved_id = None

    def _learn_actor_id(self, response: HttpResponse) -> None:
        """Remember the id the gateway names in ``x-rivet-actor`` (key handles only)."""
        if self._resolved_id is None and not isinstance(self._query, GetForId):
            actor_id = response.headers.get("x-rivet-actor")
            if actor_id and _ACTOR_ID.fullmatch(actor_id):
                self._resolved_id = actor_id

    async def gateway_url(self, path: str = "", *, skip_ready_wait: bool | None = None) -> str:
        """The gateway URL of this actor (with ``path`` appended). It may contain the token."""
        await self._client._ensure_metadata()
        target = await self._target()
        return build_gateway_url(
            self._client._endpoint, target, path, skip_ready_wait=self._skip(skip_ready_wait)
        )

    def _skip(self, skip_ready_wait: bool | None) -> bool:
        return self._client._skip_ready_wait if skip_ready_wait is None else bool(skip_ready_wait)

    # ------------------------------------------------------------------ actions

    async def action(self, name: str, *args: Any) -> Any:
        """Call the action ``name`` with ``args`` over HTTP and return its output.

        Raises ``TypeError`` (before sending) for args the wire cannot carry,
        :class:`ActorError` for errors from the actor or gateway and
        :class:`TransportError` when the endpoint cannot be reached.
        """
        if not isinstance(name, str) or not name:
            raise TypeError("action name must be a non-empty str")
        encoding = self._client._encoding
        body = encoding.encode_action_args(list(args))
        headers = gateway.gateway_headers(
            self._client._endpoint,
            encoding=encoding.name,
            content_type=encoding.content_type,
            conn_params=self._params_header,
        )
        response = await self._send_with_retries(
            "POST", gateway.action_path(name), headers, body, retry_lifecycle=name != "destroy"
        )
        if 200 <= response.status < 300:
            return encoding.decode_action_output(response.body)
        raise http_error(encoding, response)

    async def _send_with_retries(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
        *,
        retry_lifecycle: bool = True,
        skip_ready_wait: bool | None = None,
        raise_errors: bool = True,
        timeout: float | None = None,
    ) -> HttpResponse:
        """Send a gateway request, retrying the JS client's transient cases.

        Lifecycle boundaries (actor restarting, gateway hiccups, 502/503/504 without
        a body) are retried 5 times with 25→200 ms waits; a key handle's missing or
        starting actor is retried every 100 ms (24 times for ``get``, 60 for
        ``get_or_create``), re-resolving the id where one was cached.
        Returns the last response; the caller decides what a non-2xx means.
        """
        skip = self._skip(skip_ready_wait)
        if skip:
            headers = {**headers, "x-rivet-skip-ready-wait": "1"}
        lifecycle_attempts = 0
        stale_attempts = 0
        stale_limit = _STALE_ATTEMPTS.get(type(self._query), 1)
        while True:
            url = await self.gateway_url(path, skip_ready_wait=skip)
            response = await self._client._request(method, url, headers=headers, body=body, timeout=timeout)
            if 200 <= response.status < 300 or not raise_errors and response.status < 400:
                self._learn_actor_id(response)
                return response
            error = _structured_error(self._client, response)
            if error is None:
                if (response.status in _TRANSIENT_HTTP and raise_errors and retry_lifecycle
                        and lifecycle_attempts < _LIFECYCLE_ATTEMPTS - 1):
                    await asyncio.sleep(min(0.025 * 2**lifecycle_attempts, 0.2))
                    lifecycle_attempts += 1
                    continue
                return response
            if retry_lifecycle and is_lifecycle_retry(error.group, error.code, error.message) \
                    and lifecycle_attempts < _LIFECYCLE_ATTEMPTS - 1:
                logger.debug("retrying %s after %s", path, error.full_code)
                await asyncio.sleep(min(0.025 * 2**lifecycle_attempts, 0.2))
                lifecycle_attempts += 1
                continue
            if (is_stale_actor(error.group, error.code) or is_scheduling_error(error.group, error.code)) \
                    and stale_attempts < stale_limit - 1:
                logger.debug("actor not ready (%s), retrying", error.full_code)
                self._forget_resolution()
                await asyncio.sleep(_STALE_DELAY)
                stale_attempts += 1
                continue
            return response

    # ------------------------------------------------------------------ connections

    def connect(
        self,
        params: Any = _UNSET,
        *,
        get_params: GetParams | None = None,
        skip_ready_wait: bool | None = None,
    ) -> ActorConn:
        """Open a stateful connection. Returns at once; it connects in the background.

        ``params`` (or ``get_params``, awaited before every connection attempt)
        override the handle's. Must be called with an event loop running.
        """
        from .connection import ActorConn

        if params is _UNSET:
            params, get_params = (self._params, self._get_params) if get_params is None else (None, get_params)
        elif get_params is not None:
            raise TypeError("pass either params or get_params, not both")
        if params is not None:
            encode_conn_params(params)  # fail now for params JSON cannot carry
        return ActorConn(self, params, get_params, self._skip(skip_ready_wait))

    # ------------------------------------------------------------------ raw

    async def fetch(
        self,
        path: str = "",
        *,
        method: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | bytearray | str | None = None,
        json: Any = _UNSET,
        skip_ready_wait: bool | None = None,
        timeout: float | None = None,
    ) -> RawResponse:
        """Send a raw HTTP request to the actor's ``onRequest`` handler.

        ``path`` may carry a query string. ``method`` defaults to ``POST`` when there is
        a body and ``GET`` otherwise. The response is returned whatever its status.
        """
        if not isinstance(path, str):
            raise TypeError("path must be a str")
        request_headers = {k.lower(): v for k, v in (headers or {}).items()}
        payload: bytes | None
        if json is not _UNSET:
            if body is not None:
                raise TypeError("pass either body or json, not both")
            import json as _json

            payload = _json.dumps(json, separators=(",", ":"), allow_nan=False).encode()
            request_headers.setdefault("content-type", "application/json")
        elif isinstance(body, str):
            payload = body.encode("utf-8")
            request_headers.setdefault("content-type", "text/plain;charset=UTF-8")
        elif isinstance(body, (bytes, bytearray, memoryview)):
            payload = bytes(body)
        elif body is None:
            payload = None
        else:
            raise TypeError(f"body must be bytes or str, not {type(body).__name__}")
        method = (method or ("POST" if payload is not None else "GET")).upper()
        if self._params_header is not None:
            request_headers["x-rivet-conn-params"] = self._params_header
        all_headers = gateway.gateway_headers(self._client._endpoint, extra=request_headers)
        response = await self._send_with_retries(
            method, "/request/" + path.lstrip("/"), all_headers, payload,
            skip_ready_wait=skip_ready_wait, raise_errors=False, timeout=timeout,
        )
        return RawResponse(response.status, response.headers, response.body)

    async def web_socket(
        self,
        path: str = "",
        protocols: Sequence[str] | None = None,
        *,
        skip_ready_wait: bool | None = None,
    ) -> RawWebSocket:
        """Open a raw WebSocket to the actor's ``onWebSocket`` handler.

        ``protocols`` are offered after RivetKit's own subprotocols.
        """
        if not isinstance(path, str):
            raise TypeError("path must be a str")
        extra = list(protocols or [])
        if not all(isinstance(p, str) for p in extra):
            raise TypeError("protocols must be a list of str")
        params = await self._current_params()
        conn_params = encode_conn_params(params) if params is not None else None
        skip = self._skip(skip_ready_wait)
        url = await self.gateway_url("/websocket/" + path.lstrip("/"), skip_ready_wait=skip)
        ws_url = to_websocket_url(url)
        protocol_list = gateway.connection_protocols(self._client._encoding.name, conn_params, skip_ready_wait=skip)
        socket = await self._client._transport.open_websocket(
            ws_url, protocols=protocol_list + extra, timeout=self._client._connect_timeout
        )
        return RawWebSocket(socket)

    async def _current_params(self) -> Any:
        if self._get_params is None:
            return self._params
        result = self._get_params()
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result
        return result


def _structured_error(client: Client, response: HttpResponse) -> ActorError | None:
    error = http_error(client._encoding, response)
    return None if error.group == "client" else error

