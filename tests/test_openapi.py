"""The OpenAPI document: valid 3.1, covering every route the app serves, true to real answers."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import jsonschema
import pytest
from openapi_spec_validator import validate

from emulator import Settings, create_app
from emulator.control.openapi import build_document, openapi_document, route_keys


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi_document(create_app(Settings()))
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_route_of_the_app_is_documented() -> None:
    app = create_app(Settings())
    paths = openapi_document(app)["paths"]
    keys = route_keys(app)
    missing = [f"{m} {p}" for m, p in keys if m.lower() not in paths.get(p, {})]
    assert not missing, (
        "routes missing from the OpenAPI document; add an op(...) entry to API_OPERATIONS or "
        f"CONTROL_OPERATIONS in emulator/control/openapi.py: {missing}"
    )
    assert len(keys) > 40  # both API prefixes and the control plane were read from the router


def test_both_prefixes_share_operations_with_unique_ids() -> None:
    paths = openapi_document(create_app(Settings()))["paths"]
    ids = [
        op["operationId"] for item in paths.values() for k, op in item.items() if k != "parameters"
    ]
    assert len(ids) == len(set(ids))
    assert paths["/voice/v1/broadcast"]["post"]["operationId"] == "createBroadcast"
    assert paths["/v1/broadcast"]["post"]["operationId"] == "createBroadcast_v1"


def test_a_route_without_an_operation_is_left_out() -> None:
    document = build_document([("GET", "/_emulator/health"), ("PATCH", "/_emulator/nothing")])
    assert list(document["paths"]) == ["/_emulator/health"]


async def test_served_document_matches_and_answers_fit_their_schemas(
    emu: Any, receiver: Any
) -> None:
    served = await emu.api.control("GET", "/openapi.json")
    assert served == openapi_document(create_app(Settings()))
    checker = Checker(served)  # closed schemas: a key the document does not name fails

    def check(path: str, method: str, status: int, body: Any) -> None:
        checker(method, path, status, body)

    created = await emu.api.create(["919876540000"], receiver)
    check("/voice/v1/broadcast", "post", 200, created)
    await emu.api.wait_complete(receiver)
    bid = created["broadcast_id"]
    check("/voice/v1/broadcast/{broadcast_id}", "get", 200, await emu.api.report(bid))
    voice_id = receiver.for_number("919876540000")[0]["voice_id"]
    status, info = await emu.api.call("GET", f"/v1/call/{voice_id}")
    check("/v1/call/{voice_id}", "get", status, info)
    status, error = await emu.api.call("PUT", f"/voice/v1/call/{voice_id}/play", {"play": {}})
    check("/voice/v1/call/{voice_id}/play", "put", status, error)
    status, missing = await emu.api.call("GET", "/voice/v1/broadcast/nope")
    check("/voice/v1/broadcast/{broadcast_id}", "get", status, missing)
    for path in ("health", "clock", "requests", "webhooks", "broadcasts"):
        check(f"/_emulator/{path}", "get", 200, await emu.api.control("GET", "/" + path))
    check("/_emulator/clock/run-until-idle", "post", 200,
          await emu.api.control("POST", "/clock/run-until-idle", {}))  # fmt: skip


@pytest.mark.parametrize("method", ["post", "put", "get", "delete"])
def test_every_operation_names_its_success_and_json_errors(method: str) -> None:
    paths = openapi_document(create_app(Settings()))["paths"]
    for path, item in paths.items():
        operation = item.get(method)
        if operation is None:
            continue
        codes = set(operation["responses"])
        assert codes & {"200", "201", "202"}, (method, path)
        if not path.startswith("/_emulator"):
            assert {"400", "401", "404"} <= codes, (method, path)


# -- every control route's real answer against a closed schema -------------------------------
def closed(schema: Any) -> Any:
    """`schema` with every object that lists its properties closed (`additionalProperties:
    false`), so that a key the emulator sends but the document does not name fails validation.
    Open objects (no `properties`, or an explicit `additionalProperties`) stay open."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: closed(value) for key, value in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


