"""Hypothesis strategies over the emulated API's request schemas: every dialect's keys, with right
and wrong types mixed in. Shared by the unit suite and `bench/fuzz.py`."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = ["bodies", "connect_bodies", "create_bodies", "json_values", "play_bodies", "requests"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)

phones = st.one_of(
    st.from_regex(r"\+?9[0-9]{3,14}000[1-6]", fullmatch=True),
    st.from_regex(r"\+?[0-9 ().-]{0,24}", fullmatch=True),
    st.integers(min_value=0, max_value=10**21),
    json_values,
)
urls = st.one_of(
    st.sampled_from(["http://127.0.0.1:9/hook", "https://127.0.0.1:9/", "http://127.0.0.1:9"]),
    st.sampled_from(["ftp://127.0.0.1/", "file:///etc/passwd", "javascript:x", "http://", ""]),
    st.just("http://blocked.example/hook"),
    json_values,
)
words = st.text(max_size=40)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right type, sometimes anything at all."""
    return st.one_of(strategy, strategy, strategy, json_values)


play_specs = st.fixed_dictionaries(
    {},
    optional={
        "text": _maybe(words),
        "voice": _maybe(st.sampled_from(["female", "male"])),
        "language": _maybe(st.sampled_from(["en-US", "en-IN"])),
        "prompt_name": _maybe(words),
        "prompt_ref": _maybe(words),
        "dtmf": _maybe(st.booleans()),
        "dmtf": _maybe(st.booleans()),
        "type": _maybe(st.just("tts")),
    },
)
call_params = st.fixed_dictionaries(
    {},
    optional={
        "interval_between_retries": _maybe(st.integers(0, 100)),
        "number_of_retries": _maybe(st.integers(0, 5)),
        "IntervalBetweenRetries": _maybe(st.integers(0, 100_000)),
        "NumberOfRetries": _maybe(st.integers(0, 5)),
    },
)
number_lists = st.lists(phones, max_size=6)
recipients = st.lists(
    st.fixed_dictionaries({"to": phones}, optional={"play": _maybe(play_specs)}) | phones,
    max_size=4,
)

create_bodies = st.fixed_dictionaries(
    {},
    optional={
        "application_name": _maybe(words),
        "name": _maybe(words),
        "owner_ref": _maybe(words),
        "from": _maybe(phones),
        "broadcast_numbers_array": _maybe(number_lists | st.text(max_size=40)),
        "broadcast_numbers_json": _maybe(number_lists.map(str) | words),
        "broadcastnumbersjson": _maybe(number_lists.map(str)),
        "broadcast_numbers": _maybe(st.text(max_size=60)),
        "recipients": _maybe(recipients),
        "action_on_connect": _maybe(st.fixed_dictionaries({"play": _maybe(play_specs)})),
        "call_param": _maybe(call_params),
        "retry": _maybe(st.fixed_dictionaries({}, optional={"interval": json_values})),
        "event_url": _maybe(urls),
        "call_handler_url": _maybe(urls),
        "callhandler_url": _maybe(urls),
        "custom_data": json_values,
    },
)
play_bodies = st.one_of(
    play_specs, st.fixed_dictionaries({"play": _maybe(play_specs)}, optional={"voice_id": words})
)
_pair = st.fixed_dictionaries({"from": phones, "to": phones})
connect_bodies = st.one_of(
    st.fixed_dictionaries({}, optional={"from": phones, "to": phones}),
    st.fixed_dictionaries({"connect": _maybe(_pair)}),
)
bodies = st.one_of(create_bodies, play_bodies, connect_bodies, json_values)

_ID = st.one_of(words, st.sampled_from(["undefined", "..%2F..%2Fetc", "%00", "a" * 300]))


@st.composite
def requests(draw: Any, ids: st.SearchStrategy[str] = _ID) -> tuple[str, str, Any]:
    """(method, path, JSON body or None): every route shape of the API, and some that aren't."""
    prefix = draw(st.sampled_from(["/voice/v1", "/v1"]))
    bid, vid = draw(ids), draw(ids)
    quoted_b = "".join(c if c.isalnum() or c in "-_%." else "x" for c in bid) or "x"
    quoted_v = "".join(c if c.isalnum() or c in "-_%." else "x" for c in vid) or "x"
    method, path, body = draw(
        st.sampled_from(
            [
                ("POST", "/broadcast", create_bodies),
                ("GET", f"/broadcast/{quoted_b}", st.none()),
                ("DELETE", f"/broadcast/{quoted_b}", st.none()),
                ("POST", f"/broadcast/{quoted_b}", bodies),
                ("PUT", f"/broadcast/{quoted_b}/play", play_bodies),
                ("PUT", f"/broadcast/{quoted_b}/call/{quoted_v}/play", play_bodies),
                ("PUT", f"/broadcast/{quoted_b}/call/{quoted_v}/connect", connect_bodies),
                ("DELETE", f"/broadcast/{quoted_b}/call/{quoted_v}", st.none()),
                ("PUT", f"/call/{quoted_v}/play", play_bodies),
                ("PUT", f"/call/{quoted_v}/connect", connect_bodies),
                ("PUT", f"/call/{quoted_v}/hold", bodies),
                ("PUT", f"/call/{quoted_v}/recording", bodies),
                ("DELETE", f"/call/{quoted_v}", st.none()),
                ("GET", f"/call/{quoted_v}", st.none()),
                ("PATCH", "/broadcast", bodies),
                ("GET", "/nothing", st.none()),
            ]
        )
    )
    return method, prefix + path, draw(body)
