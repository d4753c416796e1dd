"""A small campaign pinned byte for byte: every webhook body in emission order, the delivery log,
the reports, the calls and the journal, against tests/data/golden_campaign.json.

The file was written by the tree before the memory work of issue 14 (lazy webhook payloads,
bucketed timers, compact legs): those refactors must change nothing observable. Regenerate it
only for an intended change of behaviour: `GOLDEN_WRITE=1 pytest tests/test_golden_campaign.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from conftest import MakeReceiver, Running, StartEmulator

GOLDEN = Path(__file__).parent / "data" / "golden_campaign.json"
# busy, no answer, machine, invalid, busy then answered, menu presser, and people
NUMBERS = [f"1555000000{i}" for i in range(1, 7)] + [f"155512345{i:02d}" for i in range(6)]
MENU = {"text": "Press one for more", "voice": "female", "language": "en-US", "dtmf": True}
_REAL = ("latency_ms", "real_at")  # wall-clock figures: the only fields a run may change


def _steady(value: Any) -> Any:
    """`value` without the wall-clock figures of delivery attempts."""
    if isinstance(value, dict):
        return {k: _steady(v) for k, v in value.items() if k not in _REAL}
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return value


async def _campaign(emu: Running, make_receiver: MakeReceiver) -> tuple[str, dict[str, Any]]:
    api = emu.api
    receiver = await make_receiver()
    first = await api.create(NUMBERS, receiver, custom_data={"campaign": 7})
    second = await api.create(
        ["15551234599", "15550000006"],
        receiver,
        action_on_connect={"play": MENU},
        call_param={"interval_between_retries": 9, "number_of_retries": 2},
    )
    third = await api.call(
        "POST",
        "/voice/v1/broadcast",
        {
            "name": "v2 campaign",
            "from": "919999999999",
            "recipients": [
                {"to": "15557777701", "custom_data": {"id": 1}},
                {"to": "15557777702", "play": {"prompt_name": "missing-one"}},
            ],
            "event_url": receiver.url + "/event",
        },
    )
    assert third[0] == 200, third
    await api.advance(4)  # the people have answered (3 s) and hear the prompt
    bid = first["app_instance"]
    legs = {leg.target.number: leg.voice_id for leg in emu.emulator.store.legs.values()}
    path = f"/voice/v1/broadcast/{bid}/call/"
    answers = [
        await api.call("PUT", path + legs["15551234500"] + "/play", {"text": "You are special"}),
        await api.call(
            "PUT", path + legs["15551234501"] + "/connect", {"from": "9198", "to": "15558880000"}
        ),
        await api.call("DELETE", path + legs["15551234502"]),
        await api.call("PUT", path + legs["15551234503"] + "/play", {"prompt_name": "welcome"}),
        await api.call("GET", path + legs["15551234504"]),
    ]
    await api.advance(2)
    status, stopped = await api.call("DELETE", f"/voice/v1/broadcast/{second['app_instance']}")
    assert status == 200
    await api.run_until_idle()
    await receiver.wait_for(lambda r: len([e for e in r.events if "resultSet" in e]) == 3)
    log = await api.control("GET", "/webhooks?limit=1000")
    by_channel: dict[str, list[dict[str, Any]]] = {}
    for event, where in zip(receiver.events, receiver.paths, strict=True):
        key = f"{where} {event.get('broadcast_id')} {event.get('to', '')}"
        by_channel.setdefault(key, []).append(event)
    status, calls = await api.call("GET", "/_emulator/calls?limit=1000", auth=False)
    detail = await api.control("GET", f"/calls/{legs['15551234505']}")
    return receiver.url, _steady(
        {
            "created": [first, second, third[1]],
            "answers": answers,
            "stopped": stopped,
            "reports": [await api.report(b) for b in (bid, second["app_instance"])],
            "log": log,
            "received_per_channel": dict(sorted(by_channel.items())),
            "calls": [status, calls],
            "detail": detail,
            "journal": await api.control("GET", "/requests"),
        }
    )


async def test_a_small_campaign_is_what_it_always_was(
    start_emulator: StartEmulator, make_receiver: MakeReceiver
) -> None:
    url, got = await _campaign(await start_emulator(clock="manual", seed=5), make_receiver)
    text = json.dumps(got, indent=1, sort_keys=True).replace(url, "http://receiver") + "\n"
    if os.environ.get("GOLDEN_WRITE"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert len(got["log"]["deliveries"]) > 80
    assert text == GOLDEN.read_text(encoding="utf-8")
