"""Tag values as video containers write them: timestamps and ISO 6709 positions."""

from __future__ import annotations

import re
from datetime import datetime

from provenance.errors import BadInput
from provenance.geo import coords


def parse_iso6709(text: str | None) -> tuple[float, float, float | None] | None:
    """(latitude, longitude, altitude in metres or None) in decimal degrees, else None.

    The one ISO 6709 parser is provenance.geo.coords; a tag that is not a position is
    simply no position here.
    """
    if not text:
        return None
    try:
        lat, lon, alt = coords.parse_iso6709(text)
    except BadInput:
        return None
    return round(lat, 7), round(lon, 7), alt


def parse_datetime(text: str | None) -> str | None:
    """An ISO 8601 timestamp normalised (offset kept, "Z" as +00:00), or None.

    Zero dates (1904/1970 epochs that muxers write when nothing was recorded) count as none.
    """
    if not text:
        return None
    cleaned = text.strip().replace(" ", "T", 1)
    cleaned = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", cleaned)  # +0900 -> +09:00
    try:
        moment = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.year <= 1970:
        return None
    timespec = "microseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=timespec)
