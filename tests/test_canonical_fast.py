"""canonical.loads' orjson path proves only what the exact path would accept, with the same
values: every code point's escape, floats at every magnitude, and generated texts both
canonical and not (key order, float forms, escapes, spacing, long integers)."""

from __future__ import annotations

import json
import math
import random
import struct
from typing import Any

import orjson
import pytest
import rfc8785

from provenance.ledger import canonical, replaycheck
from tests.test_canonical import _random


def _typed(value: Any) -> Any:
    """The value with every number's type kept, so 1 and 1.0 (or True) never compare equal."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, repr(value))


def _verdict(fn: Any, text: str) -> Any:
    try:
        return _typed(fn(text))
    except ValueError:
        return "refused"


def test_orjson_escapes_every_code_point_as_the_json_module_does():
    differ = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF
              and orjson.dumps(chr(cp)).decode("utf-8") != json.encoder.encode_basestring(chr(cp))]
    assert differ == []


def _floats(rng: random.Random, count: int) -> list[float]:
    found = [1e-7, 5e-7, 1e-6, 1.5e-6, 9.999e-6, 1e-5, 1e-4, 0.1, 0.5, 1e15, 1e15 + 0.5,
             1e16, 1.5e16, 1e20, 1e21, 1e22, 5e-324, 1.7976931348623157e308, 2.0**53, 112.0,
             -0.0, 0.0, 42.482282, -48.858844]
    while len(found) < count:
        f = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(f):
            found += [f, rng.uniform(-1e3, 1e3), round(rng.uniform(-180, 180), rng.randint(0, 9)),
                      rng.random() * 10.0 ** rng.randint(-12, 24)]
    return found


def test_orjson_floats_outside_the_screened_forms_are_ecmascripts():
    """Every float orjson writes either shows one of the screened forms (exponent, '.0') or
    is RFC 8785's text, and reads back to the same float."""
    screened = 0
    for f in _floats(random.Random(8785), 200_000):
        text = orjson.dumps(f)
        if canonical._INTEGRAL_FLOAT.search(text) or canonical._EXPONENT.search(text):
            screened += 1
            continue
        assert text == rfc8785.dumps(f), f
        assert orjson.loads(text) == f and float(text) == f
    assert screened > 1000  # the screens were exercised, not vacuous


def _texts(rng: random.Random, value: Any) -> list[str]:
    """The canonical text of `value` (when there is one) and near misses of it."""
    texts = [json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False),
             json.dumps(value, sort_keys=True), json.dumps(value, separators=(",", ":"))]
    try:  # what orjson itself writes: the texts its round trip would take for canonical
        texts.insert(0, orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8"))
    except TypeError:  # an integer beyond 64 bits
        pass
    try:
        texts.append(rfc8785.dumps(value).decode("utf-8"))
    except (rfc8785.CanonicalizationError, ValueError, TypeError):
        pass
    if rng.random() < 0.5:
        texts.append(texts[0].replace(":", ": ", 1))
    return texts


@pytest.mark.parametrize("seed", range(4))
def test_the_fast_path_agrees_with_the_exact_path(seed):
    rng = random.Random(seed)
    nasty = [{"v": f} for f in _floats(rng, 400)] + [
        {"\ue000": 1, "😀": 2}, {"😀": 2, "\ue000": 1}, {"\uffff": 0, "𝄞": 1, "a": "\u2028\u2029"},
        {"n": 2**53 - 1}, {"n": 2**53}, {"n": -(2**53)}, {"n": 2**64}, {"n": -0.0},
        {"s": "\x00\x1f\x7f\"\\/"}, {"s": "v1.0", "t": "3e-5", "u": "1e+16"}, [1.0], 100.0,
    ]
    values = nasty + [_random(rng) for _ in range(1500)]
    proven = 0
    for value in values:
        for text in _texts(rng, value):
            fast, exact = _verdict(canonical.loads, text), _verdict(canonical._checked_loads, text)
            assert fast == exact, text
            ok, body = canonical._fast_loads(text)
            if ok:
                proven += 1
                assert rfc8785.dumps(body).decode("utf-8") == text
    assert proven > 1000


@pytest.mark.parametrize("seed", range(2))
def test_the_replays_reading_of_an_accepted_payload_is_the_checks(seed):
    """The full verify's replay reads payloads without the canonical check (its worker
    makes it, ledger/chainworker.py): for every text the check accepts, the same values of
    the same types, from bytes as the replay reads them."""
    rng = random.Random(100 + seed)
    values = [{"v": f} for f in _floats(rng, 300)] + [
        {"\ue000": 1, "😀": 2}, {"n": 2**53 - 1}, {"s": "v1.0", "t": "3e-5", "u": "1e+16"},
        {"v": 1e21}, {"v": 1e-7}, {"v": -5e-324}, {"v": 1.7976931348623157e308},
    ] + [_random(rng) for _ in range(1500)]
    accepted = 0
    for value in values:
        for text in _texts(rng, value):
            checked = _verdict(canonical.loads, text)
            if checked != "refused":
                accepted += 1
                assert _typed(replaycheck.event_value(text.encode("utf-8"))) == checked, text
    assert accepted > 1000


@pytest.mark.parametrize("text", [
    '{"v":1.0}', '{"v":-0.0}', '{"v":1e+16}', '{"v":1.5e-6}', '{"v":1e-6}', '100.0',
    '{"\ue000":1,"😀":2}', '{"a":"\\u00e9"}', '{"a":"\\ud800"}', '{"n":9007199254740992}',
    '{"n":18446744073709551616}', '{"a":1,"a":2}', '{"a":1} ', '\ufeff{"a":1}',
])
def test_texts_orjson_writes_back_but_rfc8785_does_not_are_refused(text):
    assert canonical._fast_loads(text) == (False, None)
    with pytest.raises(ValueError):
        canonical.loads(text)
