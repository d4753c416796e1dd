"""EnableX's sample clients, re-enacted request by request (fact sheet §C.5, §H).

Each test sends exactly the requests one client family sends, reacts to webhooks the way its
handler does, and asserts the event sequences and the keys the client branches on.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from conftest import Api, StartEmulator
from sample_clients import Event, SampleApp, serving

APP_ID = "5f1e99bf90ce3c3ccsc52e6462"
FROM = "919999999999"
NUMBER = "919876543210"
BRIDGE_TO = "919812345678"


async def _create(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = await api.call("POST", "/voice/v1/broadcast", body)
    assert status == 200, answer
    return answer


async def _wait(api: Api, app: SampleApp) -> Event:
    """The completion event, once it came; checks the rules every client family relies on."""

    async def poll() -> Event:
        while (done := app.completion()) is None:
            await asyncio.sleep(0.005)
        return done

    done = await asyncio.wait_for(poll(), 10)
    per_call = [e for e in app.events if "voice_id" in e]
    assert per_call and all(e["broadcast_id"] == done["broadcast_id"] for e in per_call)
    assert all("state" not in e for e in per_call if "playstate" in e)
    assert app.events[-1] is done  # after every per-call event
    for key in ("app_instance", "application_name", "resultset", "timestamp"):
        assert key in done  # the vendor page's shape
    return done


def _menu_flow_names(prompt_one: str, prompt_two: str, end: str) -> list[str]:
    return [
        "initiated",
        "ringing",
        "connected",
        f"play:initiated:{prompt_one}",
        f"play:playfinished:{prompt_one}",
        f"play:initiated:{prompt_two}",
        f"play:{end}:{prompt_two}",
        "disconnected",
    ]


def _voice_api_broadcast_body(url: str, numbers: list[str]) -> dict[str, Any]:
    """What voice-api-broadcast (2020) and the Outbound-Inbound broadcast client send."""
    return {
        "name": "TEST_APP",
        "owner_ref": "XYZ",
        "broadcastnumbersjson": json.dumps([{"phone": n} for n in numbers]),
        "from": FROM,
        "action_on_connect": {
            "play": {
                "text": "Hello, this is a broadcast",
                "voice": "female",
                "language": "en-US",
                "prompt_ref": "1",
            }
        },
        "call_param": {"IntervalBetweenRetries": 5000, "NumberOfRetries": 3},
        "event_url": f"{url}/event",
        "callhandler_url": f"{url}/event",
    }


def _second_level(dtmf: bool = True) -> dict[str, Any]:
    return {
        "text": "This is the second level menu, call will disconnect shortly",
        "voice": "female",
        "language": "en-US",
        "prompt_ref": "2",
        "dtmf": dtmf,
    }


async def test_2020_put_play_flow_plain_webhooks(start_emulator: StartEmulator) -> None:
    """voice-api-broadcast after release 1.2.0: PUT /broadcast/{b}/play, DELETE /call/{v}."""
    run = await start_emulator(app_id=APP_ID)
    api, answers = run.api, []
    app = SampleApp(APP_ID)
    call: dict[str, str] = {}

    async def react(event: Event) -> None:
        if event.get("playstate") == "playfinished" and event.get("prompt_ref") == "1":
            body = {"voice_id": event["voice_id"], **_second_level()}
            path = f"/voice/v1/broadcast/{call['appInstance']}/play"
            answers.append(await api.call("PUT", path, body))
        elif event.get("playstate") == "menutimeout" and event.get("prompt_ref") == "2":
            answers.append(await api.call("DELETE", f"/voice/v1/call/{event['voice_id']}"))

    app.react = react
    async with serving(app):
        created = await _create(api, _voice_api_broadcast_body(app.url, [NUMBER]))
        call["appInstance"] = created["appInstance"]
        done = await _wait(api, app)
    (voice_id,) = app.voice_ids()
    assert app.names(voice_id) == _menu_flow_names("1", "2", "menutimeout")
    assert [a[0] for a in answers] == [202, 200]
    assert answers[0][1]["playstate"] == "initiated"
    assert answers[1][1]["state"] == "success" and answers[1][1]["voice_id"] == voice_id
    assert done["state"] == "broadcastcomplete"
    assert done["resultSet"]["successfull_calls"] == 1 and done["resultSet"]["failed_calls"] == 0
    assert app.headers[0].get("x-algoritm") is None  # plaintext: the client takes req.body
    menu = [e for e in app.for_voice(voice_id) if e.get("prompt_ref") == "2"]
    assert menu[-1]["timestamp"] > menu[0]["timestamp"]  # the menu waited for its timeout


async def test_2020_post_play_calls_route_encrypted(start_emulator: StartEmulator) -> None:
    """The 2020 original and the Outbound-Inbound client: POST /broadcast/{b} {voice_id, play},
    DELETE /calls/{v}, webhooks always decrypted, one if/else chain over state then playstate."""
    run = await start_emulator(app_id=APP_ID, webhook_encryption="aes256")
    api = run.api
    app = SampleApp(APP_ID, always_decrypt=True)
    call: dict[str, str] = {}
    chain: list[str] = []

    async def react(event: Event) -> None:
        # The Outbound-Inbound handler: one if / else-if chain, state first (fact sheet B.4).
        if event.get("state") == "connected":
            chain.append("connected")
        elif event.get("state") == "disconnected":
            chain.append("disconnected")
        elif event.get("state") == "broadcastcomplete":
            chain.append(f"complete:{event['resultSet']['successfull_calls']}")
        elif event.get("playstate") == "playfinished" and event.get("prompt_ref") == "1":
            chain.append("menu")
            body = {"voice_id": event["voice_id"], "play": _second_level()}
            status, _ = await api.call("POST", f"/voice/v1/broadcast/{call['b']}", body)
            assert status == 202
        elif event.get("playstate") == "menutimeout" and event.get("prompt_ref") == "2":
            chain.append("hangup")
            status, _ = await api.call("DELETE", f"/voice/v1/calls/{event['voice_id']}")
            assert status == 200

    app.react = react
    async with serving(app):
        created = await _create(api, _voice_api_broadcast_body(app.url, [NUMBER]))
        call["b"] = created["appInstance"]
        await _wait(api, app)
    assert not app.errors
    assert all(h["x-algoritm"] == "aes256" and h["x-format"] == "base64" for h in app.headers)
    (voice_id,) = app.voice_ids()
    assert app.names(voice_id) == _menu_flow_names("1", "2", "menutimeout")
    assert chain == ["connected", "menu", "hangup", "disconnected", "complete:1"]
    assert app.events[-1]["state"] == "broadcastcomplete"  # after every per-call event


async def test_2020_client_with_two_broadcasts_uses_latest_app_instance(
    start_emulator: StartEmulator,
) -> None:
    """voice-api-broadcast keeps one `appInstance`: the first broadcast's calls are played
    under the second broadcast's id. The call is found by voice_id all the same."""
    run = await start_emulator(app_id=APP_ID)
    api = run.api
    app = SampleApp(APP_ID)
    call: dict[str, str] = {}
    statuses: list[int] = []

    async def react(event: Event) -> None:
        if event.get("playstate") == "playfinished" and event.get("prompt_ref") == "1":
            body = {"voice_id": event["voice_id"], **_second_level()}
            path = f"/voice/v1/broadcast/{call['appInstance']}/play"
            statuses.append((await api.call("PUT", path, body))[0])
        elif event.get("playstate") == "menutimeout" and event.get("prompt_ref") == "2":
            statuses.append((await api.call("DELETE", f"/voice/v1/call/{event['voice_id']}"))[0])

    app.react = react
    async with serving(app):
        first = await _create(api, _voice_api_broadcast_body(app.url, ["919800000011"]))
        call["appInstance"] = first["appInstance"]
        second = await _create(api, _voice_api_broadcast_body(app.url, ["919800000022"]))
        call["appInstance"] = second["appInstance"]

        async def both() -> None:
            while sum(1 for e in app.events if "resultSet" in e) < 2:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(both(), 10)
    assert statuses == [202, 202, 200, 200]
    for voice_id in app.voice_ids():
        assert app.names(voice_id) == _menu_flow_names("1", "2", "menutimeout")


