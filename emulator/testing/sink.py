"""The webhook sink: a receiver on 127.0.0.1:0 that records, awaits, scripts and reacts to events.

Encrypted bodies (`{"encrypted_data": ...}` with `x-algoritm` / `x-format` headers) are decrypted
with the APP_ID, so tests read the JSON event whatever `--webhook-encryption` says. Errors raised
by reaction handlers are kept and re-raised by `check()` (the fixture calls it at teardown).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from emulator.webhooks.crypto import decode_webhook

__all__ = ["Received", "SinkError", "WebhookSink", "event_name"]

Event = dict[str, Any]
Predicate = Callable[[Event], bool]
Reaction = Callable[[Event], Awaitable[Any] | Any]


class SinkError(AssertionError):
    """A reaction handler failed, or a delivery could not be read."""


def event_name(event: Event) -> str:
    """The name a per-call sequence is written in: `state`, or `playstate` for play events."""
    return str(event.get("state") or event.get("playstate") or "")


@dataclass(frozen=True, slots=True)
class Received:
    """One delivery as it reached the sink."""

    path: str
    headers: dict[str, str]
    event: Event
    encrypted: bool
    status: int  # what the sink answered


@dataclass(slots=True)
class _Failure:
    times: int
    status: int
    match: Predicate


@dataclass(slots=True)
class _Handler:
    match: Predicate
    react: Reaction


def _matcher(predicate: Predicate | None, fields: dict[str, Any]) -> Predicate:
    def match(event: Event) -> bool:
        if predicate is not None and not predicate(event):
            return False
        return all(_field_matches(event, key, value) for key, value in fields.items())

    return match


def _field_matches(event: Event, key: str, value: Any) -> bool:
    if key == "event":
        return event_name(event) == str(value)
    return key in event and (bool(event[key] == value) or str(event[key]) == str(value))


@dataclass(slots=True)
class _State:
    received: list[Received] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)
    handlers: list[_Handler] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


class WebhookSink:
    """Records every webhook POSTed to `url` (any path below it) and answers 200 by default.

    ```
    await sink.wait_for(state="connected", to="919876543210")
    sink.assert_sequence(["initiated", "ringing", "connected", "disconnected"], to="9198...")
    sink.fail(times=2, status=503)          # the next two deliveries get 503
    @sink.on(state="connected")             # react like the app under test would
    async def answered(event): ...
    ```
    """

    def __init__(
        self, password: str | Callable[[], str | None] | None = None, timeout: float = 10.0
    ) -> None:
        # the APP_ID that decrypts encrypted webhooks; a callable when it is known only later
        # (the pytest plugin's project on a running emulator is made after the sink)
        self.password = password
        self.timeout = timeout  # default real seconds `wait_for` waits
        self.url = ""
        self._state = _State()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def start(
        self, host: str = "127.0.0.1", port: int = 0, public_host: str | None = None
    ) -> WebhookSink:
        """Listen on `host:port`; `url` names `public_host` (how the emulator reaches the sink,
        e.g. `host.docker.internal` from a container) or else `host`."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        shown = public_host or ("127.0.0.1" if host in ("0.0.0.0", "") else host)
        self.url = f"http://{shown}:{bound}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WebhookSink:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def check(self) -> None:
        """Raise the first error a handler raised or an unreadable delivery caused."""
        errors = self._state.errors
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise SinkError(f"webhook sink error{more}: {errors[0]!r}") from errors[0]

    # -- scripting -------------------------------------------------------------------------
    def fail(
        self, times: int = 1, status: int = 503, match: Predicate | None = None, **fields: Any
    ) -> None:
        """Answer `status` to the next `times` deliveries (those matching, if filters given)."""
        if times < 1 or not 100 <= status <= 599:
            raise ValueError("times must be >= 1 and status an HTTP status")
        self._state.failures.append(_Failure(times, status, _matcher(match, fields)))

    def on(self, match: Predicate | None = None, **fields: Any) -> Callable[[Reaction], Reaction]:
        """Decorator: call the handler (sync or async) with each matching event before answering.

        The delivery waits for the handler, exactly like a real webhook receiver; an exception
        answers 500 and fails the test at teardown.
        """

        def register(react: Reaction) -> Reaction:
            self._state.handlers.append(_Handler(_matcher(match, fields), react))
            return react

        return register

    # -- reading ---------------------------------------------------------------------------
    @property
    def received(self) -> list[Received]:
        return list(self._state.received)

    @property
    def events(self) -> list[Event]:
        """Every event accepted with a 2xx answer, in arrival order."""
        return [r.event for r in self._state.received if 200 <= r.status < 300]

    def filter(self, match: Predicate | None = None, **fields: Any) -> list[Event]:
        test = _matcher(match, fields)
        return [e for e in self.events if test(e)]

    def sequence(self, match: Predicate | None = None, **fields: Any) -> list[str]:
        """Names (`state` or `playstate`) of the matching events, in order."""
        return [event_name(e) for e in self.filter(match, **fields)]

    def assert_sequence(
        self, expected: Iterable[str], match: Predicate | None = None, **fields: Any
    ) -> None:
        """Assert the matching events' names are exactly `expected`, in order."""
        wanted, got = list(expected), self.sequence(match, **fields)
        assert got == wanted, f"webhook sequence for {fields or 'all events'}: {got} != {wanted}"

    async def wait_for(
        self,
        match: Predicate | None = None,
        *,
        timeout: float | None = None,
        count: int = 1,
        **fields: Any,
    ) -> Event:
        """The `count`-th accepted event matching, waiting (real seconds) until it arrives."""
        test = _matcher(match, fields)

        def found() -> list[Event]:
            return [e for e in self.events if test(e)]

        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(
                        lambda: len(found()) >= count or bool(self._state.errors)
                    ),
                    timeout if timeout is not None else self.timeout,
                )
            except TimeoutError:
                seen = [event_name(e) for e in self.events]
                raise TimeoutError(
                    f"no webhook matching {fields or match} (count {count}) arrived; seen: {seen}"
                ) from None
        self.check()
        return found()[count - 1]

    async def wait_for_completion(
        self, broadcast_id: str | None = None, *, timeout: float | None = None
    ) -> Event:
        """The broadcast's completion event (the one carrying the result counts)."""
        fields: dict[str, Any] = {"broadcast_id": broadcast_id} if broadcast_id else {}
        return await self.wait_for(lambda e: "resultset" in e, timeout=timeout, **fields)

    def clear(self) -> None:
        self._state.received.clear()

    # -- receiving -------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            password = self.password() if callable(self.password) else self.password
            event, encrypted = decode_webhook(raw, request.headers, password)
        except (ValueError, KeyError, TypeError) as exc:
            self._state.errors.append(SinkError(f"unreadable webhook on {request.path}: {exc}"))
            return await self._answer(request, {}, False, 400)
        status = self._scripted_status(event)
        if status is None:
            status = await self._react(event)
        return await self._answer(request, event, encrypted, status)

    async def _answer(
        self, request: web.Request, event: Event, encrypted: bool, status: int
    ) -> web.Response:
        headers = dict(request.headers)
        self._state.received.append(Received(request.path, headers, event, encrypted, status))
        async with self._changed:
            self._changed.notify_all()
        return web.json_response({"status": status}, status=status)

    def _scripted_status(self, event: Event) -> int | None:
        for failure in self._state.failures:
            if failure.times > 0 and failure.match(event):
                failure.times -= 1
                return failure.status
        return None

    async def _react(self, event: Event) -> int:
        for handler in list(self._state.handlers):
            if not handler.match(event):
                continue
            try:
                result = handler.react(event)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                self._state.errors.append(exc)
                return 500
        return 200
