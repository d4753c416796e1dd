"""The wire JSON encoder writes what the standard library wrote, only faster."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.jsonwire import dump_bytes, dump_text


def reference(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize(
    "data",
    [
        {"state": "initiated", "attempt": 1, "ok": True, "none": None, "f": 1.5, "neg": -3},
        {"text": "Olá, você é um cliente especial ☎", "nested": [{"a": []}, {}]},
        {1: "int keys become strings", "b": (1, 2)},
        {"huge": 2**70, "fine": 2**40},  # beyond 64 bits: the standard library's turn
        ["a", "b"],
    ],
)
def test_same_text_as_the_standard_library(data: Any) -> None:
    assert dump_text(data) == reference(data)
    assert dump_bytes(data) == reference(data).encode("utf-8")


def test_lone_surrogates_still_fail_to_encode() -> None:
    with pytest.raises(UnicodeEncodeError):
        dump_bytes({"bad": "\ud800"})
