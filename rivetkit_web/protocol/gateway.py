"""Addressing an actor through the gateway: queries, URLs, headers, subprotocols.

An :class:`ActorQuery` says which actor a handle means. The gateway reaches it in one
of two ways (see ``protocol.md`` §2):

* by id: ``{endpoint}/gateway/{actorId}[@token]{path}``;
* by query: ``{endpoint}/gateway/{name}{path}?rvt-namespace=..&rvt-method=get|getOrCreate
  &rvt-key=..`` — no extra round trip, but only for keys :func:`.keys.query_key` can
  carry; other keys are resolved to an id through the REST API first.

This module builds those URLs, the HTTP headers of actions and raw requests, the
WebSocket subprotocol list, and the engine REST requests that resolve and create
actors. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union
from urllib.parse import quote, urlencode

from . import cbor
from .endpoint import Endpoint
from .keys import ActorKey, query_key, serialize_key
from .values import to_compat

__all__ = [
    "ActorQuery",
    "Create",
    "GetForId",
    "GetForKey",
    "GetOrCreateForKey",
    "MAX_QUERY_INPUT_SIZE",
    "action_path",
    "build_gateway_url",
    "connection_protocols",
    "encode_conn_params",
    "encode_input",
    "gateway_headers",
    "rest_create_body",
    "rest_get_by_id_path",
    "rest_get_by_key_path",
    "to_websocket_url",
]

MAX_QUERY_INPUT_SIZE = 4 * 1024
"""The largest CBOR-encoded input the query URL carries (the JS client's default)."""

MAX_CONN_PARAMS_SIZE = 4 * 1024
"""The engine's limit on encoded connection params."""


@dataclass(frozen=True)
class GetForId:
    """The actor with this id."""

    name: str
    actor_id: str


@dataclass(frozen=True)
class GetForKey:
    """The existing actor ``name`` with ``key``; never creates one."""

    name: str
    key: ActorKey


@dataclass(frozen=True)
class GetOrCreateForKey:
    """The actor ``name`` with ``key``, created (with ``input``) if missing."""

    name: str
    key: ActorKey
    input: Any = field(default=None, repr=False)
    has_input: bool = False
    region: str | None = None


@dataclass(frozen=True)
class Create:
    """A new actor ``name`` with ``key``; fails if one exists."""

    name: str
    key: ActorKey
    input: Any = field(default=None, repr=False)
    has_input: bool = False
    region: str | None = None


ActorQuery = Union[GetForId, GetForKey, GetOrCreateForKey, Create]


# --------------------------------------------------------------------------- values


def encode_input(value: Any) -> bytes:
    """CBOR of ``value`` in the JSON-compat model (what ``createState`` receives)."""
    return cbor.dumps(to_compat(value, path="input"))


def encode_conn_params(params: Any) -> str:
    """Connection params as the compact JSON string the server parses.

    Raises ``TypeError`` for values JSON cannot carry and ``ValueError`` when the
    result exceeds the 4 KiB the engine accepts.
    """
    try:
        text = json.dumps(params, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except TypeError as exc:
        raise TypeError(f"connection params are not JSON serializable: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"connection params are not JSON serializable: {exc}") from None
    if len(text.encode("utf-8")) > MAX_CONN_PARAMS_SIZE:
        raise ValueError(f"connection params exceed {MAX_CONN_PARAMS_SIZE} bytes once encoded")
    return text


# --------------------------------------------------------------------------- URLs


def _join_query(path: str, query: str) -> str:
    path = path.split("#", 1)[0]  # a fragment never reaches the server
    if not query:
        return path
    if path.endswith("?") or path.endswith("&"):
        return path + query
    return path + ("&" if "?" in path else "?") + query


def build_gateway_url(
    endpoint: Endpoint,
    query: GetForId | GetForKey | GetOrCreateForKey,
    path: str = "",
    *,
    skip_ready_wait: bool = False,
    crash_policy: str = "sleep",
) -> str:
    """The gateway URL that reaches ``query``'s actor, with ``path`` appended.

    ``path`` is ``""`` or starts with ``/`` and may carry its own query string; the
    ``rvt-*`` parameters go after it. Key queries must have a key that
    :func:`.keys.query_key` accepts (``ValueError`` otherwise).
    """
    if isinstance(query, GetForId):
        token = f"@{quote(endpoint.token, safe='')}" if endpoint.token else ""
        return endpoint.url(_join_query(f"/gateway/{quote(query.actor_id, safe='')}{token}{path}", ""))

    params: list[tuple[str, str]] = [("rvt-namespace", endpoint.namespace)]
    key = query_key(query.key)
    if key is None:
        raise ValueError("this key cannot be carried by a gateway query URL; resolve it first")
    if isinstance(query, GetForKey):
        params.append(("rvt-method", "get"))
        if key:
            params.append(("rvt-key", key))
    else:
        params.append(("rvt-method", "getOrCreate"))
        params.append(("rvt-runner", endpoint.pool))
        if key:
            params.append(("rvt-key", key))
        if query.has_input:
            encoded = encode_input(query.input)
            if len(encoded) > MAX_QUERY_INPUT_SIZE:
                raise ValueError(
                    f"input is {len(encoded)} bytes once encoded; a query URL carries at most "
                    f"{MAX_QUERY_INPUT_SIZE}"
                )
            params.append(("rvt-input", base64.urlsafe_b64encode(encoded).decode().rstrip("=")))
        if query.region is not None:
            params.append(("rvt-region", query.region))
        params.append(("rvt-crash-policy", crash_policy))
    if endpoint.token:
        params.append(("rvt-token", endpoint.token))
    if skip_ready_wait:
        params.append(("rvt-skip-ready-wait", "true"))
    full_path = _join_query(f"/gateway/{quote(query.name, safe='')}{path}", urlencode(params))
    return endpoint.url(full_path)


def to_websocket_url(url: str) -> str:
    """A gateway ``http(s)://`` URL as the ``ws(s)://`` URL of the same resource."""
    if url.startswith("https://"):
        return "wss://" + url[len("https://"):]
    if url.startswith("http://"):
        return "ws://" + url[len("http://"):]
    return url


def action_path(name: str) -> str:
    """The gateway sub-path of a stateless action."""
    return f"/action/{quote(name, safe='')}"


def gateway_headers(
    endpoint: Endpoint,
    *,
    encoding: str | None = None,
    content_type: str | None = None,
    conn_params: str | None = None,
    skip_ready_wait: bool = False,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Headers for a gateway HTTP request (only CORS-allowed ``x-rivet-*`` ones)."""
    headers: dict[str, str] = dict(extra or {})
    if encoding is not None:
        headers["x-rivet-encoding"] = encoding
    if content_type is not None:
        headers["content-type"] = content_type
    if conn_params is not None:
        headers["x-rivet-conn-params"] = conn_params
    if endpoint.token:
        headers["x-rivet-token"] = endpoint.token
    if skip_ready_wait:
        headers["x-rivet-skip-ready-wait"] = "1"
    return headers


def connection_protocols(
    encoding: str, conn_params: str | None = None, *, skip_ready_wait: bool = False
) -> list[str]:
    """The ``Sec-WebSocket-Protocol`` list of a ``/connect`` or raw WebSocket.

    ``rivet`` comes first (the server always answers with it).
    """
    protocols = ["rivet", f"rivet_encoding.{encoding}"]
    if skip_ready_wait:
        protocols.append("rivet_skip_ready_wait")
    if conn_params is not None:
        protocols.append(f"rivet_conn_params.{quote(conn_params, safe='')}")
    return protocols


# --------------------------------------------------------------------------- REST


def _rest_path(path: str, endpoint: Endpoint, **params: str) -> str:
    query = urlencode({**params, "namespace": endpoint.namespace}, quote_via=quote)
    return f"{path}?{query}"


def rest_get_by_key_path(endpoint: Endpoint, name: str, key: ActorKey) -> str:
    """``GET /actors?name&key``: find the actor ``name`` with ``key``."""
    return _rest_path("/actors", endpoint, name=name, key=serialize_key(key))


def rest_get_by_id_path(endpoint: Endpoint, actor_id: str) -> str:
    """``GET /actors?actor_ids=``: look an actor up by id."""
    return _rest_path("/actors", endpoint, actor_ids=actor_id)


def rest_actors_path(endpoint: Endpoint) -> str:
    """``PUT /actors`` (get or create) and ``POST /actors`` (create)."""
    return _rest_path("/actors", endpoint)


def rest_create_body(
    endpoint: Endpoint, query: GetOrCreateForKey | Create, *, crash_policy: str = "sleep"
) -> bytes:
    """The JSON body of ``PUT /actors`` / ``POST /actors``."""
    body: dict[str, Any] = {
        "name": query.name,
        "key": serialize_key(query.key),
        "runner_name_selector": endpoint.pool,
        "crash_policy": crash_policy,
    }
    if query.has_input:
        body["input"] = base64.b64encode(encode_input(query.input)).decode("ascii")
    if query.region is not None:
        body["datacenter"] = query.region
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def rest_headers(endpoint: Endpoint, *, json_body: bool = False) -> dict[str, str]:
    """Headers of an engine REST request."""
    headers: dict[str, str] = {}
    if json_body:
        headers["content-type"] = "application/json"
    if endpoint.token:
        headers["authorization"] = f"Bearer {endpoint.token}"
    return headers
