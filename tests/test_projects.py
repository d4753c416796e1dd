"""Projects: one emulator, many isolated worlds, each with its own credentials and clock."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from conftest import Api, MakeReceiver, Receiver, Running, StartEmulator, until

from emulator import Settings

PERSON, BUSY = "919800000010", "919800000001"
CREATE = "/voice/v1/broadcast"


class Project:
    """A client of one project: its API credentials and its scoped control routes."""

    def __init__(self, run: Running, app_id: str, app_key: str) -> None:
        self.app_id = app_id
        self.api = Api(run.api.session, run.url, Settings(app_id=app_id, app_key=app_key))
        self.session = run.api.session
        self.base = f"{run.url}/_emulator/projects/{app_id}"

    async def control(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        async with self.session.request(method, self.base + path, json=body) as resp:
            answer = await resp.json(content_type=None)
            assert resp.status == expect, answer
            return answer

    async def create(self, numbers: list[str], receiver: Receiver, **extra: Any) -> Any:
        return await self.api.create(numbers, receiver, **extra)


async def post_project(run: Running, body: dict[str, Any], expect: int = 201) -> Any:
    async with run.api.session.post(run.url + "/_emulator/projects", json=body) as resp:
        answer = await resp.json(content_type=None)
        assert resp.status == expect, answer
        return answer


async def new_project(run: Running, **body: Any) -> Project:
    answer = await post_project(run, body)
    return Project(run, answer["app_id"], answer["app_key"])


def default_project(run: Running) -> Project:
    settings = run.emulator.settings
    return Project(run, settings.app_id, settings.app_key)


def completed(receiver: Receiver) -> bool:
    return receiver.completion() is not None


# -- isolation of time ---------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["auto", "manual", "realtime"])
async def test_two_projects_side_by_side_in_each_clock_mode(
    mode: str, start_emulator: StartEmulator, make_receiver: MakeReceiver
) -> None:
    run = await start_emulator(clock=mode, speed=1000.0)
    a, b = default_project(run), await new_project(run, clock=mode, speed=1000)
    rec_a, rec_b = await make_receiver(), await make_receiver()
    await a.create([PERSON], rec_a)
    await b.create([BUSY, PERSON], rec_b)
    if mode == "manual":
        await b.control("POST", "/clock/run-until-idle")
        await until(lambda: completed(rec_b))
        assert rec_a.events == [] or all(e["state"] == "initiated" for e in rec_a.events)
        assert (await a.control("GET", "/clock"))["now"] == "2026-01-01T09:00:00.000Z"
        await a.control("POST", "/clock/run-until-idle")
    await until(lambda: completed(rec_a) and completed(rec_b))
    assert rec_a.names(PERSON)[-1] == "disconnected" and rec_b.names(BUSY)[-1] == "disconnected"
    assert rec_a.completion()["resultSet"]["total_calls"] == 1  # type: ignore[index]
    assert rec_b.completion()["resultSet"]["total_calls"] == 2  # type: ignore[index]


async def test_a_manual_project_never_holds_an_auto_project(
    start_emulator: StartEmulator, make_receiver: MakeReceiver
) -> None:
    run = await start_emulator(clock="manual")
    auto = await new_project(run, clock="auto", settle_ms=0)
    rec_manual, rec_auto = await make_receiver(), await make_receiver()
    await default_project(run).create([PERSON], rec_manual)
    await auto.create([BUSY, PERSON], rec_auto)
    await until(lambda: completed(rec_auto))
    clock = await default_project(run).control("GET", "/clock")
    assert clock["now"] == "2026-01-01T09:00:00.000Z" and clock["pending"] > 0
    assert [e["state"] for e in rec_manual.events if "voice_id" in e] == []


async def test_a_slow_receiver_holds_only_its_own_project(
    start_emulator: StartEmulator, make_receiver: MakeReceiver
) -> None:
    run = await start_emulator()
    slow, fast = default_project(run), await new_project(run)
    rec_slow, rec_fast = await make_receiver(), await make_receiver()
    release = asyncio.Event()

    async def hang(event: dict[str, Any]) -> None:
        if event.get("state") == "initiated" and "voice_id" in event:
            await release.wait()

    rec_slow.react = hang
    await slow.create([PERSON], rec_slow)
    await until(lambda: any("voice_id" in e for e in rec_slow.events))
    await fast.create([BUSY, PERSON], rec_fast)
    await until(lambda: completed(rec_fast))  # two minutes of virtual time went by in `fast`
    held = await slow.control("GET", "/clock")
    assert held["now"] == "2026-01-01T09:00:00.000Z" and held["in_flight"] >= 1
    release.set()
    await until(lambda: completed(rec_slow))


# -- isolation of what happened ------------------------------------------------------------
async def test_broadcasts_and_calls_of_one_project_are_404_to_another(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    run = await start_emulator(clock="manual")
    a, b = default_project(run), await new_project(run, clock="manual", seed=99)
    created = await a.create([PERSON], receiver)
    await a.control("POST", "/clock/advance", {"seconds": 4})
    voice_id = created["voice_id"]
    bid = created["broadcast_id"]
    assert (await a.api.call("GET", f"/voice/v1/call/{voice_id}"))[0] == 200
    for method, path in (
        ("GET", f"{CREATE}/{bid}"),
        ("DELETE", f"{CREATE}/{bid}"),
        ("GET", f"/voice/v1/call/{voice_id}"),
        ("DELETE", f"/voice/v1/call/{voice_id}"),
        ("PUT", f"{CREATE}/undefined/call/{voice_id}/play"),
        ("DELETE", f"/v1/calls/{voice_id}"),
    ):
        body = {"play": {"text": "hi"}} if method == "PUT" else None
        status, answer = await b.api.call(method, path, body)
        assert status == 404 and answer["state"] == "failed", (method, path, answer)
    assert (await a.api.call("GET", f"/voice/v1/call/{voice_id}"))[1]["state"] == "connected"
    assert (await b.control("GET", "/broadcasts"))["broadcasts"] == []
    assert [r["path"] for r in (await b.control("GET", "/requests"))["requests"]][:1] == [
        f"{CREATE}/{bid}"
    ]
    assert all(bid not in r["path"] for r in (await a.control("GET", "/requests"))["requests"][1:2])


async def _campaign_ids(project: Project, receiver: Receiver) -> list[Any]:
    created = await project.create([PERSON, BUSY, "919800000005"], receiver)
    await project.control("POST", "/clock/run-until-idle")
    report = await project.api.report(created["broadcast_id"])
    log = (await project.control("GET", "/webhooks"))["deliveries"]
    return [created["broadcast_id"], report["resultSet"], [d["payload"] for d in log]]


async def test_a_projects_ids_and_payloads_do_not_depend_on_other_projects(
    start_emulator: StartEmulator, make_receiver: MakeReceiver
) -> None:
    alone = await start_emulator(clock="manual")
    first = await new_project(alone, app_id="mine", clock="manual", seed=7)
    expected = await _campaign_ids(first, await make_receiver())
    busy = await start_emulator(clock="manual", seed=7)
    others = [await new_project(busy, clock="auto", seed=s) for s in (1, 7)]
    for other in others:
        await other.create(["919811111111", BUSY], await make_receiver())
    mine = await new_project(busy, app_id="mine", clock="manual", seed=7)
    await others[0].create([PERSON], await make_receiver())
    assert await _campaign_ids(mine, await make_receiver()) == expected
    default = await _campaign_ids(default_project(busy), await make_receiver())
    assert default[0] != expected[0]  # same seed, another project: never the same ids


async def test_reset_journal_faults_and_scenario_are_scoped(
    start_emulator: StartEmulator, make_receiver: MakeReceiver
) -> None:
    run = await start_emulator(clock="manual")
    a, b = default_project(run), await new_project(run, clock="manual")
    rec_a, rec_b = await make_receiver(), await make_receiver()
    await a.create([PERSON], rec_a)
    await b.create([PERSON], rec_b)
    scenario = "version: 1\nrules:\n  - number: '919800000010'\n    outcome: busy\n"
    async with run.api.session.put(b.base + "/scenario", data=scenario) as resp:
        assert resp.status == 200, await resp.text()
    await b.control("POST", "/faults", {"kind": "api", "route": "/broadcast", "status": 503})
    status, _ = await b.api.call("POST", CREATE, b.api.create_body([PERSON], rec_b))
    assert status == 503
    assert (await a.api.call("POST", CREATE, a.api.create_body([PERSON], rec_a)))[0] == 200
    assert len((await a.control("GET", "/faults"))["api"]) == 0
    await b.control("DELETE", "/faults")
    late = await b.create([PERSON], rec_b)  # dialled after the scenario: busy in b only
    mine = await a.create([PERSON], rec_a)
    await b.control("POST", "/clock/run-until-idle")
    await a.control("POST", "/clock/run-until-idle")
    report_b = await b.api.report(late["broadcast_id"])
    report_a = await a.api.report(mine["broadcast_id"])
    assert report_b["resultSet"][0]["result"]["reason"] == "Busy"
    assert report_a["resultSet"][0]["result"]["reason"] == "success"
    await b.control("POST", "/reset")
    assert (await b.control("GET", "/broadcasts"))["broadcasts"] == []
    assert (await b.control("GET", "/requests"))["requests"] == []
    assert len((await a.control("GET", "/broadcasts"))["broadcasts"]) == 3
    assert len((await a.control("GET", "/requests"))["requests"]) >= 3


async def test_unknown_project_in_a_control_path_is_a_json_404(emu: Running) -> None:
    async with emu.api.session.get(emu.url + "/_emulator/projects/nobody/clock") as resp:
        body = await resp.json()
    assert resp.status == 404 and "nobody" in body["error_description"]


# -- the registry ----------------------------------------------------------------------------
async def test_projects_are_listed_counted_shown_and_deleted(emu: Running) -> None:
    created = await post_project(emu, {"app_id": "team-b", "clock": "manual", "seed": 5})
    assert created["app_key"] and created["settings"]["seed"] == 5
    assert created["control"] == "/_emulator/projects/team-b"
    listing = await emu.api.control("GET", "/projects")
    assert [p["app_id"] for p in listing["projects"]] == ["emulator-app-id", "team-b"]
    assert listing["projects"][1]["clock"]["mode"] == "manual"
    assert (await emu.api.control("GET", "/health"))["projects"] == 2
    b = Project(emu, "team-b", created["app_key"])
    shown = await b.control("GET", "")
    assert shown["app_key"] == created["app_key"] and shown["broadcasts"] == 0
    assert (await b.control("DELETE", ""))["deleted"] == "team-b"
    status, answer = await b.api.call("GET", f"{CREATE}/x")
    assert status == 401 and answer["state"] == "failed"
    await b.control("GET", "/clock", expect=404)
    assert (await emu.api.control("GET", "/health"))["projects"] == 1


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"colour": "red"}, 400, "unknown keys: colour"),
        ({"clock": "sometimes"}, 400, "clock"),
        ({"seed": "x"}, 400, "seed"),
        ({"speed": 0}, 400, "speed"),
        ({"settle_ms": -1}, 400, "settle_ms"),
        ({"app_id": "a/b"}, 400, "cannot name a project"),
        ({"app_id": "a b"}, 400, "cannot name a project"),
        ({"app_id": ""}, 400, "app_id"),
        ({"app_key": 5}, 400, "app_key"),
        ({"app_id": "emulator-app-id"}, 409, "exists"),
        ({"webhook_encryption": "rot13"}, 400, "rot13"),
        ({"cli_numbers": {"a": 1}}, 400, "cli_numbers"),
        (
            {"scenario": {"version": 1, "rules": [{"number": "x", "outcome": "sleepy"}]}},
            400,
            "rules",
        ),
        ({"scenario": "version: [1"}, 400, "YAML"),
        ({"scenario": {"version": 1, "groups": {"v": {"csv": "/etc/passwd"}}}}, 400, "read files"),
    ],
)
async def test_bad_project_requests_are_refused_and_create_nothing(
    emu: Running, body: dict[str, Any], status: int, words: str
) -> None:
    answer = await post_project(emu, body, expect=status)
    assert answer["state"] == "failed" and words in answer["error_description"], answer
    listing = await emu.api.control("GET", "/projects")
    assert [p["app_id"] for p in listing["projects"]] == ["emulator-app-id"]


async def test_the_default_project_cannot_be_deleted(emu: Running) -> None:
    async with emu.api.session.delete(emu.url + "/_emulator/projects/emulator-app-id") as resp:
        body = await resp.json()
    assert resp.status == 409 and "default project" in body["error_description"]
    async with emu.api.session.delete(emu.url + "/_emulator/projects/ghost") as resp:
        assert resp.status == 404


async def test_a_project_from_an_inline_scenario(emu: Running, receiver: Receiver) -> None:
    scenario = {
        "version": 1,
        "credentials": {"app_id": "from-scenario", "app_key": "k1"},
        "clock": "manual",
        "rules": [{"number": PERSON, "outcome": "busy"}],
    }
    created = await post_project(emu, {"scenario": scenario})
    assert created["app_id"] == "from-scenario" and created["app_key"] == "k1"
    assert created["clock"]["mode"] == "manual"
    project = Project(emu, "from-scenario", "k1")
    answer = await project.create([PERSON], receiver, call_param={"number_of_retries": 0})
    await project.control("POST", "/clock/run-until-idle")
    report = await project.api.report(answer["broadcast_id"])
    assert report["resultSet"][0]["result"]["reason"] == "Busy"


async def test_open_projects_are_made_by_first_use(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    run = await start_emulator(open_projects=True)
    fresh = Project(run, "5f1e9b2c", "secret-key")
    status, answer = await fresh.api.call("POST", CREATE, fresh.api.create_body([PERSON], receiver))
    assert status == 200, answer
    assert run.emulator.store.broadcasts == {}  # not in the default project
    wrong = Project(run, "5f1e9b2c", "another-key")
    assert (await wrong.api.call("GET", f"{CREATE}/{answer['broadcast_id']}"))[0] == 401
    assert (await fresh.api.call("GET", f"{CREATE}/{answer['broadcast_id']}"))[0] == 200
    bad = Project(run, "no/slashes", "k")
    assert (await bad.api.call("GET", f"{CREATE}/x"))[0] == 401
    listing = await run.api.control("GET", "/projects")
    assert [p["app_id"] for p in listing["projects"]] == ["emulator-app-id", "5f1e9b2c"]


async def test_without_open_projects_unknown_credentials_are_401(emu: Running) -> None:
    stranger = Project(emu, "stranger", "k")
    status, answer = await stranger.api.call("GET", f"{CREATE}/x")
    assert status == 401 and answer["error_description"] == "Not authorized"
    assert (await emu.api.control("GET", "/health"))["projects"] == 1


async def test_open_projects_two_first_requests_at_once_make_one_project(
    start_emulator: StartEmulator,
) -> None:
    run = await start_emulator(open_projects=True)
    first, second = Project(run, "twin", "k1"), Project(run, "twin", "k2")
    answers = await asyncio.gather(
        first.api.call("GET", f"{CREATE}/x"), second.api.call("GET", f"{CREATE}/x")
    )
    assert sorted(status for status, _ in answers) == [401, 404]
    assert len(run.emulator.store.broadcasts) == 0
    assert [p["app_id"] for p in (await run.api.control("GET", "/projects"))["projects"]] == [
        "emulator-app-id",
        "twin",
    ]


async def test_max_projects_bounds_the_registry(start_emulator: StartEmulator) -> None:
    run = await start_emulator(open_projects=True, max_projects=2)
    await post_project(run, {"app_id": "second"})
    answer = await post_project(run, {"app_id": "third"}, expect=409)
    assert "limit" in answer["error_description"]
    assert (await Project(run, "fourth", "k").api.call("GET", f"{CREATE}/x"))[0] == 401


async def test_idle_projects_run_no_task(start_emulator: StartEmulator) -> None:
    run = await start_emulator()
    before = len(asyncio.all_tasks())
    for n in range(200):
        await post_project(run, {"app_id": f"idle-{n}"})
    assert len(asyncio.all_tasks()) - before <= 2  # at most the requests' own, never 200
    assert len(run.projects) == 201
    assert not any(world.driver.active for world in run.projects)


async def test_api_requests_without_credentials_are_journalled_in_the_default_project(
    emu: Running,
) -> None:
    async with aiohttp.ClientSession() as session, session.get(emu.url + f"{CREATE}/x") as resp:
        assert resp.status == 401
    journal = (await emu.api.control("GET", "/requests"))["requests"]
    assert [(r["path"], r["status"]) for r in journal] == [(f"{CREATE}/x", 401)]
