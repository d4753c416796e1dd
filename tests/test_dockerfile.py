"""The Dockerfile, checked without a Docker engine: its steps run the same way in a fresh venv.

The test parses the Dockerfile, copies what its COPY lines copy, runs its `pip install` in a new
virtual environment (the wheel cache may be reused), starts its ENTRYPOINT + CMD with its ENV,
runs its HEALTHCHECK command, and stops the server with SIGTERM expecting exit 0.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import venv
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emulator.config import OPTIONS

ROOT = Path(__file__).parent.parent
# CONTRACT §2 (serve flags), §4 (control token) and §6 (webhook transport), by option name.
CONTRACT_OPTIONS = (
    "host", "port", "app_id", "app_key", "cli_numbers", "clock", "settle_ms", "speed", "seed",
    "start", "dial_rate", "scenario", "webhook_encryption", "webhook_format",
    "webhook_verify_tls", "tls_cert", "tls_key", "control_token",
)  # fmt: skip
ALLOWED_SHELL = ("pip", "python", "rm", "useradd", "mkdir", "chown")


@dataclass
class Dockerfile:
    instructions: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        joined = path.read_text().replace("\\\n", " ")
        lines = [ln.strip() for ln in joined.splitlines() if ln.strip()]
        parsed = [ln.split(None, 1) for ln in lines if not ln.startswith("#")]
        return cls([(word.upper(), rest.strip()) for word, rest in parsed])

    def all(self, name: str) -> list[str]:
        return [rest for word, rest in self.instructions if word == name]

    def one(self, name: str) -> str:
        [value] = self.all(name)
        return value

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for rest in self.all("ENV"):
            values.update(part.split("=", 1) for part in shlex.split(rest))  # type: ignore[misc]
        return values

    def command(self) -> list[str]:
        return list(json.loads(self.one("ENTRYPOINT"))) + list(json.loads(self.one("CMD")))

    def healthcheck(self) -> str:
        _, _, command = self.one("HEALTHCHECK").partition(" CMD ")
        return command.strip()


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile.read(ROOT / "Dockerfile")


def test_option_list_covers_the_contract() -> None:
    envs = {o.name: o.env for o in OPTIONS}
    missing = [name for name in CONTRACT_OPTIONS if name not in envs]
    assert not missing, f"serve options without an EMULATOR_* twin: {missing}"
    assert envs["webhook_encryption"] == "EMULATOR_WEBHOOK_ENCRYPTION"


def test_image_is_small_unprivileged_and_documented(dockerfile: Dockerfile) -> None:
    assert dockerfile.one("FROM").startswith("python:3.11-slim")
    assert dockerfile.one("USER") not in ("root", "0")
    assert dockerfile.one("EXPOSE") == "8080"
    assert dockerfile.env()["EMULATOR_HOST"] == "0.0.0.0"
    assert "/_emulator/health" in dockerfile.healthcheck()
    assert "curl" not in dockerfile.healthcheck()
    assert dockerfile.one("WORKDIR") == "/scenarios"
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert "*" in ignore  # everything stays out of the build context unless listed, and
    for rest in dockerfile.all("COPY"):  # everything COPY needs is listed
        for source in rest.split()[:-1]:
            assert f"!{source.rstrip('/')}" in [i.rstrip("/") for i in ignore], source


def _folders(dockerfile: Dockerfile) -> tuple[dict[str, str], set[str]]:
    """The build's folders and their owners, and the users it creates, by replaying the RUN
    steps that make them (`useradd`, `mkdir`, `chown`) on a model of the image's file system."""
    owners: dict[str, str] = {"/": "root"}
    users = {"root"}
    for rest in dockerfile.all("RUN"):
        for step in rest.split("&&"):
            argv = shlex.split(step)
            names = [a for a in argv[1:] if not a.startswith("-")]
            if argv[0] == "useradd":
                users.add(argv[-1])
            elif argv[0] == "mkdir":
                owners.update({path: "root" for path in names})
            elif argv[0] == "chown":
                owner, *paths = names
                for path in paths:
                    assert path in owners, f"chown of a folder the build did not make: {path}"
                    owners[path] = owner.split(":")[0]
    return owners, users


