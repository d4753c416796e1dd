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


def test_the_scenario_fault_example_builds_the_faults_it_describes() -> None:
    from emulator.faults import FaultBook
    from emulator.scenario import parse_scenario
    from emulator.scenario.loader import read_tree
    from emulator.scenario.world import load_faults

    (block,) = re.findall(r"```yaml\n(.*?)```", DOC, re.DOTALL)
    scenario = parse_scenario(read_tree(block, "faults.yaml"), "faults.yaml")
    book = FaultBook()
    load_faults(book, scenario.world.faults, 0)
    down, timeouts = book.webhook
    assert (down.url, down.status, down.budget.start_ms, down.budget.end_ms) == (
        "/call", 503, 10_000, 70_000,
    )  # fmt: skip
    assert timeouts.timeout and timeouts.budget.times == 2
    create, play = book.api
    assert (create.method, create.status, create.retry_after_s, create.budget.times) == (
        "POST", 429, 2, 1,
    )  # fmt: skip
    assert play.probability == 0.5 and play.matches("PUT", "/v1/broadcast/b/call/v/play")


def test_the_json_serve_example_is_probabilistic() -> None:
    line = next(x for x in _serve_lines() if "probability" in x)
    emulator = World(settings_from_args(build_parser().parse_args(shlex.split(line)[1:])))
    (fault,) = emulator.faults.webhook
    assert (fault.url, fault.status, fault.probability) == ("/call", 500, 0.2)
