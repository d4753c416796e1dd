"""The README's "A first broadcast" without its `listen` step: its curl commands, run verbatim
(port aside) against a served emulator, do what the text under them says: with nothing on port
3000 the clock is held for the outage window (1 s here instead of the default 30), then every
event is given up with one warning each in the serve log, and the delivery log shows each
attempt's error. (tests/test_tail_listen.py runs the section with `listen`.)"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import Serve

ROOT = Path(__file__).resolve().parent.parent


def _section_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## A first broadcast", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, re.DOTALL)


async def _curl(command: str, port: str) -> str:
    shell = command.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    proc = await asyncio.create_subprocess_shell(
        shell, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return out.decode()


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl, as the README does")
async def test_the_first_broadcast_runs_as_the_readme_says(serve: Serve) -> None:
    listen, create, deliveries = _section_commands()
    assert listen == "broadcast-emulator listen" and "_emulator/webhooks" in deliveries
    served = await serve(env={"EMULATOR_WEBHOOK_OUTAGE_S": "1"})
    port = served.url.rsplit(":", 1)[1]
    created = json.loads(await _curl(create, port))
    assert created["state"] == "initiated"

    async def delivery_log() -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = json.loads(await _curl(deliveries, port))["deliveries"]
        return answer

    def completion_given_up(log: list[dict[str, Any]]) -> bool:
        return any(d["event"] == "completed" and d["state"] == "dead" for d in log)

    async def until_completion_given_up() -> list[dict[str, Any]]:
        while not completion_given_up(log := await delivery_log()):
            await asyncio.sleep(0.05)
        return log

    given_up = await asyncio.wait_for(until_completion_given_up(), 60)
    assert all(d["state"] == "dead" for d in given_up)  # the completion is the last event
    assert {d["url"] for d in given_up} == {"http://127.0.0.1:3000/event"}
    assert all(a["status"] is None and a["error"] for d in given_up for a in d["attempts"])
    served.proc.terminate()
    await asyncio.wait_for(served.proc.wait(), 20)
    await served.drained()
    stderr = "\n".join(served.log)
    warning = "webhook given up after 5 attempts: http://127.0.0.1:3000/event"
    assert stderr.count(warning) == len(given_up), stderr
