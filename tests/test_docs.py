"""docs/pytest.md is a project: every code block is a file, and pytester runs it green."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).parent.parent / "docs" / "pytest.md"
BLOCK = re.compile(r"```(python|toml)\n# (\S+)\n(.*?)```", re.DOTALL)


def doc_files(text: str) -> dict[str, str]:
    """`{file name: content}` of every fenced python/toml block opening with `# <file name>`."""
    files = {name: body for _, name, body in BLOCK.findall(text)}
    fenced = text.count("```python") + text.count("```toml")
    assert len(files) == fenced, "every python/toml block of docs/pytest.md must name its file"
    return files


def test_pytest_md_examples_pass(pytester: pytest.Pytester) -> None:
    files = doc_files(DOC.read_text())
    for name, body in files.items():
        (pytester.path / name).write_text(body)
    tests = sum(len(re.findall(r"^(?:async )?def test_", b, re.M)) for b in files.values())
    assert tests >= 7
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-p", "no:faker", "-p", "no:hypothesispytest", "--strict-markers"
    )
    result.assert_outcomes(passed=tests)


async def test_pytest_md_examples_pass_against_a_running_emulator(
    pytester: pytest.Pytester, serve: Any
) -> None:
    """The same examples, unchanged, with `--broadcast-emulator-url` and two xdist workers."""
    served = await serve("--settle-ms", "5")
    files = doc_files(DOC.read_text())
    for name, body in files.items():
        (pytester.path / name).write_text(body)
    tests = sum(len(re.findall(r"^(?:async )?def test_", b, re.M)) for b in files.values())
    result = await asyncio.to_thread(
        pytester.runpytest_subprocess,
        *("-p", "no:cacheprovider", "-p", "no:faker", "-p", "no:hypothesispytest"),
        *("-n", "2", f"--broadcast-emulator-url={served.url}"),
    )
    result.assert_outcomes(passed=tests)
