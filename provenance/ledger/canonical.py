"""RFC 8785 canonical JSON, byte for byte as the `rfc8785` package writes it, but faster.

Every event is serialised once when recorded and once more on every `prov verify`; the
reference package writes each string through a regular expression into a BytesIO, which made
serialisation most of the cost of recording and of verifying. Here strings are escaped by
the json module's C encoder, whose escapes (\\" \\\\ \\b \\f \\n \\r \\t, \\u00XX lower-case
for the other control characters, everything else as is) are exactly RFC 8785's; numbers
other than integers go to the reference package. tests/test_canonical.py compares the two on
adversarial and random values and on every event of a real log.
"""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring
from typing import Any

import orjson

_INT_MAX = 2**53 - 1


class NotCanonical(ValueError):
    """A value RFC 8785 cannot represent (a huge integer, NaN, a non-string key, ...)."""


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            allow_nan=False)


class _Unsafe(Exception):
    """The json module's output may differ from RFC 8785's for this value."""


def _no_float(text: str) -> float:
    raise _Unsafe


def _plain_float(text: str) -> float:
    """A float the C encoder wrote as RFC 8785 (ECMAScript) does, else _Unsafe.

    The encoder writes float.__repr__: the shortest digits that read back to the value, as
    ECMAScript's Number::toString chooses them. The two differ only in the exponent form
    (Python from 1e16 and below 1e-4, ECMAScript from 1e21 and below 1e-6) and in integral
    values ("112.0" against "112", "-0.0" against "0"); text with neither is the same bytes.
    """
    if "e" in text or "E" in text or text.endswith(".0"):
        raise _Unsafe
    return float(text)


def _safe_int(text: str) -> int:
    number = int(text)
    if number > _INT_MAX or number < -_INT_MAX:
        raise _Unsafe
    return number


def dumps(value: Any) -> str:
    """The canonical JSON text of `value`.

    Fast path: the json module's C encoder, whose output is RFC 8785's exactly when the text
    is ASCII (keys then sort the same by code point as by UTF-16 unit), holds no float written
    in exponent form or as an integral value (see _plain_float) nor an integer beyond
    2**53 - 1, and reads back equal to `value` (no key turned into a string, no tuple).
    Anything else takes the exact path below.
    """
    try:
        text = _ENCODER.encode(value)
        if text.isascii() and json.loads(text, parse_float=_plain_float, parse_int=_safe_int,
                                         parse_constant=_no_float) == value:
            return text
    except (_Unsafe, TypeError, ValueError):
        pass
    return _exact(value)


# orjson, asked to sort keys and to refuse integers beyond 2**53 - 1, writes RFC 8785's
# bytes except in three places, each ruled out below before its answer is taken:
# - floats in exponent form ("1e+16", "1.5e-6": ECMAScript writes 10000000000000000 and
#   0.0000015) and integral floats ("112.0", "-0.0": ECMAScript writes 112 and 0). Its
#   exponents always carry a sign and its integral floats end in ".0", so a text with
#   neither pattern holds only floats in fixed notation with a fraction, written with the
#   shortest digits that read back, which is ECMAScript's form too. (The patterns may also
#   match inside a string, e.g. "v1.0": such a text only takes the exact path.)
# - keys ordered by code point, where RFC 8785 orders by UTF-16 code units: the two differ
#   only between characters above U+FFFF and those in U+E000-U+FFFF, so a text with no
#   4-byte UTF-8 sequence (lead byte F0-F4) is ordered the same either way.
# Its string escapes are the json module's (every code point compared in
# tests/test_canonical_fast.py), and it refuses lone surrogates, NaN and what is not JSON.
_OR_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
# Two searches, each led by a literal (which the re module finds fast), not one alternation:
# a pattern led by a character class tries every byte, several times slower on 2 KB.
_INTEGRAL_FLOAT = re.compile(rb"\.0(?![0-9])")
_EXPONENT = re.compile(rb"e[-+](?<=[0-9]e[-+])")
_ASTRAL = re.compile(rb"[\xf0-\xf4]")