def _broadcast_numbers_body(url: str, numbers: list[str], prompt_ref: str) -> dict[str, Any]:
    """What voice-broadcast-ivr-bridge and voice-broadcast-text-to-speech (2023) send."""
    return {
        "name": "TEST_APP",
        "owner_ref": "XYZ",
        "broadcast_numbers": json.dumps([{"phone": n} for n in numbers]),
        "from": FROM,
        "action_on_connect": {
            "play": {
                "text": "Welcome to the broadcast",
                "voice": "female",
                "language": "en-US",
                "prompt_ref": prompt_ref,
            }
        },
        "call_param": {"IntervalBetweenRetries": 5000, "NumberOfRetries": 3},
        "event_url": f"{url}/event",
        "call_handler_url": f"{url}/event",
    }


async def test_2023_ivr_bridge_flow(start_emulator: StartEmulator) -> None:
    """voice-broadcast-ivr-bridge: menu, bridge on menutimeout, hang up once bridged; every path
    is built from the event's broadcast_id and voice_id."""
    run = await start_emulator(app_id=APP_ID)
    api = run.api
    app = SampleApp(APP_ID)
    answers: dict[str, Any] = {}

    async def react(event: Event) -> None:
        b, v = event.get("broadcast_id"), event.get("voice_id")
        if event.get("state") == "bridged":
            answers["hangup"] = await api.call("DELETE", f"/voice/v1/broadcast/{b}/call/{v}")
        if event.get("playstate") == "playfinished" and event["prompt_ref"] == "welcome_prompt":
            menu = {
                "text": "call will be connected to customer service agent",
                "voice": "female",
                "language": "en-US",
                "prompt_ref": "voice_menu",
                "dtmf": True,
            }
            answers["play"] = await api.call("PUT", f"/voice/v1/broadcast/{b}/call/{v}/play", menu)
        elif event.get("playstate") == "menutimeout" and event["prompt_ref"] == "voice_menu":
            body = {"from": FROM, "to": BRIDGE_TO}
            answers["connect"] = await api.call(
                "PUT", f"/voice/v1/broadcast/{b}/call/{v}/connect", body
            )

    app.react = react
    async with serving(app):
        created = await _create(api, _broadcast_numbers_body(app.url, [NUMBER], "welcome_prompt"))
        done = await _wait(api, app)
    assert created["state"] == "broadcastcall_initiated" and created["broadcast_id"]
    (voice_id,) = app.voice_ids()
    # the dialer SDK registers the call under the create answer's ids
    assert (created["voice_id"], created["from"], created["to"]) == (voice_id, FROM, NUMBER)
    assert app.names(voice_id) == [
        "initiated",
        "ringing",
        "connected",
        "play:initiated:welcome_prompt",
        "play:playfinished:welcome_prompt",
        "play:initiated:voice_menu",
        "play:menutimeout:voice_menu",
        "bridging",
        "bridged",
        "bridge_disconnected",
        "disconnected",
    ]
    assert all(e["broadcast_id"] == created["broadcast_id"] for e in app.for_voice(voice_id))
    assert answers["play"][0] == 202 and answers["play"][1]["playstate"] == "initiated"
    status, bridge = answers["connect"]
    assert status == 202 and bridge["state"] == "initiated" and bridge["bridge_id"]
    assert answers["hangup"][0] == 200 and answers["hangup"][1]["state"] == "success"
    assert done["state"] == "broadcastcall_complete"
    assert done["resultSet"] == done["resultset"]
    assert done["resultSet"]["successfull_calls"] == 1


