"""The distribution: `python -m build` makes an sdist and a wheel that `twine check` passes, and the
wheel holds the package data the code reads at run time (py.typed, the scenario JSON schema, every
file under a `static/` folder) and the entry points. Built offline from a copy of the checkout,
with the venv's own build backend (`--no-isolation`: the `test` extra installs it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import emulator

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "emulator"


def _checkout_files() -> list[str]:
    """The files a fresh clone has (tracked, or new and not ignored)."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        return [name for name in listed if (ROOT / name).is_file()]
    skip = {".venv", ".git", "build", "dist", "__pycache__"}
    return [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*")
        if path.is_file() and not skip & set(path.relative_to(ROOT).parts)
    ]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("checkout")
    for name in _checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)]
    done = subprocess.run(build, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def _one(dist: Path, pattern: str) -> Path:
    (path,) = dist.glob(pattern)
    return path


def test_twine_check_passes(dist: Path) -> None:
    files = sorted(str(p) for p in dist.iterdir())
    assert len(files) == 2, files  # one sdist, one wheel
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2, done.stdout


def _package_data() -> set[str]:
    """Files under emulator/ that the code needs besides its modules."""
    wanted = {PACKAGE / "py.typed", PACKAGE / "scenario" / "scenario.schema.json"}
    wanted |= {p for p in PACKAGE.rglob("*") if p.is_file() and "static" in p.parts}
    return {str(p.relative_to(ROOT)) for p in wanted if "__pycache__" not in p.parts}


def test_the_wheel_holds_the_package_data_and_entry_points(dist: Path) -> None:
    wheel = _one(dist, f"broadcast_emulator-{emulator.__version__}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"broadcast_emulator-{emulator.__version__}.dist-info"
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        metadata = archive.read(f"{info}/METADATA").decode()
    missing = sorted(_package_data() - names)
    assert not missing, f"package data missing from the wheel: {missing}"
    modules = {str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")}
    assert not modules - names, sorted(modules - names)
    assert not {n for n in names if n.startswith("tests/")}
    assert f"{info}/licenses/LICENSE" in names
    assert "broadcast-emulator = emulator.cli:main" in entry_points
    assert "broadcast_emulator = emulator.testing.plugin" in entry_points
    assert "License-Expression: MIT" in metadata
    assert "Requires-Python: >=3.11" in metadata


def test_the_sdist_builds_the_same_package(dist: Path) -> None:
    sdist = _one(dist, f"broadcast_emulator-{emulator.__version__}.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in ("pyproject.toml", "README.md", "LICENSE", *_package_data()):
        assert needed in names, needed
