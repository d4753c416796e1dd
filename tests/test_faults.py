"""Fault injection from flags, the control plane and code: API statuses and delays, webhook
failures; counted or windowed, deterministic under the seed, and logged."""

from __future__ import annotations

import time
from typing import Any

import pytest
from faulty_receivers import completed, create_body, faulty_receiver, wait_for

from emulator.cli import main
from emulator.config import load_settings
from emulator.fault_specs import parse_api_faults, parse_webhook_faults, route_regex
from emulator.faults import FaultBook
from emulator.sim.clock import ClockMode

CREATE = "/voice/v1/broadcast"


# -- specs ----------------------------------------------------------------------------------
def test_compact_api_specs() -> None:
    a, b, c = parse_api_faults(
        "POST /broadcast=503x2; GET /broadcast/{id}=429:5@10+30; *=delay:0.5", 1000
    )
    assert (a.method, a.status, a.retry_after_s, a.budget.times) == ("POST", 503, 1, 2)
    assert a.matches("POST", "/voice/v1/broadcast") and a.matches("POST", "/v1/broadcast")
    assert not a.matches("POST", "/voice/v1/broadcast/abc") and not a.matches("GET", CREATE)
    assert (b.status, b.retry_after_s, b.budget.start_ms, b.budget.end_ms) == (429, 5, 11000, 41000)
    assert b.matches("GET", "/v1/broadcast/xyz") and not b.matches("GET", "/v1/broadcast/x/call/y")
    assert (c.method, c.path, c.status, c.delay_s) == (None, None, None, 0.5)


def test_compact_webhook_specs() -> None:
    a, b, c = parse_webhook_faults("/call=500x3; *=refuse@0+60; example.com=timeout", 0)
    assert (a.url, a.status, a.budget.times) == ("/call", 500, 3)
    assert (b.url, b.refuse, b.budget.end_ms) == (None, True, 60_000)
    assert c.timeout and c.matches("https://example.com/x") and not c.matches("http://other/")


def test_json_specs_equal_compact_ones() -> None:
    (j,) = parse_api_faults(
        '{"method": "POST", "route": "/broadcast", "status": 503, "times": 2}', 0
    )
    (k,) = parse_api_faults("POST /broadcast=503x2", 0)
    assert j.as_json() == k.as_json()
    many = parse_webhook_faults('[{"url": "/call", "status": 500}, {"timeout": true}]', 0)
    assert [f.status for f in many] == [500, None]