async def test_2023_tts_hangup_flow_with_retries_and_unset_env(
    start_emulator: StartEmulator,
) -> None:
    """voice-broadcast-text-to-speech: hang up after the first prompt. Run with VOICE and
    LANGUAGE unset, so it sends the string "undefined"; a busy number is retried every 5 s."""
    run = await start_emulator(app_id=APP_ID)
    api = run.api
    app = SampleApp(APP_ID)
    busy = "919800000001"

    async def react(event: Event) -> None:
        if event.get("playstate") == "playfinished" and (
            event.get("prompt_ref") == "broadcast_initial_prompt"
        ):
            path = f"/voice/v1/broadcast/{event['broadcast_id']}/call/{event['voice_id']}"
            status, _ = await api.call("DELETE", path)
            assert status == 200

    app.react = react
    async with serving(app):
        body = _broadcast_numbers_body(app.url, [NUMBER, busy], "broadcast_initial_prompt")
        body["action_on_connect"]["play"].update(voice="undefined", language="undefined")
        await _create(api, body)
        done = await _wait(api, app)
    by_number: dict[str, list[Event]] = {}
    for e in app.events:
        if "voice_id" in e:
            by_number.setdefault(e["to"], []).append(e)
    answered = [e.get("state") or e.get("playstate") for e in by_number[NUMBER]]
    assert answered == [
        "initiated",
        "ringing",
        "connected",
        "initiated",
        "playfinished",
        "disconnected",
    ]
    starts = [e for e in by_number[busy] if e.get("state") == "initiated"]
    assert [e["attempt"] for e in starts] == [1, 2, 3, 4]
    assert len({e["voice_id"] for e in starts}) == 4
    # busy for 1 s, then IntervalBetweenRetries 5000 ms (milliseconds in this dialect)
    assert [e["timestamp"][17:19] for e in starts] == ["00", "06", "12", "18"]
    assert done["state"] == "broadcastcall_complete"
    assert done["resultSet"]["successfull_calls"] == 1 and done["resultSet"]["failed_calls"] == 1
    assert app.events[-1] is done


