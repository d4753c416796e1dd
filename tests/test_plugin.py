"""The pytest plugin as a user's project sees it: run through pytester, public fixtures only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

PROJECT = Path(__file__).parent / "plugin_project"
# Plugins the inner runs do not need (they only slow each run down).
QUIET = ("-p", "no:cacheprovider", "-p", "no:faker", "-p", "no:hypothesispytest")
AUTO_INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"


def _copy_project(pytester: pytest.Pytester) -> None:
    for source in PROJECT.iterdir():
        if source.is_file() and source.suffix in (".py", ".ini"):
            (pytester.path / source.name).write_text(source.read_text())


def test_the_plugin_project_passes(pytester: pytest.Pytester) -> None:
    _copy_project(pytester)
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=7)


def test_a_failing_reaction_handler_fails_the_test_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        async def test_handler_bug(broadcast_emulator, webhook_sink):
            @webhook_sink.on(state="connected")
            def buggy(event):
                raise KeyError("no such voice_id in my app")

            await broadcast_emulator.create_broadcast(["919876540000"], event_url=webhook_sink.url)
            await broadcast_emulator.run_until_idle()
        """
    )
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*SinkError: webhook sink error*no such voice_id*"])


def test_wait_for_raises_when_the_handler_fails(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        import pytest
        from emulator.testing import SinkError

        async def test_handler_bug(broadcast_emulator, webhook_sink):
            webhook_sink.on(state="ringing")(lambda event: 1 / 0)
            await broadcast_emulator.create_broadcast(["919876540000"], event_url=webhook_sink.url)
            with pytest.raises(SinkError, match="ZeroDivisionError"):
                await webhook_sink.wait_for(state="disconnected")
            webhook_sink._state.errors.clear()  # handled here, so teardown stays quiet
        """
    )
    pytester.runpytest(*QUIET).assert_outcomes(passed=1)


def test_strict_mode_works_with_the_asyncio_mark(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI.replace("auto", "strict"))
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_strict(broadcast_emulator, webhook_sink):
            await broadcast_emulator.create_broadcast(["919876540000"], event_url=webhook_sink.url)
            done = await webhook_sink.wait_for_completion()
            assert done["resultset"]["successfull_calls"] == 1
        """
    )
    pytester.runpytest(*QUIET).assert_outcomes(passed=1)


def test_marker_is_registered_and_settings_are_overridable(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makeconftest(
        """
        import pytest
        from emulator import Settings

        @pytest.fixture
        def broadcast_emulator_settings():
            return Settings(app_id="my-app", app_key="my-key", seed=3)
        """
    )
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.broadcast_emulator(seed=11)

        async def test_project_settings(broadcast_emulator):
            assert (broadcast_emulator.app_id, broadcast_emulator.app_key) == ("my-app", "my-key")
            assert broadcast_emulator.emulator.settings.seed == 11
            status, _ = await broadcast_emulator.request("GET", "broadcast/none")
            assert status == 404  # the credentials were accepted

        @pytest.mark.broadcast_emulator(clock="manual", start="2030-05-01T00:00:00Z", seed=5)
        async def test_closest_marker_wins(broadcast_emulator):
            clock = await broadcast_emulator.clock()
            assert clock["mode"] == "manual" and clock["now"].startswith("2030-05-01T00:00:00")
            assert broadcast_emulator.emulator.settings.seed == 5

        async def test_factory_starts_more(broadcast_emulator, broadcast_emulator_factory):
            other = await broadcast_emulator_factory(app_id="second")
            assert other.url != broadcast_emulator.url and other.app_id == "second"
        """
    )
    pytester.runpytest(*QUIET, "--strict-markers").assert_outcomes(passed=3)


def test_scenario_marker_loads_the_file_next_to_the_test(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    (pytester.path / "busy.yaml").write_text("world: {}\n")
    pytester.makeconftest(
        """
        import pytest
        from emulator.testing import EmulatorServer

        LOADED = []

        @pytest.fixture(autouse=True)
        def record_loads(monkeypatch):
            async def load(self, path):
                LOADED.append(path)
            monkeypatch.setattr(EmulatorServer, "load_scenario", load)
            return LOADED
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.broadcast_emulator(scenario="busy.yaml")
        async def test_loaded(broadcast_emulator, record_loads):
            assert [p.name for p in record_loads] == ["busy.yaml"]
            assert record_loads[0].is_absolute() and record_loads[0].exists()
            assert broadcast_emulator.emulator.settings.scenario is None
        """
    )
    pytester.runpytest(*QUIET).assert_outcomes(passed=1)


def test_wait_for_times_out_naming_what_it_saw(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.broadcast_emulator(clock="manual")
        async def test_nothing_moves(broadcast_emulator, webhook_sink):
            await broadcast_emulator.create_broadcast(["919876540000"], event_url=webhook_sink.url)
            with pytest.raises(TimeoutError, match="state.*connected.*seen"):
                await webhook_sink.wait_for(state="connected", timeout=0.2)
        """
    )
    pytester.runpytest(*QUIET).assert_outcomes(passed=1)


