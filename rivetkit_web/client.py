"""The client: configuration, the shared transport, and the way to actors.

``create_client()`` returns a :class:`Client`; ``client.<actorName>`` (or
``client.actor(name)``) returns an :class:`~rivetkit_web.handle.ActorAccessor`.
The client owns one transport (pooled HTTP connections) and tracks every open
connection so that :meth:`Client.dispose` closes them all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from .errors import ActorError, ProtocolError, TransportError
from .protocol.encoding import Encoding, decode_http_error, get_encoding
from .protocol.endpoint import DEFAULT_ENDPOINT, Endpoint, parse_endpoint, redact_url
from .transport import Transport, default_transport
from .transport.base import HttpResponse

if TYPE_CHECKING:
    from .connection import ActorConn
    from .handle import ActorAccessor

__all__ = ["Client", "create_client"]

logger = logging.getLogger("rivetkit_web")


class Client:
    """A RivetKit client. Create it with :func:`create_client`.

    Attribute access returns an accessor for the actor of that name, spelled exactly
    as the backend registered it: ``client.chatRoom``. Names that collide with this
    class's own attributes (or start with ``_``) are reached with
    ``client.actor(name)``.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        encoding: Encoding,
        transport: Transport,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 60.0,
        connect_timeout: float = 15.0,
        skip_ready_wait: bool = False,
        disable_metadata_lookup: bool = False,
    ) -> None:
        self._endpoint = endpoint
        self._encoding = encoding
        self._transport = transport
        self._headers = dict(headers or {})
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._skip_ready_wait = skip_ready_wait
        self._metadata_done = disable_metadata_lookup
        self._metadata_lock: asyncio.Lock | None = None
        self._conns: set[ActorConn] = set()
        self._disposed = False

    # ------------------------------------------------------------------ public

    @property
    def endpoint(self) -> str:
        """The endpoint URL in use (without credentials)."""
        return self._endpoint.base_url

    @property
    def namespace(self) -> str:
        return self._endpoint.namespace

    @property
    def encoding(self) -> str:
        return self._encoding.name

    @property
    def disposed(self) -> bool:
        return self._disposed

    def actor(self, name: str) -> ActorAccessor:
        """The accessor for actors registered as ``name``."""
        from .handle import ActorAccessor

        if not isinstance(name, str) or not name:
            raise TypeError("actor name must be a non-empty str")
        return ActorAccessor(self, name)

    def __getattr__(self, name: str) -> ActorAccessor:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.actor(name)

    async def dispose(self) -> None:
        """Dispose every connection of this client and release its HTTP pool.

        Idempotent. Handles keep working only until the transport is closed.
        """
        if self._disposed:
            return
        self._disposed = True
        conns = list(self._conns)
        await asyncio.gather(*(conn.dispose() for conn in conns), return_exceptions=True)
        await self._transport.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()

    def __repr__(self) -> str:
        return (
            f"<Client endpoint={self._endpoint.base_url!r} "
            f"namespace={self._endpoint.namespace!r} encoding={self._encoding.name!r}>"
        )

    # ------------------------------------------------------------------ internal

    def _check_open(self) -> None:
        if self._disposed:
            raise RuntimeError("this client has been disposed")

    async def _ensure_metadata(self) -> None:
        """Follow the engine's ``/metadata`` redirect once (serverless deployments).

        A deployment whose endpoint is an app route answers ``/metadata`` with the
        ``clientEndpoint`` to use for everything else. Failures here are not fatal:
        the request that follows reports the real problem.
        """
        if self._metadata_done:
            return
        if self._metadata_lock is None:
            self._metadata_lock = asyncio.Lock()
        async with self._metadata_lock:
            if self._metadata_done:
                return
            from .protocol.gateway import rest_headers

            url = self._endpoint.url(f"/metadata?namespace={_quote(self._endpoint.namespace)}")
            try:
                response = await self._transport.request(
                    "GET", url, headers={**self._headers, **rest_headers(self._endpoint)},
                    timeout=self._connect_timeout,
                )
            except TransportError as exc:
                logger.debug("metadata lookup failed: %s", exc)
                return  # try again next time; the caller's request reports the failure
            self._metadata_done = True
            if response.status != 200:
                return
            try:
                data = json.loads(response.body)
            except ValueError:
                return
            client_endpoint = data.get("clientEndpoint") if isinstance(data, dict) else None
            if isinstance(client_endpoint, str) and client_endpoint:
                try:
                    redirected = parse_endpoint(client_endpoint)
                except (TypeError, ValueError):
                    logger.warning("ignoring invalid clientEndpoint from /metadata")
                    return
                namespace = data.get("clientNamespace") or redirected.namespace
                if redirected.namespace == "default" and not data.get("clientNamespace"):
                    namespace = self._endpoint.namespace
                token = data.get("clientToken") or redirected.token or self._endpoint.token
                self._endpoint = Endpoint(
                    redirected.base_url, namespace, token, self._endpoint.pool
                )
                logger.info("using client endpoint %s from /metadata", redacted(self._endpoint))

    async def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        self._check_open()
        logger.debug("%s %s", method, redact_url(url))
        return await self._transport.request(
            method,
            url,
            headers={**self._headers, **headers},
            body=body,
            timeout=self._timeout if timeout is None else timeout,
        )

    async def _rest(self, method: str, path: str, body: bytes | None = None) -> Any:
        """An engine REST call; returns the decoded JSON or raises ActorError."""
        from .protocol.gateway import rest_headers

        await self._ensure_metadata()
        response = await self._request(
            method,
            self._endpoint.url(path),
            headers=rest_headers(self._endpoint, json_body=body is not None),
            body=body,
        )
        if 200 <= response.status < 300:
            try:
                return json.loads(response.body)
            except ValueError as exc:
                raise ProtocolError(f"invalid JSON from {method} {path.split('?')[0]}") from exc
        raise http_error(self._encoding, response)


