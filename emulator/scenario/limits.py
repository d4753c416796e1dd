"""What loading a scenario may cost: which files it may read, how much of each, and how large and
deep its tree may be once YAML aliases are expanded.

A scenario named on the command line reads files relative to its own folder, like any tool
(`FileAccess.local`). A scenario sent to the control plane reads none, unless the emulator was
started with `--scenario-dir DIR`; then only regular files that resolve (after symlinks and `..`)
inside DIR (`FileAccess.control`). Every file is read up to a cap, so `/dev/zero` or a huge file
stops with an error instead of filling memory.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CSV_CAP",
    "MAX_DEPTH",
    "MAX_VALUES",
    "SCENARIO_CAP",
    "FileAccess",
    "FileRefused",
    "check_tree",
    "read_capped",
]

MiB = 1024 * 1024
SCENARIO_CAP = 8 * MiB  # a scenario file
CSV_CAP = 64 * MiB  # a CSV file of numbers
MAX_VALUES = 2_000_000  # values in one scenario, YAML aliases expanded
MAX_DEPTH = 64  # nesting of lists and mappings
_CHUNK = MiB
CLOSED = (
    "scenarios sent to the control plane cannot read files; "
    "start the emulator with --scenario-dir DIR to allow files inside DIR"
)
_OUTSIDE = "the file is outside the --scenario-dir folder"
_NOT_REGULAR = "not a regular file (a device, FIFO or folder)"


class FileRefused(ValueError):
    """A file a scenario may not read, or not whole; the message never quotes its content."""


@dataclass(frozen=True, slots=True)
class FileAccess:
    """Where the files a scenario names are looked for, and which of them it may read."""

    base_dir: str = "."  # relative paths resolve here
    root: str | None = None  # every file must resolve inside this folder (already resolved)
    closed: bool = False  # no file at all

    @classmethod
    def local(cls, base_dir: str | os.PathLike[str] = ".") -> FileAccess:
        """A scenario given on the command line: any file, relative to `base_dir`."""
        return cls(os.fspath(base_dir))

    @classmethod
    def control(cls, scenario_dir: str | None) -> FileAccess:
        """A scenario sent to the control plane: files inside `scenario_dir` only, or none."""
        if not scenario_dir:
            return cls(closed=True)
        root = os.path.realpath(scenario_dir)
        return cls(root, root)

    def read(self, given: str, cap: int, what: str) -> bytes:
        """The bytes of the file a scenario names `given` (FileRefused or OSError says why)."""
        path = self.locate(given)
        try:
            return read_capped(path, cap, what, regular_only=self.root is not None)
        except FileRefused:
            raise
        except OSError as exc:
            shown = repr(given) if self.root is not None else path  # the server's folders stay
            raise FileRefused(f"cannot read {shown}: {exc.strerror or exc}") from None

    def locate(self, given: str) -> str:
        """The path to open for `given`; FileRefused when this scenario may not read it."""
        if self.closed:
            raise FileRefused(CLOSED)
        path = os.path.join(self.base_dir, given)
        if self.root is None:
            return path
        real = os.path.realpath(path)
        if os.path.commonpath([real, self.root]) != self.root:
            raise FileRefused(_OUTSIDE)
        return real


def read_capped(path: str, cap: int, what: str, regular_only: bool = False) -> bytes:
    """At most `cap` bytes of `path`; more is an error naming the limit of `what`.

    `regular_only` refuses devices, FIFOs and folders before opening them (a FIFO would block
    the open, a device never ends) and opens without following a last symlink.
    """
    if regular_only and not stat.S_ISREG(os.stat(path).st_mode):
        raise FileRefused(_NOT_REGULAR)
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
    if regular_only:
        flags |= getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    with open(os.open(path, flags), "rb", buffering=0) as handle:
        info = os.fstat(handle.fileno())
        if regular_only and not stat.S_ISREG(info.st_mode):
            raise FileRefused(_NOT_REGULAR)
        limit = f"{cap // MiB} MiB (the limit of {what})"
        if stat.S_ISREG(info.st_mode) and info.st_size > cap:
            raise FileRefused(f"larger than {limit}")
        data = bytearray()
        while len(data) <= cap and (chunk := handle.read(min(_CHUNK, cap + 1 - len(data)))):
            data += chunk
    if len(data) > cap:
        raise FileRefused(f"more than {limit}")
    return bytes(data)


def check_tree(tree: Any, max_values: int = MAX_VALUES, max_depth: int = MAX_DEPTH) -> None:
    """ValueError when `tree` (as loaded from YAML or JSON) nests deeper than `max_depth`, holds
    more than `max_values` values once shared parts (YAML aliases) are counted at every place
    they appear, or contains itself (a recursive alias). Shared parts are walked once."""
    sizes: dict[int, int] = {}  # id -> values in a container already walked
    path: list[tuple[int, Iterator[Any]]] = []
    counts: list[int] = []  # values so far in each container of `path`
    total = _enter(path, counts, tree, max_depth)
    while path:
        if total > max_values:
            raise ValueError(f"more than {max_values:,} values (YAML aliases counted where used)")
        key, containers = path[-1]
        child = next(containers, None)
        if child is None:  # this container is walked: its size goes to its parent
            path.pop()
            sizes[key] = size = counts.pop()
            if counts:
                counts[-1] += size
            continue
        if id(child) in sizes:
            counts[-1] += sizes[id(child)]
            total += sizes[id(child)]
        else:
            total += _enter(path, counts, child, max_depth)


def _enter(
    path: list[tuple[int, Iterator[Any]]], counts: list[int], container: Any, max_depth: int
) -> int:
    """Put `container` on `path`; the number of values it holds directly (itself included)."""
    if any(key == id(container) for key, _ in path):
        raise ValueError("a YAML alias refers to a value that contains it")
    if len(path) >= max_depth:
        raise ValueError(f"nested more than {max_depth} lists or mappings deep")
    values = _children(container)
    inner = [v for v in values if isinstance(v, (list, Mapping))]
    path.append((id(container), iter(inner)))
    counts.append(1 + len(values) - len(inner))
    return counts[-1]


def _children(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, list):
        return value
    return []
