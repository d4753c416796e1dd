"""Local certificates for drop-in HTTPS: a private CA and a server certificate for chosen hosts.

`broadcast-emulator cert --host api.enablex.io --out DIR` writes `ca.pem`, `ca-key.pem`,
`server.pem` and `server-key.pem`. Serve with `--tls-cert DIR/server.pem --tls-key
DIR/server-key.pem`, map the host to the emulator in the hosts file, and tell the client's runtime
to trust `DIR/ca.pem` (docs/drop-in.md). An existing CA in DIR is reused, so it is trusted once.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEFAULT_HOSTS",
    "CertPaths",
    "make_ca",
    "make_server_cert",
    "write_certificates",
]

DEFAULT_HOSTS = ("api.enablex.io",)
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
# A fixed validity window: certificates concern wall time, which only the clock module may read,
# and the runtimes this is for (Node, Python) set no upper bound on a certificate's lifetime.
NOT_BEFORE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
NOT_AFTER = datetime.datetime(2049, 12, 31, tzinfo=datetime.UTC)


@dataclass(frozen=True, slots=True)
class CertPaths:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "broadcast-emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _key_usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca() -> tuple[ec.EllipticCurvePrivateKey, Any]:
    """A new self-signed CA: (private key, certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("broadcast-emulator local CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: Any,
    hosts: Sequence[str],
) -> tuple[ec.EllipticCurvePrivateKey, Any]:
    """A server certificate for `hosts` (DNS names or IP addresses) signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: Any) -> bytes:
    data: bytes = cert.public_bytes(serialization.Encoding.PEM)
    return data


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)


def _load_or_make_ca(paths: CertPaths) -> tuple[ec.EllipticCurvePrivateKey, Any]:
    if paths.ca_cert.exists() and paths.ca_key.exists():
        key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{paths.ca_key}: not a key written by `broadcast-emulator cert`")
        return key, x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    key, cert = make_ca()
    _write(paths.ca_key, _key_pem(key), private=True)
    _write(paths.ca_cert, _cert_pem(cert))
    return key, cert


def write_certificates(
    out: str | Path, hosts: Sequence[str] = DEFAULT_HOSTS, local: bool = True
) -> CertPaths:
    """Write (or reuse) the CA in `out` and a fresh server certificate for `hosts`."""
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    paths = CertPaths(
        directory / "ca.pem",
        directory / "ca-key.pem",
        directory / "server.pem",
        directory / "server-key.pem",
    )
    names = [*hosts, *(LOCAL_NAMES if local else ())]
    if not names:
        raise ValueError("at least one --host is needed")
    ca_key, ca_cert = _load_or_make_ca(paths)
    key, cert = make_server_cert(ca_key, ca_cert, names)
    _write(paths.server_key, _key_pem(key), private=True)
    _write(paths.server_cert, _cert_pem(cert))
    return paths
