"""The `broadcast-emulator serve` command: flags, env twins, precedence, start line, signals."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
import pytest
from conftest import Receiver

from emulator import cli
from emulator.config import OPTIONS, Settings, load_settings
from emulator.sim.clock import ClockMode, parse_iso


async def _get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, Any]:
    headers = {"Authorization": aiohttp.encode_basic_auth(*auth)} if auth else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serve_prints_one_line_serves_and_stops_cleanly(serve: Any, sig: int) -> None:
    served = await serve()
    assert served.url.startswith("http://127.0.0.1:")
    assert (served.app_id, served.app_key, served.clock) == (
        "emulator-app-id",
        "emulator-app-key",
        "auto",
    )
    status, health = await _get(served.url + "/_emulator/health")
    assert status == 200 and health["status"] == "ok"
    served.proc.send_signal(sig)
    assert await asyncio.wait_for(served.proc.wait(), 20) == 0
    assert served.proc.stdout is not None
    assert await served.proc.stdout.read() == b""  # the start line was the only one


async def test_a_served_emulator_runs_a_broadcast_and_stops_cleanly_mid_campaign(
    serve: Any, receiver: Receiver
) -> None:
    served = await serve("--clock", "realtime", "--speed", "10")
    auth = {"Authorization": aiohttp.encode_basic_auth(served.app_id, served.app_key)}
    body = {
        "application_name": "cli",
        "broadcast_numbers_array": ["15551234567", "15550000002"],
        "from": "919999999999",
        "event_url": receiver.url + "/event",
    }
    async with aiohttp.ClientSession(headers=auth) as session:
        async with session.post(served.url + "/voice/v1/broadcast", json=body) as resp:
            assert resp.status == 200
        await receiver.wait_for(lambda r: any(e.get("state") == "connected" for e in r.events))
    served.proc.send_signal(signal.SIGTERM)  # the no-answer number rings on (30 s / 10)
    assert await asyncio.wait_for(served.proc.wait(), 20) == 0


async def test_flags_reach_the_running_server(serve: Any) -> None:
    served = await serve(
        "--clock",
        "manual",
        "--app-id",
        "me",
        "--app-key",
        "secret",
        "--start",
        "2030-05-01T00:00:00Z",
    )
    assert (served.app_id, served.app_key, served.clock) == ("me", "secret", "manual")
    status, clock = await _get(served.url + "/_emulator/clock")
    assert status == 200
    assert clock["mode"] == "manual" and clock["now"] == "2030-05-01T00:00:00.000Z"
    status, _ = await _get(served.url + "/voice/v1/broadcast/x", ("me", "secret"))
    assert status == 404
    status, _ = await _get(served.url + "/voice/v1/broadcast/x")
    assert status == 401
    served.proc.terminate()
    assert await asyncio.wait_for(served.proc.wait(), 20) == 0


async def test_env_twins_configure_and_flags_override_them(serve: Any) -> None:
    env = {"EMULATOR_CLOCK": "manual", "EMULATOR_APP_ID": "from-env", "EMULATOR_APP_KEY": "k"}
    served = await serve("--app-id", "from-flag", env=env)
    assert (served.app_id, served.app_key, served.clock) == ("from-flag", "k", "manual")
    served.proc.terminate()
    assert await asyncio.wait_for(served.proc.wait(), 20) == 0


# -- settings in process -----------------------------------------------------------------
def _settings(argv: list[str], environ: dict[str, str]) -> Settings:
    args = cli.build_parser().parse_args(["serve", *argv])
    return load_settings(cli=cli._cli_values(args), environ=environ)


def test_defaults_then_env_then_flags() -> None:
    assert _settings([], {}) == Settings()
    env = {"EMULATOR_SEED": "7", "EMULATOR_SPEED": "3", "EMULATOR_CLI_NUMBERS": "111111, 222222"}
    from_env = _settings([], env)
    assert (from_env.seed, from_env.speed, from_env.cli_numbers) == (7, 3.0, ("111111", "222222"))
    both = _settings(["--seed", "9", "--dial-rate", "4", "--settle-ms", "5"], env)
    assert (both.seed, both.speed, both.dial_rate, both.settle_ms) == (9, 3.0, 4, 5.0)


def test_every_contracted_flag_has_an_env_twin() -> None:
    names = {o.flag: o.env for o in OPTIONS}
    for flag in (
        "--host", "--port", "--app-id", "--app-key", "--cli-numbers", "--clock", "--settle-ms",
        "--speed", "--seed", "--start", "--dial-rate", "--scenario", "--webhook-encryption",
        "--tls-cert", "--tls-key",
    ):  # fmt: skip
        assert names[flag] == "EMULATOR_" + flag[2:].upper().replace("-", "_")


def test_start_and_clock_are_parsed() -> None:
    s = _settings(["--clock", "realtime", "--start", "2026-02-03T04:05:06Z"], {})
    assert s.clock is ClockMode.REALTIME
    assert s.start_ms == parse_iso("2026-02-03T04:05:06Z")
    assert _settings([], {"EMULATOR_CLOCK": "manual"}).clock is ClockMode.MANUAL


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["serve", "--port", "eighty"], "--port"),
        (["serve", "--clock", "sometimes"], "--clock"),
        (["serve", "--seed", "1.5"], "--seed"),
        (["serve", "--start", "yesterday"], "--start"),
        (["serve", "--speed", "0"], "--speed"),
        (["serve", "--speed", "-2"], "--speed"),
        (["serve", "--settle-ms", "-1"], "--settle-ms"),
        (["serve", "--dial-rate", "-1"], "--dial-rate"),
        (["serve", "--port", "70000"], "--port"),
        (["serve", "--no-such-flag"], "--no-such-flag"),
        (["launch"], "launch"),
    ],
)
def test_argument_errors_exit_2_with_a_message(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "serve" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "value"),
    [("EMULATOR_PORT", "eighty"), ("EMULATOR_CLOCK", "never"), ("EMULATOR_SPEED", "0")],
)
def test_bad_env_values_exit_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    assert cli.main(["serve"]) == 2
    assert name in capsys.readouterr().err


def test_a_port_in_use_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", "--port", str(port)]) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "tls", "url"),
    [
        ("127.0.0.1", False, "http://127.0.0.1:8080"),
        ("0.0.0.0", False, "http://127.0.0.1:8080"),
        ("::", False, "http://[::1]:8080"),
        ("::1", True, "https://[::1]:8080"),
        ("localhost", False, "http://localhost:8080"),
    ],
)
def test_the_printed_url_is_one_a_client_can_use(host: str, tls: bool, url: str) -> None:
    assert cli.display_url(host, 8080, tls) == url
