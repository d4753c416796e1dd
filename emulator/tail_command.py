"""`broadcast-emulator tail`: print a running emulator's event stream, one line per event.

It reads `GET /_emulator/stream` (of the default project, or `--project APP_ID`) until
interrupted (Ctrl-C exits 0). When the stream drops it says so on stderr and reconnects, resuming
after the last event it printed while the emulator still holds what followed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any, TextIO

import aiohttp

from emulator.observe.lines import clock_time, describe

__all__ = ["DEFAULT_URL", "Tail", "register"]

DEFAULT_URL = "http://127.0.0.1:8080"
_STALE_S = 45.0  # no byte (not even a keep-alive, sent every 15 s) this long: the stream is dead
_FATAL = (400, 401, 403, 404)


class _Fatal(Exception):
    """An answer that retrying cannot change (bad token, unknown project)."""


class Tail:
    """Follows one project's stream and prints it."""

    def __init__(
        self,
        url: str,
        project: str | None = None,
        as_json: bool = False,
        token: str | None = None,
        query: dict[str, str] | None = None,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        base = url.rstrip("/") + "/_emulator"
        if project:
            base += f"/projects/{project}"
        self.url = base + "/stream"
        self.as_json = as_json
        self.headers = {"Accept": "text/event-stream"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.query = query or {}
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.last_id: str | None = None
        self.connected = False  # has the stream been open at least once

    def note(self, text: str) -> None:
        print(f"tail: {text}", file=self.err, flush=True)

    def show(self, data: dict[str, Any]) -> None:
        if self.as_json:
            line = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        else:
            kind = str(data.get("type"))
            line = f"{clock_time(data.get('virtual_time'))}  {kind:<9} {describe(data)}"
        print(line, file=self.out, flush=True)

    async def run(self) -> int:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=_STALE_S)
        delay, lost = 0.5, False
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    await self._follow(session, lost)
                    reason = "the emulator closed the stream"
                except _Fatal as exc:
                    self.note(str(exc))
                    return 2
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    reason = _reason(exc)
                else:
                    delay = 0.5
                if self.connected:
                    self.note(f"stream lost ({reason}); reconnecting to {self.url} ...")
                else:
                    self.note(f"cannot reach {self.url} ({reason}); retrying ...")
                lost = self.connected
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _follow(self, session: aiohttp.ClientSession, lost: bool) -> None:
        headers = dict(self.headers)
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        async with session.get(self.url, params=self.query, headers=headers) as resp:
            if resp.status in _FATAL:
                raise _Fatal(f"{self.url}: {resp.status} {await _description(resp)}")
            if resp.status != 200:
                raise aiohttp.ClientResponseError(
                    resp.request_info, (), status=resp.status, message=await _description(resp)
                )
            if lost:
                self.note("reconnected")
            self.connected = True
            async for event_id, data in _events(resp.content):
                if event_id is not None:
                    self.last_id = event_id
                self.show(data)


async def _description(resp: aiohttp.ClientResponse) -> str:
    try:
        body = await resp.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return resp.reason or ""
    return str(body.get("error_description", body)) if isinstance(body, dict) else str(body)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"nothing received for {_STALE_S:.0f} s"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{exc.status} {exc.message}"
    return str(exc) or type(exc).__name__


async def _events(
    content: aiohttp.StreamReader,
) -> AsyncIterator[tuple[str | None, dict[str, Any]]]:
    """(id, data object) of each Server-Sent Event; comments and keep-alives are skipped."""
    event_id: str | None = None
    data: list[str] = []
    async for raw in content:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                parsed = _parse("\n".join(data))
                if parsed is not None:
                    yield event_id, parsed
            event_id, data = None, []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line.startswith("id:"):
            event_id = line[3:].strip()


def _parse(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _run(args: argparse.Namespace) -> int:
    query = {}
    if args.types:
        query["types"] = args.types
    if args.broadcast:
        query["broadcast_id"] = args.broadcast
    tail = Tail(args.url, args.project, args.json, args.token, query)
    return asyncio.run(tail.run())


def register(commands: Any) -> None:
    """Add the `tail` subcommand to the CLI's subparsers."""
    parser = commands.add_parser("tail", help="print a running emulator's event stream")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the emulator (default {DEFAULT_URL})")
    parser.add_argument("--project", metavar="APP_ID", help="this project (default: the default)")
    parser.add_argument("--json", action="store_true", help="print each event as a JSON line")
    parser.add_argument("--token", metavar="T", help="the emulator's --control-token")
    parser.add_argument(
        "--types",
        metavar="LIST",
        help="only these types: request,call,webhook,broadcast,clock,waiting",
    )
    parser.add_argument("--broadcast", metavar="ID", help="only what concerns this broadcast")
    parser.set_defaults(run=_run)
