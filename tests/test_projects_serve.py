"""Projects from the command line: flags, environment, bad values, the state file, encryption."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import MakeReceiver, Receiver, Serve, StartEmulator, until
from test_crypto import needs_node, node_decrypt_all

from emulator.cli import main

PERSON = "919800000010"
CREATE = "/voice/v1/broadcast"


def basic(app_id: str, app_key: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(app_id, app_key)}


def body(receiver: Receiver, numbers: list[str] | None = None) -> dict[str, Any]:
    return {
        "application_name": "projects",
        "broadcast_numbers_array": numbers or [PERSON],
        "from": "919999999999",
        "action_on_connect": {"play": {"text": "Hello there", "voice": "female"}},
        "event_url": receiver.url + "/event",
        "call_handler_url": receiver.url + "/call",
    }


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--project", "nokey"], "is not ID:KEY"),
        (["--project", "a:"], "is not ID:KEY"),
        (["--project", ":k"], "is not ID:KEY"),
        (["--project", "a b:k"], "cannot name a project"),
        (["--project", "a/b:k"], "cannot name a project"),
        (["--project", "a:k1", "--project", "a:k2"], "given twice"),
        (["--project", "a:k1,a:k2"], "given twice"),
        (["--project", "emulator-app-id:k"], "given twice"),
        (["--app-id", "bad id"], "cannot name a project"),
        (["--control-token", ""], "must not be empty"),
        (["--max-projects", "x"], "max-projects"),
    ],
)
def test_bad_project_flags_exit_2_with_one_clear_line(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", "0", *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err, err


def test_bad_projects_in_the_environment_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EMULATOR_PROJECTS", "good:k,broken")
    assert main(["serve", "--port", "0"]) == 2
    assert "EMULATOR_PROJECTS" in capsys.readouterr().err


async def test_projects_from_the_environment_serve_side_by_side(
    serve: Serve, receiver: Receiver
) -> None:
    served = await serve("--settle-ms", "0", env={"EMULATOR_PROJECTS": "app-b:key-b,app-c:key:c"})
    async with aiohttp.ClientSession() as session:
        ids = {}
        for app_id, app_key in (("app-b", "key-b"), ("app-c", "key:c")):
            async with session.post(
                served.url + CREATE, json=body(receiver), headers=basic(app_id, app_key)
            ) as resp:
                assert resp.status == 200, await resp.text()
                ids[app_id] = (await resp.json())["broadcast_id"]
        async with session.get(
            served.url + f"{CREATE}/{ids['app-b']}", headers=basic("app-c", "key:c")
        ) as resp:
            assert resp.status == 404
        async with session.get(served.url + "/_emulator/projects") as resp:
            listing = await resp.json()
        assert [p["app_id"] for p in listing["projects"]] == ["emulator-app-id", "app-b", "app-c"]
    served.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(served.proc.wait(), 20) == 0


async def test_project_flags_replace_the_environment_list(serve: Serve) -> None:
    served = await serve("--project", "app-b:k", env={"EMULATOR_PROJECTS": "app-c:k"})
    async with (
        aiohttp.ClientSession() as session,
        session.get(served.url + "/_emulator/projects") as resp,
    ):
        listing = await resp.json()
    assert [p["app_id"] for p in listing["projects"]] == ["emulator-app-id", "app-b"]


async def test_a_state_file_with_three_projects_survives_a_restart(
    serve: Serve, tmp_path: Path, make_receiver: MakeReceiver
) -> None:
    state = tmp_path / "state.json"
    receiver = await make_receiver()
    flags = ("--clock", "manual", "--state-file", str(state), "--project", "declared:k-d")
    first = await serve(*flags)
    reports: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            first.url + "/_emulator/projects",
            json={"app_id": "posted", "app_key": "k-p", "seed": 42, "clock": "manual"},
        ) as resp:
            assert resp.status == 201, await resp.text()
        creds = {"emulator-app-id": "emulator-app-key", "declared": "k-d", "posted": "k-p"}
        for n, (app_id, key) in enumerate(creds.items()):
            numbers = [PERSON] * (n + 1)
            async with session.post(
                first.url + CREATE, json=body(receiver, numbers), headers=basic(app_id, key)
            ) as resp:
                created = await resp.json()
            path = f"/_emulator/projects/{app_id}/clock/run-until-idle"
            async with session.post(first.url + path, json={}) as resp:
                assert resp.status == 200
            async with session.get(
                first.url + f"{CREATE}/{created['broadcast_id']}", headers=basic(app_id, key)
            ) as resp:
                reports[app_id] = await resp.json()
        first.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(first.proc.wait(), 20) == 0
        saved = json.loads(state.read_text())
        assert [p["app_id"] for p in saved["projects"]] == list(creds)
        second = await serve(*flags)
        for app_id, key in creds.items():
            bid = reports[app_id]["broadcast_id"]
            async with session.get(
                second.url + f"{CREATE}/{bid}", headers=basic(app_id, key)
            ) as resp:
                again = await resp.json()
            assert resp.status == 200, again
            assert again["resultSet"] == reports[app_id]["resultSet"], app_id
            assert len(again["resultSet"]) == list(creds).index(app_id) + 1
        async with session.get(second.url + "/_emulator/projects/posted") as resp:
            posted = await resp.json()
        assert posted["app_key"] == "k-p" and posted["settings"]["seed"] == 42
        async with session.get(second.url + "/_emulator/health") as resp:
            health = await resp.json()
        assert health["projects"] == 3 and health["state_file"]["restored"]["projects"] == 3
    second.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(second.proc.wait(), 20) == 0


@needs_node
async def test_each_project_encrypts_with_its_own_app_id(
    start_emulator: StartEmulator, make_receiver: MakeReceiver
) -> None:
    run = await start_emulator(webhook_encryption="aes256")
    async with run.api.session.post(
        run.url + "/_emulator/projects", json={"app_id": "second-app", "app_key": "k2"}
    ) as resp:
        assert resp.status == 201
    receivers = {"emulator-app-id": await make_receiver(), "second-app": await make_receiver()}
    keys = {"emulator-app-id": "emulator-app-key", "second-app": "k2"}
    for app_id, rec in receivers.items():
        async with run.api.session.post(
            run.url + CREATE, json=body(rec), headers=basic(app_id, keys[app_id])
        ) as resp:
            assert resp.status == 200
    await until(lambda: all(len(r.events) >= 5 for r in receivers.values()))
    for app_id, rec in receivers.items():
        items = [
            {"headers": {k.lower(): v for k, v in h.items()}, "body": b, "appId": app_id}
            for h, b in zip(rec.headers, rec.events, strict=True)
        ]
        decrypted = node_decrypt_all(items)
        assert decrypted[0]["state"] == "initiated" and "encrypted_data" in rec.events[0]
    second = receivers["second-app"]
    wrong = [
        {
            "headers": {k.lower(): v for k, v in second.headers[0].items()},
            "body": second.events[0],
            "appId": "emulator-app-id",
        }
    ]
    with pytest.raises(AssertionError):
        node_decrypt_all(wrong)  # the other project's APP_ID does not open it


# -- hardening that came with the registry ----------------------------------------------------
async def test_the_control_token_guards_every_route_but_the_health_path(
    start_emulator: StartEmulator,
) -> None:
    run = await start_emulator(control_token="s3cret")
    session = run.api.session
    for method, path in (
        ("DELETE", "/_emulator/faults/health"),
        ("GET", "/_emulator/projects/emulator-app-id/health"),
        ("POST", "/_emulator/health"),
        ("GET", "/_emulator/clock"),
        ("POST", "/_emulator/projects"),
        ("GET", "/_emulator/health/"),
    ):
        async with session.request(method, run.url + path, json={}) as resp:
            answer = await resp.json(content_type=None)
            assert resp.status in (401, 404, 405), (method, path, resp.status)
            assert answer["state"] == "failed"
        assert run.emulator.faults.webhook == [] or method != "DELETE"
    async with session.get(run.url + "/_emulator/health") as resp:
        assert resp.status == 200
    for header in ("bearer s3cret", "Bearer  s3cret", "s3cret", "Bearer s3cre", "Bearer s3cretX"):
        async with session.get(
            run.url + "/_emulator/clock", headers={"Authorization": header}
        ) as resp:
            assert resp.status == 401, header
    async with session.get(
        run.url + "/_emulator/clock", headers={"Authorization": "Bearer s3cret"}
    ) as resp:
        assert resp.status == 200
    async with session.get(run.url + "/_emulator/clock?token=s3cret") as resp:
        assert resp.status == 200


async def test_faults_behind_the_token_cannot_be_cleared_by_a_health_suffix(
    start_emulator: StartEmulator,
) -> None:
    run = await start_emulator(control_token="t", api_fault="POST /broadcast=503")
    async with run.api.session.delete(run.url + "/_emulator/faults/health") as resp:
        assert resp.status == 401
    assert len(run.emulator.faults.api) == 1


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("emulator-app-id", "emulator-app-key "),
        ("emulator-app-id ", "emulator-app-key"),
        (" emulator-app-id", "emulator-app-key"),
        ("emulator-app-id", " emulator-app-key"),
        ("EMULATOR-APP-ID", "emulator-app-key"),
    ],
)
async def test_basic_credentials_match_exactly(
    start_emulator: StartEmulator, user: str, password: str
) -> None:
    run = await start_emulator()
    async with run.api.session.get(run.url + f"{CREATE}/x", headers=basic(user, password)) as resp:
        assert resp.status == 401


async def test_the_scheme_word_of_basic_auth_is_case_insensitive(
    start_emulator: StartEmulator,
) -> None:
    run = await start_emulator()
    token = basic("emulator-app-id", "emulator-app-key")["Authorization"].split(" ", 1)[1]
    async with run.api.session.get(
        run.url + f"{CREATE}/x", headers={"Authorization": "basic " + token}
    ) as resp:
        assert resp.status == 404  # authenticated: the broadcast is unknown


async def test_a_client_polling_the_report_does_not_hold_the_auto_clock(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    """Every 5 ms a GET of the report, faster than the settle window: time still moves."""
    run = await start_emulator(settle_ms=20)
    async with run.api.session.post(
        run.url + CREATE, json=body(receiver), headers=run.api.auth
    ) as r:
        bid = (await r.json())["broadcast_id"]
    stop = asyncio.Event()

    async def poll() -> None:
        while not stop.is_set():
            async with run.api.session.get(run.url + f"{CREATE}/{bid}", headers=run.api.auth):
                pass
            await asyncio.sleep(0.005)

    poller = asyncio.create_task(poll())
    try:
        await until(lambda: receiver.completion() is not None, timeout=20)
    finally:
        stop.set()
        await poller
    assert receiver.names(PERSON)[:2] == ["initiated", "ringing"]
