"""The HTTP listener shared by every project: the runner's server, made to hand out
`JsonConnection`s, to sweep their read deadlines, to cap how many are open at once, and to answer
aiohttp's own HTTP errors (raised before the app's middleware runs) as JSON.

A connection beyond `--max-connections` gets a canned JSON 503 and is closed at once; the log says
when the cap is reached and when connections are accepted again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web, web_protocol

from emulator.api.middleware import translate_http
from emulator.api.responses import error_body, json_response
from emulator.errors import EmulatorError, ExpectationFailed, ServiceUnavailable
from emulator.jsonwire import dump_bytes
from emulator.protocol import JsonConnection

__all__ = ["CONNECTIONS", "ConnectionStats", "JsonServer", "ServerLimits"]

log = logging.getLogger("emulator")


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Real-time bounds on reading requests, and the connection cap."""

    header_timeout_s: float = 20.0
    body_timeout_s: float = 20.0
    max_connections: int = 4096

    @property
    def tick_s(self) -> float:
        """How often deadlines are checked: a quarter of the shorter time-out, 50 ms to 1 s."""
        return min(1.0, max(0.05, min(self.header_timeout_s, self.body_timeout_s) / 4))


@dataclass(slots=True)
class ConnectionStats:
    """What the server refused or cut short, for the log and health."""

    refused: int = 0
    head_timeouts: int = 0
    body_timeouts: int = 0
    cut_short: int = 0
    overruns: int = 0
    server: web.Server | None = None  # the server counted (set when the runner makes it)
    limits: ServerLimits = ServerLimits()

    def as_json(self) -> dict[str, int]:
        """Connections open now and the cap, and what was refused or cut short (health)."""
        return {
            "open": len(self.server.connections) if self.server is not None else 0,
            "max": self.limits.max_connections,
            "refused": self.refused,
            "head_timeouts": self.head_timeouts,
            "body_timeouts": self.body_timeouts,
            "cut_short": self.cut_short,
            "overruns": self.overruns,
        }


CONNECTIONS = web.AppKey("connections", ConnectionStats)  # what the server refused or cut short


class JsonServer(web.Server):
    """The runner's server, turned into one whose connections are `JsonConnection`s, with a
    periodic sweep of their deadlines and the connection cap."""

    clock_iso: Callable[[], str]
    limits: ServerLimits
    stats: ConnectionStats
    _refusing: bool
    _sweeper: asyncio.TimerHandle

    @staticmethod
    def adopt(
        server: web.Server,
        clock_iso: Callable[[], str],
        limits: ServerLimits,
        stats: ConnectionStats,
    ) -> JsonServer:
        server.__class__ = JsonServer
        assert isinstance(server, JsonServer)
        server.clock_iso = clock_iso
        server.limits = limits
        server.stats = stats
        stats.server, stats.limits = server, limits
        server._refusing = False
        server.request_handler = _json_http_errors(server.request_handler, server)
        server._sweeper = server._loop.call_later(limits.tick_s, server._sweep)
        return server

    def __call__(self) -> web_protocol.RequestHandler:
        return JsonConnection(self, loop=self._loop, **self._kwargs)

    def _sweep(self) -> None:
        now = self._loop.time()
        for connection in list(self._connections):
            if isinstance(connection, JsonConnection):
                connection.check_deadlines(now, self.limits)
        self._sweeper = self._loop.call_later(self.limits.tick_s, self._sweep)

    def full(self) -> bool:
        return len(self._connections) >= self.limits.max_connections

    def refuse(self, transport: Any) -> None:
        """Answer a connection over the cap with a canned JSON 503 and close it."""
        self.stats.refused += 1
        if not self._refusing:
            self._refusing = True
            log.warning(
                "connection cap reached: %d connections open (--max-connections); "
                "new ones get 503 until some close",
                len(self._connections),
            )
        error = ServiceUnavailable(
            f"too many connections: the emulator serves at most {self.limits.max_connections} "
            "at once (--max-connections)"
        )
        body = dump_bytes(error_body(error, self.clock_iso()))
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8"
            b"\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        transport.close()

    def accepting(self) -> None:
        if self._refusing:
            self._refusing = False
            log.warning("accepting connections again (%d refused so far)", self.stats.refused)

    def requests_in_progress(self) -> int:
        return sum(1 for c in self._connections if isinstance(c, JsonConnection) and c.busy)

    async def shutdown(self, timeout: float | None = None) -> None:
        self._sweeper.cancel()
        await super().shutdown(timeout)


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def _json_http_errors(handler: Handler, server: JsonServer) -> Handler:
    """The app's handler, with aiohttp's own HTTP errors raised before the app's middleware runs
    (an unknown `Expect` header) as JSON errors, and each answer closing the connection when
    nothing more can be read from it."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            error = _http_error(exc, request)
            resp = json_response(error_body(error, server.clock_iso()), error.status)
            resp.force_close()
        connection = request.protocol
        if isinstance(connection, JsonConnection):
            connection.answered(request, resp)
        return resp

    return handle


def _http_error(exc: web.HTTPException, request: web.BaseRequest) -> EmulatorError:
    if exc.status == 417:
        expect = request.headers.get("Expect", "")
        return ExpectationFailed(
            f"Expect: {expect[:100]} is not supported (send no Expect header, or 100-continue)"
        )
    assert isinstance(request, web.Request)
    return translate_http(exc, request)
