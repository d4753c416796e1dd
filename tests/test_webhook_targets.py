"""A webhook never reaches the emulator's own control plane (CONTRACT §11): refused at create with
a 400 naming the field, and refused again at delivery (a state file could hold such a URL)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import Receiver
from faulty_receivers import dispatcher, settled, wait_for

from emulator import ClockMode, Settings
from emulator.testing.server import EmulatorServer
from emulator.webhooks.targets import Listener, parse_target, webhook_url_problem

NUMBER = "919800000004"


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(Settings(clock=ClockMode.MANUAL, webhook_attempts=1)) as running:
        yield running


def _control_urls(base: str, port: int) -> list[str]:
    return [
        f"{base}/_emulator/reset",
        f"HTTP://127.0.0.1:{port}/_emulator/reset",
        f"http://localhost:{port}/_emulator/reset",
        f"http://LOCALHOST.:{port}/_Emulator/reset",
        f"http://0.0.0.0:{port}/_emulator/reset",
        f"http://127.1:{port}/_emulator/reset",
        f"http://2130706433:{port}/_emulator/reset",
        f"http://[::ffff:127.0.0.1]:{port}/_emulator/reset",
        f"http://127.0.0.1:{port}/%5Femulator/reset",
        f"http://127.0.0.1:{port}/%255Femulator/reset",
        f"http://127.0.0.1:{port}//_emulator//reset",
        f"http://127.0.0.1:{port}/voice/../_emulator/reset",
        f"http://127.0.0.1:{port}/_emulator",
        f"http://user:pw@127.0.0.1:{port}/_emulator/projects/x/reset?y=1",
    ]


@pytest.mark.parametrize("field", ["event_url", "call_handler_url"])
async def test_a_webhook_url_naming_the_control_plane_is_a_400_and_resets_nothing(
    server: EmulatorServer, receiver: Receiver, field: str
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    first = await server.create_broadcast([NUMBER], event_url=receiver.url + "/event")
    for url in _control_urls(server.url, port):
        body = {**_body(receiver), field: url}
        status, answer = await server.request("POST", "broadcast", body)
        assert status == 400, (url, answer)
        assert answer["error_description"].startswith(field), answer
        assert "control plane" in answer["error_description"]
    await server.advance(60)  # whatever was queued has been sent by now
    await wait_for(lambda: server.emulator.dispatcher.pending == 0)
    assert [b["broadcast_id"] for b in await server.broadcasts()] == [first["broadcast_id"]]


async def test_other_paths_and_ports_of_the_emulator_host_are_accepted(
    server: EmulatorServer, receiver: Receiver
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    for url in (
        f"http://127.0.0.1:{port}/hooks/_emulator",
        f"http://127.0.0.1:{port}/_emulatorx",
        f"http://127.0.0.1:{port + 1}/_emulator/reset",
        f"http://127.0.0.2:{port}/_emulator/reset",
    ):
        body = {**_body(receiver), "call_handler_url": url}
        status, answer = await server.request("POST", "broadcast", body)
        assert status == 200, (url, answer)


async def test_a_restored_delivery_to_the_control_plane_is_refused_at_delivery(
    server: EmulatorServer, receiver: Receiver
) -> None:
    first = await server.create_broadcast([NUMBER], event_url=receiver.url + "/event")
    dispatcher = server.emulator.dispatcher
    before = len(dispatcher.log)
    port = int(server.url.rsplit(":", 1)[1])
    for url in (f"{server.url}/_emulator/reset", f"http://localhost:{port}/_emulator//reset"):
        dispatcher.send("restored", url, {"state": "initiated"})  # as a state file would
    await wait_for(lambda: all(d.attempts for d in list(dispatcher.log)[before:]))
    refused = list(dispatcher.log)[before:]
    assert [d.attempts[0].error for d in refused] == [
        "refused: the emulator's own control plane"
    ] * 2
    assert [b["broadcast_id"] for b in await server.broadcasts()] == [first["broadcast_id"]]


class _NoLiterals(Listener):
    """A listener that cannot judge URLs (as for a name only DNS resolves): only the peer
    check of an open connection is left."""

    def serves(self, host: str, port: int) -> bool:
        return False


async def test_a_connection_that_turns_out_to_reach_the_emulator_is_refused(
    server: EmulatorServer, receiver: Receiver
) -> None:
    first = await server.create_broadcast([NUMBER], event_url=receiver.url + "/event")
    port = int(server.url.rsplit(":", 1)[1])
    async with dispatcher(attempts=1) as d:
        assert d.transport is not None
        d.transport.listener = _NoLiterals([("127.0.0.1", port)])
        d.send("c", f"http://127.0.0.1:{port}/_emulator/reset", {"state": "initiated"})
        await settled(d, 1)
    assert d.log[0].attempts[0].error == "refused: the emulator's own control plane"
    assert [b["broadcast_id"] for b in await server.broadcasts()] == [first["broadcast_id"]]


def test_the_listener_knows_its_aliases() -> None:
    loopback = Listener([("127.0.0.1", 8080)])
    for host in ("127.0.0.1", "localhost", "0.0.0.0", "127.1", "2130706433", "::ffff:127.0.0.1"):
        assert loopback.serves(host, 8080), host
    assert not loopback.serves("127.0.0.1", 8081)
    assert not loopback.serves("127.0.0.2", 8080)  # nothing of ours listens there
    assert not loopback.serves("example.com", 8080)
    every = Listener([("0.0.0.0", 80)])
    assert every.serves("127.0.0.2", 80) and every.serves("::1", 80) and every.serves("0", 80)
    assert not every.serves("10.1.2.3", 80)  # judged at delivery, by the connection's peer
    assert every.reaches_self(("10.1.2.3", 80), ("10.1.2.3", 50000))
    assert not every.reaches_self(("10.1.2.4", 80), ("10.1.2.3", 50000))
    assert loopback.reaches_self(("127.0.0.1", 8080), ("127.0.0.1", 40000))
    assert not loopback.reaches_self(("127.0.0.1", 9), ("127.0.0.1", 40000))
    v6 = Listener([("::", 443)])
    assert v6.serves("[::1]".strip("[]"), 443) and v6.bound == [("::", 443)]


def test_url_problems_are_phrases_that_follow_the_field_name() -> None:
    listener = Listener([("127.0.0.1", 8080)])
    assert webhook_url_problem("http://127.0.0.1:8080/hook", listener=listener) is None
    assert "control plane" in (
        webhook_url_problem("http://127.0.0.1:8080/_emulator/reset", listener=listener) or ""
    )
    assert "allow list" in (webhook_url_problem("http://evil.example/", ("127.0.0.1",)) or "")
    assert webhook_url_problem("http://Bücher.example/", ("xn--bcher-kva.example",)) is None
    assert "port" in (webhook_url_problem("http://h:99999/") or "")
    assert parse_target("http://h/_emulator/x").control
    assert not parse_target("http://h/x/_emulator").control


def _body(receiver: Receiver) -> dict[str, Any]:
    return _body_to(receiver.url + "/event")


async def test_serve_knows_where_it_listens(serve: Any) -> None:
    """`broadcast-emulator serve` (a real process) refuses webhooks to its own control plane."""
    import aiohttp

    served = await serve("--clock", "manual")
    body = {**_body_to("http://127.0.0.1:9/event"), "event_url": served.url + "/_emulator/reset"}
    pair = base64.b64encode(f"{served.app_id}:{served.app_key}".encode()).decode()
    headers = {"Authorization": f"Basic {pair}"}
    url = served.url + "/voice/v1/broadcast"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as r,
    ):
        status, answer = r.status, await r.json()
    served.proc.terminate()
    assert await served.proc.wait() == 0
    assert status == 400 and "event_url" in answer["error_description"]
    assert "control plane" in answer["error_description"]


def _body_to(url: str) -> dict[str, Any]:
    return {
        "application_name": "targets",
        "broadcast_numbers_array": [NUMBER],
        "from": "919999999999",
        "event_url": url,
    }
