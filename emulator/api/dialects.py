"""The normaliser: every request dialect real clients send, turned into one canonical command.

See docs/dialects.md for the table of accepted forms and the client family that sends each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emulator.domain.models import CreateCommand, PlaySpec, Recipient, Recipients
from emulator.errors import BadRequest, Messages
from emulator.webhooks.targets import Listener, webhook_url_problem

__all__ = [
    "CreateLimits",
    "Family",
    "normalise_bridge",
    "normalise_create",
    "normalise_number",
    "normalise_play",
]

_PHONE_NOISE = re.compile(r"[\s\-.()]")
_DIGITS = re.compile(r"\d{4,20}")
_MAX_RETRIES = 100


class Family:
    """Client families, told apart by the keys their create requests use (fact sheet B.1)."""

    DOCUMENTED = "documented"
    V2020 = "2020"
    V2023 = "2023"
    V2 = "v2"


_COMPLETION = {
    Family.DOCUMENTED: None,
    Family.V2020: "broadcastcomplete",
    Family.V2023: "broadcastcall_complete",
    Family.V2: "broadcastcall_complete",
}


@dataclass(frozen=True, slots=True)
class CreateLimits:
    cli_numbers: tuple[str, ...] = ()
    max_numbers: int = 1_000_000
    webhook_allow: tuple[str, ...] = ()  # normalised hosts (`targets.allow_list`); empty = any
    listener: Listener | None = None  # where the emulator listens: its control plane is refused


def normalise_number(value: Any) -> str | None:
    """A phone number in canonical form (digits, one leading + kept), or None if not one."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = _PHONE_NOISE.sub("", str(value))
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if not _DIGITS.fullmatch(digits):
        return None
    return ("+" if plus else "") + digits


def _first(body: Mapping[str, Any], *keys: str) -> tuple[str | None, Any]:
    for key in keys:
        if key in body and body[key] is not None:
            return key, body[key]
    return None, None


