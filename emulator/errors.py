"""The EmulatorError family: every failure the emulator answers, as data (status, code, text); and
StateError, a state file serve cannot use (here, not in `emulator.state`, so that serve can catch it
without loading the state layer, which only `--state-file` needs)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "EXIT_NOT_SAVED",
    "EXIT_REFUSED",
    "BadRequest",
    "Conflict",
    "EmulatorError",
    "ExpectationFailed",
    "Forbidden",
    "InjectedFault",
    "InternalError",
    "Messages",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "RequestTimeout",
    "ServiceUnavailable",
    "StateError",
    "TooManyRequests",
    "Unauthorized",
]


EXIT_REFUSED = 2  # serve's exit code: the state file cannot be used, nothing was served
EXIT_NOT_SAVED = 3  # serve's exit code: it served, but the final save of the state file failed


class Messages:
    """Fixed texts clients may compare with, in one place (the vendor page's wording first)."""

    CLI = "CLI number is not assigned/wrong CLI number"
    APP_NOT_FOUND = "Application Not Found"
    CALL_NOT_FOUND = "Call Not Found"
    NOT_AUTHORIZED = "Not authorized"
    ROUTE_NOT_FOUND = "Route Not Found"
    METHOD_NOT_ALLOWED = "Method Not Allowed"
    TOO_LARGE = "Request body too large"
    INTERNAL = "Internal emulator error"
    CONTROL_TOKEN = "Control token missing or wrong"


class EmulatorError(Exception):
    """Base of every answered failure; `ids` are echoed in the error body."""

    status: int = 500
    code: str = "INTERNAL_ERROR"

    def __init__(self, description: str, headers: dict[str, str] | None = None, **ids: Any):
        super().__init__(description)
        self.description = description
        self.headers = headers or {}
        self.ids = {k: v for k, v in ids.items() if v is not None}


class BadRequest(EmulatorError):
    status = 400
    code = "BAD_REQUEST"


class Unauthorized(EmulatorError):
    status = 401
    code = "UNAUTHORIZED"


class Forbidden(EmulatorError):
    status = 403
    code = "FORBIDDEN"


class NotFound(EmulatorError):
    status = 404
    code = "NOT_FOUND"


class MethodNotAllowed(EmulatorError):
    status = 405
    code = "METHOD_NOT_ALLOWED"


class RequestTimeout(EmulatorError):
    status = 408
    code = "REQUEST_TIMEOUT"


class Conflict(EmulatorError):
    status = 409
    code = "CONFLICT"


class PayloadTooLarge(EmulatorError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class ExpectationFailed(EmulatorError):
    status = 417
    code = "EXPECTATION_FAILED"


class TooManyRequests(EmulatorError):
    status = 429
    code = "RATE_LIMITED"


class InternalError(EmulatorError):
    status = 500
    code = "INTERNAL_ERROR"


class ServiceUnavailable(EmulatorError):
    status = 503
    code = "SERVICE_UNAVAILABLE"


class InjectedFault(EmulatorError):
    """A failure a fault rule asked for: any status, logged like every other answer."""

    code = "INJECTED_FAULT"

    def __init__(self, status: int, description: str, headers: dict[str, str] | None = None):
        super().__init__(description, headers)
        self.status = status


class StateError(ValueError):
    """The state file cannot be used: `str()` is the one line to show, `exit_code` serve's."""

    exit_code = EXIT_REFUSED