def test_public_surface_of_the_kit() -> None:
    import emulator.testing
    import emulator.testing.plugin

    assert sorted(emulator.testing.__all__) == [
        "ApiError", "EmulatorClient", "EmulatorServer", "Received", "SinkError",
        "ThreadedEmulator", "WebhookSink", "event_name",
    ]  # fmt: skip
    fixtures = {"broadcast_emulator", "broadcast_emulator_factory", "broadcast_emulator_settings"}
    fixtures.add("broadcast_emulator_sync")
    hooks = {"webhook_sink", "pytest_configure", "pytest_addoption"}
    assert fixtures | hooks == set(emulator.testing.plugin.__all__)


def test_a_misspelt_setting_is_named(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.broadcast_emulator(colck="manual")
        async def test_typo(broadcast_emulator):
            pass

        @pytest.mark.broadcast_emulator(clock="sometimes")
        async def test_bad_value(broadcast_emulator):
            pass
        """
    )
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*unknown setting 'colck'; known: *clock*", "*clock='sometimes'*"])


def test_sync_fixture_reports_a_blocking_call_from_a_handler(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        def test_deadlock_is_refused(broadcast_emulator_sync):
            em = broadcast_emulator_sync
            em.sink.on(state="connected")(lambda event: em.reset())
            em.create_broadcast(["919876540000"], event_url=em.sink_url)
            em.run_until_idle()
        """
    )
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*blocking emulator call from the emulator's own thread*"])


async def test_parallel_workers_share_one_running_emulator(
    pytester: pytest.Pytester, serve: Any
) -> None:
    """pytest-xdist, four workers, one `serve` process: each test in a fresh project of its own,
    created and deleted through the control plane; the default project is never touched."""
    served = await serve("--settle-ms", "5")
    _copy_project(pytester)
    result = await asyncio.to_thread(
        pytester.runpytest_subprocess, *QUIET, "-n", "4", f"--broadcast-emulator-url={served.url}"
    )
    result.assert_outcomes(passed=7)
    async with aiohttp.ClientSession() as session:
        async with session.get(served.url + "/_emulator/projects") as resp:
            listing = await resp.json()
        async with session.get(served.url + "/_emulator/requests") as resp:
            journal = await resp.json()
        async with session.get(served.url + "/_emulator/health") as resp:
            health = await resp.json()
    assert [p["app_id"] for p in listing["projects"]] == ["emulator-app-id"]
    assert journal["requests"] == []
    assert health["projects_created"] == 7  # one per test, all of them on this emulator
    result.stdout.fnmatch_lines(["*4 workers*"])


def test_settings_a_project_cannot_have_are_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.broadcast_emulator(max_numbers=5)
        async def test_too_few(broadcast_emulator):
            pass
        """
    )
    result = pytester.runpytest(*QUIET, "--broadcast-emulator-url=http://127.0.0.1:9")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*max_numbers cannot be set per project on a running emulator*"])
