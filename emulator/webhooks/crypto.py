"""Webhook body encoding: plain JSON, or encrypted exactly as Node's `crypto.createDecipher` reads.

Node's legacy `createCipher(algorithm, password)` derives key and IV with OpenSSL's
`EVP_BytesToKey(MD5, no salt, one round)`; `aes256` means AES-256-CBC with PKCS#7 padding (the
other AES modes without an authentication tag work the same way). The password is the
project's APP_ID; headers `x-algoritm` (sic), `x-format` and `x-encoding` say how to decode.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.jsonwire import dump_bytes

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

__all__ = [
    "AES_CIPHERS",
    "BodyEncoder",
    "decode_webhook",
    "evp_bytes_to_key",
    "node_decrypt",
    "node_encrypt",
]

_KEY_BYTES = {"128": 16, "192": 24, "256": 32}
_MODES = ("cbc", "ecb", "cfb", "cfb8", "ofb", "ctr")
_BLOCK_MODES = frozenset({"cbc", "ecb"})  # padded with PKCS#7; the others are stream modes


def _names() -> dict[str, tuple[int, str]]:
    names = {f"aes{bits}": (size, "cbc") for bits, size in _KEY_BYTES.items()}
    for bits, size in _KEY_BYTES.items():
        for mode in _MODES:
            names[f"aes-{bits}-{mode}"] = (size, mode)
    return names


# OpenSSL names Node's createCipher/createDecipher accept for AES without an auth tag:
# lower-case name -> (key bytes, mode). Node matches them without regard to case.
AES_CIPHERS: dict[str, tuple[int, str]] = _names()
FORMATS = ("base64", "hex")


def evp_bytes_to_key(password: bytes, key_len: int, iv_len: int = 16) -> tuple[bytes, bytes]:
    """OpenSSL's EVP_BytesToKey with MD5, no salt and one iteration."""
    derived = prev = b""
    while len(derived) < key_len + iv_len:
        prev = hashlib.md5(prev + password).digest()
        derived += prev
    return derived[:key_len], derived[key_len : key_len + iv_len]


def _legacy_mode(name: str) -> Any:
    """CFB, CFB8 and OFB live in cryptography's `decrepit` package from version 47 on."""
    try:
        module = importlib.import_module("cryptography.hazmat.decrepit.ciphers.modes")
    except ImportError:  # older cryptography
        module = importlib.import_module("cryptography.hazmat.primitives.ciphers.modes")
    return getattr(module, name)


def _mode(mode: str, iv: bytes) -> modes.Mode:
    # cryptography is imported when a cipher is first built, not when the emulator starts
    from cryptography.hazmat.primitives.ciphers import modes

    if mode == "cbc":
        return modes.CBC(iv)
    if mode == "ecb":
        return modes.ECB()
    if mode == "ctr":
        return modes.CTR(iv)
    legacy: modes.Mode = _legacy_mode({"cfb": "CFB", "cfb8": "CFB8", "ofb": "OFB"}[mode])(iv)
    return legacy


def _cipher(algorithm: str, password: str) -> tuple[Cipher[Any], bool]:
    """The cipher Node builds for `createCipher(algorithm, password)`, and whether it pads."""
    found = AES_CIPHERS.get(algorithm.lower())
    if found is None:
        raise ValueError(
            f"unsupported webhook cipher {algorithm!r}; use one of {sorted(AES_CIPHERS)}"
        )
    key_len, mode = found
    key, iv = evp_bytes_to_key(password.encode("utf-8"), key_len, 0 if mode == "ecb" else 16)
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    return Cipher(algorithms.AES(key), _mode(mode, iv)), mode in _BLOCK_MODES


def node_encrypt(plaintext: bytes, algorithm: str, password: str, fmt: str = "base64") -> str:
    """What Node's `createCipher(algorithm, password)` produces, as `fmt` text."""
    cipher, padded = _cipher(algorithm, password)
    return _encrypt(cipher, padded, plaintext, fmt)


def _encrypt(cipher: Cipher[Any], padded: bool, plaintext: bytes, fmt: str) -> str:
    if padded:
        from cryptography.hazmat.primitives import padding

        padder = padding.PKCS7(128).padder()
        plaintext = padder.update(plaintext) + padder.finalize()
    encryptor = cipher.encryptor()
    raw = encryptor.update(plaintext) + encryptor.finalize()
    return raw.hex() if fmt == "hex" else base64.b64encode(raw).decode("ascii")


def node_decrypt(ciphertext: str, algorithm: str, password: str, fmt: str = "base64") -> bytes:
    """What Node's `createDecipher(algorithm, password)` recovers from `fmt` text."""
    raw = bytes.fromhex(ciphertext) if fmt == "hex" else base64.b64decode(ciphertext)
    cipher, padded = _cipher(algorithm, password)
    decryptor = cipher.decryptor()
    plain = decryptor.update(raw) + decryptor.finalize()
    if not padded:
        return plain
    from cryptography.hazmat.primitives import padding

    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(plain) + unpadder.finalize()


@dataclass(frozen=True, slots=True)
class BodyEncoder:
    """Turns an event into (body bytes, headers) for the wire."""

    algorithm: str = "none"
    password: str = ""
    fmt: str = "base64"
    # the same for every delivery, so built once: the headers (callers only read them) and the
    # cipher (a `Cipher` is a factory of contexts: the key is derived once, not per delivery)
    _headers: dict[str, str] = field(init=False, repr=False, compare=False)
    _aes: tuple[Cipher[Any], bool] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # an unknown cipher fails here, at start-up, not per delivery
        cipher = _cipher(self.algorithm, self.password) if self.enabled else None
        object.__setattr__(self, "_aes", cipher)
        if self.fmt not in FORMATS:
            raise ValueError(f"webhook format must be one of {FORMATS}, not {self.fmt!r}")
        headers = {"Content-Type": "application/json"}
        if self.enabled:
            headers["x-algoritm"] = self.algorithm
            headers["x-algorithm"] = self.algorithm
            headers["x-format"] = self.fmt
            headers["x-encoding"] = "utf8"
        object.__setattr__(self, "_headers", headers)

    @property
    def enabled(self) -> bool:
        return self.algorithm.lower() != "none"

    def encode(self, event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        plain = dump_bytes(event)
        if not self.enabled:
            return plain, self._headers
        assert self._aes is not None
        data = _encrypt(*self._aes, plain, self.fmt)
        return json.dumps({"encrypted_data": data}).encode("ascii"), self._headers


def decode_webhook(
    raw: bytes, headers: Mapping[str, str], password: str | None
) -> tuple[dict[str, Any], bool]:
    """Undo `BodyEncoder.encode`: the JSON event of a delivery body, decrypted with `password`
    (the APP_ID) if it is encrypted.

    Returns `(event, encrypted)`; raises ValueError, KeyError or TypeError on an unreadable body.
    """
    body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    if not isinstance(body, dict):
        raise ValueError("body is not a JSON object")
    if "encrypted_data" not in body:
        return body, False
    if password is None:
        raise ValueError("encrypted webhook, but no APP_ID to decrypt it")
    algorithm = headers.get("x-algoritm") or headers.get("x-algorithm") or "aes256"
    fmt = headers.get("x-format", "base64")
    plain = node_decrypt(body["encrypted_data"], algorithm, password, fmt)
    event = json.loads(plain.decode(headers.get("x-encoding", "utf8").replace("utf8", "utf-8")))
    if not isinstance(event, dict):
        raise ValueError("decrypted body is not a JSON object")
    return event, True
