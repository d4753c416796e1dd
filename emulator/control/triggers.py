"""Triggers: a person plays the callee of a live call, or decides a number's next attempt.

`POST /_emulator/calls/{voice_id}/press|hangup|answer|reject` and `PUT|GET|DELETE
/_emulator/numbers/{number}/next` (CONTRACT §9). Each acts at the project's current virtual
instant through the broadcast service, answers the call's new state (the `/calls/{voice_id}`
object), and is journalled in the project's request journal like an API request, errors
included: 404 for an unknown call, 409 with the reason when its state does not allow it, 400 for
bad digits, `as` or outcome.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from emulator.api.dialects import normalise_number
from emulator.api.middleware import BODY, WORLD, read_json, scoped
from emulator.api.responses import json_response
from emulator.domain.behaviour import Outcome
from emulator.domain.person import REJECT_REASONS
from emulator.errors import BadRequest, EmulatorError
from emulator.world import World

__all__ = ["OUTCOMES", "trigger_routes"]

OUTCOMES = tuple(o.value for o in Outcome)
_DIGITS = re.compile(r"[0-9*#]{1,32}")
_MAX_MENUS = 64  # digits for at most this many menus in one `next`
Handler = Callable[[web.Request], Awaitable[web.Response]]


def _journalled(handler: Handler) -> Handler:
    """Journal the trigger in its project (errors too), as the API's requests are."""

    async def run(request: web.Request) -> web.Response:
        world: World = request[WORLD]
        try:
            response = await handler(request)
        except EmulatorError as error:
            world.record(request.method, request.path, error.status, None, request.get(BODY))
            raise
        world.record(request.method, request.path, response.status, None, request.get(BODY))
        return response

    return run


def _digits(value: Any, name: str = "digits") -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        shown = repr(value)[:40]
        raise BadRequest(f"{name} must be 1-32 of the keys 0-9, * and #, not {shown}")
    return value


def _detail(world: World, voice_id: str) -> web.Response:
    """The call's new state; the call views are imported when first asked for (start-up)."""
    from emulator.observe.calls import call_detail

    return json_response(call_detail(world, voice_id))


async def _press(request: web.Request) -> web.Response:
    world, voice_id = request[WORLD], request.match_info["voice_id"]
    leg = world.service.leg(voice_id)
    body = await read_json(request)
    if "digits" not in body:
        raise BadRequest('digits is required, e.g. {"digits": "1"}')
    world.service.press(leg, _digits(body["digits"]))
    return _detail(world, voice_id)


async def _hangup(request: web.Request) -> web.Response:
    world, voice_id = request[WORLD], request.match_info["voice_id"]
    leg = world.service.leg(voice_id)
    await read_json(request)
    world.service.callee_hangup(leg)
    return _detail(world, voice_id)


async def _answer(request: web.Request) -> web.Response:
    world, voice_id = request[WORLD], request.match_info["voice_id"]
    leg = world.service.leg(voice_id)
    await read_json(request)
    world.service.answer(leg)
    return _detail(world, voice_id)


async def _reject(request: web.Request) -> web.Response:
    world, voice_id = request[WORLD], request.match_info["voice_id"]
    leg = world.service.leg(voice_id)
    body = await read_json(request)
    kind = body.get("as", "busy")
    if kind not in REJECT_REASONS:
        allowed = ", ".join(REJECT_REASONS)
        raise BadRequest(f"as must be one of {allowed}, not {repr(kind)[:40]}")
    world.service.reject(leg, kind)
    return _detail(world, voice_id)


def _number(request: web.Request) -> str:
    raw = request.match_info["number"]
    number = normalise_number(raw)
    if number is None:
        raise BadRequest(f"not a phone number: {raw[:40]!r} (4-20 digits, one leading +)")
    return number


def _next_json(world: World, number: str) -> dict[str, Any]:
    found = world.service.next_attempts.get(number)
    if found is None:
        return {"number": number, "next": None}
    outcome, digits = found
    return {
        "number": number,
        "next": {"outcome": outcome.value, "digits": list(digits) if digits is not None else None},
    }


def _menu_digits(value: Any) -> tuple[str | None, ...] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > _MAX_MENUS:
        raise BadRequest(f"digits must list 1-{_MAX_MENUS} entries (one per menu)")
    return tuple(None if d is None else _digits(d, f"digits[{i}]") for i, d in enumerate(items))


async def _put_next(request: web.Request) -> web.Response:
    world, number = request[WORLD], _number(request)
    body = await read_json(request)
    outcome = body.get("outcome")
    if outcome not in OUTCOMES:
        raise BadRequest(f"outcome must be one of {', '.join(OUTCOMES)}, not {repr(outcome)[:40]}")
    world.service.next_attempts.set(number, Outcome(outcome), _menu_digits(body.get("digits")))
    return json_response(_next_json(world, number))


async def _get_next(request: web.Request) -> web.Response:
    return json_response(_next_json(request[WORLD], _number(request)))


async def _delete_next(request: web.Request) -> web.Response:
    world, number = request[WORLD], _number(request)
    forgotten = world.service.next_attempts.forget(number)
    return json_response({"number": number, "next": None, "forgotten": forgotten})


def trigger_routes() -> list[web.RouteDef]:
    call = "/calls/{voice_id}"
    nxt = "/numbers/{number}/next"
    return [
        *scoped("POST", call + "/press", _journalled(_press)),
        *scoped("POST", call + "/hangup", _journalled(_hangup)),
        *scoped("POST", call + "/answer", _journalled(_answer)),
        *scoped("POST", call + "/reject", _journalled(_reject)),
        *scoped("PUT", nxt, _journalled(_put_next)),
        *scoped("GET", nxt, _get_next),
        *scoped("DELETE", nxt, _journalled(_delete_next)),
    ]
