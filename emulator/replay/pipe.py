"""In-process connections: two asyncio protocols joined by a pair of transports, no socket between.

The replay's emulator, its built-in client's webhook receiver and the client's API calls all live
in one event loop, so the bytes of their HTTP/1.1 exchanges can go from one protocol to the other
without the kernel: on a 2-core machine a loopback round trip through sockets costs more CPU than
the emulator spends handling the request. Everything above the transport is what a socket would
feed: the same request and response bytes, the same parsers, the same keep-alive. Bytes written
arrive at the peer on a later turn of the loop (never inside the writer's call), in order; closing
one end delivers what was written before it, then ends both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["PipeTransport", "join"]

_PEER = ("127.0.0.1", 0)  # what `peername` / `sockname` answer: the replay's own process


class PipeTransport(asyncio.Transport):
    """One end of an in-process connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self._loop = loop
        self._protocol = protocol
        self.peer: PipeTransport | None = None
        self._inbox: list[bytes] = []  # written by the peer, not yet handed to our protocol
        self._scheduled = False
        self._paused = False
        self._closing = False
        self._lost = False

    # -- writing: the peer reads it on a later turn of the loop ------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        peer = self.peer
        if self._closing or peer is None or peer._closing or not data:
            return
        peer._inbox.append(bytes(data))
        peer._schedule()

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (0, 0)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass  # nothing is ever buffered on the writing side

    # -- reading ---------------------------------------------------------------------------
    def _schedule(self) -> None:
        if not self._scheduled and not self._paused:
            self._scheduled = True
            self._loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        self._scheduled = False
        if self._lost or self._paused or not self._inbox:
            return
        data = self._inbox[0] if len(self._inbox) == 1 else b"".join(self._inbox)
        self._inbox.clear()
        self._protocol.data_received(data)

    def pause_reading(self) -> None:
        self._paused = True

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            if self._inbox:
                self._schedule()

    def is_reading(self) -> bool:
        return not self._paused and not self._closing

    # -- closing ---------------------------------------------------------------------------
    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """End both sides once what was written so far has been read."""
        if self._closing:
            return
        self._closing = True
        peer = self.peer
        self._loop.call_soon(self._end)
        if peer is not None and not peer._closing:
            peer._closing = True
            self._loop.call_soon(peer._end)

    def abort(self) -> None:
        self._inbox.clear()
        if self.peer is not None:
            self.peer._inbox.clear()
        self.close()

    def _end(self) -> None:
        if self._lost:
            return
        if self._inbox and not self._paused:
            self._deliver()
        self._lost = True
        self._inbox.clear()
        self._protocol.connection_lost(None)

    # -- the rest of the transport interface ------------------------------------------------
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in ("peername", "sockname"):
            return _PEER
        return default

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol


def join(client: asyncio.Protocol, server_factory: Callable[[], asyncio.BaseProtocol]) -> None:
    """Connect `client` to a new protocol of `server_factory` (an `asyncio.Server`'s factory, or
    an aiohttp `web.Server`), as `loop.create_connection` would through a socket."""
    loop = asyncio.get_running_loop()
    server = server_factory()
    assert isinstance(server, asyncio.Protocol)
    near, far = PipeTransport(loop, client), PipeTransport(loop, server)
    near.peer, far.peer = far, near
    server.connection_made(far)
    client.connection_made(near)