@pytest.mark.parametrize(
    "spec",
    [
        "POST /broadcast",
        "POST /broadcast=",
        "POST /broadcast=abc",
        "POST /broadcast=700",
        "FETCH /broadcast=500",
        "/x=delay:-1",
        '{"status": 500, "colour": "red"}',
        '{"route": "/x"}',
        "{not json",
    ],
)
def test_bad_api_specs_are_refused_with_a_reason(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_api_faults(spec, 0)


def test_bad_regex_is_refused() -> None:
    with pytest.raises(ValueError, match="regular expression"):
        parse_webhook_faults('{"url": "(", "status": 500}', 0)


def test_route_patterns() -> None:
    assert route_regex("*") is None
    assert route_regex("/call/{voice_id}/play") == "/call/[^/]+/play/?$"


def test_flags_and_environment_carry_fault_specs(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(environ={"EMULATOR_API_FAULT": "POST /broadcast=503x2"})
    assert settings.api_fault == "POST /broadcast=503x2"
    assert main(["serve", "--api-fault", "POST /broadcast=abc"]) == 2
    assert "--api-fault: status must be an HTTP status, not 'abc'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="EMULATOR_WEBHOOK_FAULT"):
        load_settings(environ={"EMULATOR_WEBHOOK_FAULT": "*=nonsense"})


def test_probability_is_deterministic_under_the_seed() -> None:
    def pattern(seed: int) -> list[bool]:
        book = FaultBook(seed)
        for fault in parse_api_faults('{"status": 500, "probability": 0.5}', 0):
            book.add(fault)
        return [book.api_fault("GET", "/v1/broadcast/x", 0) is not None for _ in range(64)]

    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)
    assert 10 < sum(pattern(7)) < 54


def test_fired_log_is_bounded() -> None:
    book = FaultBook(0, fired_size=3)
    for fault in parse_api_faults("*=500", 0):
        book.add(fault)
    for _ in range(5):
        assert book.api_fault("GET", "/v1/x", 0) is not None
    assert len(book.fired) == 3 and book.fired_total == 5 and book.fired_dropped == 2


# -- API faults over HTTP -------------------------------------------------------------------
async def test_flag_fault_answers_503_twice_then_serves(start_emulator: Any) -> None:
    async with faulty_receiver() as rec:
        running = await start_emulator(api_fault="POST /broadcast=503x2")
        api = running.api
        answers = [await api.call("POST", CREATE, create_body(rec.url)) for _ in range(3)]
        assert [s for s, _ in answers] == [503, 503, 200]
        assert (
            answers[0][1]["state"] == "failed" and answers[0][1]["error_code"] == "INJECTED_FAULT"
        )
        status, _report = await api.call("GET", f"{CREATE}/{answers[2][1]['broadcast_id']}")
        assert status == 200
        await wait_for(lambda: completed(rec))
    faults = await api.control("GET", "/faults")
    assert [(f["kind"], f["status"]) for f in faults["fired"]] == [("api", 503)] * 2
    assert faults["api"][0]["fired"] == 2
    journal = await api.control("GET", "/requests")
    assert [r["status"] for r in journal["requests"][:3]] == [503, 503, 200]


async def test_429_carries_retry_after(start_emulator: Any) -> None:
    running = await start_emulator()
    api = running.api
    added = await api.control("POST", "/faults", {"api": "GET /broadcast/{id}=429:7x1"})
    assert added["added"] == [1]
    async with api.session.get(api.base + f"{CREATE}/whatever", headers=api.auth) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "7"
        assert resp.content_type == "application/json"
    status, _ = await api.call("GET", f"{CREATE}/whatever")
    assert status == 404  # the fault fired once; the route answers normally again


async def test_faults_wait_for_auth(start_emulator: Any) -> None:
    running = await start_emulator(api_fault="*=500")
    status, _ = await running.api.call("GET", f"{CREATE}/x", auth=False)
    assert status == 401
    assert running.emulator.faults.fired_total == 0


async def test_windowed_fault_fires_only_inside_its_window(start_emulator: Any) -> None:
    running = await start_emulator(clock=ClockMode.MANUAL)
    api = running.api
    await api.control("POST", "/faults", {"kind": "api", "status": 500, "after_s": 5, "for_s": 10})
    assert (await api.call("GET", f"{CREATE}/x"))[0] == 404
    await api.advance(5)
    assert (await api.call("GET", f"{CREATE}/x"))[0] == 500
    await api.advance(10)
    assert (await api.call("GET", f"{CREATE}/x"))[0] == 404


async def test_delay_fault_is_real_time_and_holds_virtual_time(start_emulator: Any) -> None:
    async with faulty_receiver() as rec:
        running = await start_emulator(api_fault="GET /broadcast/{id}=delay:0.3x1")
        api = running.api
        _, created = await api.call("POST", CREATE, create_body(rec.url))
        before = time.monotonic()
        status, _report = await api.call("GET", f"{CREATE}/{created['broadcast_id']}")
        assert status == 200 and time.monotonic() - before >= 0.3
        await wait_for(lambda: completed(rec))
    assert running.emulator.faults.fired[0]["delay_s"] == 0.3


async def test_control_plane_lists_removes_and_clears_faults(start_emulator: Any) -> None:
    running = await start_emulator()
    api = running.api
    added = await api.control(
        "POST",
        "/faults",
        {"api": ["POST /broadcast=500"], "webhook": [{"url": "/x", "status": 502}]},
    )
    assert added["added"] == [1, 2] and len(added["api"]) == 1 and len(added["webhook"]) == 1
    listed = await api.control("DELETE", "/faults/1")
    assert listed["api"] == [] and len(listed["webhook"]) == 1
    assert (await api.control("DELETE", "/faults"))["webhook"] == []
    for bad in ({"api": "POST /broadcast=abc"}, {"kind": "nope"}, {"api": [], "x": 1}, {"api": []}):
        status, body = await api.call("POST", "/_emulator/faults", bad, auth=False)
        assert status == 400 and body["state"] == "failed", bad
    status, body = await api.call("DELETE", "/_emulator/faults/99", auth=False)
    assert status == 404


async def test_webhook_faults_from_the_control_plane_are_retried_through(
    start_emulator: Any,
) -> None:
    async with faulty_receiver() as rec:
        running = await start_emulator()
        api = running.api
        await api.control("POST", "/faults", {"webhook": "/event=500x2"})
        await api.call("POST", CREATE, create_body(rec.url))
        await wait_for(lambda: completed(rec))
    log = running.emulator.dispatcher.log
    initiated = log[0]
    assert initiated.url.endswith("/event") and initiated.state == "delivered"
    assert [a.status for a in initiated.attempts] == [500, 500, 200]
    assert [a.error for a in initiated.attempts] == ["injected", "injected", None]
    assert all(d.state == "delivered" for d in log)


def test_faults_appended_directly_get_ids() -> None:
    book = FaultBook()
    book.api.append(*parse_api_faults("*=500", 0))
    book.add(*parse_webhook_faults("*=500", 0))
    assert [f["id"] for f in (*book.as_json()["api"], *book.as_json()["webhook"])] == [2, 1]
    assert book.remove(2) and book.api == []


async def test_fault_and_snapshot_routes_need_the_control_token(start_emulator: Any) -> None:
    running = await start_emulator(control_token="t0k")
    api = running.api
    for method, path in (("GET", "/faults"), ("POST", "/faults"), ("POST", "/snapshot")):
        status, body = await api.call(method, "/_emulator" + path, {"api": "*=500"}, auth=False)
        assert status == 401 and body["state"] == "failed", path
    status, body = await api.call(
        "POST", "/_emulator/faults", {"api": "*=500x1"}, auth=False,
        headers={"Authorization": "Bearer t0k"},
    )  # fmt: skip
    assert status == 200 and body["added"] == [1]
