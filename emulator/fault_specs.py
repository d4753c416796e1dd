"""The fault grammar: one parser and one builder for the faults of the `--api-fault` /
`--webhook-fault` flags, the control plane's JSON and scenario files, so that every key means
the same everywhere (documented once, in docs/reliability.md).

Compact form (several separated by `;`), windows in virtual seconds from when the fault is added:

    API      [METHOD ]ROUTE=EFFECT[xCOUNT][@AFTER[+FOR]]
             EFFECT: STATUS | STATUS:RETRY_AFTER_S | delay:SECONDS
             ROUTE: `*` (every route) or a path end such as `/broadcast` or
             `/broadcast/{id}`; `{name}` stands for one path segment.
    webhook  URL=EFFECT[xCOUNT][@AFTER[+FOR]]
             EFFECT: STATUS | timeout | refuse | delay:SECONDS
             URL: `*` (every receiver) or a regular expression searched in the URL.

    --api-fault 'POST /broadcast=503x2; GET /broadcast/{id}=429:5'
    --webhook-fault '/call=500x3; *=refuse@0+60'

Object form: the keys of `API_KEYS` / `WEBHOOK_KEYS`. A compact string is the same object
spelt short: `POST /broadcast=503x2@10+60` is `{method: POST, route: /broadcast, status: 503,
times: 2, after_s: 10, for_s: 60}`. Old spellings: `from_s` / `until_s` still give the window by
its start and end; `path` (a path end in the flags, a regular expression in scenario files) is
refused with a message naming `route` and `path_regex`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from emulator.fault_values import (
    OLD_WINDOW,
    FaultSpecError,
    read_flag,
    read_number,
    read_regex,
    read_status,
    read_times,
    read_window,
)
from emulator.faults import ApiFault, FaultBook, WebhookFault

__all__ = [
    "API_KEYS",
    "WEBHOOK_KEYS",
    "FaultSpec",
    "FaultSpecError",
    "api_fault_from_json",
    "fault_spec",
    "fault_specs",
    "faults_body_specs",
    "parse_api_faults",
    "parse_webhook_faults",
    "route_regex",
    "validate_api_spec",
    "validate_webhook_spec",
    "webhook_fault_from_json",
]

KINDS = ("api", "webhook")
_SHARED = ("status", "delay_s", "times", "after_s", "for_s", "probability", "kind")
API_KEYS = ("method", "route", "path_regex", "retry_after_s", *_SHARED)
WEBHOOK_KEYS = ("url", "timeout", "refuse", *_SHARED)
_TAIL = re.compile(
    r"^(?P<effect>.+?)(?:x(?P<times>\d+))?(?:@(?P<after>[\d.]+)(?:\+(?P<for>[\d.]+))?)?$"
)
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
_MAX_DELAY_S = 600.0
_HINTS = {
    "url": "match API requests with route or path_regex",
    "timeout": "use delay_s",
    "refuse": "use status",
    "method": "webhook faults match by url",
    "route": "use url, a regular expression searched in the webhook URL",
    "path_regex": "use url, a regular expression searched in the webhook URL",
    "retry_after_s": "webhooks are not answered with Retry-After",
}
_PATH_GONE = (
    "path is no longer a fault key (it meant a path end in flags and a regular expression in "
    "scenario files): use route for a path end such as /broadcast/{id}, or path_regex for a "
    "regular expression searched in the path"
)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One fault as written, validated: what it matches, what it does, when, how often.

    Data only: `build(now_ms)` makes the `ApiFault` / `WebhookFault` a `FaultBook` holds, its
    window counted from `now_ms` (the moment the fault is added or its scenario loaded).
    """

    kind: str  # "api" | "webhook"
    method: str | None = None
    route: str | None = None  # api: a path end; None = every route
    path_regex: str | None = None  # api: a regular expression searched in the path
    url: str | None = None  # webhook: a regular expression searched in the URL; None = all
    status: int | None = None
    retry_after_s: int | None = None
    delay_s: float = 0.0
    timeout: bool = False
    refuse: bool = False
    times: int | None = None
    after_s: float = 0.0
    for_s: float | None = None
    probability: float = 1.0

    def build(self, now_ms: int) -> ApiFault | WebhookFault:
        start = now_ms + round(self.after_s * 1000)
        end = None if self.for_s is None else start + round(self.for_s * 1000)
        budget = FaultBook.budget(self.times, start, end)
        if self.kind == "webhook":
            return WebhookFault(
                self.url, self.status, self.timeout, self.delay_s, budget, self.refuse,
                self.probability,
            )  # fmt: skip
        path = self.path_regex or route_regex(self.route or "*")
        return ApiFault(
            path, self.method, self.status, self.retry_after_s, self.delay_s, budget,
            self.probability,
        )  # fmt: skip


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