def test_the_image_user_can_write_its_data_volume(dockerfile: Dockerfile) -> None:
    owners, users = _folders(dockerfile)
    user = dockerfile.one("USER")
    assert user in users and user != "root"
    assert owners.get("/data") == user, owners  # a state file can be written there
    assert owners.get(dockerfile.one("WORKDIR")) == "root"  # scenarios: read-only is fine
    assert json.loads(dockerfile.one("VOLUME")) == ["/data"]
    text = (ROOT / "Dockerfile").read_text()
    assert "EMULATOR_STATE_FILE=/data/state.json" in text
    for doc in ("README.md", "docs/ci.md"):
        assert "EMULATOR_STATE_FILE=/data/state.json" in (ROOT / doc).read_text(), doc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _copy_context(dockerfile: Dockerfile, root: Path) -> None:
    for rest in dockerfile.all("COPY"):
        *sources, target = rest.split()
        for source in sources:
            dest = root / target.lstrip("/")
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, dest, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / source, dest)


def _run_install_steps(dockerfile: Dockerfile, root: Path, bin_dir: Path) -> int:
    installs = 0
    for rest in dockerfile.all("RUN"):
        for step in rest.split("&&"):
            argv = shlex.split(step)
            assert argv[0] in ALLOWED_SHELL, f"unexpected build step: {step}"
            if argv[:2] != ["pip", "install"]:
                continue  # users, folders: the image's business, not the install's
            args = [root / a.lstrip("/") if a.startswith("/") else a for a in argv[2:]]
            args = [a for a in args if a != "--no-cache-dir"]  # reuse the wheel cache here
            pip = [sys.executable, "-m", "pip", "--python", str(bin_dir / "python")]
            cmd = [*pip, "install", "-q", *map(str, args)]
            subprocess.run(cmd, check=True, timeout=600)
            installs += 1
    return installs


def _healthcheck(dockerfile: Dockerfile, env: dict[str, str]) -> int:
    return subprocess.run(["sh", "-c", dockerfile.healthcheck()], env=env, timeout=30).returncode


@pytest.mark.image
def test_build_steps_install_a_server_that_runs(dockerfile: Dockerfile, tmp_path: Path) -> None:
    root, env_dir = tmp_path / "root", tmp_path / "venv"
    _copy_context(dockerfile, root)
    venv.create(env_dir, with_pip=False)  # this pip installs into it (`pip --python`)
    bin_dir = env_dir / "bin"
    assert _run_install_steps(dockerfile, root, bin_dir) == 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    env.update(dockerfile.env(), EMULATOR_PORT=str(_free_port()), EMULATOR_APP_ID="ci-app")
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    workdir = root / dockerfile.one("WORKDIR").lstrip("/")
    workdir.mkdir(parents=True, exist_ok=True)
    data = root / json.loads(dockerfile.one("VOLUME"))[0].lstrip("/")
    data.mkdir(parents=True, exist_ok=True)
    env["EMULATOR_STATE_FILE"] = str(data / "state.json")  # as the docs say, rooted here
    command = dockerfile.command()
    assert shutil.which(command[0], path=str(bin_dir)), "ENTRYPOINT is not installed"
    probe = [str(bin_dir / "python"), "-c", "import emulator; print(emulator.__file__)"]
    where = subprocess.run(probe, cwd=workdir, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(env_dir)), where.stdout  # the venv's copy, not ours
    proc = subprocess.Popen(
        command, env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""  # the serve line: ready
        assert "serving http://127.0.0.1:" + env["EMULATOR_PORT"] in line, line
        assert "'ci-app'" in line
        assert _healthcheck(dockerfile, env) == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, proc.stderr.read() if proc.stderr else ""
    assert _healthcheck(dockerfile, env) != 0  # it really checks the server
    saved = json.loads((data / "state.json").read_text())
    assert [p["broadcasts"] for p in saved["projects"]] == [[]]