def http_error(encoding: Encoding, response: HttpResponse) -> ActorError:
    """The error to raise for a non-2xx response."""
    try:
        return decode_http_error(encoding, response.status, response.headers, response.body)
    except ProtocolError:
        snippet = response.body[:200].decode("utf-8", "replace")
        return ActorError(
            "client",
            "http_error",
            f"HTTP {response.status}: {snippet}" if snippet else f"HTTP {response.status}",
            status=response.status,
        )


def redacted(endpoint: Endpoint) -> str:
    return f"{endpoint.base_url} (namespace {endpoint.namespace})"


def _quote(text: str) -> str:
    return quote(text, safe="")


def create_client(
    endpoint: str | None = None,
    *,
    namespace: str | None = None,
    token: str | None = None,
    encoding: str = "json",
    headers: Mapping[str, str] | None = None,
    pool: str | None = None,
    timeout: float | None = 60.0,
    connect_timeout: float = 15.0,
    skip_ready_wait: bool = False,
    disable_metadata_lookup: bool = False,
    transport: Transport | None = None,
) -> Client:
    """Create a client, like ``createClient`` of ``rivetkit/client``.

    ``endpoint`` defaults to ``$RIVET_ENGINE``, then ``$RIVET_ENDPOINT``, then
    ``http://localhost:6420``. It may carry credentials as
    ``https://namespace:token@host``. ``namespace``/``token``/``pool`` default to
    ``$RIVET_NAMESPACE``, ``$RIVET_TOKEN``, ``$RIVET_POOL`` (or ``$RIVET_RUNNER``).

    ``encoding`` is the wire encoding: ``"json"``, ``"cbor"`` or ``"bare"``.
    ``headers`` are added to every HTTP request (browsers cannot add headers to
    WebSockets, so they are not sent there). ``timeout`` bounds each HTTP request and
    each action over a connection; ``connect_timeout`` bounds opening a connection
    (handshake and the server's ``Init``) before it is retried.

    Raises ``ValueError`` for a malformed endpoint or an unknown encoding and
    ``TypeError`` for arguments of the wrong type — before anything is sent.
    """
    env = os.environ
    if endpoint is None:
        endpoint = env.get("RIVET_ENGINE") or env.get("RIVET_ENDPOINT") or DEFAULT_ENDPOINT
    encoding_impl = get_encoding(encoding)
    if headers is not None:
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise TypeError("headers must be a mapping of str to str")
    for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise TypeError(f"{name} must be a number of seconds")
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive")
    url_credentials = parse_endpoint(endpoint)  # validates before the env is consulted
    if namespace is None and not urlsplit(endpoint.strip()).username:
        namespace = env.get("RIVET_NAMESPACE") or None
    if token is None and url_credentials.token is None:
        token = env.get("RIVET_TOKEN") or None
    if pool is None:
        pool = env.get("RIVET_POOL") or env.get("RIVET_RUNNER") or None
    resolved = parse_endpoint(endpoint, namespace=namespace, token=token, pool=pool)
    return Client(
        resolved,
        encoding=encoding_impl,
        transport=transport or default_transport(connect_timeout=connect_timeout),
        headers=headers,
        timeout=timeout,
        connect_timeout=float(connect_timeout),
        skip_ready_wait=skip_ready_wait,
        disable_metadata_lookup=disable_metadata_lookup,
    )