# -- the object form ------------------------------------------------------------------------
def _check_keys(kind: str, spec: Mapping[str, Any]) -> None:
    if "path" in spec:
        raise FaultSpecError(_PATH_GONE)
    known = API_KEYS if kind == "api" else WEBHOOK_KEYS
    other = WEBHOOK_KEYS if kind == "api" else API_KEYS
    for key in spec:
        if not isinstance(key, str):
            raise FaultSpecError(f"fault keys must be strings, not {key!r}")
        if key in known or key in OLD_WINDOW:
            continue
        if key in other:
            raise FaultSpecError(f"{key} does not apply to {kind} faults ({_HINTS[key]})")
        raise FaultSpecError(f"unknown fault key {key!r}; expected one of {', '.join(known)}")
    given = spec.get("kind", kind)
    if given != kind:
        raise FaultSpecError(f"kind is {given!r} in a list of {kind} faults")


def fault_spec(kind: str, spec: Any) -> FaultSpec:
    """One fault object of `kind` ("api" or "webhook"), validated."""
    if not isinstance(spec, Mapping):
        raise FaultSpecError(f"an {kind} fault must be an object or a compact string")
    _check_keys(kind, spec)
    status = None if spec.get("status") is None else read_status(spec["status"])
    delay = read_number(spec.get("delay_s", 0), "delay_s", 0, _MAX_DELAY_S)
    after, length = read_window(spec)
    shared = {
        "status": status,
        "delay_s": delay,
        "times": read_times(spec.get("times")),
        "after_s": after,
        "for_s": length,
        "probability": read_number(spec.get("probability", 1.0), "probability", 0.0, 1.0),
    }
    if kind == "webhook":
        return _webhook(spec, shared)
    return _api(spec, shared)


def _api(spec: Mapping[str, Any], shared: dict[str, Any]) -> FaultSpec:
    method = spec.get("method")
    if method is not None and (not isinstance(method, str) or method.upper() not in _METHODS):
        raise FaultSpecError(f"method must be one of {', '.join(sorted(_METHODS))}")
    route = spec.get("route")
    if route is not None and not isinstance(route, str):
        raise FaultSpecError("route must be a string")
    if route is not None and spec.get("path_regex") is not None:
        raise FaultSpecError("give route or path_regex, not both")
    if shared["status"] is None and shared["delay_s"] == 0:
        raise FaultSpecError("an api fault needs a status or a delay_s")
    retry_after = spec.get("retry_after_s")
    if retry_after is None and shared["status"] in (429, 503):
        retry_after = 1
    if retry_after is not None:
        retry_after = int(read_number(retry_after, "retry_after_s"))
    return FaultSpec(
        "api",
        method=method.upper() if isinstance(method, str) else None,
        route=None if route in (None, "", "*") else route.strip(),
        path_regex=read_regex(spec.get("path_regex"), "path_regex"),
        retry_after_s=retry_after,
        **shared,
    )


def _webhook(spec: Mapping[str, Any], shared: dict[str, Any]) -> FaultSpec:
    url = spec.get("url")
    timeout, refuse = (
        read_flag(spec.get("timeout"), "timeout"),
        read_flag(spec.get("refuse"), "refuse"),
    )
    if shared["status"] is None and not timeout and not refuse and shared["delay_s"] == 0:
        raise FaultSpecError("a webhook fault needs a status, timeout, refuse or delay_s")
    return FaultSpec(
        "webhook",
        url=None if url in (None, "*") else read_regex(url, "url"),
        timeout=timeout,
        refuse=refuse,
        **shared,
    )