def _text(value: Any, field: str, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise BadRequest(f"{field} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadRequest(f"{field} must be a string")
    return str(value)


def _url(value: Any, field: str, limits: CreateLimits, required: bool) -> str | None:
    """A webhook URL (CONTRACT §11): http/https in any case, a valid host and port, a host in
    `--webhook-allow`, not the emulator's own control plane."""
    text = _text(value, field, required)
    if text is None:
        return None
    problem = webhook_url_problem(text, limits.webhook_allow, limits.listener)
    if problem is not None:
        raise BadRequest(f"{field} {problem}")
    return text.strip()


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", "", "undefined", "null", "none"})


def _bool(value: Any, field: str) -> bool:
    """Loosely typed switches: clients send booleans, numbers and strings (even "undefined")."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int):
        return value != 0
    raise BadRequest(f"{field} must be true or false")


def normalise_play(body: Mapping[str, Any], field: str = "play") -> PlaySpec:
    """A play request in any shape: flat, or nested under `play` (v2 adds `type`)."""
    nested = body.get("play")
    if isinstance(nested, Mapping):
        body, field = nested, f"{field}.play" if field != "play" else "play"
    elif nested is not None:
        raise BadRequest(f"{field} must be an object")
    text = _text(body.get("text"), f"{field}.text")
    prompt_name = _text(body.get("prompt_name"), f"{field}.prompt_name")
    prompt_ref = _text(body.get("prompt_ref"), f"{field}.prompt_ref")
    if text is None and prompt_name is None and prompt_ref is None:
        raise BadRequest(f"{field} needs text (TTS) or prompt_name")
    dtmf_key, dtmf = _first(body, "dtmf", "dmtf")
    return PlaySpec(
        text=text,
        voice=_text(body.get("voice"), f"{field}.voice"),
        language=_text(body.get("language"), f"{field}.language"),
        prompt_name=prompt_name,
        prompt_ref=prompt_ref,
        dtmf=_bool(dtmf, f"{field}.{dtmf_key}"),
    )


def normalise_bridge(body: Mapping[str, Any], cli_numbers: tuple[str, ...] = ()) -> tuple[str, str]:
    """A connect request, flat `{from, to}` or wrapped `{connect: {from, to}}`.

    `from` must be a phone number (and one of `cli_numbers` when that is not empty).
    """
    nested = body.get("connect")
    field = "connect" if isinstance(nested, Mapping) else ""
    source = nested if isinstance(nested, Mapping) else body
    prefix = f"{field}." if field else ""
    from_number = normalise_number(source.get("from"))
    if from_number is None or (cli_numbers and from_number not in cli_numbers):
        raise BadRequest(f"{prefix}from: {Messages.CLI}")
    to = normalise_number(source.get("to"))
    if to is None:
        raise BadRequest(f"{prefix}to must be a phone number")
    return from_number, to


_COMMA_KEYS = frozenset({"broadcast_numbers_array", "broadcast_numbers", "to"})


def _number_items(value: Any, field: str) -> list[Any]:
    """The entries of a numbers field: an array, a JSON string of one, or (where CONTRACT §3
    allows it) a comma-separated string."""
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped.startswith("["):
            if field in _COMMA_KEYS:
                return [part for part in stripped.split(",") if part.strip()]
            raise BadRequest(f"{field} must hold a JSON array of numbers")
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):
            raise BadRequest(f"{field} is not valid JSON") from None
    if not isinstance(value, list):
        raise BadRequest(f"{field} must be an array of numbers")
    return value


def _entry_number(item: Any, field: str, index: int) -> str:
    raw = (
        item.get("phone", item.get("to", item.get("number"))) if isinstance(item, Mapping) else item
    )
    number = normalise_number(raw)
    if number is None:
        shown = json.dumps(raw)[:60] if raw is not None else "an entry without phone"
        raise BadRequest(f"{field}[{index}]: {shown} is not a phone number")
    return number


def _recipients(body: Mapping[str, Any]) -> tuple[str, list[Recipient | str]]:
    key, value = _first(
        body,
        "recipients",
        "broadcast_numbers_array",
        "broadcast_numbers_json",
        "broadcastnumbersjson",
        "broadcast_numbers",
        "to",  # the 2021 library's single-call helpers post `to` to the broadcast route
    )
    if key is None:
        raise BadRequest(
            "broadcast_numbers_array or broadcast_numbers_json is required "
            "(also accepted: broadcastnumbersjson, broadcast_numbers, recipients)"
        )
    if key == "recipients":
        return key, _v2_recipients(value)
    items = _number_items(value, key)
    return key, [_entry_number(item, key, i) for i, item in enumerate(items)]


def _v2_recipients(value: Any) -> list[Recipient | str]:
    if not isinstance(value, list):
        raise BadRequest("recipients must be an array of {to, play}")
    out: list[Recipient | str] = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            out.append(_entry_number(item, "recipients", i))
            continue
        number = _entry_number(item, "recipients", i)
        play = item.get("play")
        spec = normalise_play(play, f"recipients[{i}].play") if isinstance(play, Mapping) else None
        out.append(Recipient(number, spec, item.get("custom_data")))
    return out


_SECONDS_KEYS = ("interval_between_retries",)
_MILLIS_KEYS = ("IntervalBetweenRetries", "intervalBetweenRetries")
_RETRIES_KEYS = ("number_of_retries", "NumberOfRetries", "numberOfRetries")


def _setting(
    body: Mapping[str, Any], param: Mapping[str, Any], keys: tuple[str, ...]
) -> tuple[str | None, Any]:
    """A retry setting from `call_param` (where every sample puts it), else from the top level."""
    key, value = _first(param, *keys)
    if key is not None:
        return f"call_param.{key}", value
    return _first(body, *keys)


def _retry(body: Mapping[str, Any]) -> tuple[int, int]:
    """(interval in ms, total attempts) from every spelling; units per dialect (fact sheet B.1).

    snake_case counts seconds; PascalCase and camelCase count milliseconds; `number_of_retries`
    counts retries after the first attempt; v2 `retry.max_attempts` counts every attempt.
    """
    param = body.get("call_param")
    if param is not None and not isinstance(param, Mapping):
        raise BadRequest("call_param must be an object")
    param = param or {}
    interval_ms, attempts = 5000, 4
    key, seconds = _setting(body, param, _SECONDS_KEYS)
    if key is not None:
        interval_ms = round(_number(seconds, key) * 1000)
    key, millis = _setting(body, param, _MILLIS_KEYS)
    if key is not None:
        interval_ms = round(_number(millis, key))
    key, retries = _setting(body, param, _RETRIES_KEYS)
    if key is not None:
        attempts = int(_number(retries, key, integer=True)) + 1
    retry = body.get("retry")
    if isinstance(retry, Mapping):
        if retry.get("interval") is not None:
            interval_ms = round(_number(retry["interval"], "retry.interval") * 1000)
        if retry.get("max_attempts") is not None:
            attempts = max(1, int(_number(retry["max_attempts"], "retry.max_attempts", True)))
    elif retry is not None:
        raise BadRequest("retry must be an object {interval, max_attempts}")
    if attempts > _MAX_RETRIES + 1:
        raise BadRequest(f"number_of_retries must be at most {_MAX_RETRIES}")
    return interval_ms, attempts


def _number(value: Any, field: str, integer: bool = False) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise BadRequest(f"{field} must be a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise BadRequest(f"{field} must be a number")
    if value < 0 or value > 86_400_000:
        raise BadRequest(f"{field} must be between 0 and 86400000")
    if integer and int(value) != value:
        raise BadRequest(f"{field} must be a whole number")
    return float(value)


def _family(body: Mapping[str, Any], numbers_key: str) -> str:
    if numbers_key == "recipients":
        return Family.V2
    if numbers_key == "broadcast_numbers":
        return Family.V2023
    if numbers_key == "broadcastnumbersjson":
        return Family.V2020
    if "callhandler_url" in body and "call_handler_url" not in body:
        return Family.V2020
    return Family.DOCUMENTED


def _action_play(body: Mapping[str, Any]) -> PlaySpec | None:
    action = body.get("action_on_connect")
    if action is None:
        return None
    if not isinstance(action, Mapping):
        raise BadRequest("action_on_connect must be an object")
    play = action.get("play")
    if play is None:
        return None
    if not isinstance(play, Mapping):
        raise BadRequest("action_on_connect.play must be an object")
    return normalise_play(play, "action_on_connect.play")


def normalise_create(body: Mapping[str, Any], limits: CreateLimits) -> CreateCommand:
    """Validate a create request of any dialect; BadRequest names the first bad field."""
    name_key, name = _first(body, "application_name", "name", "applicationName")
    app_name = _text(name, name_key or "application_name") or ""
    from_number = normalise_number(body.get("from"))
    if from_number is None or (limits.cli_numbers and from_number not in limits.cli_numbers):
        raise BadRequest(Messages.CLI, application_name=app_name or None)
    numbers_key, recipients = _recipients(body)
    if not recipients:
        raise BadRequest(f"{numbers_key} holds no numbers")
    if len(recipients) > limits.max_numbers:
        raise BadRequest(
            f"{numbers_key} holds {len(recipients)} numbers; at most {limits.max_numbers}"
        )
    interval_ms, attempts = _retry(body)
    handler_key, handler = _first(body, "call_handler_url", "callhandler_url")
    family = _family(body, numbers_key)
    return CreateCommand(
        name=app_name,
        owner_ref=_text(body.get("owner_ref"), "owner_ref"),
        from_number=from_number,
        recipients=Recipients(recipients),
        play=_action_play(body),
        retry_interval_ms=interval_ms,
        max_attempts=attempts,
        event_url=_url(body.get("event_url"), "event_url", limits, True) or "",
        call_handler_url=_url(handler, handler_key or "call_handler_url", limits, False),
        family=family,
        completion_state=_COMPLETION[family],
        custom_data=body.get("custom_data"),
    )
