"""Number sources of a scenario: a list, a CSV file, a named group, or numbers made with Faker.

Generated numbers depend only on (country, count, seed): the same scenario always dials the same
numbers. They are E.164-shaped (`+` country code, national digits) and distinct.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import re
from collections.abc import Iterator, Mapping

from emulator.api.dialects import normalise_number
from emulator.scenario.limits import CSV_CAP, FileAccess
from emulator.scenario.model import NumberSource
from emulator.scenario.ranges import is_range, range_numbers
from emulator.scenario.schema import Node

__all__ = ["COUNTRIES", "csv_numbers", "generate_numbers", "parse_source", "resolve_numbers"]

# ISO country code -> (Faker locale, calling code)
COUNTRIES: dict[str, tuple[str, str]] = {
    "AU": ("en_AU", "61"),
    "BR": ("pt_BR", "55"),
    "CA": ("en_CA", "1"),
    "DE": ("de_DE", "49"),
    "ES": ("es_ES", "34"),
    "FR": ("fr_FR", "33"),
    "GB": ("en_GB", "44"),
    "IN": ("en_IN", "91"),
    "IT": ("it_IT", "39"),
    "JP": ("ja_JP", "81"),
    "MX": ("es_MX", "52"),
    "NL": ("nl_NL", "31"),
    "US": ("en_US", "1"),
}
_EXTENSION = re.compile(r"(x|ext\.?)\s*\d+$", re.IGNORECASE)
_MAX_GENERATED = 10_000_000


def parse_source(node: Node, files: FileAccess, allow_group: bool = True) -> NumberSource:
    """`[n1, n2]`, `"n1,n2"`, `{numbers: [...]}`, `{csv: file, column: name}`,
    `{generate: {country: IN, count: 100, seed: 1}}` or `{group: name}`; `files` says where a
    CSV file is looked for and whether it may be read."""
    value = node.value
    if isinstance(value, (list, str)):
        return NumberSource("list", _number_list(node))
    keys = ("numbers", "csv", "column", "generate", "group")
    if not node.mapping(keys if allow_group else keys[:-1]):
        return NumberSource("list")
    numbers, path, generate, group = (node.get(k) for k in ("numbers", "csv", "generate", "group"))
    given = [n for n in (numbers, path, generate, group) if n is not None]
    if len(given) != 1:
        kinds = "numbers, csv, generate" + (", group" if allow_group else "")
        node.error(f"give exactly one of {kinds}")
        return NumberSource("list")
    if numbers is not None:
        return NumberSource("list", _number_list(numbers))
    if path is not None:
        return _csv_source(node, path, files)
    if group is not None:
        return NumberSource("group", group=group.text())
    assert generate is not None
    return _generate_source(generate)


def _number_list(node: Node) -> tuple[str, ...]:
    if isinstance(node.value, str):
        items = [Node(part.strip(), node.path, node.tracker) for part in node.value.split(",")]
    else:
        items = list(node.elements())
    out: list[str] = []
    for item in items:
        if is_range(item.value):  # "+15550100..+15550199": every number of the range
            out.extend(range_numbers(item))
            continue
        number = normalise_number(item.value)
        if number is None:
            item.error(f"{item.value!r} is not a phone number (4-20 digits, one leading +)")
        else:
            out.append(number)
    return tuple(out)


def _csv_source(node: Node, path: Node, files: FileAccess) -> NumberSource:
    column = node.get("column")
    source = NumberSource("csv", path=path.text(), column=column.text() if column else None)
    try:
        data = files.read(source.path, CSV_CAP, "a CSV file")
        return dataclasses.replace(source, numbers=csv_numbers(data, source.column))
    except ValueError as exc:  # read once, at load time; the message never quotes the file
        path.error(str(exc))
    return source


def _generate_source(node: Node) -> NumberSource:
    if not node.mapping(("country", "count", "seed")):
        return NumberSource("generate")
    country = node.get("country")
    count = node.get("count")
    seed = node.get("seed")
    code = country.text().upper() if country else "IN"
    if country is not None and code not in COUNTRIES:
        country.error(f"unknown country {code!r}; expected one of {', '.join(COUNTRIES)}")
    total = count.integer(0, minimum=1) if count else 0
    if count is None:
        node.error("count is required")
    elif total > _MAX_GENERATED:
        count.error(f"must be at most {_MAX_GENERATED}")
    return NumberSource(
        "generate", country=code, count=total, seed=seed.integer() if seed is not None else None
    )


def csv_numbers(data: bytes, column: str | None = None) -> tuple[str, ...]:
    """Numbers from a CSV file: the named column, or the first column; a first row that is not
    a number is a header. ValueError says which line and what is wrong, never what it holds."""
    rows = _rows(data)
    first = next(rows, None)
    if first is None:
        raise ValueError("the file has no rows")
    index = 0
    if column is not None:
        header = [cell.strip() for cell in first[1]]
        if column not in header:
            raise ValueError(f"no column {column!r} in the header (line {first[0]})")
        index = header.index(column)
    numbers = []
    for line, row in rows if column is not None else itertools.chain([first], rows):
        if index >= len(row):
            raise ValueError(f"line {line}: column {index + 1} is missing")
        number = normalise_number(row[index].strip())
        if number is None:
            if line == first[0]:
                continue  # a header
            raise ValueError(f"line {line}: column {index + 1} is not a phone number")
        numbers.append(number)
    return tuple(numbers)


def _rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every row with something in it, read as the file is walked."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"line {line}: not UTF-8 text") from None
    # newline="": the csv module sees every line ending as written (and quoted line breaks)
    handle = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    reader = csv.reader(handle)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader, None)
        except csv.Error as exc:  # its messages name the problem, not the text
            raise ValueError(f"line {reader.line_num or start}: not valid CSV ({exc})") from None
        if row is None:
            return
        if any(cell.strip() for cell in row):
            yield start, row


def generate_numbers(country: str, count: int, seed: int) -> tuple[str, ...]:
    """`count` distinct numbers of `country`, made by Faker seeded with `seed`."""
    from faker import Faker  # imported here: it costs ~0.15 s, on every start-up otherwise

    locale, calling = COUNTRIES[country]
    fake = Faker(locale)
    fake.seed_instance(seed)
    seen: dict[str, None] = {}
    while len(seen) < count:
        number = _e164(fake.phone_number(), calling)
        if number is not None:
            seen.setdefault(number)
    return tuple(seen)


def _e164(raw: str, calling: str) -> str | None:
    text = _EXTENSION.sub("", raw).replace("(0)", "")
    digits = re.sub(r"\D", "", text)
    if text.lstrip().startswith("+"):
        national = digits[len(calling) :] if digits.startswith(calling) else ""
    else:
        national = digits[2:] if digits.startswith("00") else digits
        national = national.lstrip("0")
    if not 6 <= len(national) <= 12:
        return None
    return f"+{calling}{national}"


def resolve_numbers(
    source: NumberSource, groups: Mapping[str, NumberSource], seed: int
) -> tuple[str, ...]:
    """The numbers a source stands for (a group is resolved through `groups`)."""
    if source.kind == "group":
        group = groups.get(source.group)
        if group is None:
            raise ValueError(f"unknown group {source.group!r}")
        return resolve_numbers(group, groups, seed)
    if source.kind == "generate":
        own = seed if source.seed is None else source.seed
        return generate_numbers(source.country, source.count, own)
    return source.numbers
