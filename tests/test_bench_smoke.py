"""Every bench script runs end to end in its `--quick` mode (small sizes, nothing appended)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = [
    "campaign.py",
    "clock.py",
    "webhooks.py",
    "startup.py",
    "scaling.py",
    "replay.py",
    "legs.py",
    "stream.py",
]


def run(script: str, *flags: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *flags],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_quick_mode_runs(script: str) -> None:
    results = (BENCH / "RESULTS.md").read_text() if (BENCH / "RESULTS.md").exists() else ""
    out = run(script)
    assert out.count("### ") == 1 and "load " in out  # one titled block of figures, with the load
    after = (BENCH / "RESULTS.md").read_text() if (BENCH / "RESULTS.md").exists() else ""
    assert after == results  # quick runs append nothing


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_api_bench_quick_mode_runs() -> None:
    out = run("api.py", "--no-wiremock", "--only", "GET")
    assert "x bare" in out
