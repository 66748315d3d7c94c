"""Stateful connections: one WebSocket to an actor, kept open, reopened when lost.

:class:`ActorConn` is what ``handle.connect()`` returns. It connects in the
background and, once the server's ``Init`` arrives, is ``connected``: actions travel
over the socket, events the user listens to (``on``/``once``) are subscribed, and
anything called before that is queued and sent in order.

What happens when the socket is lost (see the README's guarantees):

* status goes ``connected`` → ``disconnected`` → ``connecting`` (``on_close`` fires);
* actions already sent get :class:`~rivetkit_web.errors.ConnectionLost` (or the
  server's :class:`~rivetkit_web.errors.ActorError`) — never silently resent;
* actions called while reconnecting are queued and sent after the next ``Init``;
* the next attempt starts at once, later ones back off (250 ms doubling to 30 s,
  jittered); ``get_params`` is awaited before each attempt; every subscription is
  sent again after each ``Init``;
* each attempt is bounded (handshake and ``Init`` within ``connect_timeout``);
* only errors no retry can fix (the actor rejected the connection, bad params, an
  unknown namespace, a destroyed actor addressed by id) stop it: status ``idle``,
  ``on_error`` fires, queued and in-flight actions fail with that error.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from ._callbacks import CallbackSet, Unsubscribe, action_caller, call_listener
from .errors import (
    ActionTimeout,
    ActorError,
    ConnDisposed,
    ConnectionLost,
    ProtocolError,
    RivetError,
    TransportError,
    WebSocketClosed,
)
from .protocol.gateway import GetForId, connection_protocols, encode_conn_params, to_websocket_url
from .protocol.messages import (
    ActionRequest,
    ActionResponse,
    ErrorMessage,
    Event,
    Init,
    SubscriptionRequest,
    ToClient,
    ToServer,
)
from .protocol.retry import Backoff, is_fatal_connect_error, is_stale_actor, parse_close_reason

if TYPE_CHECKING:
    from .handle import ActorHandle, GetParams
    from .transport.base import WebSocketConnection

__all__ = ["ActorConn", "ConnStatus"]

logger = logging.getLogger("rivetkit_web")

ConnStatus = Literal["idle", "connecting", "connected", "disconnected"]

_STABLE_SECONDS = 1.0
"""A connection that lived at least this long reconnects at once when lost."""

_DEFAULT: Any = object()


class _Listener:
    __slots__ = ("callback", "once")

    def __init__(self, callback: Callable[..., Any], once: bool) -> None:
        self.callback = callback
        self.once = once


class ActorConn:
    """A stateful connection to one actor. Create it with ``handle.connect()``.

    Any attribute that is not one of the methods below is an action:
    ``await conn.increment(1)`` is ``await conn.action("increment", 1)``.
    """

    def __init__(
        self,
        handle: ActorHandle,
        params: Any,
        get_params: GetParams | None,
        skip_ready_wait: bool,
    ) -> None:
        loop = asyncio.get_running_loop()  # RuntimeError outside a running event loop
        self._handle = handle
        self._client = handle._client
        self._client._check_open()
        self._encoding = self._client._encoding
        self._params = params
        self._get_params = get_params
        self._skip_ready_wait = skip_ready_wait

        self._status: ConnStatus = "idle"
        self._disposed = False
        self._fatal: RivetError | None = None
        self.actor_id: str | None = None
        self.connection_id: str | None = None

        self._next_id = 0
        self._in_flight: dict[int, asyncio.Future[Any]] = {}
        # Action timeouts: one timer per connection for the earliest deadline, not one
        # per action (under Pyodide a cancelled timer's JS setTimeout stays pending).
        self._deadlines: dict[int, tuple[float, str, float]] = {}  # id -> (when, name, limit)
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweep_at = math.inf
        self._queued: list[tuple[int | None, str | bytes]] = []
        self._outbox: asyncio.Queue[str | bytes] | None = None
        self._ws: WebSocketConnection | None = None
        # The open socket while nothing waits in the outbox: actions are sent on it
        # at once (no hop through the writer task) and stay in order.
        self._direct: WebSocketConnection | None = None
        self._subscriptions: dict[str, list[_Listener]] = {}
        self._ready_waiters: list[asyncio.Future[None]] = []

        self._on_open = CallbackSet("on_open callback")
        self._on_close = CallbackSet("on_close callback")
        self._on_error = CallbackSet("on_error callback")
        self._on_status_change = CallbackSet("on_status_change callback")

        self._client._conns.add(self)
        self._set_status("connecting")
        self._task = loop.create_task(self._run())

    # ------------------------------------------------------------------ public state

    @property
    def status(self) -> ConnStatus:
        """``"idle"``, ``"connecting"``, ``"connected"`` or ``"disconnected"``."""
        return self._status

    @property
    def is_connected(self) -> bool:
        return self._status == "connected"

    @property
    def disposed(self) -> bool:
        return self._disposed

    @property
    def error(self) -> RivetError | None:
        """The error that stopped this connection for good, if any."""
        return self._fatal

    def __repr__(self) -> str:
        return f"<ActorConn {self._handle.name!r} status={self._status!r} actor_id={self.actor_id!r}>"

    # ------------------------------------------------------------------ callbacks

    def on_open(self, callback: Callable[[], Any]) -> Unsubscribe:
        """Call ``callback()`` each time the connection becomes ``connected``."""
        return self._on_open.add(callback)

    def on_close(self, callback: Callable[[], Any]) -> Unsubscribe:
        """Call ``callback()`` each time a ``connected`` connection is lost or disposed."""
        return self._on_close.add(callback)

    def on_error(self, callback: Callable[[ActorError], Any]) -> Unsubscribe:
        """Call ``callback(error)`` for connection-level errors (not per-action ones)."""
        return self._on_error.add(callback)

    def on_status_change(self, callback: Callable[[ConnStatus], Any]) -> Unsubscribe:
        """Call ``callback(status)`` on every status change."""
        return self._on_status_change.add(callback)

    # ------------------------------------------------------------------ events

    def on(self, event: str, callback: Callable[..., Any]) -> Unsubscribe:
        """Call ``callback(*args)`` for every ``event`` the actor sends.

        Returns the function that unsubscribes. Works before the connection is open.
        """
        return self._listen(event, callback, once=False)

    def once(self, event: str, callback: Callable[..., Any]) -> Unsubscribe:
        """Like :meth:`on`, for the next ``event`` only."""
        return self._listen(event, callback, once=True)

    async def events(self, event: str, *, max_queue: int = 1024) -> AsyncIterator[tuple[Any, ...]]:
        """Iterate over ``event``'s argument tuples: ``async for (count,) in conn.events("newCount")``.

        Ends when the connection is disposed. If more than ``max_queue`` events wait
        unread, the oldest are dropped (and a warning logged).
        """
        queue: asyncio.Queue[tuple[Any, ...] | None] = asyncio.Queue()

        def push(*args: Any) -> None:
            if queue.qsize() >= max_queue:
                queue.get_nowait()
                logger.warning("event iterator for %r is full; dropping the oldest event", event)
            queue.put_nowait(args)

        unsubscribe = self.on(event, push)
        stop_disposed = self._on_status_change.add(
            lambda status: queue.put_nowait(None) if self._disposed else None
        )
        try:
            while not self._disposed or not queue.empty():
                item = await queue.get()
                if item is None:
                    return
                yield item
        finally:
            unsubscribe()
            stop_disposed()

    def _listen(self, event: str, callback: Callable[..., Any], *, once: bool) -> Unsubscribe:
        if not isinstance(event, str) or not event:
            raise TypeError("event name must be a non-empty str")
        if not callable(callback):
            raise TypeError("event callback must be callable")
        listener = _Listener(callback, once)
        listeners = self._subscriptions.get(event)
        if listeners is None:
            listeners = self._subscriptions[event] = []
            self._send(SubscriptionRequest(event, True), ephemeral=True)
        listeners.append(listener)

        def unsubscribe() -> None:
            self._remove_listener(event, listener)

        return unsubscribe

    def _remove_listener(self, event: str, listener: _Listener) -> None:
        listeners = self._subscriptions.get(event)
        if listeners is None or listener not in listeners:
            return
        listeners.remove(listener)
        if not listeners:
            del self._subscriptions[event]
            self._send(SubscriptionRequest(event, False), ephemeral=True)

    # ------------------------------------------------------------------ actions

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_"):
            raise AttributeError(name)
        return action_caller(self.action, name)

    async def action(self, name: str, *args: Any, timeout: float | None = _DEFAULT) -> Any:
        """Call action ``name`` over the connection and return its output.

        Queued until connected. ``timeout`` (default: the client's) bounds the whole
        wait and raises :class:`ActionTimeout`. Raises ``TypeError`` before sending for
        args the wire cannot carry.
        """
        if not isinstance(name, str) or not name:
            raise TypeError("action name must be a non-empty str")
        if self._disposed:
            raise ConnDisposed()
        if self._fatal is not None:
            raise self._fatal
        action_id = self._next_id
        frame = self._encoding.encode_to_server(ActionRequest(action_id, name, list(args)))
        self._next_id += 1
        loop = asyncio.get_running_loop()
        # Not loop.create_future(): Pyodide's WebLoop adds a done callback (one more
        # scheduled task per action) to those.
        future: asyncio.Future[Any] = asyncio.Future(loop=loop)
        self._in_flight[action_id] = future
        limit = self._client._timeout if timeout is _DEFAULT else timeout
        if limit is not None:  # a deadline, not asyncio.wait_for: one loop hop less per call
            when = loop.time() + limit
            self._deadlines[action_id] = (when, name, limit)
            if when < self._sweep_at:
                self._arm_sweeper(loop, when)
        try:
            ws = self._direct
            if ws is None:
                self._send_frame(frame, action_id)
            else:
                try:
                    await ws.send(frame)
                except WebSocketClosed:
                    pass  # the reader sees the close; the action fails with the others sent
            return await future
        finally:
            if limit is not None:
                self._deadlines.pop(action_id, None)
            self._in_flight.pop(action_id, None)
            if self._queued:
                self._queued = [item for item in self._queued if item[0] != action_id]

    def _arm_sweeper(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._sweep_at = when
        self._sweeper = loop.call_at(when, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Fail the actions whose deadline passed; wait for the next deadline."""
        self._sweeper = None
        self._sweep_at = math.inf
        now = loop.time() + 0.001  # timers may fire a hair early
        next_at = math.inf
        for action_id, (when, name, limit) in list(self._deadlines.items()):
            if when <= now:
                del self._deadlines[action_id]
                future = self._in_flight.get(action_id)
                if future is not None and not future.done():
                    future.set_exception(ActionTimeout(f"action {name!r} got no response within {limit} s"))
            elif when < next_at:
                next_at = when
        if next_at < math.inf:
            self._arm_sweeper(loop, next_at)

    # ------------------------------------------------------------------ lifecycle

    async def ready(self, timeout: float | None = None) -> None:
        """Wait until the connection is ``connected``.

        Raises the connection's error if it stopped for good, :class:`ConnDisposed`
        if it was disposed, ``TimeoutError`` after ``timeout`` seconds.
        """
        if self._status == "connected":
            return
        self._raise_if_stopped()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ready_waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        finally:
            if waiter in self._ready_waiters:
                self._ready_waiters.remove(waiter)

    def _raise_if_stopped(self) -> None:
        if self._fatal is not None:
            raise self._fatal
        if self._disposed:
            raise ConnDisposed()

    async def dispose(self) -> None:
        """Close the connection for good. Idempotent.

        Status becomes ``idle`` (``on_close`` fires if it was connected), the socket is
        closed with 1000 ``Disposed``, and pending actions fail with
        :class:`ConnDisposed`.
        """
        if self._disposed:
            return
        self._disposed = True
        self._client._conns.discard(self)
        self._set_status("idle")
        ws, self._ws = self._ws, None  # before the task ends and forgets it
        task = self._task
        if task is not asyncio.current_task() and not task.done():
            task.cancel()
            try:
                await task
            except BaseException:  # noqa: BLE001 - the task's end is not our error
                pass
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(1000, "Disposed"), 2.0)
            except (asyncio.TimeoutError, RivetError, OSError):
                pass
        self._reject_all(ConnDisposed())
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._on_open.clear()
        self._on_close.clear()
        self._on_error.clear()
        self._on_status_change.clear()

    async def __aenter__(self) -> ActorConn:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()

    # ------------------------------------------------------------------ internals: state

    def _set_status(self, status: ConnStatus) -> None:
        previous = self._status
        if previous == status:
            return
        self._status = status
        logger.debug("connection to %s: %s -> %s", self._handle.name, previous, status)
        self._on_status_change.emit(status)
        if status == "connected":
            for waiter in self._ready_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._on_open.emit()
        elif previous == "connected":
            self._on_close.emit()

    def _send(self, message: ToServer, *, ephemeral: bool = False) -> None:
        frame = self._encoding.encode_to_server(message)
        if ephemeral and self._status != "connected":
            return  # subscriptions are sent again after every Init
        self._send_frame(frame, None)

    def _send_frame(self, frame: str | bytes, action_id: int | None) -> None:
        if self._status == "connected" and self._outbox is not None:
            self._direct = None  # later frames queue behind this one until the writer drains
            self._outbox.put_nowait(frame)
        else:
            self._queued.append((action_id, frame))

    def _reject_all(self, error: BaseException) -> None:
        self._queued.clear()
        for future in self._in_flight.values():
            if not future.done():
                future.set_exception(error)
        self._in_flight.clear()
        for waiter in self._ready_waiters:
            if not waiter.done():
                waiter.set_exception(error)

    def _reject_sent(self, error: BaseException) -> None:
        """Fail every action already handed to a socket; queued ones stay queued."""
        queued_ids = {action_id for action_id, _ in self._queued}
        for action_id, future in list(self._in_flight.items()):
            if action_id not in queued_ids and not future.done():
                future.set_exception(error)

    def _fail(self, error: RivetError) -> None:
        """Stop for good: nothing retried can succeed."""
        logger.warning("connection to %s stopped: %s", self._handle.name, error)
        self._fatal = error
        self._reject_all(error)
        if isinstance(error, ActorError):
            self._on_error.emit(error)
        self._set_status("idle")

    # ------------------------------------------------------------------ internals: loop

    async def _run(self) -> None:
        backoff = Backoff()
        try:
            while not self._disposed:
                try:
                    ws = await self._open()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - classified below
                    error = _as_rivet_error(exc)
                    if self._is_fatal(exc):
                        self._fail(error)
                        return
                    if isinstance(error, ActorError) and is_stale_actor(error.group, error.code):
                        self._handle._forget_resolution()  # a cached id of a destroyed actor
                    delay = backoff.next_delay()
                    logger.info(
                        "connection to %s failed (%s); retrying in %.2f s", self._handle.name, error, delay
                    )
                    self._set_status("disconnected")
                    await asyncio.sleep(delay)
                    self._set_status("connecting")
                    continue
                opened = time.monotonic()
                closed = await self._serve(ws)
                if self._disposed:
                    return
                lost_with = self._socket_lost(closed)
                if lost_with is not None and self._is_fatal(lost_with):
                    self._fail(lost_with)
                    return
                if time.monotonic() - opened >= _STABLE_SECONDS:
                    backoff.reset()
                else:  # the server keeps dropping us: do not hammer it
                    self._set_status("disconnected")
                    await asyncio.sleep(backoff.next_delay())
                self._set_status("connecting")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must not leave the status stuck
            logger.exception("connection loop for %s crashed", self._handle.name)
            self._fail(_as_rivet_error(exc))
        finally:
            self._outbox = None
            self._direct = None

    async def _resolve_params(self) -> Any:
        if self._get_params is None:
            return self._params
        try:
            result = self._get_params()
            if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
                result = await result
            return result
        except Exception as exc:
            error = ActorError(
                "client",
                "get_params_failed",
                f"Failed to resolve connection params: {type(exc).__name__}",
                {"error": type(exc).__name__},
            )
            self._on_error.emit(error)
            raise error from exc

    async def _open(self) -> WebSocketConnection:
        """One connection attempt: resolve, open the socket and wait for ``Init``.

        Everything after ``get_params`` shares one deadline of ``connect_timeout``.
        """
        params = await self._resolve_params()
        conn_params = encode_conn_params(params) if params is not None else None
        timeout = self._client._connect_timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            url = await asyncio.wait_for(
                self._handle.gateway_url("/connect", skip_ready_wait=self._skip_ready_wait), timeout
            )
        except asyncio.TimeoutError:
            raise TransportError(f"no connection within {timeout} s", timeout=True) from None
        ws = await self._client._transport.open_websocket(
            to_websocket_url(url),
            protocols=connection_protocols(self._encoding.name, conn_params,
                                           skip_ready_wait=self._skip_ready_wait),
            timeout=max(deadline - loop.time(), 0.001),
        )
        try:
            try:
                frame = await asyncio.wait_for(ws.recv(), max(deadline - loop.time(), 0.001))
            except asyncio.TimeoutError:
                raise TransportError(
                    f"the server sent no Init within {timeout} s", timeout=True
                ) from None
            except WebSocketClosed as closed:
                raise _close_error(closed) from None
            message = self._encoding.decode_to_client(frame)
            if isinstance(message, ErrorMessage):
                raise _error_from_message(message)
            if not isinstance(message, Init):
                raise ProtocolError(f"expected Init, got {type(message).__name__}")
        except BaseException:
            await _close_quietly(ws, 1000, "")
            raise
        self._connected(ws, message)
        return ws

    def _connected(self, ws: WebSocketConnection, init: Init) -> None:
        if self._disposed:
            raise ConnDisposed()
        self.actor_id = init.actor_id
        self.connection_id = init.connection_id
        self._ws = ws
        outbox: asyncio.Queue[str | bytes] = asyncio.Queue()
        for event in self._subscriptions:
            outbox.put_nowait(self._encoding.encode_to_server(SubscriptionRequest(event, True)))
        for _, frame in self._queued:
            outbox.put_nowait(frame)
        self._queued.clear()
        self._outbox = outbox
        self._direct = ws if outbox.empty() else None
        logger.debug("connected to %s (actor %s)", self._handle.name, init.actor_id)
        self._set_status("connected")

    async def _serve(self, ws: WebSocketConnection) -> Exception:
        """Pump the socket until it closes; returns why it closed."""
        assert self._outbox is not None
        writer = asyncio.ensure_future(self._write(ws, self._outbox))
        try:
            while True:
                try:
                    frame = await ws.recv()
                except WebSocketClosed as closed:
                    return closed
                except Exception as exc:  # noqa: BLE001 - a broken transport is a lost socket
                    logger.warning("receiving from %s failed: %r", self._handle.name, exc)
                    await _close_quietly(ws, 1011, "receive failed")
                    return exc
                try:
                    message = self._encoding.decode_to_client(frame)
                except ProtocolError as exc:
                    logger.warning("closing connection to %s: %s", self._handle.name, exc)
                    await _close_quietly(ws, 1002, "protocol error")
                    return exc
                self._dispatch(message)
        finally:
            writer.cancel()
            self._outbox = None
            self._direct = None
            if self._ws is ws:
                self._ws = None

    async def _write(self, ws: WebSocketConnection, outbox: asyncio.Queue[str | bytes]) -> None:
        """Send what waits in the outbox, in order; once it is empty, let actions
        send directly again."""
        try:
            while True:
                frame = await outbox.get()
                await ws.send(frame)
                if outbox.empty() and self._outbox is outbox:
                    self._direct = ws
        except WebSocketClosed:
            pass  # the reader sees the close and handles it
        except Exception:  # noqa: BLE001
            logger.exception("error while sending on a connection")
            self._direct = None
            await _close_quietly(ws, 1011, "send failed")

    def _dispatch(self, message: ToClient) -> None:
        if isinstance(message, ActionResponse):
            future = self._in_flight.pop(message.id, None)
            if future is not None and not future.done():
                future.set_result(message.output)
            elif future is None:
                logger.debug("response for unknown action id %s", message.id)
        elif isinstance(message, Event):
            self._dispatch_event(message)
        elif isinstance(message, ErrorMessage):
            error = _error_from_message(message)
            if message.action_id is not None:
                future = self._in_flight.pop(message.action_id, None)
                if future is not None and not future.done():
                    future.set_exception(error)
                return
            logger.warning("connection error from %s: %s", self._handle.name, error)
            for future in self._in_flight.values():
                if not future.done():
                    future.set_exception(error)
            self._in_flight.clear()
            self._on_error.emit(error)
        else:  # a second Init: the server reset the connection state
            self.actor_id = message.actor_id
            self.connection_id = message.connection_id

    def _dispatch_event(self, event: Event) -> None:
        listeners = self._subscriptions.get(event.name)
        if not listeners:
            return
        if len(listeners) == 1 and not listeners[0].once:  # the common case: no copy
            call_listener(listeners[0].callback, event.args, event.name)
            return
        for listener in list(listeners):
            if listener.once:
                self._remove_listener(event.name, listener)
            call_listener(listener.callback, event.args, event.name)

    def _socket_lost(self, closed: Exception) -> RivetError | None:
        """Bookkeeping when a connected socket closes; returns the error it carried."""
        error: RivetError
        if isinstance(closed, WebSocketClosed):
            error = _close_error(closed)
        elif isinstance(closed, RivetError):
            error = closed
        else:
            error = ConnectionLost(1006, type(closed).__name__)
        logger.info("connection to %s lost: %s", self._handle.name, error)
        self._set_status("disconnected")
        self._reject_sent(error)
        if isinstance(error, ActorError):
            if is_stale_actor(error.group, error.code):
                self._handle._forget_resolution()
            self._on_error.emit(error)
            return error
        return None

    def _is_fatal(self, exc: BaseException) -> bool:
        if isinstance(exc, (TypeError, ValueError, ConnDisposed)):
            return True
        if isinstance(exc, ActorError):
            if exc.group == "client":
                return exc.code != "get_params_failed" and exc.code != "http_error"
            if is_fatal_connect_error(exc.group, exc.code):
                return True
            gone = exc.group == "actor" and (exc.code == "not_found" or exc.code.startswith("destroyed_"))
            return gone and isinstance(self._handle._query, GetForId)
        if isinstance(exc, TransportError) and exc.status is not None:
            return 400 <= exc.status < 500 and exc.status not in (404, 408, 425, 429)
        return False


async def _close_quietly(ws: WebSocketConnection, code: int, reason: str) -> None:
    try:
        await asyncio.wait_for(ws.close(code, reason), 2.0)
    except Exception:  # noqa: BLE001
        pass


def _close_error(closed: WebSocketClosed) -> RivetError:
    """The error for a socket that closed: structured reasons become ActorError."""
    parsed = parse_close_reason(closed.reason)
    if parsed is not None:
        return ActorError(
            parsed.group, parsed.code, f"Connection closed: {closed.reason}", ray_id=parsed.ray_id
        )
    return ConnectionLost(closed.code, closed.reason)


def _error_from_message(message: ErrorMessage) -> ActorError:
    return ActorError(message.group, message.code, message.message, message.metadata, actor=message.actor)


def _as_rivet_error(exc: BaseException) -> RivetError:
    if isinstance(exc, RivetError):
        return exc
    return ActorError(
        "client", "connection_open_failed", f"Failed to open connection: {type(exc).__name__}: {exc}"
    )
