"""A scenario world in a running emulator: `serve --scenario` and PUT /_emulator/scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.cli import build_parser, settings_from_args
from emulator.scenario import ScenarioBehaviour

ROOT = Path(__file__).resolve().parent.parent

WORLD = """
version: 1
seed: 99
prompts: {welcome: 2}
timings: {ring_s: 4}
rules:
  - number: "+919811112222"
    attempts: [busy, human]
faults:
  api:
    - route: /broadcast
      method: POST
      status: 429
      retry_after_s: 1
      times: 1
"""


async def _put(api: Any, text: str, content_type: str = "application/yaml") -> tuple[int, Any]:
    async with api.session.put(
        api.base + "/_emulator/scenario", data=text, headers={"Content-Type": content_type}
    ) as resp:
        return resp.status, await resp.json()


async def test_put_scenario_loads_rules_prompts_timings_and_faults(
    start_emulator: Any, receiver: Any
) -> None:
    running = await start_emulator()
    api = running.api
    status, body = await _put(api, WORLD)
    assert status == 200, body
    assert body["rules"] == 1 and body["prompts"] == 1 and body["faults"] == 1
    assert body["not_applied"] == ["seed"]  # the running emulator keeps its seed
    status, _ = await api.call("POST", "/voice/v1/broadcast", {})
    assert status == 429  # the scenario's API fault, once
    play = {"play": {"prompt_name": "welcome", "prompt_ref": "w"}}
    done = await api.create(["+919811112222"], receiver, action_on_connect=play)
    await api.wait_complete(receiver)
    report = await api.report(done["app_instance"])
    row = report["resultSet"][0]
    assert row["result"] == {"code": "success", "reason": "success"} and row["attempts"] == 2
    stamps = {e.get("state") or e.get("playstate"): e["timestamp"] for e in receiver.events
              if e.get("attempt") == 2}  # fmt: skip
    assert stamps["connected"].endswith("09:00:10.000Z")  # retry at 5+1 s, ring 4 s
    assert stamps["playfinished"].endswith("09:00:12.000Z")  # the named prompt lasts 2 s


async def test_put_scenario_again_replaces_the_previous_world(start_emulator: Any) -> None:
    running = await start_emulator()
    assert (await _put(running.api, WORLD))[0] == 200
    second = '{"version": 1, "rules": [{"prefix": "+44", "outcome": "busy"}]}'
    status, body = await _put(running.api, second, "application/json")
    assert status == 200 and body["faults"] == 0
    em = running.emulator
    assert em.faults.api == []  # the first world's fault is gone
    assert isinstance(em.behaviour, ScenarioBehaviour) and em.service.behaviour is em.behaviour
    assert em.behaviour.plan("b", 0, "+441234567", 1).outcome.value == "busy"
    assert em.service.timings.ring_s == 3


async def test_put_scenario_rejects_bad_worlds_with_json_400(start_emulator: Any) -> None:
    running = await start_emulator()
    status, body = await _put(
        running.api, "version: 1\nrules:\n  - number: '+4412345'\n    outcome: bussy\n"
    )
    assert status == 400
    assert body["state"] == "failed"
    assert body["error_description"].startswith(
        'request body: rules[0].outcome: unknown outcome "bussy"'
    )
    status, body = await _put(running.api, "version: [")
    assert status == 400 and "not valid YAML" in body["error_description"]


def test_serve_scenario_settings_layer_sits_under_env_and_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "world.yaml"
    path.write_text(
        "version: 1\nseed: 11\ncredentials: {app_id: scen-id, app_key: scen-key}\n"
        "settings: {dial_rate: 4}\ntimings: {ring_s: 9}\n"
    )
    for name in ("EMULATOR_SEED", "EMULATOR_APP_ID", "EMULATOR_DIAL_RATE", "EMULATOR_SCENARIO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EMULATOR_DIAL_RATE", "7")
    args = build_parser().parse_args(["serve", "--scenario", str(path), "--seed", "12"])
    settings = settings_from_args(args)
    assert settings.seed == 12  # CLI beats the scenario
    assert settings.dial_rate == 7  # the environment beats the scenario
    assert settings.app_id == "scen-id" and settings.timings.ring_s == 9  # scenario beats defaults
    assert settings.scenario == str(path)


async def test_an_emulator_started_with_a_scenario_uses_its_world(
    start_emulator: Any, receiver: Any
) -> None:
    running = await start_emulator(scenario=str(ROOT / "scenarios" / "quickstart.yaml"))
    api = running.api
    done = await api.create(["+919900000003", "+919800000003"], receiver)
    await api.wait_complete(receiver)
    report = await api.report(done["app_instance"])
    reasons = {r["dialed_number"]: r["result"]["reason"] for r in report["resultSet"]}
    assert reasons == {"+919900000003": "NoAnswer", "+919800000003": "AMD"}  # rule, magic


def test_serve_reads_the_scenario_file_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings layer and the world come from one read of `--scenario`."""
    from emulator import cli
    from emulator.app import EMULATOR, create_app
    from emulator.scenario import ScenarioBehaviour, loader

    reads: list[str] = []
    real = loader.load_scenario

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(loader, "load_scenario", counting)
    monkeypatch.delenv("EMULATOR_SCENARIO", raising=False)
    path = str(ROOT / "scenarios" / "quickstart.yaml")
    args = build_parser().parse_args(["serve", "--scenario", path])
    settings, scenario = cli._settings_and_scenario(args)
    app = create_app(settings, scenario=scenario)
    assert reads == [path]
    assert isinstance(app[EMULATOR].behaviour, ScenarioBehaviour)
