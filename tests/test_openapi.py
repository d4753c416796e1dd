"""The OpenAPI document: valid 3.1, covering every route the app serves, true to real answers."""

from __future__ import annotations

from typing import Any

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
    resolver = {"components": served["components"]}

    def check(path: str, method: str, status: int, body: Any) -> None:
        responses = served["paths"][path][method]["responses"]
        answer = responses[str(status)]
        if "$ref" in answer:
            answer = served["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
        schema = {**answer["content"]["application/json"]["schema"], **resolver}
        jsonschema.validate(body, schema)

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
