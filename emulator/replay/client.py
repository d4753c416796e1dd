"""The built-in client of a replay: creates the script's broadcasts, receives their webhooks and
performs the reactions through the emulator's API.

Reactions run while the webhook that caused them is still being answered, so virtual time stands
still until they are done. A `wait` answers the webhook and runs the rest of the actions from a
timer on the virtual clock, holding an in-flight token while they run. Webhooks arrive at the
receiver (`emulator.replay.receiver`), through an in-process pipe unless the wire is `sockets`; a
webhook without a reaction is counted and answered without a task or an `await`. The reactions'
calls go to the emulator's application in this process (`emulator.replay.direct`: its middleware,
routes and handlers, without HTTP framing), or with the `pipes` and `sockets` wires as HTTP over
keep-alive connections (`emulator.replay.api`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from emulator.replay.api import ApiClient
from emulator.replay.direct import DirectApi, DirectUnavailable
from emulator.replay.match import BroadcastInfo, MatchIndex
from emulator.replay.pipe import join
from emulator.replay.receiver import Answer, RequestHead, answer_json
from emulator.replay.record import EventRecorder
from emulator.scenario.model import Action, BroadcastSpec, Reaction
from emulator.testing.server import EmulatorServer
from emulator.webhooks.crypto import decode_webhook

__all__ = ["ClientError", "ScriptClient", "create_body"]

log = logging.getLogger("emulator.replay")

_API = "/voice/v1"
_OK: Answer = (200, b'{"status": "ok"}')  # what every webhook is answered


class ClientError(Exception):
    """The emulator refused a request the script made."""


def create_body(spec: BroadcastSpec, numbers: tuple[str, ...], base_url: str) -> dict[str, Any]:
    """The create request for `spec` in its dialect, with the script's `body` merged last."""
    event_url = _url(base_url, spec.event_path)
    call_url = _url(base_url, spec.call_path)
    play = {"play": dict(spec.play)} if spec.play is not None else None
    body: dict[str, Any] = {"owner_ref": "scenario", "from": spec.from_number}
    if spec.dialect == "v2":
        body["name"] = spec.name
        body["recipients"] = [
            {"to": n, **({"play": dict(spec.play)} if spec.play else {})} for n in numbers
        ]
        body["event_url"], body["call_handler_url"] = event_url, call_url
        if spec.retries is not None or spec.retry_interval_s is not None:
            body["retry"] = _drop_none(
                {
                    "interval": spec.retry_interval_s,
                    "max_attempts": None if spec.retries is None else spec.retries + 1,
                }
            )
    elif spec.dialect == "documented":
        body["application_name"] = spec.name
        body["broadcast_numbers_array"] = list(numbers)
        body["event_url"], body["call_handler_url"] = event_url, call_url
        body["call_param"] = _drop_none(
            {"interval_between_retries": spec.retry_interval_s, "number_of_retries": spec.retries}
        )
    else:
        body["name"] = spec.name
        key = "broadcastnumbersjson" if spec.dialect == "2020" else "broadcast_numbers"
        body[key] = json.dumps([{"phone": n} for n in numbers])
        body["event_url"] = event_url
        body["callhandler_url" if spec.dialect == "2020" else "call_handler_url"] = call_url
        interval = None if spec.retry_interval_s is None else round(spec.retry_interval_s * 1000)
        body["call_param"] = _drop_none(
            {"IntervalBetweenRetries": interval, "NumberOfRetries": spec.retries}
        )
    if play is not None and spec.dialect != "v2":
        body["action_on_connect"] = play
    body.update(spec.body)
    return body


