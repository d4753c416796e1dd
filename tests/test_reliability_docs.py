"""docs/reliability.md: every serve example parses into the faults it promises, and the control
plane example is accepted."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from emulator.cli import build_parser, settings_from_args
from emulator.config import OPTIONS, load_settings
from emulator.control.reliability import faults_from_body
from emulator.world import World

DOC = (Path(__file__).parent.parent / "docs" / "reliability.md").read_text()


def _serve_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", DOC, re.DOTALL)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [
        line for line in lines if "broadcast-emulator serve" in line and "fault" in line.lower()
    ]


def test_every_serve_example_loads_its_faults() -> None:
    lines = _serve_lines()
    assert len(lines) >= 5
    for line in lines:
        words = shlex.split(line)
        env = dict(w.split("=", 1) for w in words if re.match(r"^EMULATOR_\w+=", w))
        args = build_parser().parse_args(words[words.index("serve") :])
        cli = {option.name: getattr(args, option.name) for option in OPTIONS}
        emulator = World(load_settings(cli=cli, environ=env))
        assert emulator.faults.api or emulator.faults.webhook, line


def test_the_webhooks_down_example_refuses_for_sixty_seconds() -> None:
    line = next(x for x in _serve_lines() if "refuse" in x)
    argv = shlex.split(line)[1:]
    emulator = World(settings_from_args(build_parser().parse_args(argv)))
    status_fault, down = emulator.faults.webhook
    assert (status_fault.url, status_fault.status, status_fault.budget.times) == ("/call", 500, 3)
    start = emulator.clock.now_ms
    assert down.refuse and (down.budget.start_ms, down.budget.end_ms) == (start, start + 60_000)


def test_the_control_plane_example_is_accepted() -> None:
    example = re.search(r"add faults: `(\{.*?\})`", DOC)
    assert example is not None
    faults = faults_from_body(json.loads(example.group(1)), 0)
    assert [type(f).__name__ for f in faults] == ["ApiFault", "WebhookFault"]
