"""The interactive callee (`0009`, `outcome: interactive`): it waits for a person, and in `auto`
holds only its own project's clock while it does, for at most 60 s of real time."""

from __future__ import annotations

from typing import Any

import jsonschema
import yaml
from conftest import Receiver, Running, StartEmulator, until

from emulator.scenario import json_schema

INTERACTIVE = "915550000009"
PERSON = "919800000010"
MENU = {"play": {"text": "Press one for sales", "dtmf": True}}
ONE_TRY = {"interval_between_retries": 5, "number_of_retries": 0}


def _waiting(emu: Running) -> dict[str, str]:
    return dict(emu.emulator.service.waiting)


async def _post(emu: Running, path: str, body: Any = None, project: str = "") -> Any:
    prefix = f"/_emulator/projects/{project}" if project else "/_emulator"
    status, answer = await emu.api.call("POST", prefix + path, body, auth=False)
    assert status == 200, answer
    return answer


async def test_in_auto_a_waiting_interactive_call_holds_the_clock_until_a_trigger(
    emu: Running, receiver: Receiver
) -> None:
    world = emu.emulator
    created = await emu.api.create([INTERACTIVE], receiver, action_on_connect=MENU)
    await until(lambda: bool(_waiting(emu)))
    voice_id, what = next(iter(_waiting(emu).items()))
    assert what == "answer"
    assert world.holds.held == 1 and world.activity.held >= 1  # an in-flight token: time stands
    health = await emu.api.control("GET", "/health")
    assert health["interactive"] == {"waiting": 1, "holding": 1}
    assert world.clock.now_iso() == "2026-01-01T09:00:00.000Z"
    handle = next(iter(world.holds._held.values()))
    await _post(emu, f"/calls/{voice_id}/answer")
    assert handle.cancelled()  # the 60 s real-time timer is gone with the wait
    await until(lambda: _waiting(emu).get(voice_id) == "press")  # the menu's prompt has ended
    assert world.holds.held == 1
    menu_at = world.clock.now_iso()
    assert menu_at == "2026-01-01T09:00:02.000Z"  # 4 words: a 2 s prompt
    await _post(emu, f"/calls/{voice_id}/press", {"digits": "2"})
    done = await emu.api.wait_complete(receiver)
    assert done["resultSet"]["successfull_calls"] == 1
    assert receiver.calls(INTERACTIVE) == [
        (1, "initiated", "09:00:00", None),
        (1, "ringing", "09:00:00", None),
        (1, "connected", "09:00:00", None),
        (1, "play:initiated", "09:00:00", None),
        (1, "play:digitcollected", "09:00:02", None),
        (1, "disconnected", "09:00:12", "callee-hangup"),  # the idle rule of §5
    ]
    pressed = [e for e in receiver.for_number(INTERACTIVE) if e.get("playstate")][-1]
    assert pressed["digits"] == "2"
    assert world.holds.held == 0 and world.holds.expired == 0
    report = await emu.api.report(created["broadcast_id"])
    assert report["resultSet"][0]["result"]["reason"] == "success"


async def test_a_hold_lasts_at_most_its_real_time_then_the_call_goes_on_unanswered(
    emu: Running, receiver: Receiver
) -> None:
    emu.emulator.holds.hold_s = 0.05  # 60 s in production; the rule is the same
    await emu.api.create([INTERACTIVE], receiver, call_param=ONE_TRY)
    done = await emu.api.wait_complete(receiver)
    assert done["resultSet"]["failed_calls"] == 1
    assert receiver.calls(INTERACTIVE)[-1] == (1, "disconnected", "09:00:30", "no-answer")
    assert emu.emulator.holds.expired == 1 and emu.emulator.holds.held == 0


async def test_it_holds_only_its_own_projects_clock(
    start_emulator: StartEmulator, make_receiver: Any
) -> None:
    emu = await start_emulator(projects=(("billing", "key-b"),))
    mine, theirs = await make_receiver(), await make_receiver()
    await emu.api.create([INTERACTIVE], mine)
    await until(lambda: bool(_waiting(emu)))
    billing = emu.projects.world("billing")
    status, created = await emu.api.call(
        "POST",
        "/voice/v1/broadcast",
        emu.api.create_body([PERSON, "919800000001"], theirs),
        headers={"Authorization": "Basic YmlsbGluZzprZXktYg=="},  # billing:key-b
        auth=False,
    )
    assert status == 200, created
    await until(lambda: theirs.completion() is not None)
    assert billing.activity.held == 0 and billing.holds.held == 0
    assert billing.clock.now_ms > billing.clock.start_ms  # billing's time moved on
    assert emu.emulator.holds.held == 1  # the default project's call still waits, time held
    assert emu.emulator.clock.now_iso() == "2026-01-01T09:00:00.000Z"
    voice_id = next(iter(_waiting(emu)))
    status, refused = await emu.api.call("POST", f"/_emulator/calls/{voice_id}/hangup", auth=False)
    assert status == 409 and "answer or reject" in refused["error_description"]
    await _post(emu, f"/calls/{voice_id}/reject", {"as": "invalid"})
    await emu.api.wait_complete(mine)  # released: the default project's time moves again


async def test_on_a_manual_clock_it_holds_nothing_and_the_timeouts_still_apply(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual")
    await emu.api.create([INTERACTIVE], receiver, action_on_connect=MENU, call_param=ONE_TRY)
    await emu.api.advance(0)
    voice_id, what = next(iter(_waiting(emu).items()))
    assert what == "answer" and emu.emulator.holds.held == 0
    assert emu.emulator.activity.held == 0
    await emu.api.advance(29)
    await _post(emu, f"/calls/{voice_id}/answer")  # still ringing at 29 s
    await emu.api.advance(2)
    assert _waiting(emu) == {voice_id: "press"} and emu.emulator.holds.held == 0
    await emu.api.advance(10)  # the menu timeout still applies
    assert not _waiting(emu)
    await emu.api.run_until_idle()
    names = [e[1] for e in receiver.calls(INTERACTIVE)]
    assert names[-2:] == ["play:menutimeout", "disconnected"]
    assert receiver.calls(INTERACTIVE)[-1][2:] == ("09:00:51", "callee-hangup")


async def test_unanswered_it_stops_ringing_after_30_virtual_seconds(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual")
    await emu.api.create([INTERACTIVE], receiver, call_param=ONE_TRY)
    await emu.api.advance(30)
    assert receiver.calls(INTERACTIVE)[-1] == (1, "disconnected", "09:00:30", "no-answer")
    assert not _waiting(emu)


SCENARIO = """
version: 1
rules:
  - prefix: "+4420"
    outcome: interactive
  - number: "+4430000001"
    attempts: [busy, interactive]
"""


async def test_scenario_rules_accept_outcome_interactive(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    jsonschema.validate(yaml.safe_load(SCENARIO), json_schema())
    emu = await start_emulator(clock="manual")
    status, answer = await emu.api.call(
        "PUT",
        "/_emulator/scenario",
        data=SCENARIO.encode(),
        headers={"Content-Type": "application/yaml"},
        auth=False,
    )
    assert status == 200, answer
    body = emu.api.create_body(["+442012345678", "+4430000001"], receiver)
    body["call_param"] = {"interval_between_retries": 1, "number_of_retries": 1}
    status, _ = await emu.api.call("POST", "/voice/v1/broadcast", body)
    assert status == 200
    await emu.api.advance(0)
    assert list(_waiting(emu).values()) == ["answer"]
    await emu.api.advance(2)  # +4430000001: busy (1 s), then the interactive retry 1 s later
    assert list(_waiting(emu).values()) == ["answer", "answer"]
