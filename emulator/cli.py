"""The `broadcast-emulator` command: `serve` (and the subcommands that build on it)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import ssl
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator import cert_command, listen_command, tail_command
from emulator.app import EmulatorRunner, create_app
from emulator.config import OPTIONS, Settings, load_settings
from emulator.scenario import commands as scenario_commands

if TYPE_CHECKING:
    from emulator.scenario.model import Scenario

__all__ = ["build_parser", "display_url", "main", "serve"]

log = logging.getLogger("emulator")
Command = Callable[[argparse.Namespace], int]


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
            parser.add_argument(option.flag, dest=option.name, type=option.parse, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="broadcast-emulator",
        description="A local emulator of the EnableX Voice Message Broadcast API.",
    )
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
    return asyncio.run(serve(settings, scenario=scenario))


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        files = settings.tls_cert + (f", {settings.tls_key}" if settings.tls_key else "")
        raise ValueError(f"cannot load --tls-cert/--tls-key ({files}): {exc}") from None
    return context


async def serve(
    settings: Settings,
    ready: Callable[[str], None] | None = None,
    scenario: Scenario | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM; prints one line with the URL, credentials and clock mode."""
    tls = _ssl_context(settings)  # before anything starts, so a bad file leaves nothing open
    app = create_app(settings, scenario=scenario)
    runner = EmulatorRunner(
        app, handle_signals=False, shutdown_timeout=max(0.1, settings.shutdown_grace_s)
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=tls)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    url = _bound_url(site, settings, tls is not None)
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not settings.control_token:
        log.warning("listening on %s without --control-token: anyone can reset it", settings.host)
    print(
        f"broadcast-emulator serving {url} (app id {settings.app_id!r}, app key "
        f"{settings.app_key!r}, clock {settings.clock.value})",
        flush=True,
    )
    if ready is not None:
        ready(url)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0


def _bound_url(site: web.TCPSite, settings: Settings, tls: bool) -> str:
    port = settings.port
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    if sockets:
        port = sockets[0].getsockname()[1]
    return display_url(settings.host, port, tls)


def display_url(host: str, port: int, tls: bool) -> str:
    """The base URL a client on this machine uses for a server bound to `host`:`port`."""
    scheme = "https" if tls else "http"
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse has printed the usage error (or --help)
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
        print(f"broadcast-emulator: error: {exc}", file=sys.stderr)
        return 2