class Checker:
    """Validates answers against the served document's response schemas, closed."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = closed(document["components"])
        self.checked: set[tuple[str, str]] = set()

    def __call__(self, method: str, path: str, status: int, body: Any) -> None:
        responses = self.document["paths"][path][method.lower()]["responses"]
        answer = responses[str(status)]
        if "$ref" in answer:
            answer = self.document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
        schema = closed(answer["content"]["application/json"]["schema"])
        jsonschema.validate(body, {**schema, "components": self.components})
        self.checked.add((method.upper(), path))


def test_closing_a_schema_makes_an_unnamed_key_fail() -> None:
    document = openapi_document(create_app(Settings()))
    check = Checker(document)
    health = {"status": "ok", "in_flight": 0}
    check("GET", "/_emulator/health", 200, health)
    with pytest.raises(jsonschema.ValidationError, match="not_in_the_document"):
        check("GET", "/_emulator/health", 200, {**health, "not_in_the_document": 1})


SECOND = "/_emulator/projects/second"


async def _exercise(control: Any, check: Any, base: str, template: str) -> None:
    """Every route that acts on one project, under `base` (checked against `template`)."""
    for path in ("clock", "requests", "webhooks", "broadcasts", "faults"):
        check("GET", f"{template}/{path}", 200, await control("GET", f"{base}/{path}"))
    clock = await control("POST", f"{base}/clock/advance", {"seconds": 1})
    check("POST", f"{template}/clock/advance", 200, clock)
    idle = await control("POST", f"{base}/clock/run-until-idle", {})
    check("POST", f"{template}/clock/run-until-idle", 200, idle)
    added = await control("POST", f"{base}/faults", {"api": "GET /broadcast/{id}=503x1"})
    check("POST", f"{template}/faults", 200, added)
    fault_id = added["added"][0]
    removed = await control("DELETE", f"{base}/faults/{fault_id}")
    check("DELETE", f"{template}/faults/{{fault_id}}", 200, removed)
    gone = await control("DELETE", f"{base}/faults/{fault_id}", status=404)
    check("DELETE", f"{template}/faults/{{fault_id}}", 404, gone)
    check("DELETE", f"{template}/faults", 200, await control("DELETE", f"{base}/faults"))
    check("POST", f"{template}/snapshot", 200, await control("POST", f"{base}/snapshot"))
    scenario = {"version": 1, "rules": [{"number": "+919900000001", "outcome": "busy"}]}
    loaded = await control("PUT", f"{base}/scenario", scenario)
    check("PUT", f"{template}/scenario", 200, loaded)
    bad = await control("POST", f"{base}/clock/advance", {"seconds": "x"}, status=400)
    check("POST", f"{template}/clock/advance", 400, bad)
    await _watch_and_steer(control, check, base, template)
    check("POST", f"{template}/reset", 200, await control("POST", f"{base}/reset"))


async def _watch_and_steer(control: Any, check: Any, base: str, template: str) -> None:
    """The timeline, the calls and the triggers on an interactive call (`0009`), and the
    stream's head (Server-Sent Events, not JSON: its content type is what is checked)."""
    number = "919800000009"
    head = await control("GET", f"{base}/stream", raw=True)
    assert head.startswith("text/event-stream")
    check.checked.add(("GET", f"{template}/stream"))
    if base == "/_emulator":  # the console is one page for every project (CONTRACT §8)
        for path in ("/_emulator/ui", "/_emulator/ui/"):
            assert await control("GET", path, raw=True) == "text/html"
            check.checked.add(("GET", path))
        assert await control("GET", "/_emulator/ui/app.js", raw=True) == "text/javascript"
        check.checked.add(("GET", "/_emulator/ui/{file}"))
    nxt = await control("PUT", f"{base}/numbers/{number}/next", {"outcome": "interactive"})
    check("PUT", f"{template}/numbers/{{number}}/next", 200, nxt)
    shown = await control("GET", f"{base}/numbers/{number}/next")
    check("GET", f"{template}/numbers/{{number}}/next", 200, shown)
    forgotten = await control("DELETE", f"{base}/numbers/{number}/next")
    check("DELETE", f"{template}/numbers/{{number}}/next", 200, forgotten)
    created = await control("CREATE", number)
    while not (calls := await control("GET", f"{base}/calls?waiting=true"))["waiting"]:
        await asyncio.sleep(0.005)  # until the call rings (the clock moves in auto mode)
    check("GET", f"{template}/calls", 200, calls)
    voice_id = calls["calls"][0]["voice_id"]
    call = f"{base}/calls/{voice_id}"
    check("GET", f"{template}/calls/{{voice_id}}", 200, await control("GET", call))
    early = await control("POST", call + "/press", {"digits": "1"}, status=409)
    check("POST", f"{template}/calls/{{voice_id}}/press", 409, early)
    bad = await control("POST", call + "/press", {"digits": "x"}, status=400)
    check("POST", f"{template}/calls/{{voice_id}}/press", 400, bad)
    answered = await control("POST", call + "/answer")
    check("POST", f"{template}/calls/{{voice_id}}/answer", 200, answered)
    hung = await control("POST", call + "/hangup")
    check("POST", f"{template}/calls/{{voice_id}}/hangup", 200, hung)
    ended = await control("POST", call + "/reject", {"as": "busy"}, status=409)
    check("POST", f"{template}/calls/{{voice_id}}/reject", 409, ended)
    timeline = await control("GET", f"{base}/broadcasts/{created['broadcast_id']}/timeline")
    check("GET", f"{template}/broadcasts/{{broadcast_id}}/timeline", 200, timeline)
    unknown = await control("GET", f"{base}/calls/nobody", status=404)
    check("GET", f"{template}/calls/{{voice_id}}", 404, unknown)


