"""Dates that keep their precision: a year, a month, a day or a timestamp, exact or approximate."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from provenance.errors import BadInput

Precision = Literal["year", "month", "day", "minute", "second"]
PRECISIONS: tuple[Precision, ...] = ("year", "month", "day", "minute", "second")

FORMS = "use 2024, 2024-10, 2024-10-17 or 2024-10-17T09:30+09:00 (prefix ~ for approximate)"
ACCEPTED = f"not a date; {FORMS}"

# Real-world UTC offsets run from -12:00 to +14:00; ±14 h is the symmetric bound
# we widen by when a time was given without one, so comparisons stay honest.
UNKNOWN_OFFSET_SLACK = timedelta(hours=14)

# How far an approximate date may stray, by precision. "~2024-10" means "about
# October": we allow a month either side rather than pretend to know better.
APPROXIMATE_SLACK: dict[str, timedelta] = {
    "year": timedelta(days=366),
    "month": timedelta(days=31),
    "day": timedelta(days=1),
    "minute": timedelta(hours=1),
    "second": timedelta(hours=1),
}

_APPROX_PREFIX = re.compile(r"^(?:~|≈|circa\b\.?|ca\.|c\.|approx\.?|about\b)\s*", re.IGNORECASE)
_WHEN = re.compile(
    r"""
    (?P<year>\d{4})
    (?:-(?P<month>\d{1,2})
      (?:-(?P<day>\d{1,2})
        (?:(?:T|\s+)(?P<hour>\d{1,2}):(?P<minute>\d{2})
          (?::(?P<second>\d{2})(?P<fraction>[.,]\d{1,9})?)?
          \s*(?P<offset>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?
        )?
      )?
    )?
    """,
    re.VERBOSE | re.IGNORECASE,
)


@dataclass(frozen=True)
class When:
    """A point in time as precisely as it is known, and no more precisely."""

    text: str  # normalised ISO 8601 at the given precision, without the ~ marker
    precision: Precision
    approximate: bool
    utc_offset_known: bool

    def __str__(self) -> str:
        return f"~{self.text}" if self.approximate else self.text

    @property
    def local_only(self) -> bool:
        """A clock time with no UTC offset: local time in a zone nobody recorded."""
        return self.precision in ("minute", "second") and not self.utc_offset_known

    def display(self) -> str:
        """The date as recorded, at its own precision; a zoneless clock time says so.

        Never an instant computed from it: "2024-10" stays "2024-10", and 22:47 with no
        zone stays 22:47 rather than becoming its earliest UTC reading.
        """
        return f"{self} (local time, zone unknown)" if self.local_only else str(self)

    def midpoint(self) -> datetime:
        """The middle of the interval: the order key, since an earliest instant would put
        "~2024-10-17" before a timestamp on the 16th just because it is vaguer."""
        lo, hi = self._bounds()
        return lo + (hi - lo) / 2

    def order_key(self) -> tuple[datetime, datetime, datetime]:
        lo, hi = self._bounds()
        return lo + (hi - lo) / 2, hi, lo

    def overlaps(self, other: When) -> bool:
        """True when neither is certainly before the other: their order is uncertain."""
        return not self.is_before(other) and not other.is_before(self)

    def reading(self) -> dict[str, Any]:
        """to_json() plus how to show it: for reports, never stored in an event."""
        return {**self.to_json(), "display": self.display(),
                "zone": "local time, zone unknown" if self.local_only else None}

    def earliest(self) -> datetime:
        """The earliest UTC instant this could mean."""
        return self._bounds()[0]

    def latest(self) -> datetime:
        """The latest UTC instant this could mean (inclusive)."""
        return self._bounds()[1]

    def is_before(self, other: When) -> bool:
        """True only when every instant this could mean precedes every instant of other."""
        return self.latest() < other.earliest()

    def definitely_after(self, other: When) -> bool:
        return other.is_before(self)

    def in_future(self, now: datetime | None = None) -> bool:
        """True only when even the earliest reading of this date is later than now."""
        now = now or datetime.now(UTC)
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return self.earliest() > now

    def notes(self) -> list[str]:
        """Caveats an investigator should see beside the date."""
        notes = []
        if self.approximate:
            notes.append(f"approximate: read as ±{_describe(APPROXIMATE_SLACK[self.precision])}")
        if self.precision in ("minute", "second") and not self.utc_offset_known:
            notes.append("no UTC offset given: the instant is only known to within ±14 h")
        return notes

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "precision": self.precision,
            "approximate": self.approximate,
            "utc_offset_known": self.utc_offset_known,
            "earliest": self.earliest().isoformat(),
            "latest": self.latest().isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> When:
        """Rebuild from to_json() output; text and approximate are authoritative."""
        when = parse_when(str(data["text"]), approximate=bool(data.get("approximate", False)))
        if "precision" in data and data["precision"] != when.precision:
            raise BadInput(str(data["text"]), f"precision {data['precision']!r} does not match")
        return when

    def _bounds(self) -> tuple[datetime, datetime]:
        match = _WHEN.fullmatch(self.text)
        if match is None:  # only reachable by constructing When by hand
            raise BadInput(self.text, ACCEPTED)
        start, end, offset = _interval(match)
        if offset is None:
            slack = UNKNOWN_OFFSET_SLACK
            offset = timedelta(0)
        else:
            slack = timedelta(0)
        if self.approximate:
            slack += APPROXIMATE_SLACK[self.precision]
        lo = _shift(start - offset, -slack).replace(tzinfo=UTC)
        hi = _shift(end - offset, slack - timedelta(microseconds=1)).replace(tzinfo=UTC)
        return lo, hi


def parse_when(text: str, *, approximate: bool = False) -> When:
    """Parse an investigator's date, keeping exactly the precision they gave."""
    raw = text.strip()
    body = raw
    prefix = _APPROX_PREFIX.match(body)
    if prefix:
        approximate = True
        body = body[prefix.end() :]
    if body.endswith("?"):
        approximate = True
        body = body[:-1].rstrip()
    match = _WHEN.fullmatch(body)
    if match is None:
        raise BadInput(text, ACCEPTED)
    try:
        _interval(match)
    except ValueError as exc:
        raise BadInput(text, f"{exc}; {FORMS}") from None
    return When(
        text=_normalise(match),
        precision=_precision(match),
        approximate=approximate,
        utc_offset_known=match["offset"] is not None,
    )


def capture_when(captured_at: str | None, captured_offset: str | None = None) -> When | None:
    """An item's capture time as read: the recorded value, with an offset prov inferred
    (captured_offset, from GPS time) applied only when the value itself has none.

    None when there is no capture time or it cannot be read as a date.
    """
    if not captured_at:
        return None
    try:
        when = parse_when(captured_at)
    except BadInput:
        return None
    if when.local_only and captured_offset and re.fullmatch(r"[+-]\d{2}:\d{2}", captured_offset):
        try:
            return parse_when(when.text + captured_offset)
        except BadInput:
            return when
    return when


def when_from_exif(capture_time: str, offset: str | None = None) -> When:
    """A When from EXIF DateTimeOriginal ("2024:10:17 09:30:00") and OffsetTimeOriginal."""
    value = capture_time.strip().strip("\x00").strip()
    match = re.fullmatch(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?", value)
    if match is None or match[1] == "0000":
        raise BadInput(capture_time, "not an EXIF capture time (expected 2024:10:17 09:30:00)")
    y, mo, d, h, mi, s = match.groups()
    iso = f"{y}-{mo}-{d}T{h}:{mi}" + (f":{s}" if s is not None else "")
    tz = (offset or "").strip().strip("\x00").strip()
    if tz:
        if not re.fullmatch(r"[+-]\d{2}:\d{2}|Z", tz):
            raise BadInput(offset or "", "not an EXIF offset (expected +09:00)")
        iso += tz
    return parse_when(iso)


def _precision(match: re.Match[str]) -> Precision:
    for name, group in (("second", "second"), ("minute", "minute"), ("day", "day")):
        if match[group] is not None:
            return name  # type: ignore[return-value]
    return "month" if match["month"] is not None else "year"


def _offset(match: re.Match[str]) -> timedelta | None:
    raw = match["offset"]
    if raw is None:
        return None
    if raw.upper() in ("Z", "UTC", "GMT"):
        return timedelta(0)
    digits = raw[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if minutes >= 60 or hours * 60 + minutes > 14 * 60:
        raise ValueError(f"UTC offset {raw} is outside -14:00..+14:00")
    delta = timedelta(hours=hours, minutes=minutes)
    return -delta if raw[0] == "-" else delta


def _interval(match: re.Match[str]) -> tuple[datetime, datetime, timedelta | None]:
    """Local start, local end (exclusive) and UTC offset; ValueError names a bad field."""
    year = int(match["year"])
    month = int(match["month"] or 1)
    day = int(match["day"] or 1)
    hour = int(match["hour"] or 0)
    minute = int(match["minute"] or 0)
    second = int(match["second"] or 0)
    fraction = (match["fraction"] or "")[1:]
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} is not 1-12")
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"time {hour:02}:{minute:02}:{second:02} is not a clock time")
    try:
        start = datetime(year, month, day, hour, minute, second, int(fraction[:6].ljust(6, "0")))
    except ValueError:
        raise ValueError(f"{year:04}-{month:02} has no day {day}") from None
    precision = _precision(match)
    if precision == "year":
        end = _shift_date(year + 1, 1)
    elif precision == "month":
        end = _shift_date(year + month // 12, month % 12 + 1)
    elif fraction:
        # Sub-seconds are kept (EXIF SubSecTime): "44.9" is the tenth of a second it names,
        # so of two photos a fraction of a second apart the later is never the earlier.
        end = _shift(start, timedelta(microseconds=10 ** max(0, 6 - len(fraction))))
    else:
        step = {"day": timedelta(days=1), "minute": timedelta(minutes=1)}
        end = _shift(start, step.get(precision, timedelta(seconds=1)))
    return start, end, _offset(match)


def _shift_date(year: int, month: int) -> datetime:
    return datetime(year, month, 1) if year <= 9999 else datetime.max


def _shift(moment: datetime, delta: timedelta) -> datetime:
    """moment + delta, clamped to what datetime can hold (years 1-9999)."""
    try:
        return moment + delta
    except OverflowError:
        return datetime.max if delta > timedelta(0) else datetime.min


def _normalise(match: re.Match[str]) -> str:
    text = match["year"]
    if match["month"] is not None:
        text += f"-{int(match['month']):02}"
    if match["day"] is not None:
        text += f"-{int(match['day']):02}"
    if match["hour"] is not None:
        text += f"T{int(match['hour']):02}:{match['minute']}"
    if match["second"] is not None:
        text += f":{match['second']}"
        if match["fraction"]:
            text += "." + match["fraction"][1:]
    offset = _offset(match)
    if offset is not None:
        sign = "-" if offset < timedelta(0) else "+"
        minutes = abs(int(offset.total_seconds())) // 60
        text += f"{sign}{minutes // 60:02}:{minutes % 60:02}"
    return text


def _describe(delta: timedelta) -> str:
    if delta >= timedelta(days=365):
        return "1 year"
    if delta >= timedelta(days=28):
        return "1 month"
    if delta >= timedelta(days=1):
        return "1 day"
    return "1 hour"
