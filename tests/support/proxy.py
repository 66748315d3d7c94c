"""A loopback TCP proxy that tests control, to put faults between client and engine.

    proxy = await FaultProxy.start("127.0.0.1", engine_port)
    client = create_client(proxy.endpoint)
    proxy.cut()          # drop every open connection (both sides see a reset)
    proxy.refuse = True  # close new connections at once (as if nothing listened)
    proxy.stall = True   # accept new connections but forward nothing
    await proxy.close()

It runs in the test's own event loop and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.refuse = False
        self.stall = False
        self.accepted = 0
        self._server: asyncio.AbstractServer | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, target_host: str, target_port: int) -> FaultProxy:
        proxy = cls(target_host, target_port)
        proxy._server = await asyncio.start_server(proxy._handle, "127.0.0.1", 0)
        return proxy

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    def cut(self) -> None:
        """Abort every proxied connection, as a network failure would."""
        for downstream, upstream in list(self._pairs):
            for writer in (downstream, upstream):
                if writer is not None:
                    _abort(writer)
        self._pairs.clear()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.refuse:
            _abort(writer)
            return
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]
        if self.stall:
            pair = (writer, None)
            self._pairs.add(pair)
            with contextlib.suppress(Exception):
                while await reader.read(65536):
                    pass  # swallow everything, answer nothing
            self._pairs.discard(pair)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(writer)
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(_pump(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:  # RST instead of FIN: a hard failure
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.transport.abort()
