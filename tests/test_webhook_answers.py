"""What a receiver answers (CONTRACT §11): one attempt is one request, a 3xx is never followed
(so nothing reaches a host outside `--webhook-allow`), and at most 64 KiB of an answer is read."""

from __future__ import annotations

import asyncio
import logging
import tracemalloc
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from conftest import StartEmulator
from faulty_receivers import create_body, dispatcher, settled, wait_for

Seen = list[tuple[str, str]]


async def _server(
    handler: Callable[..., Any], host: str = "127.0.0.1"
) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@pytest.fixture
async def redirector() -> AsyncIterator[Callable[..., Any]]:
    """Factory: a receiver whose /hook answers `status` with `Location: location`; every request
    it gets (method, path) is recorded, and anything but /hook answers 200."""
    runners: list[web.AppRunner] = []

    async def start(status: int, location: str = "/final") -> tuple[str, Seen]:
        seen: Seen = []

        async def handle(request: web.Request) -> web.Response:
            await request.read()
            seen.append((request.method, request.path))
            if request.path == "/hook":
                where = location.replace("{port}", str(request.url.port))
                return web.Response(status=status, headers={"Location": where})
            return web.Response(status=200)

        runner, port = await _server(handle)
        runners.append(runner)
        return f"http://127.0.0.1:{port}/hook", seen

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_one_failed_attempt_and_never_followed(
    redirector: Any, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "emulator.webhooks")
    url, seen = await redirector(status)
    async with dispatcher(attempts=1, workers=1) as d:
        d.send("leg", url, {"state": "initiated"})
        d.send("leg", url, {"state": "disconnected"})  # on the kept-alive connection
        await settled(d, 2)
    assert seen == [("POST", "/hook"), ("POST", "/hook")]  # no second POST, no GET
    assert [x.state for x in d.log] == ["dead", "dead"]
    for delivery in d.log:
        (attempt,) = delivery.attempts
        assert (attempt.status, attempt.error) == (status, "redirect to /final")
    warned = [r.getMessage() for r in caplog.records if "redirect" in r.getMessage()]
    assert len(warned) == 1 and url in warned[0] and "/final" in warned[0]


async def test_a_redirect_location_with_credentials_is_logged_without_them(
    redirector: Any,
) -> None:
    url, seen = await redirector(302, "http://user:secret@127.0.0.1:{port}/final")
    async with dispatcher(attempts=1) as d:
        d.send("leg", url, {"state": "initiated"})
        await settled(d, 1)
    error = d.log[0].attempts[0].error or ""
    assert error.startswith("redirect to http://***@127.0.0.1:") and "secret" not in error
    assert seen == [("POST", "/hook")]


async def test_a_redirect_never_carries_a_webhook_past_the_allow_list(
    start_emulator: StartEmulator, redirector: Any
) -> None:
    url, seen = await redirector(307, "http://localhost:{port}/stolen")
    running = await start_emulator(webhook_allow=("127.0.0.1",), webhook_attempts=1)
    body = create_body(url.removesuffix("/hook"), ["919800000004"])
    body["event_url"] = body["call_handler_url"] = url
    status, answer = await running.api.call("POST", "/voice/v1/broadcast", body)
    assert status == 200, answer
    em = running.emulator
    await wait_for(lambda: em.dispatcher.dead == 4 and em.dispatcher.pending == 0)
    assert {path for _, path in seen} == {"/hook"}  # localhost never got anything
    errors = {a.error for d in em.dispatcher.log for a in d.attempts}
    assert len(errors) == 1 and errors.pop().endswith("/stolen")  # type: ignore[union-attr]


class EndlessAnswer:
    """A raw receiver answering 200 with a body that does not end (in the framing given) or a
    head that does not end; counts what it managed to write before the emulator hung up."""

    def __init__(self, head: bytes, limit: int = 200 * 1024 * 1024) -> None:
        self.head = head
        self.limit = limit  # bytes at most (so that a reader that keeps everything stays bearable)
        self.written: list[int] = []
        self.hung_up: list[bool] = []
        self.url = ""
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        written, hung_up = 0, False
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(self.head)
            chunk = b"x" * 65536
            while written < self.limit:
                writer.write(chunk)
                written += len(chunk)
                await writer.drain()
            await reader.read()  # the end of the stream: wait for the emulator to hang up
            hung_up = True
        except (ConnectionError, asyncio.IncompleteReadError):
            hung_up = True
        finally:
            self.written.append(written)
            self.hung_up.append(hung_up)
            writer.close()

    async def __aenter__(self) -> EndlessAnswer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 600000000\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40000000\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",  # a body until the connection closes
    ],
    ids=["content-length", "chunked", "until-close"],
)
async def test_a_huge_answer_is_cut_counted_by_its_status_and_not_reused(head: bytes) -> None:
    tracemalloc.start()
    try:
        async with EndlessAnswer(head) as rx, dispatcher(attempts=1, workers=1, timeout_s=5) as d:
            d.send("leg", rx.url, {"n": 1})
            d.send("leg", rx.url, {"n": 2})
            await settled(d, 2)
            await wait_for(lambda: len(rx.hung_up) == 2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [x.state for x in d.log] == ["delivered", "delivered"]
    assert [x.attempts[0].status for x in d.log] == [200, 200]
    assert rx.hung_up == [True, True]  # each connection was closed by the emulator, not reused
    assert all(n < 64 * 1024 * 1024 for n in rx.written)  # it stopped reading long before the end
    assert peak < 8 * 1024 * 1024, f"{peak} bytes traced at peak"


async def test_an_endless_answer_head_fails_the_attempt() -> None:
    async with (
        EndlessAnswer(b"HTTP/1.1 200 OK\r\nX-Padding: ") as rx,
        dispatcher(attempts=1, timeout_s=5) as d,
    ):
        d.send("leg", rx.url, {"n": 1})
        await settled(d, 1)
    (attempt,) = d.log[0].attempts
    assert attempt.status is None and "64 KiB" in (attempt.error or "")


@pytest.mark.parametrize("field", ["event_url", "call_handler_url"])
@pytest.mark.parametrize("port", ["99999", "0", "65536", "x"])
async def test_a_webhook_url_with_an_invalid_port_is_a_400_naming_the_field(
    start_emulator: StartEmulator, field: str, port: str
) -> None:
    running = await start_emulator()
    body = create_body("http://127.0.0.1:9")
    body[field] = f"http://127.0.0.1:{port}/hook"
    status, answer = await running.api.call("POST", "/voice/v1/broadcast", body)
    assert status == 400, answer
    assert answer["error_description"].startswith(field) and "port" in answer["error_description"]
    assert running.emulator.store.broadcasts == {}


async def test_the_scheme_is_accepted_and_delivered_in_any_case(
    start_emulator: StartEmulator, redirector: Any
) -> None:
    url, seen = await redirector(302)  # any path but /hook answers 200
    base = url.removesuffix("/hook").replace("http://", "HTTP://")
    running = await start_emulator()
    status, answer = await running.api.call(
        "POST", "/voice/v1/broadcast", create_body(base, ["919800000004"])
    )
    assert status == 200, answer
    em = running.emulator
    await wait_for(lambda: em.dispatcher.delivered == 4 and em.dispatcher.pending == 0)
    assert sorted(path for _, path in seen) == ["/call", "/call", "/event", "/event"]
