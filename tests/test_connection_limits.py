"""Slow and greedy clients: request heads and bodies are read within bounded real time
(`--header-timeout-s`, `--body-timeout-s`), and at most `--max-connections` are open at once;
the emulator goes on serving everyone else. Raw sockets, a bounded number of them, and small
time-outs; every wait is a read until the server answers or closes."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import until

from emulator import EmulatorRunner, Settings, create_app
from emulator.app import CONNECTIONS, EMULATOR
from emulator.listener import JsonServer

AUTH = "Basic " + base64.b64encode(b"emulator-app-id:emulator-app-key").decode()
HEAD = f"POST /voice/v1/broadcast HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\n"


class Served:
    def __init__(self, app: web.Application, runner: EmulatorRunner, port: int) -> None:
        self.app, self.runner, self.port = app, runner, port
        self.url = f"http://127.0.0.1:{port}"

    @property
    def server(self) -> JsonServer:
        server = self.runner.server
        assert isinstance(server, JsonServer)
        return server

    @property
    def open_connections(self) -> int:
        return len(self.server.connections)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def health(self) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.url + "/_emulator/health") as resp,
        ):
            assert resp.status == 200
            answer: dict[str, Any] = await resp.json()
            return answer


@pytest.fixture
async def start() -> AsyncIterator[Any]:
    runners: list[EmulatorRunner] = []

    async def start(**changes: Any) -> Served:
        app = create_app(Settings(port=0, clock="manual").replace(**changes))
        runner = EmulatorRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return Served(app, runner, site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    yield start
    for runner in runners:
        await runner.cleanup()


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The one answer the server writes before it closes the connection."""
    data = await asyncio.wait_for(reader.read(), 10)
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    assert headers["content-type"].startswith("application/json"), data
    assert len(body) == int(headers["content-length"]), data
    return int(status_line.split()[1]), headers, json.loads(body)


async def test_slowloris_heads_get_408_and_everyone_else_is_served(start: Any) -> None:
    served = await start(header_timeout_s=0.3)
    sockets = [await served.connect() for _ in range(30)]
    for _, writer in sockets:  # an unfinished head, and never the rest
        writer.write(HEAD.encode())
    assert (await served.health())["status"] == "ok"  # served while they hang
    for reader, writer in sockets:
        status, _, body = await _answer(reader)
        assert status == 408
        assert body["error_description"] == (
            "request head not complete after 0.3 s (--header-timeout-s)"
        )
        writer.close()
    assert served.app[CONNECTIONS].head_timeouts == 30
    await until(lambda: served.open_connections == 0)


async def test_a_head_that_trickles_forever_is_cut_after_the_header_time_out(start: Any) -> None:
    served = await start(header_timeout_s=0.3)
    reader, writer = await served.connect()
    writer.write(HEAD.encode())
    answer: asyncio.Task[Any] = asyncio.create_task(_answer(reader))
    sent = 0
    while not answer.done() and sent < 200:  # progress, but the head never ends
        writer.write(f"X-Slow-{sent}: 1\r\n".encode())
        sent += 1
        await asyncio.wait([answer], timeout=0.02)
    status, _, _ = await answer
    assert status == 408 and sent < 200  # cut within 4 s at most, though bytes kept coming
    writer.close()


async def test_a_connection_that_sends_nothing_is_closed_after_the_header_time_out(
    start: Any,
) -> None:
    served = await start(header_timeout_s=0.3)
    reader, writer = await served.connect()
    status, _, _ = await _answer(reader)
    assert status == 408
    writer.close()


async def test_a_stalled_body_gets_408_and_is_journalled(start: Any) -> None:
    served = await start(body_timeout_s=0.3)
    reader, writer = await served.connect()
    writer.write(f"{HEAD}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n".encode())
    writer.write(b'{"application_name": "slow"')
    status, _, body = await _answer(reader)
    assert status == 408
    assert body["error_description"] == (
        "request body made no progress for 0.3 s, after 27 of 1000 bytes (--body-timeout-s)"
    )
    writer.close()
    (entry,) = served.app[EMULATOR].journal
    assert (entry.method, entry.path, entry.status) == ("POST", "/voice/v1/broadcast", 408)
    assert served.app[CONNECTIONS].body_timeouts == 1


async def test_a_body_that_keeps_coming_is_not_cut(start: Any) -> None:
    """The body time-out counts silence, not the whole upload."""
    served = await start(body_timeout_s=0.3)
    fields = {"application_name": "x" * 300, "from": "919999999999"}
    body = json.dumps({**fields, "broadcast_numbers_array": ["not-a-number"]}).encode()
    reader, writer = await served.connect()
    writer.write(f"{HEAD}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
    for i in range(0, len(body), 20):  # 16 pieces, 50 ms apart: 0.8 s in all
        writer.write(body[i : i + 20])
        await writer.drain()
        await asyncio.sleep(0.05)
    status, _, answer = await _answer(reader)
    assert status == 400  # the create is refused for its last field: the body was read whole
    assert "not-a-number" in answer["error_description"], answer
    writer.close()


async def test_connections_over_the_cap_get_503_and_the_log_says_so(
    start: Any, caplog: pytest.LogCaptureFixture
) -> None:
    served = await start(max_connections=4)
    held = [await served.connect() for _ in range(4)]
    await until(lambda: served.open_connections == 4)
    with caplog.at_level(logging.WARNING, logger="emulator"):
        for _ in range(3):
            reader, writer = await served.connect()
            status, headers, body = await _answer(reader)
            assert status == 503 and headers["retry-after"] == "1"
            assert body["error_description"] == (
                "too many connections: the emulator serves at most 4 at once (--max-connections)"
            )
            writer.close()
        assert served.app[CONNECTIONS].refused == 3
        for _, writer in held[:2]:
            writer.close()
        await until(lambda: served.open_connections == 2)
        assert (await served.health())["status"] == "ok"  # serving again
    warnings = [r.getMessage() for r in caplog.records if r.name == "emulator"]
    assert warnings == [
        "connection cap reached: 4 connections open (--max-connections); "
        "new ones get 503 until some close",
        "accepting connections again (3 refused so far)",
    ]
    for _, writer in held[2:]:
        writer.close()


async def test_the_limits_are_settings_with_env_twins() -> None:
    from emulator.config import load_settings

    settings = load_settings(
        environ={
            "EMULATOR_HEADER_TIMEOUT_S": "7",
            "EMULATOR_BODY_TIMEOUT_S": "9",
            "EMULATOR_MAX_CONNECTIONS": "100",
        }
    )
    assert (settings.header_timeout_s, settings.body_timeout_s, settings.max_connections) == (
        7.0,
        9.0,
        100,
    )
    defaults = Settings()
    assert (defaults.header_timeout_s, defaults.body_timeout_s) == (20.0, 20.0)
    assert defaults.max_connections == 4096
