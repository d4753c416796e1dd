"""The `--events` log: arrival order within an instant (the completion event is last), the same
bytes for the same seed."""

from __future__ import annotations

import json
from pathlib import Path

from emulator.cli import main

ONE_CALL = """
version: 1
client:
  broadcasts:
    - name: one
      numbers: ["+919700000011", "+919700000012"]
      play: {text: "hello there"}
  reactions:
    - on: {playstate: playfinished}
      do: hangup
"""


def test_the_completion_event_is_the_last_line_even_at_the_same_instant(tmp_path: Path) -> None:
    scenario = tmp_path / "one.yaml"
    scenario.write_text(ONE_CALL)
    log = tmp_path / "events.jsonl"
    assert main(["replay", str(scenario), "--events", str(log), "--quiet"]) == 0
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    last = rows[-1]
    assert last["event"] == "completed" and last["number"] is None
    same_instant = [r for r in rows if r["payload"]["timestamp"] == last["payload"]["timestamp"]]
    names = [r["event"] for r in same_instant]
    assert names == ["playfinished", "disconnected", "playfinished", "disconnected", "completed"]
    assert rows[0]["event"] == "initiated" and rows[0]["number"] is None  # the broadcast's, first
