"""ledger/canonical.py writes exactly the bytes of the reference RFC 8785 package."""

from __future__ import annotations

import json
import random

import pytest
import rfc8785

from provenance.ledger import canonical, log

ADVERSARIAL = [
    None, True, False, 0, -0, 1, -1, 2**53 - 1, -(2**53) + 1, "", "plain",
    '"quoted" \\ back', "\b\f\n\r\t", "".join(chr(i) for i in range(0x20)), "\x7f\x80\xff",
    "é ü 中文 𝄞 😀 \u2028\u2029 \ufeff", 0.0, -0.0, 1.5, -2.25, 1e21, 1e20, 123456789.125,
    1e-7, 1e-6, 5e-324, 1.7976931348623157e308, 250.0, 0.1, 1 / 3, -1e-10, 112.0,
    # Around where Python's repr and ECMAScript switch between fixed and exponent form.
    0.0001, 0.00012345, 9.999e-5, 1234567890123456.7, 9999999999999998.0, 1e16, 1e15 + 0.5,
    -48.858844, 2.3e-5, {"lat": 50.450001, "lon": 30.523333, "radius_m": 250.0},
    [], {}, [[[]]], {"": 1}, {"b": 1, "a": 2, "A": 3, "_": 4, "aa": 5, "a\x00": 6},
    {"\ue000": 1, "😀": 2, "é": 3, "z": 4, "\uffff": 5, "𝄞": 6},
    {"k": [1, "x", None, {"n": 2.5, "m": [True, False]}]},
]


@pytest.mark.parametrize("value", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_adversarial_values(value):
    assert canonical.dumps(value) == rfc8785.dumps(value).decode("utf-8")


@pytest.mark.parametrize("value", [2**53, -(2**53), float("nan"), float("inf"), {1: 2},
                                   "\ud800", {"\udc00": 1}, object()])
def test_what_rfc8785_refuses_is_refused(value):
    with pytest.raises((ValueError, rfc8785.CanonicalizationError)):
        rfc8785.dumps(value)
    with pytest.raises(ValueError):
        canonical.dumps(value)


def _random(rng: random.Random, depth: int = 0):  # type: ignore[no-untyped-def]
    kind = rng.randrange(8 if depth < 4 else 5)
    alphabet = ["a", "Z", "0", " ", '"', "\\", "\n", "\x01", "\x1f", "é", "中", "😀", "\ue000",
                "\uffff", "𝄞", "\x7f"]
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randint(-(2**53) + 1, 2**53 - 1)
    if kind == 2:
        return rng.choice([rng.uniform(-1e6, 1e6), rng.random() * 10 ** rng.randint(-30, 30),
                           float(rng.randint(-10**6, 10**6)), round(rng.uniform(-90, 90), 7)])
    if kind in (3, 4):
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
    if kind == 5:
        return [_random(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {"".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 5))):
            _random(rng, depth + 1) for _ in range(rng.randrange(6))}


def test_random_values():
    rng = random.Random(8785)
    for _ in range(5000):
        value = _random(rng)
        assert canonical.dumps(value) == rfc8785.dumps(value).decode("utf-8"), value


def test_every_event_of_a_real_log(prov, db, tmp_path):
    from fixtures import media

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.jpg").write_bytes(media.jpeg_with_exif(500 + i, size=(200, 150)))
    assert prov("add", str(folder), "--case", "c", "--note", "é 😀\n").exit_code == 0
    from provenance.ledger.db import connect

    for (payload,) in connect(db).execute("SELECT payload FROM events"):
        body = json.loads(payload)
        assert canonical.dumps(body) == rfc8785.dumps(body).decode("utf-8") == payload
        assert log.canonical(body) == payload


@pytest.mark.parametrize("text", [
    '{"a":1,"b":2}', '{"b":1,"a":2}', '{"a":1.0}', '{"a":1}', '{"a":1e2}', '{"a":100}',
    '{"a":"\\u00e9"}', '{"a":"é"}', '{"a": 1}', '{"a":9007199254740993}', '{"a":"\\u001F"}',
    '{"a":"\\u001f"}', '{"é":1,"z":2}', '{"z":2,"é":1}', '{"a":NaN}', '[1,2]', '"x"',
])
def test_loads_accepts_exactly_the_canonical_texts(text):
    ours, reference = _accepted(text)
    assert ours == reference


def _accepted(text: str) -> tuple[bool, bool]:
    """Whether loads() accepts the text, and whether it is the reference's canonical form."""
    try:
        reference = rfc8785.dumps(json.loads(text)).decode("utf-8") == text
    except (ValueError, rfc8785.CanonicalizationError):
        reference = False
    try:
        canonical.loads(text)
        ours = True
    except ValueError:
        ours = False
    return ours, reference


def test_loads_agrees_with_the_reference_on_floats_and_long_integers():
    """loads() checks most floats and integers without the reference package: every text
    it accepts must be the reference's, and every reference text accepted."""
    rng = random.Random(20)
    values: list[float | int] = [1e-4, 9.999e-5, 1e16, 1e16 - 2, 2**53 - 1.5, 0.5, 1e-7, 1e21]
    for _ in range(4000):
        values.append(rng.choice([
            rng.uniform(-1e6, 1e6), rng.random() * 10 ** rng.randint(-12, 22),
            round(rng.uniform(-90, 90), rng.randint(0, 9)), rng.randint(-(2**60), 2**60)]))
    for value in values:
        for text in {json.dumps({"v": value, "s": "x"}, separators=(",", ":")),
                     '{"s":"x","v":' + repr(value) + "}", '{"s":"x","v":' + str(value) + "}"}:
            ours, reference = _accepted(text)
            assert ours == reference, text
        body = {"s": "1234567890123456", "v": value, "n": rng.randint(-(2**54), 2**54)}
        try:
            text = rfc8785.dumps(body).decode("utf-8")
        except rfc8785.CanonicalizationError:
            continue
        try:
            reference = json.loads(text) if rfc8785.dumps(json.loads(text)).decode() == text \
                else "refused"
        except (ValueError, rfc8785.CanonicalizationError):
            reference = "refused"  # 1e16 is written 10000000000000000: beyond 2**53 read back
        try:
            ours = canonical.loads(text)
        except ValueError:
            ours = "refused"
        assert ours == reference, text
