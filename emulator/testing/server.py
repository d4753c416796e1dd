"""An emulator in the test's event loop on 127.0.0.1:0, with a ready client and clock helpers."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from emulator.app import EMULATOR, EmulatorRunner, create_app
from emulator.config import Settings
from emulator.domain.behaviour import Behaviour
from emulator.runtime import Emulator

__all__ = ["ApiError", "EmulatorServer"]

Json = Any


class ApiError(AssertionError):
    """An emulator answer with an unexpected status (the body is kept for the message)."""

    def __init__(self, method: str, path: str, status: int, body: Json) -> None:
        super().__init__(f"{method} {path} answered {status}: {body}")
        self.status = status
        self.body = body


class EmulatorServer:
    """A real emulator server for one test.

    `url` is the server root; `api_url` the API base (`url + "/voice/v1"`); `app_id` / `app_key`
    are the HTTP Basic credentials. `emulator` is the running `Emulator` for white-box checks.
    """

    def __init__(self, settings: Settings, behaviour: Behaviour | None = None) -> None:
        self.settings = settings.replace(port=0)
        self.behaviour = behaviour  # callee behaviour instead of the magic numbers (replay)
        self.url = ""
        self._runner: EmulatorRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._emulator: Emulator | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
        """Serve on `host:port` (0: a free port); `url` then says where."""
        app = create_app(self.settings, self.behaviour)
        self._runner = EmulatorRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        app[EMULATOR].listener.add_site(site)  # so that webhooks to its control plane are refused
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://{host}:{port}"
        self._emulator = app[EMULATOR]
        self._session = aiohttp.ClientSession(headers={"Authorization": self.auth_header})
        return self

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> EmulatorServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- what a client needs ---------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return self.url + "/voice/v1"

    @property
    def app_id(self) -> str:
        return self.settings.app_id

    @property
    def app_key(self) -> str:
        return self.settings.app_key

    @property
    def auth_header(self) -> str:
        """The `Authorization` header value of the credentials (HTTP Basic)."""
        pair = f"{self.app_id}:{self.app_key}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    @property
    def emulator(self) -> Emulator:
        assert self._emulator is not None, "emulator not started"
        return self._emulator

    @property
    def session(self) -> aiohttp.ClientSession:
        """An aiohttp session that sends the credentials on every request."""
        assert self._session is not None, "emulator not started"
        return self._session

    async def request(
        self, method: str, path: str, json: Json = None, expect: int | None = None, **kw: Any
    ) -> tuple[int, Json]:
        """`(status, body)` of `method path`; a path not starting with `/` is under `api_url`.

        With `expect`, any other status raises `ApiError`.
        """
        target = path if path.startswith(("/", "http")) else f"{self.api_url}/{path}"
        if target.startswith("/"):
            target = self.url + target
        async with self.session.request(method, target, json=json, **kw) as resp:
            body = await resp.json(content_type=None)
            if expect is not None and resp.status != expect:
                raise ApiError(method, path, resp.status, body)
            return resp.status, body

    async def _control(
        self,
        method: str,
        path: str,
        json: Json = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> Json:
        headers = dict(headers or {})
        if self.settings.control_token:
            headers["Authorization"] = f"Bearer {self.settings.control_token}"
        _, body = await self.request(
            method, "/_emulator" + path, json, expect=200, headers=headers, **kw
        )
        return body

    # -- the emulated API ------------------------------------------------------------------
    async def create_broadcast(
        self,
        numbers: list[str],
        *,
        event_url: str,
        call_handler_url: str | None = None,
        text: str | None = "Hello from the emulator",
        **fields: Json,
    ) -> Json:
        """POST /broadcast in the documented form; `fields` add or override body keys."""
        body: dict[str, Json] = {
            "application_name": "test broadcast",
            "broadcast_numbers_array": numbers,
            "from": "919999999999",
            "event_url": event_url,
            "call_handler_url": call_handler_url or event_url,
            "call_param": {"interval_between_retries": 5, "number_of_retries": 2},
        }
        if text is not None:
            body["action_on_connect"] = {
                "play": {"text": text, "voice": "female", "language": "en-US", "prompt_ref": "1"}
            }
        body.update(fields)
        return (await self.request("POST", "broadcast", body, expect=200))[1]

    async def report(self, broadcast_id: str) -> Json:
        return (await self.request("GET", f"broadcast/{broadcast_id}", expect=200))[1]

    async def play(self, voice_id: str, text: str, **fields: Json) -> Json:
        body = {"play": {"text": text, "voice": "female", "language": "en-US", **fields}}
        return (await self.request("PUT", f"call/{voice_id}/play", body, expect=202))[1]

    async def hangup(self, voice_id: str) -> Json:
        return (await self.request("DELETE", f"call/{voice_id}", expect=200))[1]

    # -- the control plane -----------------------------------------------------------------
    async def advance(self, seconds: float) -> Json:
        """Move virtual time forward, firing (and delivering) everything due; the new clock."""
        return await self._control("POST", "/clock/advance", {"seconds": seconds})

    async def run_until_idle(self) -> Json:
        """Fire every scheduled timer until nothing is left; the new clock."""
        return await self._control("POST", "/clock/run-until-idle", {})

    async def clock(self) -> Json:
        return await self._control("GET", "/clock")

    async def reset(self) -> Json:
        return await self._control("POST", "/reset", {})

    async def requests(self, **filters: Any) -> list[Json]:
        """The request journal (`path=`, `method=`, `status=`, `limit=`, `since=` filter)."""
        body = await self._control("GET", "/requests", params=_params(filters))
        return list(body["requests"])

    async def webhooks(self, **filters: Any) -> list[Json]:
        """The delivery log (`broadcast_id=`, `voice_id=`, `state=`, `event=`, ... filter)."""
        body = await self._control("GET", "/webhooks", params=_params(filters))
        return list(body["deliveries"])

    async def broadcasts(self) -> list[Json]:
        return list((await self._control("GET", "/broadcasts"))["broadcasts"])

    async def load_scenario(self, path: str | Path) -> Json:
        """PUT a scenario file (YAML or JSON) to `/_emulator/scenario`."""
        file = Path(path)
        kind = "application/json" if file.suffix == ".json" else "application/yaml"
        return await self._control(
            "PUT", "/scenario", data=file.read_bytes(), headers={"Content-Type": kind}
        )


def _params(filters: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in filters.items() if v is not None}
