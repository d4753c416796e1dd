"""`GET /_emulator/stream`: one project's Server-Sent Events, for readers fast, slow or gone."""

from __future__ import annotations

import asyncio
import json
import socket
import tracemalloc
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import Receiver, Running, StartEmulator, until

from emulator import EmulatorRunner, Settings, create_app
from emulator.app import EMULATOR
from emulator.observe.bus import MESSAGE_TYPES

PERSON, BUSY = "919800000010", "919800000001"


class SSE:
    """A stream client that records every message (and keep-alive comment) it reads."""

    def __init__(self, session: aiohttp.ClientSession, url: str, **kw: Any) -> None:
        self.session, self.url, self.kw = session, url, kw
        self.messages: list[dict[str, Any]] = []  # {"id", "event", "data"}
        self.comments = 0
        self.status = 0
        self.ended = False
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> SSE:
        self.task = asyncio.create_task(self._read())
        await until(lambda: self.ended or any(m["event"] == "hello" for m in self.messages))
        return self

    async def _read(self) -> None:
        try:
            async with self.session.get(self.url, **self.kw) as resp:
                self.status = resp.status
                if resp.status != 200:
                    self.body = await resp.json()
                    return
                block: dict[str, Any] = {}
                async for raw in resp.content:
                    line = raw.decode().rstrip("\n")
                    if line.startswith(":"):
                        self.comments += 1
                    elif line.startswith(("id:", "event:", "data:")):
                        key, _, value = line.partition(": ")
                        block[key] = value
                    elif not line and "data" in block:
                        block["data"] = json.loads(block["data"])
                        self.messages.append(block)
                        block = {}
        except aiohttp.ClientError:
            pass
        finally:
            self.ended = True

    def data(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [m["data"] for m in self.messages if kind is None or m["event"] == kind]

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        yield s


async def _stream(emu: Running, session: aiohttp.ClientSession, path: str = "") -> SSE:
    return await SSE(session, emu.url + "/_emulator/stream" + path).start()


def _completed(sse: SSE) -> bool:
    return any(d.get("change") == "completed" for d in sse.data("broadcast"))


async def test_hello_first_then_every_kind_of_message_with_its_ids(
    emu: Running, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    sse = await _stream(emu, session)
    hello = sse.messages[0]
    assert hello["event"] == "hello" and hello["data"]["project"] == emu.emulator.app_id
    assert set(hello["data"]["clock"]) == {"mode", "now", "pending"}
    created = await emu.api.create([PERSON, BUSY], receiver)
    bid = created["broadcast_id"]
    await until(lambda: _completed(sse))
    await until(lambda: receiver.completion() is not None)
    # the attempt that delivered the completion is published once its answer is read
    await until(lambda: len(sse.data("webhook")) == len(receiver.events))
    rest = sse.messages[1:]
    assert [int(m["id"]) for m in rest] == [m["data"]["seq"] for m in rest]
    assert [m["data"]["seq"] for m in rest] == sorted({m["data"]["seq"] for m in rest})
    for m in rest:
        d = m["data"]
        assert d["type"] == m["event"] and d["project"] == emu.emulator.app_id
        assert d["virtual_time"].startswith("2026-01-01T") and d["real_time"].endswith("Z")
    request = sse.data("request")[0]
    assert (request["method"], request["path"], request["status"]) == (
        "POST",
        "/voice/v1/broadcast",
        200,
    )
    assert request["broadcast_id"] == bid and request["journal_id"] == 1
    # call messages carry every per-call payload exactly as the app received it
    sent = sorted(json.dumps(e, sort_keys=True) for e in receiver.events if "voice_id" in e)
    streamed = sorted(json.dumps(d["payload"], sort_keys=True) for d in sse.data("call"))
    assert streamed == sent
    call = sse.data("call")[0]
    assert call["voice_id"] == call["payload"]["voice_id"] and call["number"] in (PERSON, BUSY)
    assert call["broadcast_id"] == bid and call["attempt"] == 1
    hooks = sse.data("webhook")
    assert len(hooks) == len(receiver.events)  # one message per delivery attempt
    assert {h["delivery_state"] for h in hooks} == {"delivered"}
    first = hooks[0]
    assert first["status"] == 200 and first["error"] is None and first["attempt_no"] == 1
    assert first["url"].startswith(receiver.url) and isinstance(first["latency_ms"], float)
    changes = [d["change"] for d in sse.data("broadcast")]
    assert changes[0] == "created" and changes[-1] == "completed" and "progress" in changes
    done = sse.data("broadcast")[-1]
    assert done["progress"]["successful"] == 1 and done["by_state"]["disconnected"] == 2
    assert done["virtual_time"] == receiver.completion()["timestamp"]  # type: ignore[index]
    jump = sse.data("clock")[-1]
    assert jump["change"] == "jump" and jump["from"] < jump["now"] and jump["mode"] == "auto"
    await sse.close()


async def test_types_and_broadcast_filters(
    emu: Running, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    sse = await _stream(emu, session)
    first = await emu.api.create([PERSON], receiver)
    await until(lambda: _completed(sse))
    query = f"?types=broadcast,clock&broadcast_id={first['broadcast_id']}"
    only = await _stream(emu, session, query)
    calls = await _stream(emu, session, "?types=call")
    receiver.events.clear()
    second = await emu.api.create([BUSY], receiver)
    await until(lambda: len([d for d in sse.data("broadcast") if d["change"] == "completed"]) == 2)
    await until(lambda: any(d["payload"]["to"] == BUSY for d in calls.data("call")))
    assert {m["event"] for m in only.messages[1:]} <= {"clock"}
    assert {m["event"] for m in calls.messages[1:]} == {"call"}
    assert {d["broadcast_id"] for d in calls.data("call")} == {second["broadcast_id"]}
    for stream in (sse, only, calls):
        await stream.close()


async def test_bad_filters_and_a_missing_token_are_json_errors(
    start_emulator: StartEmulator, session: aiohttp.ClientSession
) -> None:
    emu = await start_emulator(control_token="T")
    url = emu.url + "/_emulator/stream"
    sse = await SSE(session, url).start()
    assert sse.status == 401 and sse.body["state"] == "failed"
    sse = await SSE(session, url + "?token=T&types=call,gossip").start()
    assert sse.status == 400 and "gossip" in sse.body["error_description"]
    by_query = await SSE(session, url + "?token=T").start()
    by_header = await SSE(session, url, headers={"Authorization": "Bearer T"}).start()
    assert by_query.status == by_header.status == 200
    await by_query.close()
    await by_header.close()


async def test_a_project_stream_shows_that_project_only(
    start_emulator: StartEmulator, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    emu = await start_emulator(projects=(("billing", "key-b"),))
    billing = await SSE(session, emu.url + "/_emulator/projects/billing/stream").start()
    mine = await _stream(emu, session)
    await emu.api.create([PERSON], receiver)
    await until(lambda: _completed(mine))
    assert billing.data("hello")[0]["project"] == "billing"
    assert billing.messages[1:] == []
    status, _ = await emu.api.call(
        "POST",
        "/voice/v1/broadcast",
        emu.api.create_body([BUSY], receiver),
        headers={"Authorization": "Basic YmlsbGluZzprZXktYg=="},
        auth=False,
    )
    assert status == 200
    await until(lambda: _completed(billing))
    assert {d["project"] for d in billing.data()} == {"billing"}
    missing = await SSE(session, emu.url + "/_emulator/projects/nope/stream").start()
    assert missing.status == 404
    await billing.close()
    await mine.close()


async def test_keep_alive_comments_while_nothing_happens(
    emu: Running, session: aiohttp.ClientSession
) -> None:
    emu.emulator.bus.limits.heartbeat_s = 0.02  # 15 s in production
    sse = await _stream(emu, session)
    await until(lambda: sse.comments >= 3)
    assert sse.data() == sse.data("hello")
    await sse.close()


async def test_resume_after_last_event_id(
    start_emulator: StartEmulator, session: aiohttp.ClientSession
) -> None:
    emu = await start_emulator(clock="manual")
    world = emu.emulator
    keeper = await _stream(emu, session)  # keeps the ring alive between the two others
    first = await _stream(emu, session)
    world.record("GET", "/one", 200, None, None)
    await until(lambda: len(first.data("request")) == 1)
    last = first.messages[-1]["id"]
    await first.close()
    world.record("GET", "/two", 200, None, None)
    world.record("GET", "/three", 200, None, None)
    again = await SSE(
        session, emu.url + "/_emulator/stream", headers={"Last-Event-ID": last}
    ).start()
    await until(lambda: len(again.data("request")) == 2)
    assert [d["path"] for d in again.data("request")] == ["/two", "/three"]
    for s in (keeper, again):
        await s.close()


async def test_too_many_clients_get_a_json_503(
    emu: Running, session: aiohttp.ClientSession
) -> None:
    emu.emulator.bus.limits.max_clients = 2
    emu.emulator.bus.limits.heartbeat_s = 0.02  # a client gone is noticed at the next write
    a, b = await _stream(emu, session), await _stream(emu, session)
    c = await _stream(emu, session)
    assert c.status == 503 and "too many stream clients" in c.body["error_description"]
    await a.close()
    ring = emu.emulator.bus.ring
    await until(lambda: ring is not None and len(ring.readers) == 1)
    d = await _stream(emu, session)
    assert d.status == 200
    for s in (b, d):
        await s.close()


# -- readers that do not keep up -------------------------------------------------------------
async def _raw_client(url: str, path: str = "/_emulator/stream") -> tuple[Any, Any]:
    """A client socket with a tiny receive buffer, that reads only when told to."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock, limit=2048)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return reader, writer


def _flood(emu: Running, count: int, size: int = 2000) -> None:
    """`count` journal entries, each published as a `request` message of about `size` bytes."""
    for i in range(count):
        emu.emulator.record("GET", f"/{i}/" + "x" * size, 200, None, None)


async def test_a_reader_that_falls_behind_gets_one_dropped_message_and_catches_up(
    start_emulator: StartEmulator,
) -> None:
    emu = await start_emulator(clock="manual")
    limits = emu.emulator.bus.limits
    limits.ring_size, limits.send_buffer, limits.behind = 64, 4096, 1000
    reader, writer = await _raw_client(emu.url)
    await until(lambda: emu.emulator.bus.ring is not None)
    for _ in range(40):  # fill every buffer between us and the emulator
        _flood(emu, 32)
        await asyncio.sleep(0.03)
    _flood(emu, 500)  # the ring keeps 64 of these: the reader loses the rest
    _flood(emu, 1, size=10)
    received, last = b"", b'"path":"/0/' + b"x" * 10 + b'"'
    while b"event: dropped" not in received or last not in received:
        chunk = await asyncio.wait_for(reader.read(65536), 10)
        assert chunk, "the stream ended"
        received += chunk
    after = received[received.index(b"event: dropped") :]
    dropped = after.split(b"\n")[1]
    assert json.loads(dropped[len(b"data: ") :])["count"] > 400
    assert last in after  # caught up: the newest message came after the notice
    writer.close()


async def test_a_reader_that_stays_behind_is_disconnected(start_emulator: StartEmulator) -> None:
    emu = await start_emulator(clock="manual")
    limits = emu.emulator.bus.limits
    limits.ring_size, limits.send_buffer, limits.behind = 64, 4096, 3
    reader, writer = await _raw_client(emu.url)
    await until(lambda: emu.emulator.bus.ring is not None)
    closed = False
    for _ in range(200):  # it reads, but always far less than what happens
        _flood(emu, 200)
        await asyncio.sleep(0.01)
        try:
            chunk = await asyncio.wait_for(reader.read(4096), 5)
        except ConnectionError:
            chunk = b""
        if not chunk:
            closed = True
            break
    assert closed, "a reader that never catches up must be disconnected"
    await until(lambda: emu.emulator.bus.ring is None)
    writer.close()


async def test_a_client_that_never_reads_is_disconnected_and_never_holds_the_clock(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator()  # auto: the clock moves whenever nothing is in flight
    limits = emu.emulator.bus.limits
    limits.send_buffer, limits.write_timeout_s = 4096, 0.2
    _reader, writer = await _raw_client(emu.url)
    await until(lambda: emu.emulator.bus.ring is not None)
    numbers = [f"9198{i:07d}7" for i in range(300)]
    await emu.api.create(numbers, receiver)
    done = await emu.api.wait_complete(receiver, timeout=30)
    assert done["resultSet"]["successfull_calls"] == 300
    _flood(emu, 300)  # if it was not yet, now it is stuck
    await until(lambda: emu.emulator.bus.ring is None, timeout=10)  # dropped, and forgotten
    assert emu.emulator.activity.held == 0
    writer.close()


async def test_300_clients_at_once_each_see_everything_and_leave_nothing_behind(
    emu: Running, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    bus = emu.emulator.bus
    bus.limits.heartbeat_s = 0.05
    clients = [SSE(session, emu.url + "/_emulator/stream") for _ in range(300)]
    await asyncio.gather(*(c.start() for c in clients))
    assert bus.ring is not None and len(bus.ring.readers) == 300
    await emu.api.create([PERSON, BUSY], receiver)
    await until(lambda: all(_completed(c) for c in clients), timeout=30)
    counts = {len(c.data("call")) for c in clients}
    assert counts == {len([e for e in receiver.events if "voice_id" in e])}
    assert len(bus.ring.buf) == bus.limits.ring_size  # one bounded ring, however many readers
    await asyncio.gather(*(c.close() for c in clients))
    await until(lambda: bus.ring is None, timeout=10)  # each noticed at its next keep-alive
    assert not bus.listening


async def test_a_client_left_connected_for_hours_costs_a_bounded_ring(
    start_emulator: StartEmulator, session: aiohttp.ClientSession
) -> None:
    emu = await start_emulator(clock="manual")
    bus = emu.emulator.bus
    bus.limits.heartbeat_s = 0.005
    bus.limits.ring_size = 256
    sse = await _stream(emu, session)
    tracemalloc.start()
    try:
        for round_no in range(5):
            _flood(emu, 1000, size=100)
            await until(lambda: any(d["path"][:5] == "/999/" for d in sse.data("request")))
            sse.messages.clear()  # what the client keeps is its own business
            if round_no == 0:
                baseline = tracemalloc.get_traced_memory()[0]
            await until(lambda c=sse.comments: sse.comments > c + 2)  # and quiet stretches
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    ring = bus.ring
    assert ring is not None and len(ring.buf) == 256
    assert grown < 2_000_000, grown  # journal (bounded) and ring (bounded): no growth per message
    await sse.close()


async def test_shutdown_ends_open_streams_at_once() -> None:
    app = create_app(Settings(port=0, settle_ms=0))
    runner = EmulatorRunner(app, shutdown_timeout=60)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as session:
        sse = await SSE(session, f"http://127.0.0.1:{port}/_emulator/stream").start()
        await asyncio.wait_for(runner.cleanup(), 10)  # not the 60 s of the shutdown timeout
        await until(lambda: sse.ended)
    assert app[EMULATOR].bus.ring is None


def test_message_types_are_those_of_the_contract() -> None:
    assert set(MESSAGE_TYPES) >= {"request", "call", "webhook", "broadcast", "clock"}
