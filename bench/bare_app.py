"""The yardstick: a minimal aiohttp app answering the benched routes with fixed JSON bodies.

It does what a hand-written test double does and nothing more: no auth check, no state, one fixed
body per route (by default of the sizes given on the command line), and the health route.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from pathlib import Path

from aiohttp import web


def _body(path: str | None, size: int) -> bytes:
    if path:
        return Path(path).read_bytes()
    filler = "x" * max(0, size - 12)
    return json.dumps({"filler": filler}, separators=(",", ":")).encode()


def build(get_body: bytes, post_body: bytes) -> web.Application:
    async def report(request: web.Request) -> web.Response:
        return web.Response(body=get_body, content_type="application/json")

    async def create(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=post_body, content_type="application/json")

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/voice/v1/broadcast/{broadcast_id}", report)
    app.router.add_post("/voice/v1/broadcast", create)
    app.router.add_get("/_emulator/health", health)
    return app


async def main(args: argparse.Namespace) -> None:
    app = build(_body(args.get_body, args.get_size), _body(args.post_body, args.post_size))
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=75.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"serving http://127.0.0.1:{port}", flush=True)
    try:
        await asyncio.sleep(args.lifetime)
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--get-body", help="file holding the GET body")
    parser.add_argument("--post-body", help="file holding the POST body")
    parser.add_argument("--get-size", type=int, default=600)
    parser.add_argument("--post-size", type=int, default=300)
    parser.add_argument("--lifetime", type=float, default=3600.0, help="exit after this long")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
