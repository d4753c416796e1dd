"""`broadcast-emulator tail` and `broadcast-emulator listen`, as real subprocesses, and
docs/console.md's "Be the callee" run as written."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import Receiver, Serve, Served, until

BODY_NUMBERS = ["919800000010", "919800000001"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Child:
    """A `broadcast-emulator` subcommand whose output is read line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        self._tasks = [
            asyncio.create_task(self._pump(proc.stdout, self.out)),
            asyncio.create_task(self._pump(proc.stderr, self.err)),
        ]

    @staticmethod
    async def _pump(stream: asyncio.StreamReader | None, into: list[str]) -> None:
        assert stream is not None
        async for raw in stream:
            into.append(raw.decode().rstrip("\n"))

    async def wait_for(self, pattern: str, where: str = "out", timeout: float = 20) -> str:
        lines = self.out if where == "out" else self.err
        regex = re.compile(pattern)

        async def poll() -> str:
            while True:
                for line in lines:
                    if regex.search(line):
                        return line
                if self.proc.returncode is not None and all(t.done() for t in self._tasks):
                    raise AssertionError(f"exited {self.proc.returncode}: {self.out} {self.err}")
                await asyncio.sleep(0.01)

        return await asyncio.wait_for(poll(), timeout)

    async def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(self.proc.wait(), 20)
        await asyncio.gather(*self._tasks)
        return code


async def _command(*args: str) -> Child:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    return Child(proc)


@pytest.fixture
async def children() -> AsyncIterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        if child.proc.returncode is None:
            child.proc.kill()
            await child.proc.wait()


async def _create(served: Served, events_to: str, **extra: Any) -> dict[str, Any]:
    body = {
        "application_name": "tail test",
        "broadcast_numbers_array": BODY_NUMBERS,
        "from": "919999999999",
        "action_on_connect": {"play": {"text": "Hello there"}},
        "call_param": {"interval_between_retries": 1, "number_of_retries": 0},
        "event_url": events_to + "/event",
        "call_handler_url": events_to + "/call",
        **extra,
    }
    auth = "Basic " + base64.b64encode(f"{served.app_id}:{served.app_key}".encode()).decode()
    headers = {"Authorization": auth}
    async with (
        aiohttp.ClientSession() as session,
        session.post(served.url + "/voice/v1/broadcast", json=body, headers=headers) as r,
    ):
        assert r.status == 200, await r.text()
        answer: dict[str, Any] = await r.json()
        return answer


async def test_tail_prints_the_stream_reconnects_and_exits_0_on_ctrl_c(
    serve: Serve, receiver: Receiver, children: list[Child]
) -> None:
    port = _free_port()
    served = await serve("--port", str(port), "--settle-ms", "5")
    tail = await _command("tail", "--url", served.url)
    children.append(tail)
    await tail.wait_for(r"hello +watching project emulator-app-id: clock auto")
    created = await _create(served, receiver.url)
    await tail.wait_for(r"request +POST /voice/v1/broadcast -> 200")
    await tail.wait_for(r"call +919800000010 #1 ringing +\[")
    await tail.wait_for(r"webhook +webhook connected -> http://127\.0\.0\.1:\d+/call: 200 in")
    await tail.wait_for(rf"broadcast +broadcast {created['broadcast_id']} 'tail test' completed")
    request = "emulator.activity: POST /voice/v1/broadcast -> 200 (documented) at 09:00:00.000"
    created_line = f"broadcast {created['broadcast_id']} 'tail test' created: 2 numbers"
    await until(lambda: request in "\n".join(served.log))  # the serve log says the same
    assert created_line in "\n".join(served.log)
    served.proc.terminate()
    await served.proc.wait()
    await tail.wait_for(r"^tail: stream lost \(.*\); reconnecting", "err")
    again = await serve("--port", str(port), "--settle-ms", "5")
    await tail.wait_for(r"^tail: reconnected", "err", timeout=30)
    assert len([line for line in tail.out if "watching project" in line]) == 2
    again.proc.terminate()
    assert await tail.interrupt() == 0
    assert not any("Traceback" in line for line in tail.err), tail.err