def _fast_loads(text: str) -> tuple[bool, Any]:
    """(True, value) when orjson proves `text` canonical; (False, None) when it cannot say.

    Proof: orjson reads the text and writes it back byte for byte, and nothing in it is
    where orjson's output and RFC 8785's may differ (above). orjson then also read every
    number as the json module does: a float read wrongly would not be written back with the
    same shortest digits. It never refuses on its own: a text it cannot prove takes the
    exact path, which decides, with its own message.
    """
    try:
        raw = text.encode("utf-8")
        value = orjson.loads(raw)
        again = orjson.dumps(value, option=_OR_OPTIONS)
    except (ValueError, TypeError, AttributeError):  # UnicodeEncodeError is a ValueError
        return False, None
    if again != raw or _INTEGRAL_FLOAT.search(raw) is not None \
            or _EXPONENT.search(raw) is not None \
            or (not raw.isascii() and _ASTRAL.search(raw) is not None):
        return False, None
    return True, value


def loads(text: str) -> Any:
    """Parse `text`, refusing it (ValueError) unless it is the canonical JSON of its value.

    What `prov verify` does to every payload. First orjson's proof (_fast_loads: every
    event of a real log, 3x faster); what it cannot prove, _checked_loads decides.
    """
    proven, value = _fast_loads(text)
    if proven:
        return value
    return _checked_loads(text)


def _checked_loads(text: str) -> Any:
    """loads() without orjson, with one parse: when the text is ASCII, holds no integer
    beyond 2**53 - 1 and only floats the C encoder writes as RFC 8785 does, the C encoder's
    output is the canonical form. Anything else is compared with `dumps`."""
    plain = True

    def decimal(text: str) -> float:
        nonlocal plain
        value = float(text)
        # In [1e-4, 1e16) a float with a fraction is written by repr() in fixed notation with
        # the shortest digits that read back, which is ECMAScript's form too: coordinates,
        # radii and scores need not go through the reference package one by one.
        if plain and not (1e-4 <= abs(value) < 1e16 and not value.is_integer()
                          and repr(value) == text):
            plain = False
        return value

    def integer(text: str) -> int:
        nonlocal plain
        value = int(text)
        if value > _INT_MAX or value < -_INT_MAX:
            plain = False
        return value

    body = json.loads(text, parse_float=decimal, parse_int=integer, parse_constant=decimal)
    if plain and text.isascii():
        same = _ENCODER.encode(body) == text
    else:
        same = dumps(body) == text
    if not same:
        raise ValueError("payload is not canonical JSON")
    return body


def _exact(value: Any) -> str:
    parts: list[str] = []
    _dump(value, parts.append)
    text = "".join(parts)
    try:
        text.encode("utf-8")  # lone surrogates are not UTF-8: refused, as the reference does
    except UnicodeEncodeError as exc:
        raise NotCanonical("input contains non-UTF-8 codepoints") from exc
    return text


def _dump(value: Any, out: Any) -> None:
    if value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, str):
        out(encode_basestring(value))
    elif isinstance(value, bool):  # a bool subclass instance that is neither singleton
        out("true" if value else "false")
    elif isinstance(value, int):
        number = int(value)
        if number > _INT_MAX or number < -_INT_MAX:
            raise NotCanonical(f"{number} exceeds safe integer domain for JSON floats")
        out(str(number))
    elif isinstance(value, float):
        import rfc8785

        try:
            out(rfc8785.dumps(float(value)).decode("ascii"))
        except rfc8785.CanonicalizationError as exc:
            raise NotCanonical(str(exc)) from exc
    elif isinstance(value, (list, tuple)):
        out("[")
        first = True
        for element in value:
            if not first:
                out(",")
            first = False
            _dump(element, out)
        out("]")
    elif isinstance(value, dict):
        keys = list(value)
        if not all(isinstance(k, str) for k in keys):
            raise NotCanonical("object keys must be strings")
        if all(k.isascii() for k in keys):
            keys.sort()
        else:  # RFC 8785 orders keys by their UTF-16 code units, not by code points
            keys.sort(key=lambda k: k.encode("utf-16be", "surrogatepass"))
        out("{")
        first = True
        for key in keys:
            if not first:
                out(",")
            first = False
            out(encode_basestring(key))
            out(":")
            _dump(value[key], out)
        out("}")
    else:
        raise NotCanonical(f"unsupported type: {type(value)}")
