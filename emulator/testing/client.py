"""A client of a running emulator: the emulated API with one project's credentials, and that
project's control plane (clock, inspection, scenario, faults, `wait_for_completion`).

`EmulatorClient` serves an emulator that is already running (a Docker service container, `serve`
in another process); `EmulatorServer` is the same client around an emulator it starts in-process.
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import aiohttp

from emulator.config import DEMO_APP_ID, DEMO_APP_KEY

__all__ = ["ApiError", "EmulatorClient"]

Json = Any
_POLL_S = 0.01
_DONE = ("completed", "stopped")


class ApiError(AssertionError):
    """An emulator answer with an unexpected status (the body is kept for the message)."""

    def __init__(self, method: str, path: str, status: int, body: Json) -> None:
        super().__init__(f"{method} {path} answered {status}: {body}")
        self.status = status
        self.body = body


class EmulatorClient:
    """One project of a running emulator at `url`.

    `app_id` names the project (the default project's demo pair if omitted); `app_key` is read
    from the control plane when not given. `token` is the control token, if the emulator has
    one. Use `async with EmulatorClient(url, app_id=...) as client:` (or `await client.start()`
    and `await client.close()`); `await EmulatorClient.new_project(url, clock="manual")` creates a
    fresh project and `delete_project()` forgets it.
    """

    def __init__(
        self,
        url: str,
        app_id: str | None = None,
        app_key: str | None = None,
        token: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._app_id = app_id or DEMO_APP_ID
        self._app_key = app_key if app_key is not None else (None if app_id else DEMO_APP_KEY)
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> EmulatorClient:
        """Open the client's session; read the project's key if it was not given."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        if self._app_key is None:
            project = await self.control("GET", "")
            self._app_key = str(project["app_key"])
        return self

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> EmulatorClient:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @classmethod
    async def new_project(
        cls, url: str, token: str | None = None, **settings: Json
    ) -> EmulatorClient:
        """Create a project (`POST /_emulator/projects` with `settings`: clock, seed, start,
        settle_ms, dial_rate, cli_numbers, webhook_encryption, scenario, ...); a started client
        of it."""
        probe = await cls(url, token=token).start()
        try:
            _, project = await probe.request(
                "POST",
                "/_emulator/projects",
                settings,
                expect=201,
                basic=False,
                headers=probe._control_auth(),
            )
        finally:
            await probe.close()
        return await cls(url, project["app_id"], project["app_key"], token).start()

    async def delete_project(self) -> Json:
        """`DELETE /_emulator/projects/{app_id}`: forget this project entirely."""
        path, headers = self.control_path, self._control_auth()
        return (await self.request("DELETE", path, expect=200, basic=False, headers=headers))[1]

    # -- what a client needs ---------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return self.url + "/voice/v1"

    @property
    def app_id(self) -> str:
        return self._app_id

    @property
    def app_key(self) -> str:
        assert self._app_key is not None, "client not started: the project's key is not known"
        return self._app_key

    @property
    def auth_header(self) -> str:
        """The `Authorization` header value of the credentials (HTTP Basic)."""
        pair = f"{self.app_id}:{self.app_key}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    @property
    def control_path(self) -> str:
        """Where this project's control routes are (`/_emulator/projects/{app_id}`)."""
        return f"/_emulator/projects/{self.app_id}"

    @property
    def session(self) -> aiohttp.ClientSession:
        """The client's aiohttp session (requests through `request` carry the credentials)."""
        assert self._session is not None, "client not started"
        return self._session

    def _control_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self,
        method: str,
        path: str,
        json: Json = None,
        expect: int | None = None,
        *,
        basic: bool = True,
        **kw: Any,
    ) -> tuple[int, Json]:
        """`(status, body)` of `method path`; a path not starting with `/` is under `api_url`.
        The request carries the project's Basic credentials (unless `basic=False` or `headers`
        give an `Authorization` of their own).

        With `expect`, any other status raises `ApiError`.
        """
        target = path if path.startswith(("/", "http")) else f"{self.api_url}/{path}"
        if target.startswith("/"):
            target = self.url + target
        headers = dict(kw.pop("headers", None) or {})
        if basic and self._app_key is not None:
            headers.setdefault("Authorization", self.auth_header)
        async with self.session.request(method, target, json=json, headers=headers, **kw) as resp:
            body = await resp.json(content_type=None)
            if expect is not None and resp.status != expect:
                raise ApiError(method, path, resp.status, body)
            return resp.status, body

    async def control(
        self,
        method: str,
        path: str,
        json: Json = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> Json:
        """A control route of this project (`path` after `/_emulator/projects/{app_id}`)."""
        headers = {**(headers or {}), **self._control_auth()}
        _, body = await self.request(
            method, self.control_path + path, json, expect=200, basic=False, headers=headers, **kw
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
    async def health(self) -> Json:
        return (await self.request("GET", "/_emulator/health", expect=200, basic=False))[1]

    async def advance(self, seconds: float) -> Json:
        """Move virtual time forward, firing (and delivering) everything due; the new clock."""
        return await self.control("POST", "/clock/advance", {"seconds": seconds})

    async def run_until_idle(self) -> Json:
        """Fire every scheduled timer until nothing is left; the new clock."""
        return await self.control("POST", "/clock/run-until-idle", {})

    async def clock(self) -> Json:
        return await self.control("GET", "/clock")

    async def reset(self) -> Json:
        return await self.control("POST", "/reset", {})

    async def requests(self, **filters: Any) -> list[Json]:
        """The request journal (`path=`, `method=`, `status=`, `limit=`, `since=` filter)."""
        body = await self.control("GET", "/requests", params=_params(filters))
        return list(body["requests"])

    async def webhooks(self, **filters: Any) -> list[Json]:
        """The delivery log (`broadcast_id=`, `voice_id=`, `state=`, `event=`, ... filter)."""
        body = await self.control("GET", "/webhooks", params=_params(filters))
        return list(body["deliveries"])

    async def broadcasts(self) -> list[Json]:
        return list((await self.control("GET", "/broadcasts"))["broadcasts"])

    async def faults(self, **body: Json) -> Json:
        """Add faults (`api=...`, `webhook=...`, as `POST /_emulator/faults` takes them)."""
        return await self.control("POST", "/faults", body)

    async def load_scenario(self, path: str | Path) -> Json:
        """PUT a scenario file (YAML or JSON) to this project's `/scenario`."""
        file = Path(path)
        kind = "application/json" if file.suffix == ".json" else "application/yaml"
        return await self.control(
            "PUT", "/scenario", data=file.read_bytes(), headers={"Content-Type": kind}
        )

    async def wait_for_completion(
        self, broadcast_id: str | None = None, timeout_s: float = 30.0
    ) -> Json:
        """Wait (real time) until the broadcast (or every broadcast of the project) has ended
        and its completion event has been delivered or given up; its row in `broadcasts()`.
        On a manual clock, time is run until idle meanwhile."""
        deadline = time.monotonic() + timeout_s
        manual = (await self.clock())["mode"] == "manual"
        while True:
            if manual:
                await self.run_until_idle()
            rows = [
                row
                for row in await self.broadcasts()
                if broadcast_id is None or row["broadcast_id"] == broadcast_id
            ]
            if rows and all(r["state"] in _DONE and r["completion_sent"] for r in rows):
                pending = await self.webhooks(state="pending", broadcast_id=broadcast_id)
                if not pending:
                    return rows[0] if broadcast_id is not None else rows
            if time.monotonic() > deadline:
                raise TimeoutError(f"broadcast {broadcast_id or '(all)'} not completed: {rows}")
            await asyncio.sleep(_POLL_S)


def _params(filters: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in filters.items() if v is not None}
