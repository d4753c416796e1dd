"""What the README and docs/inspection.md say about the report, events, TTS and reset, checked
against a running emulator (manual clock: every instant is stepped to)."""

from __future__ import annotations

from typing import Any

from conftest import Receiver, Running, StartEmulator

from emulator import ClockMode


async def _run(start_emulator: StartEmulator) -> Running:
    return await start_emulator(clock=ClockMode.MANUAL)


async def test_report_resultset_is_counts_and_resultset_list_is_the_numbers(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    run = await _run(start_emulator)
    created = await run.api.create(["919800000010", "919800000001"], receiver)
    await run.api.run_until_idle()
    report = await run.api.report(created["broadcast_id"])
    assert report["resultset"] == {"successfull_calls": 1, "failed_calls": 1}
    assert report["resultSet"] == report["result_set"]
    rows = {row["dialed_number"]: row for row in report["resultSet"]}
    assert set(rows) == {"919800000010", "919800000001"}
    assert rows["919800000010"]["result"] == {"code": "success", "reason": "success"}
    assert {"dialed_number", "state", "attempts", "voice_id", "result"} <= set(rows["919800000001"])
    completion = receiver.completion()
    assert completion is not None
    assert completion["resultSet"] == completion["resultset"]
    assert completion["resultset"] == {**report["resultset"], "total_calls": 2}


async def test_bridge_events_carry_the_bridge_from_and_to(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    run = await _run(start_emulator)
    await run.api.create(["919800000010"], receiver, action_on_connect=None)
    await run.api.advance(3)
    voice_id = receiver.events[-1]["voice_id"]
    bridge = {"from": "919999999999", "to": "919811112222"}
    status, _ = await run.api.call("PUT", f"/voice/v1/call/{voice_id}/connect", bridge)
    assert status == 202
    await run.api.advance(4)
    bridged = [e for e in receiver.events if e.get("bridge_id")]
    assert bridged, receiver.events
    for event in bridged:
        assert (event["from"], event["to"]) == ("919999999999", "919811112222")
        assert event["dialed_number"] == "919800000010"
    call_events = [e for e in receiver.events if "voice_id" in e and not e.get("bridge_id")]
    assert all(e["to"] == "919800000010" for e in call_events)


async def test_tts_length_rounds_up_to_whole_seconds(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    run = await _run(start_emulator)
    play = {"play": {"text": "four words of text", "voice": "female", "language": "en-US"}}
    await run.api.create(["919800000010"], receiver, action_on_connect=play)
    await run.api.run_until_idle()
    times = {e["playstate"]: e["timestamp"] for e in receiver.events if "playstate" in e}
    assert times["initiated"][17:19] == "03"  # answered after the 3 s ring
    assert times["playfinished"][17:19] == "05"  # 4 words at 2.5 words/s: 1.6 s, so 2 s


async def test_reset_keeps_faults_and_forgets_broadcasts(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    run = await _run(start_emulator)
    created = await run.api.create(["919800000010"], receiver)
    added = await run.api.control("POST", "/faults", {"api": "GET /broadcast/{id}=503"})
    answer: dict[str, Any] = await run.api.control("POST", "/reset")
    assert answer["now"] == "2026-01-01T09:00:00.000Z"
    faults = await run.api.control("GET", "/faults")
    assert [f["id"] for f in faults["api"]] == added["added"]
    assert (await run.api.control("GET", "/broadcasts"))["broadcasts"] == []
    status, _ = await run.api.call("GET", f"/voice/v1/broadcast/{created['broadcast_id']}")
    assert status == 503  # the fault still fires


async def test_the_samples_placeholder_from_numbers_are_refused_as_docs_drop_in_says(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    """docs/drop-in.md, step 0: the samples' `from` placeholders must be edited first."""
    run = await _run(start_emulator)
    for placeholder in ("enablex_no", "callerid"):
        body = run.api.create_body(["919800000010"], receiver, **{"from": placeholder})
        status, answer = await run.api.call("POST", "/voice/v1/broadcast", body)
        assert status == 400
        assert answer["error_description"] == "CLI number is not assigned/wrong CLI number"
