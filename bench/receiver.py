"""A fast webhook receiver for the benches, run as its own process.

It answers every POST with 200 at once on keep-alive connections and counts what it got. With
`--special-every N` it plays the vendor page's "You are a special client" prompt on every N-th
answered call, through the emulator's API, before answering that webhook (so the play happens at
the instant of the `connected` event). `GET /stats` reports the counts; `POST /stats/reset` zeroes
them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp
from aiohttp import web

SPECIAL = {"text": "You are a special client", "voice": "female", "language": "en-US"}


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.bytes = 0
        self.connected = 0
        self.plays = 0
        self.play_errors = 0
        self.first: float | None = None
        self.last: float | None = None
        self.completions: list[dict[str, Any]] = []
        self.peers: set[int] = set()  # the sender's source ports: how many connections it used

    def as_json(self) -> dict[str, Any]:
        fields = {k: v for k, v in vars(self).items() if k != "peers"}
        return {**fields, "connections": len(self.peers)}


def build(args: argparse.Namespace) -> web.Application:
    stats = Stats()
    app = web.Application()
    state: dict[str, aiohttp.ClientSession] = {}

    async def session_ctx(app: web.Application) -> Any:
        if args.special_every:
            connector = aiohttp.TCPConnector(limit=64)
            state["api"] = aiohttp.ClientSession(connector=connector)
        yield
        if "api" in state:
            await state["api"].close()

    async def play_special(event: dict[str, Any]) -> None:
        url = f"{args.api}/voice/v1/broadcast/{event['broadcast_id']}/call/{event['voice_id']}/play"
        headers = {"Authorization": args.auth}
        async with state["api"].put(url, json=SPECIAL, headers=headers) as resp:
            await resp.read()
            if resp.status == 202:
                stats.plays += 1
            else:
                stats.play_errors += 1

    async def hook(request: web.Request) -> web.Response:
        raw = await request.read()
        now = time.monotonic()
        if stats.first is None:
            stats.first = now
        stats.last = now
        stats.count += 1
        stats.bytes += len(raw)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            stats.peers.add(peer[1])
        if b'"resultSet"' in raw:
            stats.completions.append({"at": now, "event": json.loads(raw)})
        elif args.special_every and b'"state":"connected"' in raw:
            stats.connected += 1
            if stats.connected % args.special_every == 0:
                await play_special(json.loads(raw))
        return web.Response()

    async def read_stats(request: web.Request) -> web.Response:
        return web.json_response(stats.as_json())

    async def reset_stats(request: web.Request) -> web.Response:
        stats.reset()
        return web.json_response({"ok": True})

    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/stats", read_stats)
    app.router.add_post("/stats/reset", reset_stats)
    app.router.add_post("/{tail:.*}", hook)
    return app


async def main(args: argparse.Namespace) -> None:
    runner = web.AppRunner(build(args), access_log=None, keepalive_timeout=75.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"receiving http://127.0.0.1:{port}", flush=True)
    try:
        await asyncio.sleep(args.lifetime)  # a bench receiver never outlives its bench
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--special-every", type=int, default=0)
    parser.add_argument("--api", default="", help="emulator base URL (for --special-every)")
    parser.add_argument("--auth", default="", help="Authorization header for the API")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="exit after this long")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
