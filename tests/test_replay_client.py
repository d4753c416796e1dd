"""The built-in client of a replay: dialects, timed broadcasts, reactions, clocks, external apps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.replay.client import create_body
from emulator.replay.runner import ReplayOptions, ReplayResult, replay
from emulator.scenario import parse_scenario
from emulator.scenario.loader import read_tree


async def _replay(text: str, **options: Any) -> ReplayResult:
    scenario = parse_scenario(read_tree(text, "inline.yaml"), "inline.yaml")
    options.setdefault("timeout_s", 30)
    return await replay(scenario, ReplayOptions(**options))


def _failures(result: ReplayResult) -> list[Any]:
    return [c for c in result.checks if not c.passed]


TWO_DIALECTS = """
version: 1
seed: 4
settings: {webhook_encryption: aes256}
client:
  broadcasts:
    - name: old
      dialect: "2020"
      numbers: "+919700000011,+919700000012"
      play: {text: "one two three four five", prompt_ref: "1"}
      retries: {interval_s: 2, count: 1}
    - name: new
      dialect: v2
      numbers: ["+919700000021", "+919700000022", "+919700000023"]
      play: {type: tts, text: "hello", prompt_ref: "hi"}
      at_s: 20
  reactions:
    - on: {broadcast: new, state: connected, every: 3}
      do: stop
expect:
  completed: 2
  broadcasts:
    old: {state: completed, successful: 2}
    new: {state: stopped, total: 3}
  events:
    broadcastcomplete: 1
    broadcastcall_complete: 1
  event_matches:
    - match: {broadcast: new, state: connected}
      count: 3
    - match: {broadcast: old, playstate: playfinished, prompt_ref: "1"}
      count: 2
  no_lost_webhooks: true
"""


async def test_two_dialects_a_later_broadcast_encryption_and_a_stop_reaction() -> None:
    result = await _replay(TWO_DIALECTS, keep_log=True)
    assert _failures(result) == []
    first_new = next(line for line in result.log_lines if '"to":"+919700000021"' in line)
    assert '"timestamp":"2026-01-01T09:00:20.000Z"' in first_new  # created at at_s


WAIT = """
version: 1
clock: manual
client:
  broadcasts:
    - numbers: ["+919700000031"]
  reactions:
    - on: connected
      do: [{wait: 4}, {play: {text: "after a pause we speak for a while"}}, {wait: 2}, hangup]
expect:
  sequences:
    "+919700000031": [initiated, ringing, connected, initiated, disconnected]
  max_virtual_s: 9
"""


async def test_wait_runs_the_rest_later_on_the_virtual_clock_even_in_manual_mode() -> None:
    result = await _replay(WAIT, keep_log=True)
    assert _failures(result) == []
    stamps = [line.split('"timestamp":"')[1][11:19] for line in result.log_lines]
    assert stamps[-3:-1] == ["09:00:07", "09:00:09"]  # play at 3+4 s, hang-up 2 s later


async def test_client_errors_are_reported_not_fatal() -> None:
    text = """
version: 1
client:
  broadcasts:
    - numbers: ["+919700000041"]
      play: {text: "short"}
  reactions:
    - on: disconnected
      do: hangup
expect:
  completed: 1
"""
    result = await _replay(text)
    assert _failures(result) == []
    assert [e["status"] for e in result.facts.client_errors] == [409]
    assert result.summary["client_errors"] == 1


async def test_a_stuck_run_fails_with_a_reason() -> None:
    text = """
version: 1
settings: {webhook_attempts: 1}
faults:
  webhooks:
    - {url: "/event", timeout: true}
client:
  broadcasts:
    - numbers: ["+919700000051"]
expect:
  no_lost_webhooks: true
"""
    result = await _replay(text)
    names = {c.name: c for c in _failures(result)}
    assert set(names) == {"no lost webhooks"}
    assert result.facts.webhooks_dead == 2  # initiated and completion to event_url


async def test_app_url_mode_sends_webhooks_to_the_users_app(receiver: Any) -> None:
    text = """
version: 1
client:
  broadcasts:
    - numbers: ["+919700000061", "+919700000062"]
      play: {text: "hello"}
      event_path: /hooks/event
      call_path: /hooks/call
expect:
  completion: {successful: 2}
  events: {connected: 2, playfinished: 2}
"""
    result = await _replay(text, app_url=receiver.url)
    assert _failures(result) == []
    assert set(receiver.paths) == {"/hooks/event", "/hooks/call"}
    assert len(receiver.events) == result.facts.recorder.total


@pytest.mark.parametrize("dialect", ["documented", "2020", "2023", "v2"])
def test_create_body_spells_numbers_and_retries_per_dialect(dialect: str) -> None:
    from emulator.api.dialects import CreateLimits, normalise_create

    text = f"""
version: 1
client:
  broadcasts:
    - dialect: "{dialect}"
      numbers: ["+919700000071", "919700000072"]
      play: {{text: hi}}
      retries: {{interval_s: 7, count: 2}}
      body: {{owner_ref: mine}}
"""
    spec = parse_scenario(read_tree(text, "d.yaml"), "d.yaml").broadcasts[0]
    body = create_body(spec, ("+919700000071", "919700000072"), "http://127.0.0.1:1")
    command = normalise_create(body, CreateLimits())
    assert [r.number for r in command.recipients] == ["+919700000071", "919700000072"]
    assert command.retry_interval_ms == 7000 and command.max_attempts == 3
    assert command.owner_ref == "mine"
    assert command.event_url == "http://127.0.0.1:1/event"
    assert command.call_handler_url == "http://127.0.0.1:1/call"


def test_numbers_can_come_from_a_csv_file(tmp_path: Path) -> None:
    (tmp_path / "numbers.csv").write_text("+919700000081\n+919700000082\n")
    text = "version: 1\nclient:\n  broadcasts:\n    - numbers: {csv: numbers.csv}\n"
    scenario = parse_scenario(read_tree(text, "c.yaml"), "c.yaml", str(tmp_path))
    from emulator.scenario.numbers import resolve_numbers

    numbers = resolve_numbers(scenario.broadcasts[0].numbers, {}, 0)
    assert numbers == ("+919700000081", "+919700000082")


async def test_a_refused_create_request_fails_the_run_with_the_emulators_answer() -> None:
    text = """
version: 1
cli_numbers: ["919999999998"]
client:
  broadcasts:
    - numbers: ["+919700000091"]
      from: "919999999999"
"""
    result = await _replay(text)
    assert not result.passed and not result.facts.finished
    assert "CLI number is not assigned" in result.facts.reason


async def test_progress_bar_is_drawn_where_asked() -> None:
    import io

    out = io.StringIO()
    text = "version: 1\nclient:\n  broadcasts:\n    - numbers: ['+919700000101']\n"
    result = await _replay(text, progress=out)
    assert result.passed
    assert out.getvalue().endswith("1/1 numbers  2026-01-01T09:00:13.000Z\n")
    assert out.getvalue().startswith("\r[")
