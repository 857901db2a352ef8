"""Parse a latitude/longitude written the ways investigators and devices write them."""

from __future__ import annotations

import math
import re

from provenance.errors import BadInput

FORMS = (
    "use decimal degrees (43.35, 133.36), degrees-minutes-seconds "
    "(43°21′N 133°21′E or 43°21'12\"N 133°21'30\"E), hemisphere letters (N43.35 E133.36) "
    "or ISO 6709 (+43.3491+133.3597/)"
)
ACCEPTED = f"not coordinates; {FORMS}"

# Typographic and keyboard variants of the degree, minute and second marks.
_MARKS = str.maketrans(
    {"º": "°", "˚": "°", "′": "'", "’": "'", "‘": "'", "´": "'", "″": '"', "”": '"', "“": '"'}
)
_NUM = r"\d+(?:\.\d+)?"
_ANGLE = rf"""
    (?P<sign{{n}}>[+-])?\s*
    (?P<deg{{n}}>{_NUM})\s*(?:°|deg\b)?\s*
    (?:(?P<min{{n}}>{_NUM})\s*'\s*
       (?:(?P<sec{{n}}>{_NUM})\s*(?:"|'')\s*)?
    )?
"""
_PRE = r"(?P<pre{n}>[NSEW])\s*"
_POST = r"(?P<post{n}>[NSEW])"
_SEP = r"\s*[,;/]?\s*"
_SEP_REQUIRED = r"(?:\s*[,;/]\s*|\s+)"  # without letters, "43.35" must not split into 4 and 3.35


def _pair(half: str, sep: str = _SEP) -> re.Pattern[str]:
    return re.compile(half.format(n=1) + sep + half.format(n=2), re.VERBOSE | re.IGNORECASE)


# Letters lead ("N43.35 E133.36"), trail ("43°21′N 133°21′E") or are absent; trying
# each style whole keeps "N43.35 E133.36" from reading as "N43.35E" + "133.36".
_PAIRS = (_pair(_ANGLE, _SEP_REQUIRED), _pair(_PRE + _ANGLE), _pair(_ANGLE + _POST))
_ISO6709 = re.compile(
    r"(?P<lat>[+-]\d+(?:\.\d*)?)(?P<lon>[+-]\d+(?:\.\d*)?)(?P<alt>[+-]\d+(?:\.\d*)?)?"
    r"(?:CRS:?[A-Za-z0-9_]+)?/?"
)


def parse_coords(text: str) -> tuple[float, float]:
    """(latitude, longitude) in decimal degrees; BadInput names the text and the accepted forms."""
    from geopy.point import Point

    raw = text.strip().translate(_MARKS)
    if _ISO6709.fullmatch(raw):
        lat, lon, _ = parse_iso6709(raw)
    else:
        lat, lon = _parse_pair(text, raw)
    _check_range(text, lat, lon)
    # Range is checked first because Point wraps an out-of-range longitude silently.
    point = Point(lat, lon)
    return point.latitude, point.longitude


def parse_iso6709(text: str) -> tuple[float, float, float | None]:
    """(latitude, longitude, altitude or None) from ISO 6709, as QuickTime/MP4 ©xyz stores it."""
    match = _ISO6709.fullmatch(text.strip())
    if match is None:
        raise BadInput(text, ACCEPTED)
    lat = _iso_angle(text, match["lat"], degree_digits=2)
    lon = _iso_angle(text, match["lon"], degree_digits=3)
    _check_range(text, lat, lon)
    return lat, lon, float(match["alt"]) if match["alt"] else None


def _iso_angle(text: str, field: str, *, degree_digits: int) -> float:
    """±DD.D, ±DDMM.M or ±DDMMSS.S (three degree digits for longitude)."""
    sign = -1.0 if field[0] == "-" else 1.0
    whole, _, frac = field[1:].partition(".")
    frac = f".{frac}" if frac else ""
    n = len(whole)
    if n <= degree_digits:
        value = float(whole + frac)
    elif n == degree_digits + 2:
        value = _dms(text, float(whole[:-2]), float(whole[-2:] + frac), 0.0)
    elif n == degree_digits + 4:
        value = _dms(text, float(whole[:-4]), float(whole[-4:-2]), float(whole[-2:] + frac))
    else:
        raise BadInput(text, ACCEPTED)
    return sign * value


def _parse_pair(text: str, raw: str) -> tuple[float, float]:
    match = next((m for m in (p.fullmatch(raw) for p in _PAIRS) if m), None)
    if match is None:
        raise BadInput(text, ACCEPTED)
    groups = match.groupdict()
    values: list[float] = []
    letters: list[str | None] = []
    for n in (1, 2):
        pre, post, sign = groups.get(f"pre{n}"), groups.get(f"post{n}"), match[f"sign{n}"]
        letter = (pre or post or "").upper() or None
        if letter and sign:
            raise BadInput(text, f"give a sign or a hemisphere letter, not both; {FORMS}")
        deg, minutes, seconds = match[f"deg{n}"], match[f"min{n}"], match[f"sec{n}"]
        if minutes is not None and "." in deg:
            raise BadInput(text, f"decimal degrees cannot also have minutes; {FORMS}")
        value = _dms(text, float(deg), float(minutes or 0), float(seconds or 0))
        if sign == "-" or letter in ("S", "W"):
            value = -value
        values.append(value)
        letters.append(letter)
    return _assign_axes(text, values, letters)


def _assign_axes(text: str, values: list[float], letters: list[str | None]) -> tuple[float, float]:
    if letters == [None, None]:
        return values[0], values[1]
    axes = ["lat" if letter in ("N", "S") else "lon" for letter in letters]
    if axes == ["lat", "lon"]:
        return values[0], values[1]
    if axes == ["lon", "lat"]:
        return values[1], values[0]
    raise BadInput(text, f"needs one of N/S and one of E/W; {FORMS}")


def _dms(text: str, degrees: float, minutes: float, seconds: float) -> float:
    if minutes >= 60 or seconds >= 60:
        raise BadInput(text, f"minutes and seconds must be below 60; {FORMS}")
    return degrees + minutes / 60 + seconds / 3600


def _check_range(text: str, lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise BadInput(text, ACCEPTED)
    if not -90 <= lat <= 90:
        raise BadInput(text, f"latitude {lat:g} is outside -90..90 (is it latitude, longitude?)")
    if not -180 <= lon <= 180:
        raise BadInput(text, f"longitude {lon:g} is outside -180..180")
