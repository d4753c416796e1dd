"""Webhook body encoding: plain JSON, or encrypted exactly as Node's `crypto.createDecipher` reads.

Node's legacy `createCipher(algorithm, password)` derives key and IV with OpenSSL's
`EVP_BytesToKey(MD5, no salt, one round)` and uses CBC with PKCS#7 padding. The password is the
project's APP_ID; headers `x-algoritm` (sic), `x-format` and `x-encoding` say how to decode.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from emulator.jsonwire import dump_bytes

__all__ = ["AES_CIPHERS", "BodyEncoder", "evp_bytes_to_key", "node_decrypt", "node_encrypt"]

# OpenSSL names Node accepts for AES-CBC, with the key length each implies.
AES_CIPHERS: dict[str, int] = {
    "aes128": 16,
    "aes-128-cbc": 16,
    "aes192": 24,
    "aes-192-cbc": 24,
    "aes256": 32,
    "aes-256-cbc": 32,
}
FORMATS = ("base64", "hex")


def evp_bytes_to_key(password: bytes, key_len: int, iv_len: int = 16) -> tuple[bytes, bytes]:
    """OpenSSL's EVP_BytesToKey with MD5, no salt and one iteration."""
    derived = prev = b""
    while len(derived) < key_len + iv_len:
        prev = hashlib.md5(prev + password).digest()
        derived += prev
    return derived[:key_len], derived[key_len : key_len + iv_len]


def _cipher(algorithm: str, password: str) -> Cipher[modes.CBC]:
    key_len = AES_CIPHERS.get(algorithm.lower())
    if key_len is None:
        raise ValueError(
            f"unsupported webhook cipher {algorithm!r}; use one of {sorted(AES_CIPHERS)}"
        )
    key, iv = evp_bytes_to_key(password.encode("utf-8"), key_len)
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def node_encrypt(plaintext: bytes, algorithm: str, password: str, fmt: str = "base64") -> str:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = _cipher(algorithm, password).encryptor()
    raw = encryptor.update(padded) + encryptor.finalize()
    return raw.hex() if fmt == "hex" else base64.b64encode(raw).decode("ascii")


def node_decrypt(ciphertext: str, algorithm: str, password: str, fmt: str = "base64") -> bytes:
    raw = bytes.fromhex(ciphertext) if fmt == "hex" else base64.b64decode(ciphertext)
    decryptor = _cipher(algorithm, password).decryptor()
    padded = decryptor.update(raw) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


@dataclass(frozen=True, slots=True)
class BodyEncoder:
    """Turns an event into (body bytes, headers) for the wire."""

    algorithm: str = "none"
    password: str = ""
    fmt: str = "base64"

    def __post_init__(self) -> None:
        if self.enabled:
            _cipher(self.algorithm, self.password or "x")  # fail at start-up, not per delivery
        if self.fmt not in FORMATS:
            raise ValueError(f"webhook format must be one of {FORMATS}, not {self.fmt!r}")

    @property
    def enabled(self) -> bool:
        return self.algorithm.lower() != "none"

    def encode(self, event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        plain = dump_bytes(event)
        if not self.enabled:
            return plain, {"Content-Type": "application/json"}
        data = node_encrypt(plain, self.algorithm, self.password, self.fmt)
        body = json.dumps({"encrypted_data": data}).encode("ascii")
        headers = {
            "Content-Type": "application/json",
            "x-algoritm": self.algorithm,
            "x-algorithm": self.algorithm,
            "x-format": self.fmt,
            "x-encoding": "utf8",
        }
        return body, headers