async def test_v2_recipients_digit_bridge_flow(start_emulator: StartEmulator) -> None:
    """A v2 client: recipients, nested `{play: {type: "tts"}}` on /call/{v}/play, bridge on the
    digit "1" through /call/{v}/connect, hang up through DELETE /call/{v}."""
    run = await start_emulator(app_id=APP_ID, webhook_encryption="aes-256-cbc")
    api = run.api
    app = SampleApp(APP_ID)
    presses_one = "919800000006"

    def play(text: str, ref: str, dtmf: bool) -> dict[str, Any]:
        tts = {"type": "tts", "text": text, "voice": "female", "language": "en-US"}
        return {"play": {**tts, "prompt_ref": ref, "dtmf": dtmf}}

    async def react(event: Event) -> None:
        v, playstate, ref = event.get("voice_id"), event.get("playstate"), event.get("prompt_ref")
        if event.get("state") == "bridged":
            assert (await api.call("DELETE", f"/voice/v1/call/{v}"))[0] == 200
        elif playstate == "playfinished" and ref == "welcome_prompt":
            body = play("Press 1 or 2.", "ivr_prompt", True)
            assert (await api.call("PUT", f"/voice/v1/call/{v}/play", body))[0] == 202
        elif playstate == "digitcollected" and event["digit"] == "1":
            body = play("Please hold while we connect your call.", "bridge_announcement_1", False)
            assert (await api.call("PUT", f"/voice/v1/call/{v}/play", body))[0] == 202
        elif playstate == "playfinished" and ref == "bridge_announcement_1":
            body = {"from": FROM, "to": BRIDGE_TO}
            assert (await api.call("PUT", f"/voice/v1/call/{v}/connect", body))[0] == 202

    app.react = react
    welcome = play("Welcome.", "welcome_prompt", False)["play"]
    body = {
        "name": "TEST_APP",
        "owner_ref": "XYZ",
        "from": FROM,
        "answering_machine_detection": False,
        "recipients": [{"to": presses_one, "play": welcome, "custom_data": {"crm": 7}}],
        "event_url": "",
        "call_handler_url": "",
    }
    async with serving(app):
        body.update(event_url=f"{app.url}/event", call_handler_url=f"{app.url}/event")
        created = await _create(api, body)
        done = await _wait(api, app)
    assert created["state"] == "broadcastcall_initiated"
    (voice_id,) = app.voice_ids()
    assert app.names(voice_id) == [
        "initiated",
        "ringing",
        "connected",
        "play:initiated:welcome_prompt",
        "play:playfinished:welcome_prompt",
        "play:initiated:ivr_prompt",
        "play:digitcollected:ivr_prompt",
        "play:initiated:bridge_announcement_1",
        "play:playfinished:bridge_announcement_1",
        "bridging",
        "bridged",
        "bridge_disconnected",
        "disconnected",
    ]
    assert all(e["custom_data"] == {"crm": 7} for e in app.for_voice(voice_id))
    digit = next(e for e in app.events if e.get("playstate") == "digitcollected")
    assert digit["digit"] == "1" and digit["digits"] == "1" and "state" not in digit
    last = app.for_voice(voice_id)[-1]
    assert last["state"] == "disconnected" and last["disconnect_reason"]
    assert done["state"] == "broadcastcall_complete"
    assert done["resultSet"]["successfull_calls"] == 1
    assert all(h["x-algoritm"] == "aes-256-cbc" for h in app.headers)


