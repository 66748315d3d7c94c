"""Keeping secrets out of logs: a filter that redacts tokens and connection params.

Our own log lines never contain them; the filter is for the libraries under the
native transport, which log request URLs (``httpx`` at INFO) and handshakes
(``websockets`` at DEBUG) carrying ``rvt-token=``, ``@token`` path segments,
``rivet_token.*``/``rivet_conn_params.*`` subprotocols and auth headers.
"""

from __future__ import annotations

import logging

from .protocol.endpoint import redact

__all__ = ["RedactingFilter", "install"]


class RedactingFilter(logging.Filter):
    """Redacts secrets in a record's formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as it is
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


_FILTER = RedactingFilter()


def install(*logger_names: str) -> logging.Logger:
    """Attach the filter to the named loggers (idempotent); returns the last one."""
    target = logging.getLogger()
    for name in logger_names:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
    return target
