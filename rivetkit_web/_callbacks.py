"""Calling user callbacks safely: sync or async, errors logged, never propagated."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

__all__ = ["CallbackSet", "Unsubscribe", "action_caller", "call_listener", "call_safely"]

logger = logging.getLogger("rivetkit_web")

Unsubscribe = Callable[[], None]

_background: set[asyncio.Task[Any]] = set()


def call_safely(callback: Callable[..., Any], *args: Any, what: str = "callback") -> None:
    """Call ``callback(*args)``; if it returns an awaitable, run it as a task.

    An exception from the callback (or its task) is logged under ``rivetkit_web`` and
    goes no further: one broken handler must not break the connection. ``what``
    names the callback in that log line.
    """
    _call(callback, args, "%s", what)


def call_listener(callback: Callable[..., Any], args: Sequence[Any], event: str) -> None:
    """:func:`call_safely` for an event listener, on the hot path of every event:
    the log description (``'<event>' event callback``) is built only on error."""
    _call(callback, args, "%r event callback", event)


def _call(callback: Callable[..., Any], args: Sequence[Any], what_format: str, what_arg: Any) -> None:
    """Both of the above; the description is ``what_format % what_arg``, formatted only
    when it is needed (an error, or a task to name)."""
    try:
        result = callback(*args)
    except Exception:
        logger.exception("error in " + what_format, what_arg)
        return
    if result is not None and inspect.isawaitable(result):
        _run_in_background(result, what_format % what_arg)


def _run_in_background(awaitable: Awaitable[Any], what: str) -> None:
    task = asyncio.ensure_future(awaitable)
    _background.add(task)
    task.add_done_callback(lambda t: _finish(t, what))


def _finish(task: asyncio.Task[Any], what: str) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("error in %s", what, exc_info=task.exception())


class CallbackSet:
    """An ordered set of callbacks; ``add`` returns the function that removes one."""

    __slots__ = ("_callbacks", "_what")

    def __init__(self, what: str) -> None:
        self._callbacks: list[Callable[..., Any]] = []
        self._what = what

    def add(self, callback: Callable[..., Any]) -> Unsubscribe:
        if not callable(callback):
            raise TypeError(f"{self._what} must be callable, not {type(callback).__name__}")
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            try:
                self._callbacks.remove(callback)
            except ValueError:
                pass

        return unsubscribe

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            call_safely(callback, *args, what=self._what)

    def clear(self) -> None:
        self._callbacks.clear()

    def __len__(self) -> int:
        return len(self._callbacks)


def action_caller(
    action: Callable[..., Awaitable[Any]], name: str
) -> Callable[..., Awaitable[Any]]:
    """``await handle.increment(1)``: the coroutine function behind an action attribute."""

    async def call_action(*args: Any) -> Any:
        return await action(name, *args)

    call_action.__name__ = call_action.__qualname__ = name
    return call_action
