"""Property tests over the request schemas (small, derandomized budget): the normaliser only ever
refuses with BadRequest, and the HTTP API answers JSON below 500 whatever it is sent.
`bench/fuzz.py` runs the same strategies with a budget of thousands."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from request_strategies import connect_bodies, create_bodies, play_bodies, requests

from emulator import EmulatorRunner, Settings, create_app
from emulator.api.dialects import CreateLimits, normalise_bridge, normalise_create, normalise_play
from emulator.domain.models import CreateCommand
from emulator.errors import BadRequest
from emulator.sim.clock import ClockMode

QUICK = settings(
    derandomize=True,
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LIMITS = CreateLimits(max_numbers=50, webhook_allow=("127.0.0.1",))


@QUICK
@given(create_bodies)
def test_create_normaliser_accepts_or_refuses_cleanly(body: dict[str, Any]) -> None:
    try:
        command = normalise_create(body, LIMITS)
    except BadRequest as error:
        assert error.description
    else:
        assert isinstance(command, CreateCommand) and 1 <= len(command.recipients) <= 50
        assert command.event_url.startswith(("http://", "https://"))


@QUICK
@given(play_bodies)
def test_play_normaliser_accepts_or_refuses_cleanly(body: dict[str, Any]) -> None:
    try:
        spec = normalise_play(body)
    except BadRequest as error:
        assert error.description
    else:
        assert spec.text is not None or spec.prompt_name is not None or spec.prompt_ref is not None


@QUICK
@given(connect_bodies)
def test_connect_normaliser_accepts_or_refuses_cleanly(body: dict[str, Any]) -> None:
    try:
        from_number, to = normalise_bridge(body)
    except BadRequest as error:
        assert error.description
    else:
        assert from_number.lstrip("+").isdigit() and to.lstrip("+").isdigit()


class _Harness:
    """A real emulator (manual clock, webhooks only to 127.0.0.1) driven from a private loop."""

    async def start(self) -> None:
        settings_ = Settings(  # webhooks go nowhere: no real-time outage window for them
            port=0,
            clock=ClockMode.MANUAL,
            webhook_allow=("127.0.0.1",),
            max_numbers=50,
            webhook_outage_s=0,
        )
        self.runner = EmulatorRunner(create_app(settings_))
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        self.session = aiohttp.ClientSession()
        pair = base64.b64encode(b"emulator-app-id:emulator-app-key").decode()
        self.auth = {"Authorization": "Basic " + pair}
        body = {
            "broadcast_numbers_array": ["919800000010", "919800000006", "919800000011"],
            "from": "919999999999",
            "event_url": "http://127.0.0.1:9/hook",
        }
        status, created = await self.send("POST", "/voice/v1/broadcast", body)
        assert status == 200
        self.broadcast_id = created["broadcast_id"]
        async with self.session.post(
            self.base + "/_emulator/clock/advance", json={"seconds": 4}
        ) as resp:
            assert resp.status == 200
        status, report = await self.send("GET", f"/voice/v1/broadcast/{self.broadcast_id}", None)
        self.voice_ids = [row["voice_id"] for row in report["resultSet"]]

    async def send(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body)
        async with self.session.request(
            method, self.base + path, data=data, headers=self.auth
        ) as resp:
            assert resp.content_type == "application/json", (method, path)
            return resp.status, json.loads(await resp.text())

    async def close(self) -> None:
        await self.session.close()
        await self.runner.cleanup()


def test_http_api_answers_json_below_500() -> None:
    loop = asyncio.new_event_loop()
    harness = _Harness()
    loop.run_until_complete(harness.start())
    try:
        real_ids = st.sampled_from([harness.broadcast_id, *harness.voice_ids])
        seen: list[int] = []

        @settings(
            derandomize=True,
            max_examples=120,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(requests(ids=real_ids | st.text(max_size=20)))
        def check(request: tuple[str, str, Any]) -> None:
            status, answer = loop.run_until_complete(harness.send(*request))
            seen.append(status)
            assert status < 500, (request, answer)
            assert isinstance(answer, dict)
            if status >= 400:
                assert answer["state"] == "failed" and answer["error_description"]

        check()
        assert {200, 400, 404} <= set(seen)  # the budget reached real work, not only errors
    finally:
        loop.run_until_complete(harness.close())
        loop.close()
