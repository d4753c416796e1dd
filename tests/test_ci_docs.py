"""docs/ci.md: CI files parse, variables exist, and the Node suite passes (when Node is here)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from emulator import Settings
from emulator.config import OPTIONS
from emulator.testing import EmulatorServer

DOC = (Path(__file__).parent.parent / "docs" / "ci.md").read_text()
# Variables the examples read themselves (not emulator settings).
SUITE_VARIABLES = {"EMULATOR_URL"}


def _blocks(language: str) -> dict[str, str]:
    pattern = rf"```{language}\n(?:#|//) (\S+)\n(.*?)```"
    return dict(re.findall(pattern, DOC, re.DOTALL))


def test_ci_files_are_yaml_and_name_real_variables() -> None:
    files = _blocks("yaml")
    assert {".github/workflows/test.yml", ".gitlab-ci.yml"} <= set(files)
    for name, text in files.items():
        assert isinstance(yaml.safe_load(text), dict), name
    known = {o.env for o in OPTIONS} | SUITE_VARIABLES
    used = set(re.findall(r"\bEMULATOR_[A-Z_]+\b", DOC))
    assert used - known == set(), "docs/ci.md names variables the emulator does not read"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node is not installed")
async def test_node_suite_passes_against_an_emulator(tmp_path: Path) -> None:
    script = tmp_path / "emulator.test.mjs"
    script.write_text(_blocks("js")["emulator.test.mjs"])
    settings = Settings(control_token="ci-token", app_id="node-app", app_key="node-key")
    async with EmulatorServer(settings) as em:
        env = {
            **os.environ,
            "EMULATOR_URL": em.url,
            "EMULATOR_CONTROL_TOKEN": "ci-token",
            "EMULATOR_APP_ID": "node-app",
            "EMULATOR_APP_KEY": "node-key",
        }
        node = await asyncio.create_subprocess_exec(
            "node", "--test", str(script), env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(node.communicate(), 60)
        assert node.returncode == 0, output.decode()
        assert b"# pass 1" in output
        created = await em.requests(method="POST", path="/broadcast")
        assert created[0]["body"]["application_name"] == "node suite"