async def test_every_control_route_answers_what_its_closed_schema_says(
    start_emulator: Any, receiver: Any, tmp_path: Any
) -> None:
    run = await start_emulator(state_file=str(tmp_path / "state.json"))
    api = run.api
    document = await api.control("GET", "/openapi.json")
    check = Checker(document)
    check("GET", "/_emulator/openapi.json", 200, document)

    keys = {"/_emulator": api.auth}

    async def control(
        method: str, path: str, body: Any = None, status: int = 200, raw: bool = False
    ) -> Any:
        if method == "CREATE":  # a broadcast to `path` in the project of the last prefix used
            payload = api.create_body([path], receiver)
            async with api.session.post(
                api.base + "/voice/v1/broadcast", json=payload, headers=keys["current"]
            ) as resp:
                assert resp.status == 200
                return await resp.json()
        keys["current"] = keys[SECOND] if path.startswith(SECOND) else keys["/_emulator"]
        async with api.session.request(method, api.base + path, json=body) as resp:
            if raw:
                return resp.content_type
            answer = await resp.json()
            assert resp.status == status, answer
            return answer

    created = await api.create(["919876540000", "919876540001"], receiver)
    await api.wait_complete(receiver)
    check("GET", "/_emulator/health", 200, await control("GET", "/_emulator/health"))
    project = await control("POST", "/_emulator/projects", {"app_id": "second"}, status=201)
    check("POST", "/_emulator/projects", 201, project)
    keys[SECOND] = {"Authorization": aiohttp.encode_basic_auth("second", project["app_key"])}
    taken = await control("POST", "/_emulator/projects", {"app_id": "second"}, status=409)
    check("POST", "/_emulator/projects", 409, taken)
    check("GET", "/_emulator/projects", 200, await control("GET", "/_emulator/projects"))
    shown = await control("GET", "/_emulator/projects/second")
    check("GET", "/_emulator/projects/{app_id}", 200, shown)
    for base, template in (("/_emulator", "/_emulator"), (SECOND, "/_emulator/projects/{app_id}")):
        await _exercise(control, check, base, template)
    nobody = await control("GET", "/_emulator/projects/nobody/clock", status=404)
    check("GET", "/_emulator/projects/{app_id}/clock", 404, nobody)
    deleted = await control("DELETE", SECOND)
    check("DELETE", "/_emulator/projects/{app_id}", 200, deleted)
    default = await control("DELETE", "/_emulator/projects/emulator-app-id", status=409)
    check("DELETE", "/_emulator/projects/{app_id}", 409, default)
    check("GET", "/voice/v1/broadcast/{broadcast_id}", 404,
          (await api.call("GET", f"/voice/v1/broadcast/{created['broadcast_id']}"))[1])  # fmt: skip
    app_routes = {key for key in route_keys(create_app(Settings())) if "/_emulator" in key[1]}
    unchecked = sorted(app_routes - check.checked)
    assert not unchecked, f"control routes whose answers this test does not check: {unchecked}"
