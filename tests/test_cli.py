"""The `broadcast-emulator serve` command: flags, env twins, precedence, start line, signals."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
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
    banner = (await served.proc.stdout.read()).decode()  # after the start line: the banner
    assert banner.startswith("  listening on   127.0.0.1:"), banner


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


async def test_a_port_in_use_is_one_clear_line_and_nothing_starts(tmp_path: Path) -> None:
    """A real second `serve` on a taken port: one line, exit 2, no traceback, no "Unclosed
    client session", and its state file is neither read nor written."""
    import socket

    state = tmp_path / "state.json"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = await _run("serve", "--port", str(port), "--state-file", str(state))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"broadcast-emulator serve: error: cannot listen on 127.0.0.1:{port}: address already "
        "in use (is another emulator still running? choose another --port, or --port 0 for a "
        "free one)"
    ]
    assert not state.exists()


async def _run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`python -m emulator ARGV` to its end: (exit code, stdout, stderr)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    environ.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "emulator",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environ,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _line(stream: asyncio.StreamReader) -> str:
    return (await asyncio.wait_for(stream.readline(), 10)).decode().rstrip("\n")


INTERNAL_NAMES = ("ClockMode", "_port", "parse_iso", "_bounded", "_int", "invalid", "usage:")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--clock", "x"], "--clock: 'x' is not one of auto, manual, realtime"),
        (["--port", "eighty"], "--port: 'eighty' is not a whole number"),
        (["--port", "70000"], "--port: must be between 0 and 65535, not 70000"),
        (
            ["--start", "yesterday"],
            "--start: 'yesterday' is not an ISO-8601 instant such as 2026-01-01T09:00:00Z",
        ),
        (["--seed", "1.5"], "--seed: '1.5' is not a whole number"),
        (["--speed", "0"], "--speed: must be greater than 0, not 0"),
        (["--max-numbers", "0"], "--max-numbers: must be at least 1, not 0"),
        (["--webhook-attempts", "0"], "--webhook-attempts: must be at least 1, not 0"),
        (["--journal-size", "-1"], "--journal-size: must be at least 1, not -1"),
        (["--delivery-log-size", "0"], "--delivery-log-size: must be at least 1, not 0"),
        (["--webhook-workers", "0"], "--webhook-workers: must be at least 1, not 0"),
        (["--max-body-bytes", "0"], "--max-body-bytes: must be at least 1, not 0"),
        (["--webhook-timeout-s", "0"], "--webhook-timeout-s: must be greater than 0, not 0"),
        (["--webhook-backoff-s", "-1"], "--webhook-backoff-s: must be at least 0, not -1"),
        (["--shutdown-grace-s", "nan"], "--shutdown-grace-s: 'nan' is not a finite number"),
        (["--header-timeout-s", "0"], "--header-timeout-s: must be greater than 0, not 0"),
        (["--body-timeout-s", "-5"], "--body-timeout-s: must be greater than 0, not -5"),
        (["--max-connections", "0"], "--max-connections: must be at least 1, not 0"),
        (["--log-level", "loud"], "--log-level: 'loud' is not one of debug, info, warning, error"),
        (["--webhook-format", "b64"], "--webhook-format: 'b64' is not one of base64, hex"),
    ],
)
def test_flag_errors_are_one_line_without_internal_names(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"broadcast-emulator serve: error: {line}",
        "run 'broadcast-emulator serve --help' for the options",
    ]
    assert not any(name in err for name in INTERNAL_NAMES), err


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("EMULATOR_MAX_NUMBERS", "0", "EMULATOR_MAX_NUMBERS: must be at least 1, not 0"),
        ("EMULATOR_CLOCK", "never", "EMULATOR_CLOCK: 'never' is not one of auto, manual, realtime"),
        ("EMULATOR_JOURNAL_SIZE", "-1", "EMULATOR_JOURNAL_SIZE: must be at least 1, not -1"),
    ],
)
def test_environment_errors_are_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    line: str,
) -> None:
    monkeypatch.setenv(name, value)
    assert cli.main(["serve"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"broadcast-emulator serve: error: {line}"]


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"broadcast-emulator {version('broadcast-emulator')}\n"


@pytest.fixture
def pem_pair(tmp_path: Path) -> tuple[Path, Path]:
    from emulator.tls import write_certificates

    paths = write_certificates(tmp_path / "certs", ("localhost",), local=True)
    return paths.server_cert, paths.server_key


def _tls_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(["serve", "--port", "0", *argv]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("broadcast-emulator serve: error: "), line
    return line.removeprefix("broadcast-emulator serve: error: ")


def test_tls_cert_without_key_is_one_clear_line(
    pem_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key = pem_pair
    assert _tls_error(["--tls-cert", str(cert)], capsys) == (
        f"--tls-cert {cert} holds no private key: give its key file with --tls-key "
        "(broadcast-emulator cert writes both)"
    )
    assert _tls_error(["--tls-key", str(key)], capsys) == (
        "--tls-key needs --tls-cert: give the certificate the key belongs to"
    )


def test_unreadable_or_mismatched_tls_files_are_one_clear_line(
    pem_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key = pem_pair
    missing = tmp_path / "nope.pem"
    assert _tls_error(["--tls-cert", str(missing), "--tls-key", str(key)], capsys) == (
        f"--tls-cert {missing}: cannot read it (No such file or directory)"
    )
    assert _tls_error(["--tls-cert", str(cert), "--tls-key", str(missing)], capsys) == (
        f"--tls-key {missing}: cannot read it (No such file or directory)"
    )
    line = _tls_error(["--tls-cert", str(key), "--tls-key", str(cert)], capsys)
    assert line.startswith(f"--tls-cert {key} and --tls-key {cert}: not a PEM certificate"), line


def test_a_combined_pem_needs_no_separate_key(pem_pair: tuple[Path, Path], tmp_path: Path) -> None:
    from emulator.serving import ssl_context

    cert, key = pem_pair
    both = tmp_path / "both.pem"
    both.write_bytes(cert.read_bytes() + key.read_bytes())
    assert ssl_context(Settings(tls_cert=str(both))) is not None


async def test_the_banner_names_every_url_credentials_and_clock(serve: Any) -> None:
    served = await serve("--clock", "manual", "--control-token", "t0k")
    assert served.proc.stdout is not None
    lines = [await _line(served.proc.stdout) for _ in range(8)]
    url = served.url
    port = url.rsplit(":", 1)[1]
    assert lines == [
        f"  listening on   127.0.0.1:{port}",
        f"  API            {url}/voice/v1 (also {url}/v1)",
        "  credentials    HTTP Basic, APP_ID 'emulator-app-id', APP_KEY 'emulator-app-key'",
        f"  control plane  {url}/_emulator (Bearer token required, except on health), "
        f"health at {url}/_emulator/health",
        f"  OpenAPI        {url}/_emulator/openapi.json",
        f"  console        {url}/_emulator/ui",
        "  clock          manual at 2026-01-01T09:00:00.000Z: moves only through "
        "POST /_emulator/clock/advance",
        "  stop with Ctrl-C (twice to stop at once)",
    ]
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": "Bearer t0k"}
        async with session.get(f"{url}/_emulator/openapi.json", headers=headers) as resp:
            assert resp.status == 200
    served.proc.terminate()
    assert await asyncio.wait_for(served.proc.wait(), 20) == 0


async def test_all_addresses_are_named_as_such(serve: Any) -> None:
    served = await serve("--host", "0.0.0.0", "--control-token", "t")
    port = served.url.rsplit(":", 1)[1]
    assert served.url == f"http://127.0.0.1:{port}"  # the first line stays greppable
    assert served.proc.stdout is not None
    listening = await _line(served.proc.stdout)
    assert listening == (
        f"  listening on   0.0.0.0:{port} (every IPv4 address of this machine; from this "
        f"machine use http://127.0.0.1:{port}, from others this machine's address)"
    )
    status, health = await _get(served.url + "/_emulator/health")
    assert status == 200 and health["status"] == "ok"
    served.proc.terminate()
    assert await asyncio.wait_for(served.proc.wait(), 20) == 0


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


def test_cert_prints_a_serve_line_with_the_clients_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "certs"
    assert cli.main(["cert", "--out", str(out), "--app-id", "my id", "--app-key", "k3y"]) == 0
    lines = capsys.readouterr().out.splitlines()
    (serve_line,) = [ln for ln in lines if ln.startswith("serve with: ")]
    assert serve_line == (
        f"serve with: broadcast-emulator serve --port 443 --tls-cert {out / 'server.pem'} "
        f"--tls-key {out / 'server-key.pem'} --app-id 'my id' --app-key k3y"
    )
    import shlex

    argv = shlex.split(serve_line.removeprefix("serve with: broadcast-emulator "))
    settings = cli.settings_from_args(cli.build_parser().parse_args(argv))
    assert (settings.app_id, settings.app_key, settings.port) == ("my id", "k3y", 443)


def test_cert_without_credentials_says_they_must_match_the_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["cert", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "--app-id YOUR_APP_ID --app-key YOUR_APP_KEY" in out
    assert (
        "  --app-id/--app-key must be the APP_ID and APP_KEY your client sends "
        "(any other pair gets 401)"
    ) in out.splitlines()
