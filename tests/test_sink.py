"""The webhook sink on its own: decoding, scripted failures, waiting, and handler errors."""

from __future__ import annotations

import json

import aiohttp
import pytest

from emulator.testing import SinkError, WebhookSink
from emulator.webhooks.crypto import BodyEncoder


async def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        return r.status


async def test_decodes_plain_and_encrypted_bodies() -> None:
    async with WebhookSink(password="app-id") as sink:
        assert await _post(sink.url + "/a", json.dumps({"state": "ringing"}).encode()) == 200
        body, headers = BodyEncoder("aes192", "app-id", "hex").encode({"state": "connected"})
        assert await _post(sink.url + "/b", body, headers) == 200
        assert sink.sequence() == ["ringing", "connected"]
        assert [(r.path, r.encrypted) for r in sink.received] == [("/a", False), ("/b", True)]
        sink.check()


async def test_unreadable_bodies_answer_400_and_fail_the_check() -> None:
    async with WebhookSink() as sink:
        body, headers = BodyEncoder("aes256", "app-id").encode({"state": "connected"})
        assert await _post(sink.url, body, headers) == 400  # no password to decrypt with
        assert await _post(sink.url, b"[1, 2]") == 400
        assert sink.events == []
        with pytest.raises(SinkError, match=r"\(and 1 more\).*no APP_ID"):
            sink.check()


async def test_scripted_failures_count_down_per_filter() -> None:
    async with WebhookSink() as sink:
        sink.fail(times=1, status=500, to="2")
        sink.fail(times=2, status=429)
        sent = [{"to": "1"}, {"to": "2"}, {"to": "2"}, {"to": "1"}]
        statuses = [await _post(sink.url, json.dumps(e).encode()) for e in sent]
        assert statuses == [429, 500, 429, 200]
        assert sink.events == [{"to": "1"}]
        with pytest.raises(ValueError):
            sink.fail(times=0)


async def test_wait_for_counts_and_predicates() -> None:
    async with WebhookSink(timeout=0.5) as sink:
        for n in range(3):
            await _post(sink.url, json.dumps({"state": "ringing", "n": n}).encode())
        assert (await sink.wait_for(state="ringing", count=3))["n"] == 2
        assert (await sink.wait_for(lambda e: e["n"] > 0))["n"] == 1
        assert (await sink.wait_for(event="ringing", n="1"))["n"] == 1  # fields compare as text
        with pytest.raises(TimeoutError, match="count 4"):
            await sink.wait_for(state="ringing", count=4)
        sink.clear()
        assert sink.events == []


async def test_an_async_handler_error_answers_500() -> None:
    async with WebhookSink() as sink:

        @sink.on(state="connected")
        async def react(event: dict[str, str]) -> None:
            raise RuntimeError("app bug")

        assert await _post(sink.url, b'{"state": "ringing"}') == 200
        assert await _post(sink.url, b'{"state": "connected"}') == 500
        with pytest.raises(SinkError, match="app bug"):
            sink.check()
