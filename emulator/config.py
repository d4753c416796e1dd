"""Settings: defaults, then scenario, then `EMULATOR_*` environment, then CLI flags, frozen.

This is the only module that reads `os.environ`. Every serve flag has an environment twin, listed
once in `OPTIONS`, from which the CLI builds its parser.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.domain.behaviour import Timings
from emulator.fault_specs import validate_api_spec, validate_webhook_spec
from emulator.sim.clock import ClockMode, parse_iso

__all__ = [
    "DEMO_APP_ID",
    "DEMO_APP_KEY",
    "OPTIONS",
    "TESTING_ENV",
    "Option",
    "OptionError",
    "Settings",
    "field_name",
    "load_settings",
    "option",
    "testing_environ",
]

DEMO_APP_ID = "emulator-app-id"
DEMO_APP_KEY = "emulator-app-key"
DEFAULT_START = "2026-01-01T09:00:00Z"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    app_id: str = DEMO_APP_ID
    app_key: str = DEMO_APP_KEY
    cli_numbers: tuple[str, ...] = ()
    clock: ClockMode = ClockMode.AUTO
    settle_ms: float = 20.0
    speed: float = 1.0
    seed: int = 0
    start_ms: int = field(default_factory=lambda: parse_iso(DEFAULT_START))
    dial_rate: int = 0
    scenario: str | None = None
    scenario_dir: str | None = None
    webhook_encryption: str = "none"
    webhook_format: str = "base64"
    webhook_verify_tls: bool = False
    webhook_attempts: int = 5
    webhook_backoff_s: float = 1.0
    webhook_timeout_s: float = 10.0
    webhook_workers: int = 64
    webhook_allow: tuple[str, ...] = ()
    webhook_outage_s: float = 30.0
    completion_state: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    control_token: str | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    max_numbers: int = 1_000_000
    journal_size: int = 10_000
    delivery_log_size: int = 50_000
    state_file: str | None = None
    shutdown_grace_s: float = 5.0
    api_fault: str | None = None
    webhook_fault: str | None = None
    log_level: str = "info"
    projects: tuple[tuple[str, str], ...] = ()  # more projects: (APP_ID, APP_KEY) pairs
    open_projects: bool = False
    max_projects: int = 10_000
    header_timeout_s: float = 20.0
    body_timeout_s: float = 20.0
    max_connections: int = 4096
    timings: Timings = field(default_factory=Timings)

    def __post_init__(self) -> None:
        # `Settings(clock="manual")` from Python code must mean the same as `--clock manual`
        object.__setattr__(self, "clock", ClockMode(self.clock))

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not one of true, false (or 1, 0, yes, no, on, off)")


def _optional(text: str) -> str | None:
    return text or None


class OptionError(argparse.ArgumentTypeError, ValueError):
    """A bad option value; argparse shows its message as it is."""


def _token(text: str) -> str:
    """A control token: never empty (an empty one would silently turn control auth off)."""
    if not text:
        raise OptionError("must not be empty (leave the option out to run without a token)")
    return text


_APP_ID = re.compile(r"[A-Za-z0-9._~@+-]{1,128}")


def _project_pairs(text: str) -> tuple[tuple[str, str], ...]:
    """`ID:KEY[,ID:KEY...]` (a KEY holds no comma; it may hold colons)."""
    pairs: list[tuple[str, str]] = []
    for part in text.split(","):
        app_id, sep, app_key = part.strip().partition(":")
        if not sep or not app_id or not app_key:
            raise OptionError(f"{part.strip()!r} is not ID:KEY")
        if not _APP_ID.fullmatch(app_id) or app_id in (".", ".."):
            raise OptionError(
                f"APP_ID {app_id!r} cannot name a project: use 1-128 letters, digits or . _ ~ @ + -"
            )
        if any(app_id == seen for seen, _ in pairs):
            raise OptionError(f"APP_ID {app_id!r} is given twice")
        pairs.append((app_id, app_key))
    return tuple(pairs)


# Every parser below raises ValueError with a message a user can act on: it names the value and
# what was expected, never a Python type or function (the CLI prefixes the flag, the environment
# layer the variable, the scenario loader the path).
def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def _float(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def _bounded(parse: Callable[[str], Any], low: float, strict: bool = False) -> Any:
    """`parse`, refusing values below `low` (or equal to it when `strict`)."""

    def check(text: str) -> Any:
        value = parse(text)
        if value < low or (strict and value == low):
            bound = f"greater than {low:g}" if strict else f"at least {low:g}"
            raise ValueError(f"must be {bound}, not {text.strip()}")
        return value

    return check


def _choice(*names: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        value = text.strip().lower()
        if value not in names:
            raise ValueError(f"{text!r} is not one of {', '.join(names)}")
        return value

    return check


def _clock(text: str) -> ClockMode:
    return ClockMode(_choice(*(mode.value for mode in ClockMode))(text))


def _instant(text: str) -> int:
    try:
        return parse_iso(text)
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is not an ISO-8601 instant such as {DEFAULT_START}") from None


def _folder(text: str) -> str | None:
    """An existing folder (empty: none)."""
    if text and not os.path.isdir(text):
        raise ValueError(f"{text!r} is not a folder")
    return text or None


_folder.__name__ = "folder"


def _port(text: str) -> int:
    value = _int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"must be between 0 and 65535, not {value}")
    return value


_non_neg = _bounded(_float, 0)
_above_0 = _bounded(_float, 0, strict=True)
_int_non_neg = _bounded(_int, 0)
_count = _bounded(_int, 1)
_format = _choice("base64", "hex")
_log_level = _choice("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class Option:
    """One serve setting: its flag, environment variable, parser and help text."""

    name: str
    parse: Callable[[str], Any]
    help: str
    flag_value: bool = False  # a switch: `--flag` alone means true
    repeat: bool = False  # the flag may be given several times; the values are joined

    @property
    def flag(self) -> str:
        if self.name == "projects":
            return "--project"  # one project per flag, given as often as needed
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "EMULATOR_" + self.name.upper()


OPTIONS: tuple[Option, ...] = (
    Option("host", str, "bind address (default 127.0.0.1)"),
    Option("port", _port, "port; 0 picks a free one (default 8080)"),
    Option("app_id", str, "HTTP Basic user name = APP_ID (default: the demo pair)"),
    Option("app_key", str, "HTTP Basic password = APP_KEY"),
    Option(
        "cli_numbers", _csv, "comma-separated CLI numbers assigned to the project (default: any)"
    ),
    Option("clock", _clock, "auto | manual | realtime (default auto)"),
    Option("settle_ms", _non_neg, "auto clock: real quiet time before time may jump (default 20)"),
    Option("speed", _above_0, "realtime clock: virtual seconds per wall second (default 1.0)"),
    Option("seed", _int, "seed of every id and random draw (default 0)"),
    Option("start", _instant, "virtual start instant, ISO-8601 (default 2026-01-01T09:00:00Z)"),
    Option("dial_rate", _int_non_neg, "new call attempts per virtual second; 0 = unlimited"),
    Option("scenario", _optional, "scenario file (YAML or JSON) that configures the world"),
    Option(
        "scenario_dir",
        _folder,
        "folder whose files scenarios sent to the control plane may read (default: none)",
    ),
    Option("webhook_encryption", str, "none, or an AES cipher name such as aes256"),
    Option("webhook_format", _format, "base64 | hex: encoding of encrypted webhook bodies"),
    Option("webhook_verify_tls", _bool, "verify webhook receivers' TLS certificates", True),
    Option("webhook_attempts", _count, "delivery attempts per webhook, 1 = no retries (default 5)"),
    Option(
        "webhook_backoff_s",
        _non_neg,
        "first retry back-off in virtual seconds, doubling (default 1)",
    ),
    Option("webhook_timeout_s", _above_0, "real seconds to wait for a webhook answer (default 10)"),
    Option("webhook_workers", _count, "webhook deliveries in flight at once (default 64)"),
    Option("webhook_allow", _csv, "comma-separated hosts webhooks may go to (default: any)"),
    Option(
        "webhook_outage_s",
        _non_neg,
        "real seconds an unreachable webhook receiver is retried with the clock held (default 30)",
    ),
    Option("completion_state", _optional, "force the completion event's state for every broadcast"),
    Option("tls_cert", _optional, "serve HTTPS with this certificate (PEM)"),
    Option("tls_key", _optional, "private key of --tls-cert (PEM)"),
    Option("control_token", _token, "require this bearer token on /_emulator routes"),
    Option("max_body_bytes", _count, "largest request body accepted (default 16 MiB)"),
    Option("max_numbers", _count, "most numbers in one broadcast (default 1,000,000)"),
    Option("journal_size", _count, "API requests kept in the journal (default 10,000)"),
    Option("delivery_log_size", _count, "webhook deliveries kept in the log (default 50,000)"),
    Option("state_file", _optional, "save state here on shutdown and restore it on start"),
    Option(
        "shutdown_grace_s",
        _non_neg,
        "real seconds to let deliveries finish on shutdown (default 5)",
    ),
    Option("log_level", _log_level, "debug | info | warning | error (default info)"),
    Option(
        "projects",
        _project_pairs,
        "another project ID:KEY with its own world (repeatable; env: ID:KEY,ID:KEY)",
        repeat=True,
    ),
    Option(
        "open_projects",
        _bool,
        "new Basic credentials create a project on first use (the key they came with is its key)",
        True,
    ),
    Option("max_projects", _count, "most projects at once (default 10,000)"),
    Option(
        "api_fault",
        validate_api_spec,
        "API faults, e.g. 'POST /broadcast=503x2; GET /broadcast/{id}=429:5' or JSON "
        "(docs/reliability.md)",
    ),
    Option(
        "webhook_fault",
        validate_webhook_spec,
        "webhook faults, e.g. '/call=500x3; *=refuse@0+60' or JSON (docs/reliability.md)",
    ),
    Option(
        "header_timeout_s",
        _above_0,
        "real seconds a client has to send a whole request head, counted from its first byte "
        "(or from connecting); then 408 and close (default 20)",
    ),
    Option(
        "body_timeout_s",
        _above_0,
        "real seconds a request body may make no progress; then 408 and close (default 20)",
    ),
    Option(
        "max_connections",
        _count,
        "client connections open at once; more are answered 503 and closed (default 4096)",
    ),
)


_BY_NAME = {o.name: o for o in OPTIONS}


def option(name: str) -> Option:
    """The serve option called `name` (KeyError if there is none)."""
    return _BY_NAME[name]


def field_name(option_name: str) -> str:
    """The Settings field an option sets (`start` sets `start_ms`; the others their own name)."""
    return "start_ms" if option_name == "start" else option_name


def from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings named by `EMULATOR_*` variables, parsed (ValueError names the variable)."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = environ.get(option.env)
        if raw is None or raw == "":
            continue
        try:
            values[field_name(option.name)] = option.parse(raw)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{option.env}: {exc}") from None
    return values


TESTING_ENV = {
    "url": "BROADCAST_EMULATOR_URL",
    "token": "BROADCAST_EMULATOR_TOKEN",
    "sink_host": "BROADCAST_EMULATOR_SINK_HOST",
    "sink_public_host": "BROADCAST_EMULATOR_SINK_PUBLIC_HOST",
}


def testing_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The pytest plugin's settings from `BROADCAST_EMULATOR_*` variables (those that are set)."""
    env = os.environ if environ is None else environ
    return {key: env[name] for key, name in TESTING_ENV.items() if env.get(name)}


def load_settings(
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    scenario: Mapping[str, Any] | None = None,
    base: Settings | None = None,
) -> Settings:
    """Merge the layers: `base` (defaults), scenario world, environment, CLI values."""
    merged: dict[str, Any] = {}
    merged.update(scenario or {})
    merged.update(from_environ(os.environ if environ is None else environ))
    merged.update({field_name(k): v for k, v in (cli or {}).items() if v is not None})
    return (base or Settings()).replace(**merged)
