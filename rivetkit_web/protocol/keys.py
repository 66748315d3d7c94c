"""Actor keys: validation and the two ways the server spells them.

A key is a tuple of strings. Users may pass a list/tuple of ``str``, one ``str``
(a one-part key) or ``None`` (the empty key).

* :func:`serialize_key` is the engine REST API's form (``serializeActorKey``): each
  part escapes ``\\`` then ``/``, the empty part is ``\\0``, parts are joined with
  ``/``, and the empty key is ``/``. It is injective: distinct keys, distinct strings.
* :func:`query_key` is the ``rvt-key`` form of gateway query URLs: parts joined with
  ``,`` and no escaping (that is what the engine parses). It cannot tell ``["a,b"]``
  from ``["a","b"]``, so it returns ``None`` for every key it cannot carry without
  ambiguity, and the client resolves such keys through the REST API instead.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ActorKey", "normalize_key", "query_key", "serialize_key"]

ActorKey = tuple[str, ...]

def normalize_key(key: Sequence[str] | str | None) -> ActorKey:
    """Validate ``key`` and return it as a tuple of strings.

    Raises ``TypeError`` for anything but ``None``, a ``str`` or a sequence of ``str``.
    Length is the engine's business (a local engine took 3,000-byte parts).
    """
    if key is None:
        return ()
    if isinstance(key, str):
        parts: tuple[str, ...] = (key,)
    elif isinstance(key, (bytes, bytearray)) or not isinstance(key, Sequence):
        raise TypeError(
            f"actor key must be a str, a list of str or None, not {type(key).__name__}"
        )
    else:
        parts = tuple(key)
        for i, part in enumerate(parts):
            if not isinstance(part, str):
                raise TypeError(
                    f"actor key part {i} must be a str, not {type(part).__name__}"
                )
    return parts


def serialize_key(key: ActorKey) -> str:
    """The engine's canonical string for ``key`` (``serializeActorKey``)."""
    if not key:
        return "/"
    return "/".join(
        "\\0" if part == "" else part.replace("\\", "\\\\").replace("/", "\\/") for part in key
    )


def query_key(key: ActorKey) -> str | None:
    """The ``rvt-key`` value for ``key``, or ``None`` when that form would be ambiguous.

    Ambiguous: the empty key (``rvt-key`` is then omitted, which the engine reads the
    same way), parts that contain ``,`` and empty parts. ``()`` returns ``""`` (omit).
    """
    if not key:
        return ""
    for part in key:
        if part == "" or "," in part:
            return None
    return ",".join(key)
