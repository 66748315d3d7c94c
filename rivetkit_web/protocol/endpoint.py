"""Where the client talks to: endpoint URL, namespace, token, pool.

:func:`parse_endpoint` accepts what the JS client accepts: ``http(s)://host[:port][/base]``,
optionally with URL auth ``https://namespace:token@host`` or ``https://namespace@host``
(percent-decoded, then removed from the URL). A query string or fragment, a token
without a namespace, or credentials given both in the URL and as arguments raise
``ValueError``. The result never prints the token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import re
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["DEFAULT_ENDPOINT", "Endpoint", "parse_endpoint", "redact", "redact_url"]



DEFAULT_ENDPOINT = "http://localhost:6420"


@dataclass(frozen=True)
class Endpoint:
    """A parsed endpoint. ``base_url`` has no credentials and no trailing ``/``."""

    base_url: str
    namespace: str = "default"
    token: str | None = field(default=None, repr=False)
    pool: str = "default"

    def __repr__(self) -> str:
        token = ", token=<redacted>" if self.token else ""
        return f"Endpoint({self.base_url!r}, namespace={self.namespace!r}{token})"

    def url(self, path: str) -> str:
        """``base_url`` joined with an absolute ``path`` (which may carry a query)."""
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path


def parse_endpoint(
    endpoint: str,
    *,
    namespace: str | None = None,
    token: str | None = None,
    pool: str | None = None,
) -> Endpoint:
    """Parse ``endpoint`` and merge the separately given namespace/token/pool.

    Raises ``TypeError`` if ``endpoint`` is not a str and ``ValueError`` if it is not
    a usable http(s) URL.
    """
    if not isinstance(endpoint, str):
        raise TypeError(f"endpoint must be a str, not {type(endpoint).__name__}")
    for name, value in (("namespace", namespace), ("token", token), ("pool", pool)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    # Error messages never repeat the endpoint: a mis-escaped token would show in it.
    try:
        parts = urlsplit(endpoint.strip())
        port = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise ValueError(
            "invalid endpoint URL: bad host or port (percent-encode any '/', '?', '#' or '@' "
            "in a namespace or token)"
        ) from None
    if parts.scheme not in ("http", "https", "ws", "wss"):
        raise ValueError("invalid endpoint URL: the scheme must be http or https")
    if not parts.hostname:
        raise ValueError("invalid endpoint URL: no host")
    if parts.query:
        raise ValueError("endpoint cannot contain a query string")
    if parts.fragment:
        raise ValueError("endpoint cannot contain a fragment")

    url_namespace = unquote(parts.username) if parts.username else None
    url_token = unquote(parts.password) if parts.password else None
    if url_token and not url_namespace:
        raise ValueError("endpoint cannot have a token without a namespace")
    if url_namespace and namespace:
        raise ValueError(
            "cannot specify namespace both in the endpoint URL and as a separate option"
        )
    if url_token and token:
        raise ValueError("cannot specify token both in the endpoint URL and as a separate option")

    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    path = parts.path.rstrip("/")
    base_url = urlunsplit((scheme, netloc, path, "", ""))
    return Endpoint(
        base_url=base_url,
        namespace=url_namespace or namespace or "default",
        token=url_token or token or None,
        pool=pool or "default",
    )


_SECRETS = [
    (re.compile(r"(rvt-token=)[^&#\s'\"]*"), r"\1***"),
    (re.compile(r"(/gateway/[^/@?#\s]+)@[^/?#\s'\"]*"), r"\1@***"),
    (re.compile(r"(rivet_token\.)[^,\s'\"]*"), r"\1***"),
    (re.compile(r"(rivet_conn_params\.)[^,\s'\"]*"), r"\1***"),
    (re.compile(r"(?i)((?:x-rivet-token|x-rivet-conn-params|authorization):\s*)[^\r\n]*"), r"\1***"),
    (re.compile(r"(://[^:/@\s]*:)[^/\s]*@"), r"\1***@"),
]


def redact(text: str) -> str:
    """``text`` with every token and connection-params value in it replaced by ``***``:
    URL passwords, ``rvt-token=``, ``/gateway/{id}@{token}``, the ``rivet_token.*`` and
    ``rivet_conn_params.*`` subprotocols and the auth headers."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


redact_url = redact
