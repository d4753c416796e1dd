"""The built-in client's API calls handed straight to the emulator's aiohttp application.

A reaction's call (play, hang up, connect, stop) is made in the emulator's own process, so it
needs no HTTP framing at all: `DirectApi` builds the request aiohttp's server would have built
from the bytes (through the server's own `request_factory`, on a connection of its own) and
passes it to the server's `request_handler`, the application with its middleware, routes and
handlers; the answer is the handler's response. What is skipped is only what turns requests and
answers into bytes and back, which cost more than the emulator spends acting on the call (a
play and a hang-up per number: 200,000 calls in the vendor page's 100,000-number example).
The journal, the in-flight tokens, injected API faults and every error answer are the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import StreamReader, web
from aiohttp import __version__ as aiohttp_version
from aiohttp.http import HttpVersion11, RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from emulator.jsonwire import dump_bytes
from emulator.replay.pipe import join

__all__ = ["DirectApi", "DirectUnavailable"]

_Head = tuple[CIMultiDictProxy[str], tuple[tuple[bytes, bytes], ...]]
_MAX_HEADS = 1024  # header sets remembered, one per body length
_INTERNAL = dump_bytes(
    {"state": "failed", "status": "failed", "error_description": "internal emulator error"}
)


class DirectUnavailable(RuntimeError):
    """This aiohttp builds its requests differently: calls must go over HTTP instead."""


class DirectApi:
    """`request(method, path, body)` -> (status, body bytes), like `ApiClient`, without HTTP."""

    def __init__(self, server: web.Server, headers: Mapping[str, str]) -> None:
        self.server = server
        self._headers = {"Host": "127.0.0.1", **headers}
        self._heads: dict[int, _Head] = {}
        self._protocol: Any = None  # the server's protocol of a connection joined in memory

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """The application's answer to the call; `DirectUnavailable` if this aiohttp's request
        objects cannot be built this way (nothing has reached the application then)."""
        try:
            request = self._request(method, path, body)
        except (TypeError, AttributeError, ValueError) as exc:
            message = f"cannot hand requests to aiohttp {aiohttp_version}: {exc}"
            raise DirectUnavailable(message) from exc
        try:
            response = await self.server.request_handler(request)
        except Exception:  # what aiohttp's server answers an unhandled error with
            return 500, _INTERNAL
        answer = response.body if isinstance(response, web.Response) else None
        return response.status, answer if isinstance(answer, bytes) else b""

    def _request(self, method: str, path: str, body: bytes) -> web.BaseRequest:
        """The request aiohttp's server builds for these bytes, on our connection."""
        protocol = self._connection()
        target, _, query = path.partition("?")
        headers, raw = self._head(len(body))
        url = URL.build(path=target, query_string=query, encoded=True)
        message = RawRequestMessage(
            method, path, HttpVersion11, headers, raw, False, None, False, False, url
        )
        payload: StreamReader = EMPTY_PAYLOAD
        if body:
            loop = asyncio.get_running_loop()
            payload = StreamReader(protocol, max(2**16, len(body)), loop=loop)
            payload.feed_data(body)
            payload.feed_eof()
        task: Any = asyncio.current_task()
        return self.server.request_factory(message, payload, protocol, None, task)  # type: ignore[arg-type]

    def _connection(self) -> Any:
        """A connection of the server's own (its request handler, joined by an in-process
        pipe), as the protocol every request names; a new one if the server closed it."""
        protocol = self._protocol
        if protocol is None or protocol.transport is None or protocol.transport.is_closing():
            join(asyncio.Protocol(), self._made)
            protocol = self._protocol
        return protocol

    def _made(self) -> asyncio.BaseProtocol:
        self._protocol = self.server()
        return self._protocol  # type: ignore[no-any-return]

    def _head(self, length: int) -> _Head:
        head = self._heads.get(length)
        if head is None:
            if len(self._heads) >= _MAX_HEADS:
                self._heads.clear()
            fields = CIMultiDict({**self._headers, "Content-Length": str(length)})
            raw = tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in fields.items())
            head = self._heads[length] = (CIMultiDictProxy(fields), raw)
        return head

    def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
