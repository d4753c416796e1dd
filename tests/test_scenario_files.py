"""Files a scenario reads: the control plane reads none unless `--scenario-dir` allows it, every
file is read with a size cap, and no error quotes a file's content (CONTRACT §12)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import until

from emulator.cli import build_parser, settings_from_args
from emulator.config import Settings
from emulator.scenario import ScenarioError, load_scenario, parse_scenario
from emulator.scenario.loader import parse_control_scenario, read_tree

CLOSED = (
    "scenarios sent to the control plane cannot read files; "
    "start the emulator with --scenario-dir DIR to allow files inside DIR"
)
SECRET = "hunter2-the-secret"


async def _put(api: Any, text: str) -> tuple[int, Any]:
    async with api.session.put(api.base + "/_emulator/scenario", data=text) as resp:
        return resp.status, await resp.json()


def _group(path: str, column: str | None = None) -> str:
    extra = f", column: {column}" if column else ""
    return f"version: 1\ngroups:\n  vip: {{csv: '{path}'{extra}}}\n"


def _secret_csv(folder: Path, name: str = "vip.csv") -> Path:
    path = folder / name
    path.write_text(f"phone,note\n+447700900123,ok\n{SECRET},{SECRET}\n")
    return path


# -- the control plane reads no file unless --scenario-dir allows it ------------------------------
async def test_put_scenario_reads_no_file_without_scenario_dir(
    start_emulator: Any, tmp_path: Path
) -> None:
    running = await start_emulator()
    secret = _secret_csv(tmp_path)
    for path in ("/etc/passwd", str(secret), "vip.csv"):
        status, body = await _put(running.api, _group(path))
        assert status == 400, body
        assert body["error_description"] == f"request body: groups.vip.csv: {CLOSED}"
    broadcast = f"version: 1\nclient:\n  broadcasts:\n    - numbers: {{csv: '{secret}'}}\n"
    status, body = await _put(running.api, broadcast)
    assert status == 400
    assert body["error_description"] == f"request body: client.broadcasts[0].numbers.csv: {CLOSED}"
    assert running.emulator.behaviour.__class__.__name__ == "MagicNumbers"  # nothing loaded


async def test_scenario_dir_allows_files_that_resolve_inside_it(
    start_emulator: Any, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    secret = _secret_csv(tmp_path / "sub")
    (tmp_path / "ok.csv").write_text("phone\n+447700900123\n+447700900124\n")
    running = await start_emulator(scenario_dir=str(tmp_path))
    for path in ("ok.csv", "sub/../ok.csv", str(tmp_path / "ok.csv")):
        status, body = await _put(running.api, _group(path))
        assert status == 200, body
        assert body["groups"] == {"vip": 2}
    status, body = await _put(running.api, _group("sub/vip.csv", "phone"))
    assert status == 400  # the file is allowed; its line 3 is not a number
    assert body["error_description"] == (
        "request body: groups.vip.csv: line 3: column 1 is not a phone number"
    )
    assert SECRET not in body["error_description"] and str(secret) not in body["error_description"]


async def test_scenario_dir_refuses_paths_that_leave_it(
    start_emulator: Any, tmp_path: Path
) -> None:
    inside = tmp_path / "inside"
    inside.mkdir()
    outside = _secret_csv(tmp_path, "outside.csv")
    (inside / "link.csv").symlink_to(outside)
    (inside / "zero").symlink_to("/dev/zero")
    running = await start_emulator(scenario_dir=str(inside))
    for path in ("../outside.csv", str(outside), "link.csv", "zero", "/etc/passwd"):
        status, body = await _put(running.api, _group(path))
        assert status == 400, body
        assert body["error_description"] == (
            "request body: groups.vip.csv: the file is outside the --scenario-dir folder"
        ), path


async def test_scenario_dir_refuses_fifos_and_devices_before_opening_them(
    start_emulator: Any, tmp_path: Path
) -> None:
    os.mkfifo(tmp_path / "pipe.csv")  # opening it would block until a writer comes
    running = await start_emulator(scenario_dir=str(tmp_path))
    status, body = await asyncio.wait_for(_put(running.api, _group("pipe.csv")), 10)
    assert status == 400
    assert body["error_description"] == (
        "request body: groups.vip.csv: not a regular file (a device, FIFO or folder)"
    )
    devices = await start_emulator(scenario_dir="/dev")
    for path in ("zero", "/dev/urandom", "."):
        status, body = await asyncio.wait_for(_put(devices.api, _group(path)), 10)
        assert status == 400
        assert "not a regular file" in body["error_description"], body


async def test_scenario_dir_names_missing_files_as_the_scenario_wrote_them(
    start_emulator: Any, tmp_path: Path
) -> None:
    running = await start_emulator(scenario_dir=str(tmp_path))
    status, body = await _put(running.api, _group("nope.csv"))
    assert status == 400
    assert body["error_description"] == (
        "request body: groups.vip.csv: cannot read 'nope.csv': No such file or directory"
    )  # the folder's own path on the server is not told


@pytest.mark.parametrize(
    ("module", "name", "text", "answer"),
    [
        ("loader", "read_tree", _group("/dev/zero"), 400),  # parsing and reading files
        ("world", "resolve_groups", "version: 1\ngroups: {g: {generate: {count: 3}}}\n", 200),
    ],
)
async def test_health_answers_while_a_scenario_is_being_loaded(
    start_emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    module: str,
    name: str,
    text: str,
    answer: int,
) -> None:
    """Parsing, file reads and making numbers happen off the event loop: a slow scenario holds
    no other request (the step is held on a thread event until health has answered)."""
    import importlib

    home = importlib.import_module(f"emulator.scenario.{module}")
    entered, release = threading.Event(), threading.Event()
    real = getattr(home, name)

    def slow(*args: Any) -> Any:
        entered.set()
        release.wait(10)
        return real(*args)

    monkeypatch.setattr(home, name, slow)
    running = await start_emulator()
    put = asyncio.create_task(_put(running.api, text))
    await until(entered.is_set)
    try:
        status, health = await running.api.call("GET", "/_emulator/health")
        assert status == 200 and health["status"] == "ok"
        assert not put.done()  # the scenario is still being loaded
    finally:
        release.set()
    status, body = await put
    assert status == answer, body
    if answer == 400:
        assert body["error_description"].endswith(CLOSED)


async def test_serve_with_scenario_dir_end_to_end(serve: Any, tmp_path: Path) -> None:
    """The real command: `--scenario-dir` allows files inside it; hostile ones are 400s while
    health keeps answering."""
    import aiohttp

    (tmp_path / "ok.csv").write_text("+447700900123\n")
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "pipe.csv")
    served = await serve("--scenario-dir", str(tmp_path))
    closed = await serve(env={"EMULATOR_SCENARIO_DIR": ""})
    async with aiohttp.ClientSession() as session:

        async def put(url: str, path: str) -> tuple[int, Any]:
            async with session.put(url + "/_emulator/scenario", data=_group(path)) as resp:
                return resp.status, await resp.json()

        async def health(url: str) -> int:
            async with session.get(url + "/_emulator/health") as resp:
                return resp.status

        answers = await asyncio.wait_for(
            asyncio.gather(
                put(served.url, "zero.csv"), put(served.url, "pipe.csv"), health(served.url)
            ),
            20,
        )
        assert [a[0] if isinstance(a, tuple) else a for a in answers] == [400, 400, 200]
        status, body = await put(served.url, "ok.csv")
        assert status == 200 and body["groups"] == {"vip": 1}
        status, body = await put(closed.url, "/etc/passwd")
        assert status == 400 and body["error_description"].endswith(CLOSED)


def test_scenario_dir_is_a_serve_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMULATOR_SCENARIO_DIR", raising=False)
    args = build_parser().parse_args(["serve", "--scenario-dir", str(tmp_path)])
    assert settings_from_args(args).scenario_dir == str(tmp_path)
    monkeypatch.setenv("EMULATOR_SCENARIO_DIR", str(tmp_path))
    assert settings_from_args(build_parser().parse_args(["serve"])).scenario_dir == str(tmp_path)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--scenario-dir", str(tmp_path / "missing")])


def test_a_scenario_cannot_open_its_own_files_or_name_paths(tmp_path: Path) -> None:
    """`settings` cannot grant a scenario dir, nor make the control plane write or read a path."""
    text = (
        "version: 1\nsettings: {scenario_dir: /, state_file: /tmp/x, tls_cert: c.pem,"
        " tls_key: k.pem}\n"
    )
    with pytest.raises(ScenarioError) as info:
        parse_control_scenario(text, Settings(scenario_dir=str(tmp_path)))
    message = str(info.value)
    assert "request body: settings.scenario_dir: unknown key" in message
    for key in ("state_file", "tls_cert", "tls_key"):
        assert (
            f"request body: settings.{key}: a scenario sent to the control plane cannot set a "
            "file path; set it when starting the emulator"
        ) in message


def test_parse_control_scenario_takes_text_bytes_or_a_tree(tmp_path: Path) -> None:
    (tmp_path / "ok.csv").write_text("+447700900123\n")
    settings = Settings(scenario_dir=str(tmp_path))
    tree = {"version": 1, "groups": {"vip": {"csv": "ok.csv"}}}
    for body in (_group("ok.csv"), _group("ok.csv").encode(), tree):
        scenario = parse_control_scenario(body, settings)
        assert scenario.world.groups["vip"].numbers == ("+447700900123",)
    with pytest.raises(ScenarioError, match=f"projects: groups.vip.csv: {CLOSED}"):
        parse_control_scenario(tree, Settings(), source="projects")
    with pytest.raises(ScenarioError, match="request body: not valid UTF-8"):
        parse_control_scenario(b"version: 1\n\xff", settings)


# -- files named on the command line: relative to the scenario, capped, never quoted --------------
def test_cli_scenarios_keep_reading_files_next_to_them(tmp_path: Path) -> None:
    (tmp_path / "list.csv").write_text("+447700900123\n")
    path = tmp_path / "world.yaml"
    path.write_text(_group("list.csv"))
    assert load_scenario(path).world.groups["vip"].numbers == ("+447700900123",)


async def test_the_pytest_server_loads_scenario_files_like_the_command_line(tmp_path: Path) -> None:
    """The plugin's `scenario=` marker names a file of the test author: it reads its CSV files
    next to it (the control plane would refuse them)."""
    from emulator.testing import EmulatorServer

    (tmp_path / "list.csv").write_text("+447700900123\n")
    path = tmp_path / "world.yaml"
    path.write_text(_group("list.csv"))
    async with EmulatorServer(Settings()) as server:
        loaded = await server.load_scenario(path)
        assert loaded["status"] == "ok" and loaded["groups"] == {"vip": 1}
        (tmp_path / "bad.yaml").write_text(_group("missing.csv"))
        with pytest.raises(ScenarioError, match=r"bad.yaml: groups\.vip\.csv: cannot read"):
            await server.load_scenario(tmp_path / "bad.yaml")


@pytest.mark.parametrize(
    ("content", "column", "wanted"),
    [
        (
            f"phone,note\n+447700900123,x\n{SECRET},x\n",
            None,
            "line 3: column 1 is not a phone number",
        ),
        (f"phone,note\nx,+447700900123\n\n\nx,{SECRET}\n", "note", "line 5: column 2 is not"),
        (f"name,{SECRET}\n+447700900123\n", "phone", "no column 'phone' in the header (line 1)"),
        ("phone,note\n+447700900123\n", "note", "line 2: column 2 is missing"),
        ("\n \n", None, "the file has no rows"),
        (f"+447700900123\n{SECRET}\0\n", None, "line 2: column 1 is not a phone number"),
        ("x" * 200_000 + "\n", None, "line 1: not valid CSV (field larger than field limit"),
    ],
)
def test_csv_errors_say_where_and_what_never_the_content(
    tmp_path: Path, content: str, column: str | None, wanted: str
) -> None:
    (tmp_path / "list.csv").write_text(content)
    text = _group("list.csv", column)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(read_tree(text, "w.yaml"), "w.yaml", str(tmp_path))
    message = str(info.value)
    assert message.startswith(f"w.yaml: groups.vip.csv: {wanted}"), message
    assert SECRET not in message and "xxxx" not in message


def test_csv_files_must_be_utf8_and_may_start_with_a_bom(tmp_path: Path) -> None:
    (tmp_path / "bom.csv").write_bytes("\ufeffphone\n+447700900123\n".encode())
    scenario = parse_scenario(
        read_tree(_group("bom.csv", "phone"), "w.yaml"), "w.yaml", str(tmp_path)
    )
    assert scenario.world.groups["vip"].numbers == ("+447700900123",)
    (tmp_path / "latin.csv").write_bytes(b"+447700900123\nS\xe9cret\n")
    with pytest.raises(ScenarioError, match=r"groups.vip.csv: line 2: not UTF-8 text$"):
        parse_scenario(read_tree(_group("latin.csv"), "w.yaml"), "w.yaml", str(tmp_path))


def test_scenario_files_over_the_cap_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as out:
        out.truncate(8 * 1024 * 1024 + 1)  # sparse: no disk is used
    with pytest.raises(
        ScenarioError, match=r"huge.yaml: cannot read: larger than 8 MiB \(the limit"
    ):
        load_scenario(path)
    (tmp_path / "big.csv").write_bytes(b"")
    with (tmp_path / "big.csv").open("wb") as out:
        out.truncate(64 * 1024 * 1024 + 1)
    with pytest.raises(ScenarioError, match=r"groups.vip.csv: larger than 64 MiB \(the limit"):
        parse_scenario(read_tree(_group("big.csv"), "w.yaml"), "w.yaml", str(tmp_path))


_LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from emulator.cli import main
sys.exit(main(["validate", *sys.argv[1:]]))
"""


def test_endless_files_on_the_command_line_stop_at_the_cap(tmp_path: Path) -> None:
    """`/dev/zero` as a CSV or as the scenario itself: read up to the cap, then a clear error
    (a child process with 2 GiB of address space: without the cap it dies of MemoryError)."""
    path = tmp_path / "zero.yaml"
    path.write_text(_group("/dev/zero"))
    done = subprocess.run(
        [sys.executable, "-c", _LIMITED, str(path), "/dev/zero"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert lines == [
        f"{path}: groups.vip.csv: more than 64 MiB (the limit of a CSV file)",
        "/dev/zero: cannot read: more than 8 MiB (the limit of a scenario file)",
    ]