def _url(base: str, path: str) -> str:
    return path if path.startswith(("http://", "https://")) else base.rstrip("/") + path


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class ScriptClient:
    """Runs a scenario's client script against `server`, through its HTTP API."""

    def __init__(
        self,
        server: EmulatorServer,
        reactions: tuple[Reaction, ...],
        recorder: EventRecorder,
        wire: str = "direct",
    ) -> None:
        self.server = server
        self.em = server.emulator
        self.reactions = MatchIndex([(r.on, r) for r in reactions])
        self.recorder = recorder
        self.errors: list[dict[str, Any]] = []
        self.broadcast_ids: dict[str, str] = {}  # script name -> broadcast id
        self.wire = wire
        self.api: ApiClient | DirectApi = self._api(wire)
        self._app_id = self.em.settings.app_id  # the key of encrypted webhooks
        self._bodies: dict[int, bytes] = {}  # id(action) -> its request body, encoded once
        self._tasks: set[asyncio.Task[None]] = set()

    def _api(self, wire: str) -> ApiClient | DirectApi:
        """How reactions reach the API: straight into the application (`direct`), as HTTP
        through in-process pipes (`pipes`) or through loopback sockets (`sockets`)."""
        headers = {"Authorization": self.server.auth_header, "Content-Type": "application/json"}
        if wire == "direct":
            return DirectApi(self.server.http_server, headers)
        attach = self._attach if wire == "pipes" else None
        return ApiClient(self.server.url, headers, attach=attach)

    def _attach(self, protocol: asyncio.Protocol) -> None:
        join(protocol, self.server.http_server)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.api.close()

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def track(self, task: asyncio.Task[None]) -> None:
        """Keep `task` alive until it ends; the run is not over while it runs."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- requests ---------------------------------------------------------------------------
    async def create(self, spec: BroadcastSpec, body: dict[str, Any], order: int) -> str:
        """Create one broadcast; retried a few times when the API answers 429 or 503."""
        for _ in range(5):
            status, answer = await self.server.request("POST", _API + "/broadcast", body)
            if status not in (429, 503):
                break
        if status != 200 or not isinstance(answer, dict):
            raise ClientError(f"creating broadcast {spec.name!r} failed: {status} {answer}")
        bid = str(answer.get("broadcast_id") or answer.get("app_instance"))
        self.broadcast_ids[spec.name] = bid
        positions: dict[str, int] = {}
        for target in self.em.store.broadcast(bid).targets:
            positions.setdefault(target.number, target.index + 1)
        self.recorder.broadcasts[bid] = BroadcastInfo(spec.name, order, positions)
        return bid

    async def stop(self, broadcast_id: str) -> None:
        await self._checked("DELETE", f"{_API}/broadcast/{broadcast_id}", b"", "stop")

    async def _checked(self, method: str, path: str, body: bytes, action: str) -> None:
        """One API call of a reaction; an answer other than 2xx is kept as a client error."""
        try:
            status, raw = await self._call(method, path, body)
        except (OSError, ValueError, TimeoutError) as exc:
            status, raw = 0, str(exc).encode()
        if not 200 <= status < 300:
            self.errors.append(
                {
                    "action": action,
                    "method": method,
                    "path": path,
                    "status": status,
                    "answer": _read_answer(raw) if status else raw.decode(),
                    "virtual_time": self.em.clock.now_iso(),
                }
            )

    async def _call(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        try:
            return await self.api.request(method, path, body)
        except DirectUnavailable as exc:  # an aiohttp that builds requests otherwise: over HTTP
            log.warning("replay: %s; the client's calls go over HTTP", exc)
            self.api = self._api("pipes")
            return await self.api.request(method, path, body)

    # -- webhooks ---------------------------------------------------------------------------
    def webhook(self, head: RequestHead, body: bytes) -> Answer | Awaitable[Answer]:
        """The receiver's handler: count the event, then answer at once, or once its reaction's
        API calls are done (the webhook's delivery holds virtual time until then)."""
        try:
            payload = _plain_event(body)
            if payload is None:
                payload, _ = decode_webhook(body, head.headers, self._app_id)
        except (ValueError, KeyError, TypeError) as exc:
            return answer_json(400, {"error": f"cannot read webhook: {exc}"})
        info = self.recorder.add(head.path, payload, self.em.clock.now_ms)
        reaction = self._reaction_for(payload, info)
        if reaction is None:
            return _OK
        return self._react(reaction, payload)

    async def _react(self, reaction: Reaction, payload: dict[str, Any]) -> Answer:
        await self.perform(list(reaction.actions), payload)
        return _OK

    def _reaction_for(self, payload: dict[str, Any], info: BroadcastInfo | None) -> Reaction | None:
        if not self.reactions.entries or payload.get("voice_id") is None:
            return None
        for matches, reaction in self.reactions.candidates(payload):
            if matches(payload, info):
                return reaction
        return None

    async def perform(self, actions: list[Action], payload: dict[str, Any]) -> None:
        while actions:
            action = actions.pop(0)
            if action.kind == "wait":
                self._later(action.seconds, actions, payload)
                return
            await self._do(action, payload)

    def _later(self, seconds: float, actions: list[Action], payload: dict[str, Any]) -> None:
        at_ms = self.em.clock.now_ms + round(seconds * 1000)
        self.at(at_ms, lambda: self.perform(actions, payload))

    def at(self, at_ms: int, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work()` when the virtual clock reaches `at_ms`; time stands still until it ends."""

        def fire() -> None:
            self.em.activity.acquire()  # taken before the task exists, so time waits for it
            self.track(asyncio.create_task(self._released(work)))

        self.em.clock.call_at(at_ms, fire)

    async def _released(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        finally:
            self.em.activity.release()

    async def _do(self, action: Action, payload: dict[str, Any]) -> None:
        bid, vid = payload.get("broadcast_id"), payload.get("voice_id")
        call = f"{_API}/broadcast/{bid}/call/{vid}"
        if action.kind == "play":
            await self._checked("PUT", call + "/play", self._body(action), "play")
        elif action.kind == "connect":
            body = _json({"from": payload.get("from"), **action.body})
            await self._checked("PUT", call + "/connect", body, "connect")
        elif action.kind == "hangup":
            await self._checked("DELETE", call, b"", "hangup")
        elif action.kind == "stop":
            await self._checked("DELETE", f"{_API}/broadcast/{bid}", b"", "stop")

    def _body(self, action: Action) -> bytes:
        """The JSON of an action's fixed body (actions live as long as the scenario)."""
        body = self._bodies.get(id(action))
        if body is None:
            body = self._bodies[id(action)] = _json(action.body)
        return body

    def schedule_stop(self, broadcast_id: str, at_ms: int) -> None:
        self.at(at_ms, lambda: self.stop(broadcast_id))


def _plain_event(raw: bytes) -> dict[str, Any] | None:
    """The event of a plain (unencrypted) JSON body, read by orjson (five times quicker than the
    standard library); None for anything else, which `decode_webhook` then reads as before
    (encrypted bodies, and JSON orjson refuses but the standard library takes: NaN, integers
    beyond 64 bits, lone surrogates), so the events are the same either way."""
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(event) is not dict or "encrypted_data" in event:
        return None
    return event


def _json(body: Any) -> bytes:
    """A request body as aiohttp's `json=` wrote it before (the standard library's JSON)."""
    return json.dumps(body).encode("utf-8")


def _read_answer(raw: bytes) -> Any:
    """An error answer as the report shows it: its JSON (None if empty), or its text."""
    text = raw.decode("utf-8", "replace")
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
