"""A user's project: only the public fixtures of the broadcast-emulator plugin."""

import pytest

PERSON = "919876540000"
BUSY = "919876540001"
THEN_ANSWERS = "919876540005"


async def test_person_hears_the_message(broadcast_emulator, webhook_sink):
    created = await broadcast_emulator.create_broadcast([PERSON], event_url=webhook_sink.url + "/events")
    done = await webhook_sink.wait_for_completion(created["broadcast_id"])
    assert done["resultset"]["successfull_calls"] == 1
    webhook_sink.assert_sequence(
        ["initiated", "ringing", "connected", "initiated", "playfinished", "disconnected"],
        to=PERSON,
    )


async def test_busy_then_answered_is_two_attempts(broadcast_emulator, webhook_sink):
    await broadcast_emulator.create_broadcast([THEN_ANSWERS], event_url=webhook_sink.url, text=None)
    second = await webhook_sink.wait_for(state="connected", to=THEN_ANSWERS)
    assert second["attempt"] == 2
    webhook_sink.assert_sequence(["initiated", "disconnected"], to=THEN_ANSWERS, attempt=1)


async def test_reaction_plays_a_prompt(broadcast_emulator, webhook_sink):
    @webhook_sink.on(state="connected")
    async def greet(event):
        await broadcast_emulator.play(event["voice_id"], "Press one to confirm")

    await broadcast_emulator.create_broadcast([PERSON], event_url=webhook_sink.url, text=None)
    played = await webhook_sink.wait_for(playstate="playfinished", to=PERSON)
    assert played["voice_id"] == (await webhook_sink.wait_for(state="connected"))["voice_id"]


async def test_failed_deliveries_are_retried(broadcast_emulator, webhook_sink):
    webhook_sink.fail(times=2, status=503, to=BUSY)
    created = await broadcast_emulator.create_broadcast([BUSY], event_url=webhook_sink.url)
    await webhook_sink.wait_for_completion(created["broadcast_id"])
    mine = [r for r in webhook_sink.received if r.event.get("to") == BUSY]
    assert [(r.event["state"], r.status) for r in mine[:3]] == [
        ("initiated", 503), ("initiated", 503), ("initiated", 200)
    ]
    first = (await broadcast_emulator.webhooks(voice_id=mine[0].event["voice_id"]))[0]
    assert [a["status"] for a in first["attempts"]] == [503, 503, 200]


@pytest.mark.broadcast_emulator(clock="manual")
async def test_manual_clock(broadcast_emulator, webhook_sink):
    await broadcast_emulator.create_broadcast([PERSON], event_url=webhook_sink.url, text=None)
    clock = await broadcast_emulator.advance(3)
    assert clock["now"] == "2026-01-01T09:00:03.000Z"
    assert webhook_sink.sequence(to=PERSON) == ["initiated", "ringing", "connected"]
    await broadcast_emulator.run_until_idle()
    assert webhook_sink.sequence(to=PERSON)[-1] == "disconnected"


@pytest.mark.broadcast_emulator(webhook_encryption="aes256")
async def test_encrypted_webhooks_are_decrypted(broadcast_emulator, webhook_sink):
    await broadcast_emulator.create_broadcast([PERSON], event_url=webhook_sink.url)
    event = await webhook_sink.wait_for(state="connected")
    assert event["to"] == PERSON
    assert webhook_sink.received[0].encrypted


@pytest.mark.broadcast_emulator(webhook_encryption="aes128", webhook_format="hex")
async def test_hex_encrypted_webhooks_are_decrypted(broadcast_emulator, webhook_sink):
    await broadcast_emulator.create_broadcast([BUSY], event_url=webhook_sink.url)
    done = await webhook_sink.wait_for_completion()
    assert done["resultset"]["failed_calls"] == 1
    assert webhook_sink.received[0].headers["x-format"] == "hex"
