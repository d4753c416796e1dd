"""The `broadcast-emulator` command: `serve` (and the subcommands that build on it)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import ssl
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from aiohttp import web

from emulator import __version__, cert_command, listen_command, tail_command
from emulator.app import EMULATOR, PROJECTS, EmulatorRunner, create_app
from emulator.config import OPTIONS, Settings, load_settings
from emulator.errors import StateError
from emulator.replay import commands as scenario_commands
from emulator.serving import (
    banner,
    check_listen,
    display_url,
    raise_fd_limit,
    ssl_context,
    tune_collector,
)

if TYPE_CHECKING:
    from emulator.scenario.model import Scenario

__all__ = ["build_parser", "display_url", "main", "serve"]

log = logging.getLogger("emulator")
Command = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """Errors in one line (`broadcast-emulator serve: error: --clock: ...`) and a hint, instead of
    argparse's usage dump; subcommand parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument ([^:]+): ", r"\1: ", message)
        self.exit(2, f"{self.prog}: error: {message}\nrun '{self.prog} --help' for the options\n")


def _flag_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse` for argparse: its ValueError message is shown as it is, after the flag."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (ValueError, TypeError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _metavar(name: str) -> str:
    """`--webhook-timeout-s SECONDS`, `--settle-ms MS`, `--journal-size SIZE`."""
    unit = name.rsplit("_", 1)[-1]
    return {"s": "SECONDS", "ms": "MS"}.get(unit, unit.upper())


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    for option in OPTIONS:
        help_text = f"{option.help} [env {option.env}]"
        if option.flag_value:
            parser.add_argument(
                option.flag, dest=option.name, action="store_const", const=True, help=help_text
            )
        elif option.repeat:
            parser.add_argument(
                option.flag, dest=option.name, action="append", type=option.parse, help=help_text
            )
        else:
            parser.add_argument(
                option.flag,
                dest=option.name,
                type=_flag_type(option.parse),
                metavar=_metavar(option.name),
                help=help_text,
            )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="broadcast-emulator",
        description="A local emulator of the EnableX Voice Message Broadcast API.",
    )
    parser.add_argument("--version", action="version", version=f"broadcast-emulator {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve_parser = commands.add_parser("serve", help="serve the emulated API")
    _add_serve_options(serve_parser)
    serve_parser.set_defaults(run=_run_serve)
    cert_command.register(commands)
    tail_command.register(commands)
    listen_command.register(commands)
    scenario_commands.register(commands)
    return parser


def _cli_values(args: argparse.Namespace) -> dict[str, Any]:
    values = {o.name: getattr(args, o.name, None) for o in OPTIONS}
    for option in OPTIONS:
        given = values[option.name]
        if option.repeat and given is not None:  # one tuple per flag given: join them
            values[option.name] = _joined(option.flag, [item for part in given for item in part])
    return values


def _joined(flag: str, pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    ids = [app_id for app_id, _ in pairs]
    twice = sorted({app_id for app_id in ids if ids.count(app_id) > 1})
    if twice:
        raise ValueError(f"{flag}: APP_ID {twice[0]!r} is given twice")
    return tuple(pairs)


def settings_from_args(args: argparse.Namespace) -> Settings:
    return _settings_and_scenario(args)[0]


def _settings_and_scenario(args: argparse.Namespace) -> tuple[Settings, Scenario | None]:
    """The merged settings, and the `--scenario` file loaded once for both of its uses."""
    settings = load_settings(cli=_cli_values(args))
    if not settings.scenario:
        return settings, None
    from emulator.scenario.loader import load_scenario

    scenario = load_scenario(settings.scenario)  # defaults < scenario < environment < CLI
    return load_settings(cli=_cli_values(args), scenario=scenario.settings), scenario


def _run_serve(args: argparse.Namespace) -> int:
    settings, scenario = _settings_and_scenario(args)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return asyncio.run(serve(settings, scenario=scenario))
    except StateError as exc:  # refused at start (exit 2), or not saved at shutdown (exit 3)
        print(exc, file=sys.stderr)
        return exc.exit_code


class _Stop:
    """The first SIGINT/SIGTERM asks for a graceful stop; a second one ends the process at once
    (exit 128 + signal number: 130 for Ctrl-C, 143 for SIGTERM), skipping the grace period."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()

    def __call__(self, sig: int) -> None:
        if not self.requested.is_set():
            self.requested.set()
            return
        _say(f"second {signal.Signals(sig).name}: stopped at once, without waiting or saving")
        os._exit(128 + sig)  # the state file is replaced atomically: the old one stays whole

    def install(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        installed: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # Windows, not main thread
                continue
            installed.append(sig)
        return installed


def _say(text: str) -> None:
    print(f"broadcast-emulator: {text}", file=sys.stderr, flush=True)


async def serve(
    settings: Settings,
    ready: Callable[[str], None] | None = None,
    scenario: Scenario | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM. Prints the start line (URL, credentials, clock mode), then the
    banner; a second signal while stopping ends the process at once."""
    tls = ssl_context(settings)  # before anything starts, so a bad file leaves nothing open
    await check_listen(settings.host, settings.port)  # a taken port: nothing started, no state read
    max_connections = raise_fd_limit(settings.max_connections)
    app = create_app(settings.replace(max_connections=max_connections), scenario=scenario)
    runner = EmulatorRunner(
        app, handle_signals=False, shutdown_timeout=max(0.1, settings.shutdown_grace_s)
    )
    site = await _start(runner, settings, tls)
    tune_collector()
    app[EMULATOR].listener.add_site(site)  # webhooks to its own control plane are refused
    loop = asyncio.get_running_loop()
    stop = _Stop()
    installed = stop.install(loop)
    _announce(settings, _bound_url(site, settings, tls is not None), ready)
    try:
        await stop.requested.wait()
        _say(_stopping_line(runner, settings, installed))
    finally:
        try:
            await runner.cleanup()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
    return 0


def _announce(settings: Settings, url: str, ready: Callable[[str], None] | None) -> None:
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not settings.control_token:
        log.warning("listening on %s without --control-token: anyone can reset it", settings.host)
    print("\n".join(banner(settings, url)), flush=True)
    if ready is not None:
        ready(url)


async def _start(
    runner: EmulatorRunner, settings: Settings, tls: ssl.SSLContext | None
) -> web.TCPSite:
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, ssl_context=tls)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return site


def _stopping_line(runner: EmulatorRunner, settings: Settings, installed: list[int]) -> str:
    """What the grace period waits for, e.g. "stopping: waiting up to 5 s for 12 webhook
    deliveries and 1 API request in flight, then saving state.json; Ctrl-C again to stop at
    once"."""
    waits = []
    deliveries = sum(world.dispatcher.draining for world in runner.app[PROJECTS])
    if deliveries and settings.shutdown_grace_s > 0:
        waits.append(_count(deliveries, "webhook delivery", "webhook deliveries"))
    requests = runner.requests_in_progress()
    if requests:
        waits.append(_count(requests, "API request", "API requests"))
    text = "stopping"
    if waits:
        text += (
            f": waiting up to {settings.shutdown_grace_s:g} s for {' and '.join(waits)} in flight"
        )
    if settings.state_file:
        text += f"{',' if waits else ':'} then saving {settings.state_file}"
    if (waits or settings.state_file) and signal.SIGINT in installed:
        text += "; Ctrl-C again to stop at once"
    return text


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _bound_url(site: web.TCPSite, settings: Settings, tls: bool) -> str:
    port = settings.port
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    if sockets:
        port = sockets[0].getsockname()[1]
    return display_url(settings.host, port, tls)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse has printed the error (or --help, --version)
        return exc.code if isinstance(exc.code, int) else 2
    run: Command | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 2
    try:
        return run(args)
    except KeyboardInterrupt:
        return 0
    except (ValueError, OSError) as exc:
        print(f"broadcast-emulator {args.command}: error: {exc}", file=sys.stderr)
        return 2
