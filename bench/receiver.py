"""A fast webhook receiver for the benches, run as its own process.

It answers every POST with 200 at once on keep-alive connections and counts what it got. With
`--special-every N` it plays the vendor page's "You are a special client" prompt on every N-th
answered call, through the emulator's API, before answering that webhook (so the play happens at
the instant of the `connected` event). `GET /stats` reports the counts; `POST /stats` zeroes
them (and reports zeros).

`--server raw` (the default) serves HTTP/1.1 straight from an asyncio protocol, so that the
receiver costs a small fraction of what the emulator spends per webhook and the benches measure the
emulator; `--server aiohttp` is a plain aiohttp app, as a typical receiving app would be.
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
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


class Receiver:
    """Counts events; plays the special prompt on every N-th `connected` event."""

    def __init__(self, special_every: int, api: str, auth: str) -> None:
        self.special_every = special_every
        self.api = api
        self.auth = auth
        self.session: aiohttp.ClientSession | None = None
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

    def stats(self) -> dict[str, Any]:
        names = ("count", "bytes", "connected", "plays", "play_errors", "first", "last")
        return {
            **{name: getattr(self, name) for name in names},
            "completions": self.completions,
            "connections": len(self.peers),
        }

    def event(self, raw: bytes, peer: int) -> dict[str, Any] | None:
        """Count one event; the event itself when the special prompt is due for its call."""
        now = time.monotonic()
        if self.first is None:
            self.first = now
        self.last = now
        self.count += 1
        self.bytes += len(raw)
        self.peers.add(peer)
        if b'"resultSet"' in raw:
            self.completions.append({"at": now, "event": json.loads(raw)})
        elif self.special_every and b'"state":"connected"' in raw:
            self.connected += 1
            if self.connected % self.special_every == 0:
                return dict(json.loads(raw))
        return None

    async def play_special(self, event: dict[str, Any]) -> None:
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        path = f"/voice/v1/broadcast/{event['broadcast_id']}/call/{event['voice_id']}/play"
        headers = {"Authorization": self.auth}
        async with self.session.put(self.api + path, json=SPECIAL, headers=headers) as resp:
            await resp.read()
            if resp.status == 202:
                self.plays += 1
            else:
                self.play_errors += 1


class RawHttp(asyncio.Protocol):
    """HTTP/1.1 with Content-Length bodies (what webhook senders send), one request at a time."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.buffer = bytearray()
        self.busy = False
        self.transport: asyncio.Transport | None = None
        self.peer = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer = transport.get_extra_info("peername")[1]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self.serve()

    def serve(self) -> None:
        while not self.busy:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self.request(head.split(" ", 2), body)

    def request(self, line: list[str], body: bytes) -> None:
        assert self.transport is not None
        method, path = line[0], line[1]
        if path == "/stats":
            if method == "POST":
                self.receiver.reset()
            self.reply_json(self.receiver.stats())
            return
        event = self.receiver.event(body, self.peer)
        if event is None:
            self.transport.write(OK)
            return
        self.busy = True
        asyncio.get_running_loop().create_task(self.special(event))

    async def special(self, event: dict[str, Any]) -> None:
        try:
            await self.receiver.play_special(event)
        finally:
            self.busy = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(OK)
                self.serve()

    def reply_json(self, data: Any) -> None:
        assert self.transport is not None
        body = json.dumps(data).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        self.transport.write(head.encode() + b"\r\n\r\n" + body)


def aiohttp_app(receiver: Receiver) -> web.Application:
    async def hook(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        event = receiver.event(await request.read(), peer[1] if peer else 0)
        if event is not None:
            await receiver.play_special(event)
        return web.Response()

    async def stats(request: web.Request) -> web.Response:
        if request.method == "POST":
            receiver.reset()
        return web.json_response(receiver.stats())

    app = web.Application()
    app.router.add_route("*", "/stats", stats)
    app.router.add_post("/{tail:.*}", hook)
    return app


async def main(args: argparse.Namespace) -> None:
    receiver = Receiver(args.special_every, args.api, args.auth)
    if args.server == "raw":
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: RawHttp(receiver), "127.0.0.1", args.port, backlog=1024
        )
        port = server.sockets[0].getsockname()[1]
    else:
        runner = web.AppRunner(aiohttp_app(receiver), access_log=None, keepalive_timeout=75.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"receiving http://127.0.0.1:{port} ({args.server} server)", flush=True)
    await asyncio.sleep(args.lifetime)  # a bench receiver never outlives its bench


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--server", choices=("raw", "aiohttp"), default="raw")
    parser.add_argument("--special-every", type=int, default=0)
    parser.add_argument("--api", default="", help="emulator base URL (for --special-every)")
    parser.add_argument("--auth", default="", help="Authorization header for the API")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="exit after this long")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