async def test_tail_json_prints_the_data_objects(
    serve: Serve, receiver: Receiver, children: list[Child]
) -> None:
    served = await serve("--settle-ms", "5")
    tail = await _command("tail", "--url", served.url, "--json", "--types", "broadcast")
    children.append(tail)
    await tail.wait_for(r'"type":"hello"')
    await _create(served, receiver.url)
    await tail.wait_for(r'"change":"completed"')
    objects = [json.loads(line) for line in tail.out]
    assert {o["type"] for o in objects} == {"hello", "broadcast"}
    assert all(o["project"] == served.app_id for o in objects)
    assert await tail.interrupt() == 0


async def test_tail_of_a_project_with_a_token_and_its_errors(
    serve: Serve, children: list[Child]
) -> None:
    served = await serve("--project", "billing:key", "--control-token", "T")
    ok = await _command("tail", "--url", served.url, "--project", "billing", "--token", "T")
    children.append(ok)
    await ok.wait_for("watching project billing")
    assert await ok.interrupt() == 0
    for args, error in (
        (("--project", "billing"), "401 Control token missing or wrong"),
        (("--project", "nope", "--token", "T"), "404 no project with APP_ID 'nope'"),
    ):
        bad = await _command("tail", "--url", served.url, *args)
        children.append(bad)
        assert await asyncio.wait_for(bad.proc.wait(), 20) == 2
        await bad.wait_for(re.escape(error), "err")


# -- listen ----------------------------------------------------------------------------------
async def _listen(children: list[Child], *args: str) -> tuple[Child, str]:
    child = await _command("listen", "--port", "0", *args)
    children.append(child)
    line = await child.wait_for(r"listening on http://127\.0\.0\.1:\d+")
    url = re.search(r"http://\S+", line)
    assert url is not None
    return child, url[0].rstrip(",")


async def test_listen_prints_every_webhook_decrypting_them(
    serve: Serve, children: list[Child]
) -> None:
    listen, url = await _listen(children, "--decrypt", "emulator-app-id", "-v")
    served = await serve("--settle-ms", "5", "--webhook-encryption", "aes256")
    created = await _create(served, url)
    bid = created["broadcast_id"]
    await listen.wait_for(rf"POST /event +completed +broadcast {bid} +\(1 successful, 1 failed\)")
    await listen.wait_for(r"09:00:03\.000 +POST /call +connected +919800000010 #1 .*\(decrypted\)")
    await listen.wait_for(r"POST /call +disconnected +919800000001 #1 +reason busy")
    events = [json.loads(line) for line in listen.out if line.startswith("{")]
    assert {e.get("state") for e in events} >= {"initiated", "ringing", "connected"}
    assert await listen.interrupt() == 0


async def test_listen_without_decrypt_says_what_to_do(serve: Serve, children: list[Child]) -> None:
    listen, url = await _listen(children)
    served = await serve("--settle-ms", "5", "--webhook-encryption", "aes256")
    await _create(served, url)
    await listen.wait_for(r"POST /event +encrypted webhook \(run with --decrypt APP_ID")
    assert await listen.interrupt() == 0


