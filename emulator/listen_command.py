"""`broadcast-emulator listen`: a webhook receiver for development.

It prints one readable line per webhook it gets (`-v`: the JSON event too), decrypting encrypted
ones with `--decrypt APP_ID`, and answers 200; with `--forward-to URL` it forwards each webhook
(same method, body and headers, the request's path appended to URL's) to the app and answers
what the app answers (status and body), or a JSON 502 when the app cannot be reached (504 when it
does not answer in time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Mapping
from typing import Any, TextIO
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from emulator.observe.lines import clock_time
from emulator.webhooks.crypto import decode_webhook

__all__ = ["Listener", "register", "summary"]

_HOP_BY_HOP = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}
)
_FORWARD_TIMEOUT_S = 10.0
_MAX_BODY = 16 * 1024 * 1024


def summary(event: Mapping[str, Any]) -> str:
    """A webhook event in a few words: what happened, to which call or broadcast."""
    name = event.get("state") or event.get("playstate") or "?"
    parts = [("play " if "playstate" in event else "") + str(name)]
    if "voice_id" in event:
        number = event.get("dialed_number") or event.get("to")
        parts.append(f"{number} #{event.get('attempt', '?')}")
        for key in ("reason", "digits", "bridge_id"):
            if event.get(key):
                parts.append(f"{key} {event[key]}")
        parts.append(f"[{event['voice_id']}]")
    else:
        parts.append(f"broadcast {event.get('broadcast_id') or event.get('app_instance')}")
        counts = event.get("resultSet") or event.get("resultset")
        if isinstance(counts, Mapping):
            ok, failed = counts.get("successfull_calls"), counts.get("failed_calls")
            parts.append(f"({ok} successful, {failed} failed)")
    return "  ".join(parts)


class Listener:
    """The receiver's state: what to decrypt with, where to forward, where to print."""

    def __init__(
        self,
        decrypt: str | None = None,
        forward_to: str | None = None,
        verbose: bool = False,
        out: TextIO | None = None,
    ) -> None:
        self.decrypt = decrypt
        self.forward_to = forward_to.rstrip("/") if forward_to else None
        self.verbose = verbose
        self.out = out or sys.stdout
        self.session: aiohttp.ClientSession | None = None
        self.received = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.cleanup_ctx.append(self._session)
        return app

    async def _session(self, app: web.Application) -> Any:
        timeout = aiohttp.ClientTimeout(total=_FORWARD_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
            self.session = session
            yield
        self.session = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.received += 1
        event, text = self._read(raw, request.headers)
        response: web.StreamResponse = web.json_response({"status": "ok"})
        if self.forward_to is not None:
            response, note = await self._forward(request, raw)
            text += f"  -> app {note}"
        stamp = clock_time(event.get("timestamp")) if event else "--:--:--.---"
        print(f"{stamp}  {request.method} {request.path}  {text}", file=self.out, flush=True)
        if self.verbose and event is not None:
            print(json.dumps(event, ensure_ascii=False), file=self.out, flush=True)
        return response

    def _read(self, raw: bytes, headers: Mapping[str, str]) -> tuple[dict[str, Any] | None, str]:
        try:
            event, encrypted = decode_webhook(raw, headers, self.decrypt)
        except (ValueError, KeyError, TypeError) as exc:
            if b"encrypted_data" in raw and self.decrypt is None:
                return None, "encrypted webhook (run with --decrypt APP_ID to read it)"
            return None, f"unreadable webhook of {len(raw)} bytes: {exc}"
        return event, summary(event) + ("  (decrypted)" if encrypted else "")

    async def _forward(self, request: web.Request, raw: bytes) -> tuple[web.Response, str]:
        assert self.session is not None and self.forward_to is not None
        url = self.forward_to + request.path_qs
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            async with self.session.request(
                request.method, url, data=raw, headers=headers, allow_redirects=False
            ) as answer:
                body = await answer.read()
                ctype = answer.headers.get("Content-Type")
                reply = web.Response(status=answer.status, body=body)
                if ctype:
                    reply.headers["Content-Type"] = ctype
                return reply, str(answer.status)
        except TimeoutError:
            return _bad_gateway(504, url, f"no answer in {_FORWARD_TIMEOUT_S:.0f} s"), "timeout"
        except (aiohttp.ClientError, OSError) as exc:
            return _bad_gateway(502, url, str(exc) or type(exc).__name__), "unreachable"


def _bad_gateway(status: int, url: str, why: str) -> web.Response:
    body = {"state": "failed", "error_description": f"forward to {url} failed: {why}"}
    return web.json_response(body, status=status)


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--forward-to must be an http:// or https:// URL, not {url!r}")
    return url


async def listen(
    host: str, port: int, listener: Listener, stop: asyncio.Event | None = None
) -> int:
    """Receive webhooks until SIGINT/SIGTERM (or `stop`)."""
    runner = web.AppRunner(listener.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    sockets = getattr(site._server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    where = f"http://{host if ':' not in host else f'[{host}]'}:{bound}"
    extra = f", forwarding to {listener.forward_to}" if listener.forward_to else ""
    print(f"broadcast-emulator listening on {where}{extra}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0


def _run(args: argparse.Namespace) -> int:
    forward = _check_url(args.forward_to) if args.forward_to else None
    listener = Listener(args.decrypt, forward, args.verbose)
    return asyncio.run(listen(args.host, args.port, listener))


def register(commands: Any) -> None:
    """Add the `listen` subcommand to the CLI's subparsers."""
    parser = commands.add_parser("listen", help="a webhook receiver for development")
    parser.add_argument("--port", type=int, default=3000, help="port (default 3000; 0 = any)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--decrypt", metavar="APP_ID", help="decrypt encrypted webhooks")
    parser.add_argument(
        "--forward-to", metavar="URL", help="forward each webhook to the app at this base URL"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print each event's JSON")
    parser.set_defaults(run=_run)
