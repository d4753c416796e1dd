"""The README's first screen: its two commands, and CI running exactly the test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _first_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)[:2]


def test_readme_opens_with_install_and_test_commands() -> None:
    serve, test = _first_commands()
    assert "pip install ." in serve and serve.endswith("broadcast-emulator serve")
    assert "pytest" in test


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _, test = _first_commands()
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in lines


def test_readme_lists_every_serve_flag() -> None:
    from emulator.config import OPTIONS

    text = (ROOT / "README.md").read_text()
    missing = [o.flag for o in OPTIONS if f"`{o.flag}`" not in text]
    assert not missing, f"README misses flags: {missing}"
