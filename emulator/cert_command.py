"""The `broadcast-emulator cert` subcommand: the CLI face of `emulator.tls`.

`emulator.tls` (and `cryptography.x509`) is imported only when the command runs, so that
`serve` does not pay for it at start-up.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from emulator.tls import DEFAULT_HOSTS, write_certificates

    hosts = tuple(args.hosts or DEFAULT_HOSTS)
    paths = write_certificates(args.out, hosts, local=not args.no_local)
    print(f"CA certificate (trust this): {paths.ca_cert}")
    print(f"server certificate: {paths.server_cert} for {', '.join(hosts)}")
    app_id, app_key = args.app_id or "YOUR_APP_ID", args.app_key or "YOUR_APP_KEY"
    print(
        f"serve with: broadcast-emulator serve --port 443 --tls-cert {paths.server_cert} "
        f"--tls-key {paths.server_key} --app-id {shlex.quote(app_id)} "
        f"--app-key {shlex.quote(app_key)}"
    )
    if not (args.app_id and args.app_key):
        print(
            "  --app-id/--app-key must be the APP_ID and APP_KEY your client sends "
            "(any other pair gets 401)"
        )
    print(f"Node clients: NODE_EXTRA_CA_CERTS={paths.ca_cert}; see docs/drop-in.md")
    return 0


def register(commands: Any) -> None:
    """Add the `cert` subcommand to the CLI's subparsers."""
    parser = commands.add_parser(
        "cert", help="write a local CA and a server certificate for drop-in HTTPS"
    )
    parser.add_argument(
        "--host",
        dest="hosts",
        action="append",
        metavar="NAME",
        help="host name or IP the certificate is for; repeat for more (default api.enablex.io)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="directory to write into")
    parser.add_argument(
        "--no-local",
        action="store_true",
        help="do not add localhost, 127.0.0.1 and ::1 to the certificate",
    )
    for flag, what in (("--app-id", "APP_ID"), ("--app-key", "APP_KEY")):
        parser.add_argument(
            flag, metavar=what, help=f"the {what} your client sends, put in the printed serve line"
        )
    parser.set_defaults(run=_run)
