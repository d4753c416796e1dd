"""What the emulator knows about HTTP/1.1 framing, in bytes and in words: where a request whose
body runs past its Content-Length ends, and the messages that explain framing errors to a client
(never echoing the raw bytes, never naming aiohttp's internals)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.http_exceptions import BadHttpMessage

from emulator.errors import BadRequest

__all__ = [
    "OVERRUN",
    "Explained",
    "UnreadableBody",
    "content_length",
    "encoding_unsupported",
    "first_line",
    "overrun_end",
]

OVERRUN = (
    "body longer than Content-Length ({declared} declared): "
    "Content-Length must count bytes, not characters"
)


class UnreadableBody(BadRequest):
    """Raised by the app's read of a body the parser could not decode (bad gzip, say)."""

    def __init__(self, detail: str) -> None:
        super().__init__(_body_problem(detail))


def _body_problem(detail: str) -> str:
    text = first_line(detail)
    encoding = re.search(r"content-encoding: (\w+)", text, re.IGNORECASE)
    if encoding:
        return (
            f"request body does not decode as its Content-Encoding {encoding[1]} says: "
            "send it uncompressed, or compressed as declared"
        )
    return f"request body cannot be read: {text}"


class Explained(BadHttpMessage):
    """A framing error whose message is meant for the client as it is."""


def encoding_unsupported(detail: str) -> str:
    found = re.search(r"\((\w+)\)", detail) or re.search(r"encoding: (\w+)", detail, re.I)
    name = found[1] if found else "given"
    return (
        f"request Content-Encoding {name} is not supported here: "
        "send the body uncompressed, or as gzip or deflate"
    )


def first_line(detail: str) -> str:
    """The parser's message without its echo of the raw bytes ("Invalid method encountered")."""
    text = detail.split("message:", 1)[-1].strip()
    return (text.splitlines() or ["bad request"])[0].strip().rstrip(":")[:200]


def content_length(message: Any) -> int:
    try:
        return int(message.headers.get("Content-Length", "0"))
    except (TypeError, ValueError):
        return 0


_REQUEST_LINE = re.compile(rb"[A-Z][A-Z-]{0,19} \S+ HTTP/1\.[01]\r?\n")
_HEADER_LENGTH = re.compile(rb"\r?\ncontent-length:[ \t]*(\d{1,12})[ \t]*\r?\n", re.IGNORECASE)
_REQUEST_START = re.compile(rb"[A-Z][A-Z-]{0,19}( |$)")  # a method, maybe cut short
_CHUNKED = re.compile(rb"\r?\ntransfer-encoding:", re.IGNORECASE)


def overrun_end(buffered: bytes) -> int | None:
    """Where the declared body of the last whole request in `buffered` ends, if bytes that are
    no request follow it; None if `buffered` is not such a sequence of requests."""
    pos = 0
    while True:
        while buffered.startswith(b"\r\n", pos):
            pos += 2
        if not _REQUEST_LINE.match(buffered, pos):
            return None
        head_end = buffered.find(b"\r\n\r\n", pos)
        if head_end < 0:
            return None
        head = buffered[pos : head_end + 2]
        if _CHUNKED.search(head):
            return None
        length = _HEADER_LENGTH.search(head)
        end = head_end + 4 + (int(length[1]) if length else 0)
        if end >= len(buffered):
            return None
        rest = buffered[end:].lstrip(b"\r\n")
        if not rest:
            return None
        if not _REQUEST_START.match(rest):
            return end if length and int(length[1]) > 0 else None
        pos = end
