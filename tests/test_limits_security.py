"""Limits (body size, numbers, bounded journal and delivery log) and security (webhook targets,
allow list, no secrets in logs, warning when listening beyond loopback)."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import pytest
from faulty_receivers import Decision, completed, create_body, faulty_receiver, wait_for

from emulator.cli import serve
from emulator.config import Settings

CREATE = "/voice/v1/broadcast"


async def test_body_over_the_limit_gets_413(start_emulator: Any) -> None:
    running = await start_emulator(max_body_bytes=1024)
    body = create_body("http://127.0.0.1:9", ["919800000010"] * 100)
    status, answer = await running.api.call("POST", CREATE, body)
    assert status == 413 and answer["error_code"] == "PAYLOAD_TOO_LARGE"
    status, _ = await running.api.call("POST", CREATE, create_body("http://127.0.0.1:9"))
    assert status == 200


async def test_numbers_over_the_limit_get_400(start_emulator: Any) -> None:
    running = await start_emulator(max_numbers=3)
    numbers = ["919800000010", "919800000011", "919800000012", "919800000013"]
    status, answer = await running.api.call("POST", CREATE, create_body("http://x", numbers))
    assert status == 400 and "at most 3" in answer["error_description"]


async def test_journal_is_bounded_and_counts_what_it_dropped(start_emulator: Any) -> None:
    running = await start_emulator(journal_size=5)
    for i in range(8):
        await running.api.call("GET", f"{CREATE}/missing-{i}")
    journal = await running.api.control("GET", "/requests")
    assert [r["path"][-1] for r in journal["requests"]] == ["3", "4", "5", "6", "7"]
    assert journal["dropped"] == 3
    assert (await running.api.control("GET", "/health"))["journal"]["dropped"] == 3


async def test_large_bodies_are_journalled_as_a_summary(start_emulator: Any) -> None:
    running = await start_emulator()
    body = create_body("http://127.0.0.1:9", ["919800000010"])
    body["custom_data"] = {"notes": "n" * 70_000}
    status, _ = await running.api.call("POST", CREATE, body)
    assert status == 200
    (entry,) = (await running.api.control("GET", "/requests"))["requests"]
    assert entry["body"]["_elided"].startswith("body of ")
    assert "broadcast_numbers_array" in entry["body"]["keys"]


async def test_delivery_log_is_bounded_and_nothing_is_lost(start_emulator: Any) -> None:
    async with faulty_receiver() as rec:
        running = await start_emulator(delivery_log_size=5)
        await running.api.call("POST", CREATE, create_body(rec.url))
        await wait_for(lambda: completed(rec))
        await wait_for(lambda: running.emulator.dispatcher.pending == 0)
    health = (await running.api.control("GET", "/health"))["webhooks"]
    log = await running.api.control("GET", "/webhooks")
    assert len(log["deliveries"]) == 5
    assert health["delivered"] == len(rec.arrived) == 5 + log["dropped"]
    assert health["log_dropped"] == log["dropped"] > 0


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/", "//127.0.0.1/x"]
)
async def test_webhook_targets_must_be_http_or_https(start_emulator: Any, url: str) -> None:
    running = await start_emulator()
    body = create_body("http://127.0.0.1:9")
    body["call_handler_url"] = url
    status, answer = await running.api.call("POST", CREATE, body)
    assert status == 400 and "http" in answer["error_description"]


async def test_webhook_allow_list(start_emulator: Any) -> None:
    running = await start_emulator(webhook_allow=("LocalHost", "127.0.0.1"))
    api = running.api
    assert (await api.call("POST", CREATE, create_body("http://evil.example")))[0] == 400
    assert (await api.call("POST", CREATE, create_body("http://localhost:9")))[0] == 200
    assert (await api.call("POST", CREATE, create_body("https://127.0.0.1:9")))[0] == 200


async def test_no_credentials_or_decrypted_payloads_in_logs(
    start_emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    secret = "s3cr3t-app-key-value"

    async def refuse(hit: int, body: dict[str, Any]) -> Decision:
        return 500

    async with faulty_receiver(refuse) as rec:
        running = await start_emulator(
            app_key=secret, webhook_encryption="aes256", webhook_attempts=1
        )
        url = rec.url.replace("http://", "http://hookuser:hookpass@")
        await running.api.call("POST", CREATE, create_body(url, ["919800000010"]))
        wrong = base64.b64encode(b"emulator-app-id:not-" + secret.encode()).decode()
        await running.api.call("GET", f"{CREATE}/x", auth=False, headers={"Authorization": wrong})
        await wait_for(lambda: running.emulator.dispatcher.dead >= 3)
    assert rec.arrived == [] and rec.hits >= 3
    assert all(set(body) == {"encrypted_data"} for body in rec.arrived)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "given up" in logged  # dead deliveries are reported...
    for leak in (secret, "hookpass", "919800000010", "voice_id", wrong):
        assert leak not in logged  # ...without credentials or event contents


async def test_listening_beyond_loopback_without_a_token_warns(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.WARNING)
    for token, warned in ((None, True), ("t0ken", False)):
        caplog.clear()
        ready = asyncio.Event()
        settings = Settings(host="127.0.0.2", port=0, control_token=token)
        task = asyncio.create_task(serve(settings, lambda url, ready=ready: ready.set()))
        await asyncio.wait_for(ready.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ("without --control-token" in caplog.text) is warned
    assert "127.0.0.2" in capsys.readouterr().out
