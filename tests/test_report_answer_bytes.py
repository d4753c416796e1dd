"""The report GET's answers byte for byte, status line and headers included, at each moment of a
broadcast (and its error answers), against a recording made before the report path was tuned for
speed (tests/data/report_answers.txt). Only the Date and Server header values are masked: they
depend on the wall clock and on the installed Python and aiohttp.

Regenerate the recording (only when an answer is meant to change): `python
tests/test_report_answer_bytes.py > tests/data/report_answers.txt`.
"""

from __future__ import annotations

import asyncio
import base64
import re
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from emulator.app import EMULATOR, EmulatorRunner, create_app
from emulator.config import Settings

RECORDING = Path(__file__).parent / "data" / "report_answers.txt"
NUMBERS = ["15551234567", "15550000001", "15550000002", "15550000004"]
_MASKED = re.compile(rb"^(Date|Server): .*$", re.MULTILINE | re.IGNORECASE)


async def _raw(port: int, head: str, before: str = "") -> bytes:
    """`before` (whole requests, kept alive) then one request closing its connection; every
    answer as sent (Date/Server masked)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((before + head).encode("latin-1") + b"Connection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return _MASKED.sub(rb"\1: (masked)", answer)


async def answers() -> str:
    """Every recorded answer, as text."""
    settings = Settings(port=0, clock="manual", settle_ms=0, app_id="pin", app_key="secret")
    app = create_app(settings)
    runner = EmulatorRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    auth = "Basic " + base64.b64encode(b"pin:secret").decode()
    out: list[str] = []
    try:
        async with aiohttp.ClientSession(headers={"Authorization": auth}) as session:
            body = {
                "application_name": "pinned",
                "owner_ref": "xyz",
                "broadcast_numbers_array": NUMBERS,
                "from": "919999999999",
                "action_on_connect": {"play": {"text": "Hi", "voice": "female"}},
                "call_param": {"interval_between_retries": 5, "number_of_retries": 3},
                "event_url": base + "/_emulator/health",  # refused: no webhook leaves
            }
            async with session.post(base + "/voice/v1/broadcast", json=body) as resp:
                bid = (await resp.json())["app_instance"]

            async def moment(name: str) -> None:
                for path in (f"/voice/v1/broadcast/{bid}", f"/v1/broadcast/{bid}"):
                    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n"
                    out.append(f"== {name}: GET {path}\n")
                    out.append((await _raw(port, head)).decode("utf-8") + "\n")

            async def clock(action: str, body: object = None) -> None:
                async with session.post(base + "/_emulator/clock/" + action, json=body) as r:
                    assert r.status == 200, await r.text()

            await moment("created")
            await clock("advance", {"seconds": 0})
            await moment("dialling")
            await clock("advance", {"seconds": 3})
            await moment("retrying")
            await clock("run-until-idle")
            await moment("completed")
            key = f"Authorization: {auth}\r\n"
            others = {
                "unknown broadcast": ("GET", "/voice/v1/broadcast/nope", key),
                "no credentials": ("GET", f"/voice/v1/broadcast/{bid}", ""),
                "wrong key": ("GET", f"/v1/broadcast/{bid}", "Authorization: Basic eDp5\r\n"),
                "HEAD": ("HEAD", f"/voice/v1/broadcast/{bid}", key),
                "trailing slash": ("GET", f"/voice/v1/broadcast/{bid}/", key),
                "query": ("GET", f"/voice/v1/broadcast/{bid}?x=1", key),
            }
            for name, (method, path, extra) in others.items():
                out.append(f"== {name}\n")
                head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}"
                out.append((await _raw(port, head)).decode("utf-8") + "\n")
            kept = f"GET /voice/v1/broadcast/{bid} HTTP/1.1\r\nHost: x\r\n{key}"
            out.append("== kept alive, then closed\n")
            answer = await _raw(port, kept, kept + "\r\n" + kept + "\r\n")
            out.append(answer.decode("utf-8") + "\n")
            async with session.get(base + "/_emulator/requests") as resp:
                journal = (await resp.text()).replace(base, "BASE")
            out.append(f"== journal\n{journal}\n")
            assert app[EMULATOR].clock.now_ms > 0
    finally:
        await runner.cleanup()
    return "".join(out)


async def test_report_answers_are_byte_identical_to_the_recording() -> None:
    got = await answers()
    expected = RECORDING.read_text(encoding="utf-8")
    assert got.splitlines() == expected.splitlines()


if __name__ == "__main__":
    sys.stdout.write(asyncio.run(answers()))
