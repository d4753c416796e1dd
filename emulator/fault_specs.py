"""Fault specs: the compact and JSON spellings of faults, as flags and the control plane take them.

Compact form (several separated by `;`), windows in virtual seconds from the moment of loading:

    API      [METHOD ]ROUTE=EFFECT[xCOUNT][@AFTER[+FOR]]
             EFFECT: STATUS | STATUS:RETRY_AFTER_S | delay:SECONDS
             ROUTE: `*` (every route) or a path end such as `/broadcast` or
             `/broadcast/{id}`; `{name}` stands for one path segment.
    webhook  URL=EFFECT[xCOUNT][@AFTER[+FOR]]
             EFFECT: STATUS | timeout | refuse | delay:SECONDS
             URL: `*` (every receiver) or a regular expression searched in the URL.

    --api-fault 'POST /broadcast=503x2; GET /broadcast/{id}=429:5'
    --webhook-fault '/call=500x3; *=refuse@0+60'

JSON form: an object or a list of objects with the keys of `api_fault_from_json` /
`webhook_fault_from_json` (`times`, `after_s`, `for_s`, `probability` shared).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from emulator.faults import ApiFault, FaultBook, WebhookFault

__all__ = [
    "FaultSpecError",
    "api_fault_from_json",
    "parse_api_faults",
    "parse_webhook_faults",
    "route_regex",
    "validate_api_spec",
    "validate_webhook_spec",
    "webhook_fault_from_json",
]

_TAIL = re.compile(
    r"^(?P<effect>.+?)(?:x(?P<times>\d+))?(?:@(?P<after>[\d.]+)(?:\+(?P<for>[\d.]+))?)?$"
)
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
_MAX_DELAY_S = 600.0


def route_regex(route: str) -> str | None:
    """`/broadcast/{id}` → a regex matching request paths that end with that route."""
    route = route.strip()
    if route in ("", "*"):
        return None
    parts = re.split(r"(\{[^}/]*\}|\*)", route)
    out = []
    for part in parts:
        if part == "*":
            out.append(".*")
        elif part.startswith("{") and part.endswith("}"):
            out.append("[^/]+")
        else:
            out.append(re.escape(part))
    return "".join(out) + "/?$"


def _float(value: Any, field: str, low: float = 0.0, high: float = 10.0**9) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field} must be a number, not {value!r}") from None
    if not low <= number <= high:
        raise ValueError(f"{field} must be between {low:g} and {high:g}")
    return number


def _status(value: Any, field: str = "status") -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{field} must be an HTTP status")
    try:
        status = int(value)
    except ValueError:
        raise ValueError(f"{field} must be an HTTP status, not {value!r}") from None
    if not 100 <= status <= 599:
        raise ValueError(f"{field} must be between 100 and 599")
    return status


def _regex(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{field}: bad regular expression: {exc}") from None
    return value


def _budget(spec: Mapping[str, Any], now_ms: int) -> Any:
    times = spec.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 0):
        raise ValueError("times must be a whole number >= 0")
    after = _float(spec.get("after_s", 0), "after_s")
    start = now_ms + int(after * 1000)
    end = None
    if spec.get("for_s") is not None:
        end = start + int(_float(spec["for_s"], "for_s") * 1000)
    return FaultBook.budget(times, start, end)


def _probability(spec: Mapping[str, Any]) -> float:
    return _float(spec.get("probability", 1.0), "probability", 0.0, 1.0)


_API_KEYS = frozenset(
    {"method", "route", "path", "path_regex", "status", "retry_after_s", "delay_s"}
    | {"times", "after_s", "for_s", "probability", "kind"}
)
_WEBHOOK_KEYS = frozenset(
    {"url", "status", "timeout", "refuse", "delay_s", "times", "after_s", "for_s"}
    | {"probability", "kind"}
)


def _unknown(spec: Mapping[str, Any], known: frozenset[str]) -> None:
    extra = sorted(set(spec) - known)
    if extra:
        raise ValueError(f"unknown fault keys: {', '.join(extra)}")


def api_fault_from_json(spec: Mapping[str, Any], now_ms: int) -> ApiFault:
    """`{method, route|path_regex, status, retry_after_s, delay_s, times, after_s, for_s,
    probability}`; `route` (alias `path`) is a path end as in the compact form."""
    if not isinstance(spec, Mapping):
        raise ValueError("an API fault must be an object")
    _unknown(spec, _API_KEYS)
    method = spec.get("method")
    if method is not None and (not isinstance(method, str) or method.upper() not in _METHODS):
        raise ValueError(f"method must be one of {', '.join(sorted(_METHODS))}")
    route = spec.get("route", spec.get("path"))
    if route is not None and not isinstance(route, str):
        raise ValueError("route must be a string")
    regex = _regex(spec.get("path_regex"), "path_regex") or route_regex(route or "*")
    status = None if spec.get("status") is None else _status(spec["status"])
    delay = _float(spec.get("delay_s", 0), "delay_s", 0, _MAX_DELAY_S)
    if status is None and delay == 0:
        raise ValueError("an API fault needs a status or a delay_s")
    retry_after = spec.get("retry_after_s")
    if retry_after is None and status in (429, 503):
        retry_after = 1
    return ApiFault(
        path=regex,
        method=method.upper() if isinstance(method, str) else None,
        status=status,
        retry_after_s=None if retry_after is None else int(_float(retry_after, "retry_after_s")),
        delay_s=delay,
        budget=_budget(spec, now_ms),
        probability=_probability(spec),
    )


def webhook_fault_from_json(spec: Mapping[str, Any], now_ms: int) -> WebhookFault:
    """`{url, status | timeout | refuse | delay_s, times, after_s, for_s, probability}`."""
    if not isinstance(spec, Mapping):
        raise ValueError("a webhook fault must be an object")
    _unknown(spec, _WEBHOOK_KEYS)
    url = spec.get("url")
    status = None if spec.get("status") is None else _status(spec["status"])
    timeout = spec.get("timeout") is True
    refuse = spec.get("refuse") is True
    delay = _float(spec.get("delay_s", 0), "delay_s", 0, _MAX_DELAY_S)
    if status is None and not timeout and not refuse and delay == 0:
        raise ValueError("a webhook fault needs a status, timeout, refuse or delay_s")
    return WebhookFault(
        url=None if url in (None, "*") else _regex(url, "url"),
        status=status,
        timeout=timeout,
        refuse=refuse,
        delay_s=delay,
        budget=_budget(spec, now_ms),
        probability=_probability(spec),
    )


def _compact(text: str) -> tuple[str, dict[str, Any]]:
    """`TARGET=EFFECT[xN][@A[+F]]` → (target, the shared keys plus `effect`)."""
    target, sep, tail = text.rpartition("=")
    if not sep or not target.strip():
        raise ValueError(f"fault {text!r}: expected TARGET=EFFECT")
    match = _TAIL.match(tail.strip())
    if match is None:
        raise ValueError(f"fault {text!r}: cannot read {tail!r}")
    spec: dict[str, Any] = {"effect": match["effect"]}
    if match["times"] is not None:
        spec["times"] = int(match["times"])
    if match["after"] is not None:
        spec["after_s"] = float(match["after"])
    if match["for"] is not None:
        spec["for_s"] = float(match["for"])
    return target.strip(), spec


def _api_compact(text: str) -> dict[str, Any]:
    target, spec = _compact(text)
    effect = spec.pop("effect")
    method, _, route = target.partition(" ")
    if not route:
        method, route = "", target
    if method:
        spec["method"] = method
    spec["route"] = route.strip()
    if effect.startswith("delay:"):
        spec["delay_s"] = effect[6:]
    else:
        status, _, retry_after = effect.partition(":")
        spec["status"] = status
        if retry_after:
            spec["retry_after_s"] = retry_after
    return spec


def _webhook_compact(text: str) -> dict[str, Any]:
    target, spec = _compact(text)
    effect = spec.pop("effect")
    spec["url"] = target
    if effect in ("timeout", "refuse"):
        spec[effect] = True
    elif effect.startswith("delay:"):
        spec["delay_s"] = effect[6:]
    else:
        spec["status"] = effect
    return spec


def _specs(text: str, compact: Any) -> list[dict[str, Any]]:
    text = text.strip()
    if not text:
        return []
    if text[0] in "[{":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"fault spec is not valid JSON: {exc}") from None
        return list(data) if isinstance(data, list) else [data]
    return [compact(part) for part in re.split(r"[;\n]", text) if part.strip()]


def parse_api_faults(text: str, now_ms: int) -> list[ApiFault]:
    """Every API fault in a flag value (compact or JSON); ValueError names the bad one."""
    return [api_fault_from_json(spec, now_ms) for spec in _specs(text, _api_compact)]


def parse_webhook_faults(text: str, now_ms: int) -> list[WebhookFault]:
    return [webhook_fault_from_json(spec, now_ms) for spec in _specs(text, _webhook_compact)]


class FaultSpecError(argparse.ArgumentTypeError, ValueError):
    """A bad fault spec in a flag or environment variable (argparse shows the message)."""


def _validated(text: str, parse: Callable[[str, int], list[Any]]) -> str:
    """For the serve flags: check the spec now, keep the text (faults are built at start)."""
    try:
        parse(text, 0)
    except ValueError as exc:
        raise FaultSpecError(str(exc)) from None
    return text


def validate_api_spec(text: str) -> str:
    return _validated(text, parse_api_faults)


def validate_webhook_spec(text: str) -> str:
    return _validated(text, parse_webhook_faults)
