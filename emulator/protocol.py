"""The emulator's HTTP/1.1 connections: every answer is JSON, even to bytes the parser refuses, and
request heads and bodies are read within bounded real time (`emulator.listener` sweeps the
deadlines and caps the number of connections).

aiohttp's `RequestHandler` is kept and specialised where it would answer text, lose a request or
wait forever:

- A body longer than its Content-Length (clients that count JavaScript characters, not UTF-8
  bytes) still reaches the app, whose read of the body fails with a plain 400, so it is answered
  in the API's error shape and journalled like any request. Other framing errors get a JSON 400
  that does not echo the raw bytes.
- A body that does not decode as its Content-Encoding says fails the app's read with a JSON 400.
- A client that closes its sending side mid-request still gets a JSON 400 on the half-open socket.
- A head not complete within `--header-timeout-s` of its first byte (of connecting, for the first
  request), or a body silent for `--body-timeout-s`: a JSON 408, then the connection is closed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web, web_protocol
from aiohttp.http import HttpRequestParser, RawRequestMessage
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader

from emulator.api.responses import error_body, json_response
from emulator.errors import BadRequest, EmulatorError, InternalError, RequestTimeout
from emulator.framing import (
    OVERRUN,
    Explained,
    UnreadableBody,
    content_length,
    encoding_unsupported,
    first_line,
    overrun_end,
)

if TYPE_CHECKING:
    from emulator.listener import JsonServer, ServerLimits

__all__ = ["JsonConnection"]

log = logging.getLogger("emulator")
HEAD_KEEP = 16 * 1024  # bytes of an incomplete head kept to explain a framing error (Node: 16 KiB)
Message = tuple[RawRequestMessage, StreamReader]  # a request and its body, as the parser gives
ParseResult = tuple[list[Message], bool, bytes]
# aiohttp 3.14 bounds the requests queued per connection, and its parser must know the bound
_QUEUE_LIMIT: dict[str, int] = (
    {"max_msg_queue_size": web_protocol.MAX_MSG_QUEUE_SIZE}
    if hasattr(web_protocol, "MAX_MSG_QUEUE_SIZE")
    else {}
)


class _Parser(HttpRequestParser):
    """aiohttp's request parser, watched by its connection: what it consumed tells whether a head
    or a body is pending, and a framing error is explained before aiohttp answers it."""

    def __init__(self, connection: JsonConnection, *args: Any, **kwargs: Any) -> None:
        super().__init__(connection, *args, **kwargs)
        self.connection = connection

    def feed_data(self, data: bytes, *args: Any) -> ParseResult:
        if not data or args:  # aiohttp re-parses what it buffered while paused
            return super().feed_data(data, *args)
        try:
            result: ParseResult = super().feed_data(data)
        except HttpProcessingError as exc:
            return self.connection.parse_failed(exc, data)
        self.connection.parsed(result[0], data)
        return result


class JsonConnection(web_protocol.RequestHandler):
    """One client connection (see the module docstring)."""

    __slots__ = (
        "_after_body",
        "_answered",
        "_auto",
        "_drop",
        "_eof",
        "_head",
        "_head_since",
        "_open",
        "_rx_at",
        "server",
    )

    def __init__(self, manager: JsonServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.server = manager
        self._auto = kwargs.get("auto_decompress", True)
        self._parser = self._new_parser()  # the same parser, with our body error class
        self._rx_at = 0.0
        self._head_since: float | None = None  # an incomplete head began (or connection opened)
        self._head = bytearray()  # that head's bytes so far (up to HEAD_KEEP)
        self._open: Message | None = None  # the last request, while its body is incomplete
        self._after_body = 0  # Content-Length of a body that just ended, until the next head
        self._drop = False  # nothing more is read: the rest of the input cannot be framed
        self._eof = False  # the client closed its sending side
        self._answered: StreamReader | None = None  # the body of the last request answered

    def _new_parser(self) -> _Parser:
        return _Parser(
            self,
            self._loop,
            self._read_bufsize,
            max_line_size=self.max_line_size,
            max_field_size=self.max_field_size,
            max_headers=self.max_headers,
            payload_exception=UnreadableBody,
            auto_decompress=self._auto,
            **_QUEUE_LIMIT,
        )

    @property
    def busy(self) -> bool:
        """A request is being handled on this connection now."""
        return bool(self._request_in_progress)

    # -- connecting --------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        if self.server.full():
            self.server.refuse(transport)  # never registered: connection_lost has nothing to do
            return
        self.server.accepting()
        super().connection_made(transport)
        self._rx_at = self._head_since = self._loop.time()  # the first head is due from now

    def data_received(self, data: bytes) -> None:
        if not self._drop:
            super().data_received(data)

    def answered(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """The app has answered `request`. The answer closes the connection if the request's
        body failed (the input after it cannot be framed), or if the client has closed its side
        and nothing more is queued."""
        self._answered = request.content
        if request.content.exception() is not None or (self._eof and not self._messages):
            response.force_close()

    # -- what the parser consumed --------------------------------------------------------
    def parsed(self, messages: list[Message], data: bytes) -> None:
        now = self._rx_at = self._loop.time()
        if messages:
            last = messages[-1]
            self._head_since, self._open, self._after_body = None, None, 0
            self._head.clear()
            if last[1].is_eof():
                self._after_body = content_length(last[0])
            else:
                self._open = last
                if last[1].exception() is not None:
                    self._undecodable(last[1])
        elif self._open is not None:
            if self._open[1].exception() is not None:
                self._undecodable(self._open[1])
            elif self._open[1].is_eof():  # the body ended in this chunk
                self._after_body = content_length(self._open[0])
                self._open = None
        elif data.strip() or self._head:
            if self._head_since is None:
                self._head_since = now
            if len(self._head) < HEAD_KEEP:
                self._head += data
            self._after_body = 0

    def _undecodable(self, body: StreamReader) -> None:
        """The parser could not decode this body (its UnreadableBody is set): the app's read
        fails with it; nothing more can be parsed on this connection."""
        body.feed_eof()
        self._stop_input()

    def parse_failed(self, exc: HttpProcessingError, data: bytes) -> ParseResult:
        """The parser refused `data`: explain why, as a request the app answers if possible,
        else as the JSON 400 aiohttp will ask `handle_error` for (raised)."""
        open_ = self._open
        if open_ is not None:  # the body being read ended (or broke) in this chunk
            self._fail_body(open_, open_[1].is_eof(), exc)
            return [], False, b""
        recovered = self._recover_overrun(bytes(self._head) + data)
        if recovered is not None:
            return recovered
        if isinstance(exc, ContentEncodingError):  # one this build cannot decode (br)
            raise Explained(encoding_unsupported(exc.message)) from None
        hint = ""
        if self._after_body:
            hint = (
                f" (right after a body of Content-Length {self._after_body}: "
                "Content-Length must count bytes, not characters)"
            )
        text = first_line(exc.message or str(exc))
        raise Explained(f"malformed HTTP request: {text}{hint}") from None

    def _fail_body(self, message: Message, ended: bool, exc: HttpProcessingError) -> None:
        if ended and not message[0].chunked:
            error: EmulatorError = BadRequest(OVERRUN.format(declared=content_length(message[0])))
            self.server.stats.overruns += 1
        else:
            error = BadRequest(f"request body is malformed: {first_line(exc.message)}")
        self._end_body(message, error)

    def _end_body(self, message: Message, error: EmulatorError) -> None:
        """No more of this body can be read: if its request is still to be answered, the app's
        read of it fails with `error`; if it was answered already (aiohttp is reading the rest
        to drop it), end it quietly and close. Nothing more is read either way."""
        self._stop_input()
        if self._to_answer(message):
            _fail(message[1], error)
        else:
            message[1].feed_eof()
            self.force_close()

    def _to_answer(self, message: Message) -> bool:
        """`message` (the last request read) is not answered yet (requests are answered in
        order, so the last one answered tells)."""
        return self._answered is not message[1]

    def _recover_overrun(self, buffered: bytes) -> ParseResult | None:
        """Requests whose last one's body runs past its Content-Length, parsed again up to where
        the declared body ends; that body's read then fails with the plain OVERRUN message."""
        end = overrun_end(buffered)
        if end is None:
            return None
        parser = self._new_parser()
        try:
            messages, _, _ = HttpRequestParser.feed_data(parser, buffered[:end])
        except HttpProcessingError:
            return None
        if not messages:
            return None
        last_message, body = messages[-1]
        _fail(body, BadRequest(OVERRUN.format(declared=content_length(last_message))))
        self._parser = parser
        self.server.stats.overruns += 1
        self._stop_input()
        return messages, False, b""

    def _stop_input(self) -> None:
        """Read nothing more on this connection: the answers owed so far are still written, the
        last of them closes it (`closes_after`, or the error answers' own force_close)."""
        self._drop = True
        self._open, self._head_since = None, None
        self._head.clear()

    # -- the client closed its side --------------------------------------------------------
    def eof_received(self) -> bool:  # type: ignore[override]
        """A request still arriving can no longer complete: answer it on the half-open socket,
        then close. Keep the transport open (True) whenever an answer is still owed (TLS cannot
        half-close: there the answer is only what the socket allows)."""
        owed = self._owe_answers()
        if owed:
            self._eof = True
            self._stop_input()
        return owed and self.transport is not None and not self._tls()

    def _owe_answers(self) -> bool:
        open_ = self._open
        if open_ is not None and not open_[1].is_eof():
            got, declared = open_[1].total_bytes, content_length(open_[0])
            of = f" of {declared}" if declared else ""
            cut = f"request body cut short: the client closed its side after {got}{of} bytes"
            self.server.stats.cut_short += 1
            if self._to_answer(open_):
                _fail(open_[1], BadRequest(cut))
                return True
            open_[1].feed_eof()  # answered already: aiohttp was only dropping the rest
            return False
        if bytes(self._head).strip():
            self.server.stats.cut_short += 1
            self.inject(BadRequest("request head cut short: the client closed its side"))
            return True
        # queued, or being handled (start() holds no waiter while it handles one)
        return bool(self._messages) or (self._waiter is None and self._request_count > 0)

    def _tls(self) -> bool:
        return (
            self.transport is not None and self.transport.get_extra_info("sslcontext") is not None
        )

    # -- deadlines (checked by the server's sweep) ------------------------------------------
    def check_deadlines(self, now: float, limits: ServerLimits) -> None:
        if self._drop or self._close or self._force_close or self.transport is None:
            return
        since = self._head_since
        if since is not None and now - since > limits.header_timeout_s:
            self.server.stats.head_timeouts += 1
            self.inject(
                RequestTimeout(
                    f"request head not complete after {limits.header_timeout_s:g} s "
                    "(--header-timeout-s)"
                )
            )
            return
        open_ = self._open
        if open_ is None or open_[1].is_eof() or self._reading_paused:
            return  # paused: the app is slow to read, not the client to send
        if now - self._rx_at > limits.body_timeout_s:
            self.server.stats.body_timeouts += 1
            self._time_out_body(open_, limits)

    def _time_out_body(self, message: Message, limits: ServerLimits) -> None:
        got, declared = message[1].total_bytes, content_length(message[0])
        of = f" of {declared}" if declared else ""
        error = RequestTimeout(
            f"request body made no progress for {limits.body_timeout_s:g} s, after {got}{of} "
            "bytes (--body-timeout-s)"
        )
        self._end_body(message, error)  # a JSON 408 from the app's read, journalled

    def inject(self, error: EmulatorError) -> None:
        """Answer `error` as the next response on this connection, then close it."""
        info = web_protocol._ErrInfo(status=error.status, exc=error, message=error.description)
        self._messages.append((info, EMPTY_PAYLOAD))
        self._stop_input()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- answers aiohttp asks for -----------------------------------------------------------
    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send the error")
        if isinstance(exc, EmulatorError):
            error = exc
        elif isinstance(exc, Explained):
            error = BadRequest(exc.message)
        elif status >= 500:
            log.error("internal error answering a request (%s)", status, exc_info=exc)
            error = InternalError("internal emulator error")
        else:
            log.debug("HTTP protocol error (%s): %s", status, exc)
            detail = exc.message if isinstance(exc, HttpProcessingError) else exc or message
            error = BadRequest(f"malformed HTTP request: {first_line(str(detail or status))}")
        resp = json_response(error_body(error, self.server.clock_iso()), error.status)
        resp.force_close()
        return resp


def _fail(body: StreamReader, error: EmulatorError) -> None:
    """Make the app's read of `body` raise `error` (answered by the middleware as JSON), and mark
    the body ended, so that aiohttp does not try to read the rest of it after the answer."""
    body.set_exception(error)
    body.feed_eof()