async def test_listen_forwards_to_the_app_and_answers_what_it_answers(
    children: list[Child],
) -> None:
    got: list[tuple[str, bytes, str | None]] = []

    async def app_handler(request: web.Request) -> web.Response:
        got.append((request.path_qs, await request.read(), request.headers.get("x-algoritm")))
        return web.json_response({"ok": True}, status=201)

    app = web.Application()
    app.router.add_post("/{tail:.*}", app_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    app_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    listen, url = await _listen(children, "--forward-to", f"http://127.0.0.1:{app_port}")
    body = json.dumps({"state": "ringing", "voice_id": "v1", "to": "9198", "attempt": 1}).encode()
    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": "application/json", "x-algoritm": "aes256"}
        async with session.post(url + "/call?x=1", data=body, headers=headers) as r:
            assert r.status == 201 and await r.json() == {"ok": True}
        assert got == [("/call?x=1", body, "aes256")]
        await listen.wait_for(r"POST /call +ringing +9198 #1 +\[v1\] +-> app 201")
        await runner.cleanup()  # the app is down
        async with session.post(url + "/call", data=body, headers=headers) as r:
            assert r.status == 502
            answer = await r.json()
            assert answer["state"] == "failed" and "forward to" in answer["error_description"]
    await listen.wait_for(r"-> app unreachable")
    assert await listen.interrupt() == 0


async def test_listen_refuses_a_bad_forward_url_and_a_busy_port(children: list[Child]) -> None:
    bad = await _command("listen", "--forward-to", "ftp://x")
    children.append(bad)
    assert await asyncio.wait_for(bad.proc.wait(), 20) == 2
    await bad.wait_for("--forward-to must be an http", "err")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = await _command("listen", "--port", str(port))
        children.append(busy)
        assert await asyncio.wait_for(busy.proc.wait(), 20) == 2


# -- docs/console.md ------------------------------------------------------------------------
DOC = Path(__file__).resolve().parent.parent / "docs" / "console.md"
# a person types slower than the emulator dials: each curl is retried while the call is not
# there yet (404) or not in the state the next step needs yet (409), for up to 10 s
PACE = """
curl() {
  for _ in $(seq 100); do
    out=$(command curl -sf "$@") && { printf '%s\\n' "$out"; return 0; }
    sleep 0.1
  done
  command curl "$@"; return 1
}
"""


def _callee_script() -> str:
    section = DOC.read_text().split("### Be the callee", 1)[1]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    assert "broadcast-emulator serve" in blocks[0]
    assert "/press" in blocks[1] and "/hangup" in blocks[2]
    return blocks[1] + blocks[2]


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl, jq")
async def test_be_the_callee_as_written(serve: Any, children: list[Child]) -> None:
    port, hooks = _free_port(), _free_port()
    await serve("--port", str(port))
    listen = await _command("listen", "--port", str(hooks))
    children.append(listen)
    await listen.wait_for("listening on")
    script = _callee_script().replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    script = script.replace("127.0.0.1:3000", f"127.0.0.1:{hooks}")
    proc = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", PACE + script,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, (out.decode()[-3000:], err.decode(), listen.out)
    await listen.wait_for(r"POST /call +play digitcollected +919800000009 #1 +digits 1")
    await until(lambda: len([x for x in listen.out if "reason callee-hangup" in x]) == 2)
    await until(lambda: len([x for x in listen.out if "POST /event  completed" in x]) == 2)
    calls: dict[str, list[str]] = {}
    for line in listen.out:
        found = re.search(r"POST /call +(.+?)  919800000009 .*\[(\S+)\]$", line)
        if found:
            calls.setdefault(found[2], []).append(found[1].split("  ")[0])
    assert sorted(calls.values(), key=len) == [
        ["initiated", "ringing", "connected", "play initiated", "disconnected"],  # yours
        ["initiated", "ringing", "connected", "play initiated", "play digitcollected",
         "disconnected"],  # the idle rule's, 10 s after the press
    ]  # fmt: skip


@pytest.mark.skipif(not shutil.which("curl"), reason="needs curl")
async def test_the_readmes_first_broadcast_with_listen(serve: Any, children: list[Child]) -> None:
    readme = (DOC.parent.parent / "README.md").read_text()
    section = readme.split("## A first broadcast", 1)[1].split("\n## ", 1)[0]
    listen_block, curl_block = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    assert listen_block.strip() == "broadcast-emulator listen"
    port, hooks = _free_port(), _free_port()
    await serve("--port", str(port))
    listen = await _command("listen", "--port", str(hooks))  # as the README says, on :3000
    children.append(listen)
    await listen.wait_for("listening on")
    script = curl_block.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    script = script.replace("127.0.0.1:3000", f"127.0.0.1:{hooks}")
    proc = await asyncio.create_subprocess_exec("bash", "-euo", "pipefail", "-c", script)
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    done = await listen.wait_for(r"POST /event +completed", timeout=30)
    assert done.endswith("(2 successful, 1 failed)")
    await listen.wait_for(r"POST /event +disconnected +919800000005 #2 ")
