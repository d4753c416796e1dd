"""A stand-in for the observation backend (docs/console.md's routes), for the console's tests.

It serves the real console files and the wire shapes the page reads (OBSERVE.md): projects, clock,
broadcasts, a timeline of N synthetic numbers, one call per number with triggers, and the SSE
stream. It exists to test what the real emulator cannot be made to do on demand: a stream that
drops and comes back.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from emulator.console.routes import console_routes

__all__ = ["FakeBackend"]

T0 = "2026-01-01T09:00:00.000Z"


def _at(second: float) -> str:
    whole = int(second)
    return f"2026-01-01T09:{whole // 60:02d}:{whole % 60:02d}.{int(second % 1 * 1000):03d}Z"


class FakeBackend:
    """`await FakeBackend(numbers=10_000).start()`; `url`; `drop_streams()` ends every stream."""

    def __init__(
        self, numbers: int = 3, app_id: str = "fake-app", token: str | None = None
    ) -> None:
        self.app_id = app_id
        self.token = token  # every request must then carry ?token= (as the real control plane)
        self.refused: list[str] = []
        self.total = numbers
        self.bid = "b-0001"
        self.streams: list[web.StreamResponse] = []
        self.queues: list[asyncio.Queue[dict[str, Any] | None]] = []
        self.seq = 0
        self.opened = 0
        self.url = ""
        self.runner: web.AppRunner | None = None

    def row(self, index: int) -> dict[str, Any]:
        number = f"+1555{index:07d}"
        base = index % 20
        segments = [
            {"state": "initiated", "start": _at(base), "end": _at(base + 1)},
            {"state": "ringing", "start": _at(base + 1), "end": _at(base + 4)},
            {"state": "connected", "start": _at(base + 4), "end": _at(base + 14)},
        ]
        events = [
            {
                "event": s["state"],
                "virtual_time": s["start"],
                "delivery_id": index * 3 + n,
                "delivery_state": "delivered",
                "payload": {"state": s["state"], "to": number},
                "attempts": [{"status": 200, "error": None, "latency_ms": 1.0, "at": s["start"]}],
            }
            for n, s in enumerate(segments)
        ]
        attempt = {
            "attempt": 1,
            "voice_id": f"v-{index}",
            "started_at": _at(base),
            "ended_at": _at(base + 14),
            "reason": "completed",
            "segments": segments,
            "events": events,
            "requests": [],
            "waiting_for": None,
        }
        return {
            "number": number,
            "index": index,
            "state": "disconnected",
            "result": "success",
            "attempts": [attempt],
        }

    def summary(self) -> dict[str, Any]:
        return {"by_state": {"disconnected": self.total}, "by_result": {"success": self.total}}

    # -- routes ---------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        p = f"/_emulator/projects/{self.app_id}"
        clock = {"mode": "manual", "now": _at(40), "pending": 0}

        def ok(data: Any) -> web.Response:
            return web.json_response(data)

        async def projects(_: web.Request) -> web.Response:
            return ok({"projects": [{"app_id": self.app_id, "broadcasts": 1, "clock": clock}]})

        async def broadcasts(_: web.Request) -> web.Response:
            progress = {
                "total": self.total,
                "finished": self.total,
                "in_progress": 0,
                "pending": 0,
                "successful": self.total,
                "failed": 0,
                "attempts": self.total,
            }
            return ok(
                {
                    "broadcasts": [
                        {
                            "broadcast_id": self.bid,
                            "application_name": "Big one",
                            "state": "completed",
                            "progress": progress,
                            "created_at": T0,
                            "ended_at": _at(40),
                        }
                    ]
                }
            )

        async def timeline(request: web.Request) -> web.Response:
            if request.match_info["bid"] != self.bid:
                error = {"state": "failed", "error_description": "no such broadcast"}
                return web.json_response(error, status=404)
            offset = int(request.query.get("offset", 0))
            limit = min(int(request.query.get("limit", 100)), 1000)
            indexes = range(offset, min(self.total, offset + limit))
            number = request.query.get("number")
            if number:  # "+1555" and the index in 7 digits
                wanted = int(number[5:]) if number[5:].isdigit() else -1
                indexes = range(wanted, wanted + 1) if 0 <= wanted < self.total else range(0)
            rows = [self.row(i) for i in indexes]
            nxt = offset + limit if offset + limit < self.total else None
            return ok(
                {
                    "broadcast_id": self.bid,
                    "name": "Big one",
                    "state": "completed",
                    "created_at": T0,
                    "ended_at": _at(40),
                    "total_numbers": self.total,
                    "offset": offset,
                    "limit": limit,
                    "next_offset": nxt,
                    "summary": self.summary(),
                    "numbers": rows,
                    "requests": [],
                }
            )

        async def call(request: web.Request) -> web.Response:
            index = int(request.match_info["voice_id"].split("-")[1])
            row = self.row(index)
            return ok(
                {
                    **row["attempts"][0],
                    "broadcast_id": self.bid,
                    "number": row["number"],
                    "state": "disconnected",
                    "allowed": [],
                    "reasons": {
                        "press": "the call has ended",
                        "answer": "the call has ended",
                        "reject": "the call has ended",
                        "hangup": "the call has ended",
                    },
                }
            )

        async def health(_: web.Request) -> web.Response:
            return ok({"status": "ok", "projects": 1})

        async def clock_route(_: web.Request) -> web.Response:
            return ok(clock)

        return [
            web.get("/_emulator/projects", projects),
            web.get("/_emulator/health", health),
            web.get(p + "/clock", clock_route),
            web.get(p + "/broadcasts", broadcasts),
            web.get(p + "/broadcasts/{bid}/timeline", timeline),
            web.get(p + "/calls/{voice_id}", call),
            web.get(p + "/calls", self._calls),
            web.get(p + "/requests", self._rows("requests")),
            web.get(p + "/webhooks", self._rows("deliveries")),
            web.get(p + "/faults", self._faults),
            web.get(p + "/stream", self.stream),
        ]

    async def _calls(self, _: web.Request) -> web.Response:
        return web.json_response({"calls": []})

    def _rows(self, key: str) -> Any:
        async def handler(_: web.Request) -> web.Response:
            return web.json_response({key: [], "next": None, "dropped": 0})

        return handler

    async def _faults(self, _: web.Request) -> web.Response:
        return web.json_response({"api": [], "webhook": [], "fired": [], "fired_total": 0})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        self.opened += 1
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.queues.append(queue)
        await self._send(
            response,
            {
                "type": "hello",
                "project": self.app_id,
                "clock": {"mode": "manual", "now": _at(40), "pending": 0},
            },
        )
        try:
            while (msg := await queue.get()) is not None:
                await self._send(response, msg)
        finally:
            self.queues.remove(queue)
        return response

    async def _send(self, response: web.StreamResponse, msg: dict[str, Any]) -> None:
        self.seq += 1
        msg = {"seq": self.seq, "project": self.app_id, **msg}
        text = f"id: {self.seq}\nevent: {msg['type']}\ndata: {json.dumps(msg)}\n\n"
        await response.write(text.encode())

    def drop_streams(self) -> None:
        """End every open stream (the browser's EventSource then reconnects)."""
        for queue in self.queues:
            queue.put_nowait(None)

    @web.middleware
    async def _check_token(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.token is not None and request.query.get("token") != self.token:
            self.refused.append(request.path_qs)
            return web.json_response({"state": "failed", "error_description": "token"}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    async def start(self) -> FakeBackend:
        app = web.Application(middlewares=[self._check_token])
        app.add_routes(console_routes())
        app.add_routes(self.routes())
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        self.drop_streams()
        if self.runner is not None:
            await self.runner.cleanup()