# -- the compact form -----------------------------------------------------------------------
def _compact(text: str) -> tuple[str, dict[str, Any]]:
    """`TARGET=EFFECT[xN][@A[+F]]` → (target, the shared keys plus `effect`)."""
    target, sep, tail = text.rpartition("=")
    if not sep or not target.strip():
        raise FaultSpecError(f"fault {text!r}: expected TARGET=EFFECT")
    match = _TAIL.match(tail.strip())
    if match is None:
        raise FaultSpecError(f"fault {text!r}: cannot read {tail!r}")
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


def _objects(kind: str, text: str) -> list[Any]:
    """The fault objects of a flag value: compact (`;`-separated) or JSON."""
    text = text.strip()
    if not text:
        return []
    if text[0] in "[{":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise FaultSpecError(f"fault spec is not valid JSON: {exc}") from None
        return list(data) if isinstance(data, list) else [data]
    compact = _api_compact if kind == "api" else _webhook_compact
    return [compact(part) for part in re.split(r"[;\n]", text) if part.strip()]


def fault_specs(kind: str, value: Any) -> list[FaultSpec]:
    """Faults of one kind from a compact string (or JSON text), an object, or a list of
    either; FaultSpecError says what is wrong (and, in a list, where)."""
    items = value if isinstance(value, list) else [value]
    out: list[FaultSpec] = []
    for index, item in enumerate(items):
        try:
            objects = _objects(kind, item) if isinstance(item, str) else [item]
            out.extend(fault_spec(kind, obj) for obj in objects)
        except FaultSpecError as exc:
            where = f"{kind}[{index}]: " if isinstance(value, list) else ""
            raise FaultSpecError(f"{where}{exc}") from None
    return out


def faults_body_specs(body: Any) -> list[FaultSpec]:
    """`{"api": ..., "webhook": ...}` (`webhooks` is the same list), one fault object with
    `"kind": "api"|"webhook"`, or `{"faults": [such objects]}`: the control plane's body and a
    scenario's `faults` section."""
    if not isinstance(body, Mapping):
        raise FaultSpecError("faults must be an object")
    if "webhook" in body and "webhooks" in body:
        raise FaultSpecError("give webhook or webhooks, not both")
    groups = {"api": "api", "webhook": "webhook", "webhooks": "webhook"}
    if any(key in body for key in groups):
        extra = sorted(str(k) for k in set(body) - set(groups))
        if extra:
            raise FaultSpecError(f"unknown keys: {', '.join(extra)}; expected api and webhook")
        return [s for key, kind in groups.items() if key in body for s in _group(kind, body[key])]
    items = body.get("faults", [body])
    out: list[FaultSpec] = []
    for item in items if isinstance(items, list) else [items]:
        kind = item.get("kind") if isinstance(item, Mapping) else None
        if kind not in KINDS:
            raise FaultSpecError('each fault needs "kind": "api" or "webhook"')
        out.extend(fault_specs(kind, item))
    return out


def _group(kind: str, value: Any) -> list[FaultSpec]:
    return fault_specs(kind, value) if value is not None else []


# -- flags ----------------------------------------------------------------------------------
_Fault = TypeVar("_Fault", ApiFault, WebhookFault)


def _built(spec: FaultSpec, now_ms: int, kind: type[_Fault]) -> _Fault:
    fault = spec.build(now_ms)
    assert isinstance(fault, kind)
    return fault


def parse_api_faults(text: str, now_ms: int) -> list[ApiFault]:
    """Every API fault in a flag value (compact or JSON); ValueError names the bad one."""
    return [_built(spec, now_ms, ApiFault) for spec in fault_specs("api", text)]


def parse_webhook_faults(text: str, now_ms: int) -> list[WebhookFault]:
    return [_built(spec, now_ms, WebhookFault) for spec in fault_specs("webhook", text)]


def api_fault_from_json(spec: Mapping[str, Any], now_ms: int) -> ApiFault:
    """One API fault object (the keys of `API_KEYS`)."""
    return _built(fault_spec("api", spec), now_ms, ApiFault)


def webhook_fault_from_json(spec: Mapping[str, Any], now_ms: int) -> WebhookFault:
    """One webhook fault object (the keys of `WEBHOOK_KEYS`)."""
    return _built(fault_spec("webhook", spec), now_ms, WebhookFault)


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