async def test_2021_broadcast_library_menu_bridge_record_hangup(
    start_emulator: StartEmulator,
) -> None:
    """The Sample Voice Client's broadcast library: no action_on_connect, so the app plays a
    menu on `connected` (POST /broadcast/{b} {voice_id, play}); it forwards the call on a digit
    (POST /broadcast/{b} {voice_id, connect}), records with the voice_id in the broadcast's place
    (POST /broadcast/{voice_id} {record}) and hangs up with DELETE /call/{v}. It always decrypts."""
    run = await start_emulator(app_id=APP_ID, webhook_encryption="aes256")
    api = run.api
    app = SampleApp(APP_ID, always_decrypt=True)
    call: dict[str, str] = {}
    statuses: list[tuple[str, int]] = []

    async def send(label: str, method: str, path: str, body: Any = None) -> None:
        statuses.append((label, (await api.call(method, path, body))[0]))

    async def react(event: Event) -> None:
        v, b = event.get("voice_id"), call.get("b")
        if event.get("state") == "connected":
            menu = {"dtmf": True, "interrupt": False, "text": "Press 1", "voice": "Male"}
            menu.update(language="en-US", prompt_ref="menu")
            await send("menu", "POST", f"/voice/v1/broadcast/{b}", {"voice_id": v, "play": menu})
        elif event.get("playstate") == "digitcollected":
            body = {"voice_id": v, "connect": {"from": FROM, "to": BRIDGE_TO}}
            await send("forward", "POST", f"/voice/v1/broadcast/{b}", body)
        elif event.get("state") == "bridged":
            record = {"record": {"start": True, "recording_name": "call-1"}}
            await send("record", "POST", f"/voice/v1/broadcast/{v}", record)
            await send("hangup", "DELETE", f"/voice/v1/call/{v}")

    app.react = react
    async with serving(app):
        body = {
            "applicationName": "LIB_APP",
            "broadcastnumbersjson": json.dumps([{"phone": "919800000006"}]),
            "from": FROM,
            "event_url": f"{app.url}/events",
            "callhandler_url": f"{app.url}/events",
            "call_param": {"intervalBetweenRetries": 5000, "numberOfRetries": 3},
            "owner_ref": "XYZ",
        }
        created = await _create(api, body)
        call["b"] = created["app_instance"]
        done = await _wait(api, app)
    assert statuses == [("menu", 202), ("forward", 202), ("record", 202), ("hangup", 200)]
    (voice_id,) = app.voice_ids()
    assert app.names(voice_id) == [
        "initiated",
        "ringing",
        "connected",
        "play:initiated:menu",
        "play:digitcollected:menu",
        "bridging",
        "bridged",
        "bridge_disconnected",
        "disconnected",
    ]
    assert done["state"] == "broadcastcomplete" and done["application_name"] == "LIB_APP"
    assert not app.errors
