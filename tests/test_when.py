"""Dates keep the precision they were given, compare honestly, and refuse what is not a date."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from provenance.case.when import When, capture_when, parse_when, when_from_exif
from provenance.errors import BadInput


@pytest.mark.parametrize(
    ("text", "normalised", "precision", "offset_known"),
    [
        ("2024", "2024", "year", False),
        ("2024-10", "2024-10", "month", False),
        ("2024-10-17", "2024-10-17", "day", False),
        ("2024-10-17T09:30+09:00", "2024-10-17T09:30+09:00", "minute", True),
        ("2024-10-17 09:30:00Z", "2024-10-17T09:30:00+00:00", "second", True),
        ("2024-10-17T09:30:00-0530", "2024-10-17T09:30:00-05:30", "second", True),
        ("2024-10-17T09:30", "2024-10-17T09:30", "minute", False),
        ("2024-10-17 09:30:15", "2024-10-17T09:30:15", "second", False),
        (" 2024-1-7 ", "2024-01-07", "day", False),
    ],
)
def test_each_precision_is_kept(text, normalised, precision, offset_known):
    when = parse_when(text)
    assert when.text == normalised
    assert when.precision == precision
    assert when.utc_offset_known is offset_known
    assert when.approximate is False


@pytest.mark.parametrize("text", ["~2024-10", "circa 2024", "2024-10?", "ca. 2024-10-17", "≈2024"])
def test_approximate_markers(text):
    when = parse_when(text)
    assert when.approximate
    assert str(when).startswith("~")
    assert not when.text.startswith("~")


def test_approximate_flag():
    assert parse_when("2024-10", approximate=True) == parse_when("~2024-10")


def test_exact_timestamp_bounds_are_one_minute():
    when = parse_when("2024-10-17T09:30+09:00")
    assert when.earliest() == datetime(2024, 10, 17, 0, 30, tzinfo=UTC)
    assert when.latest() == datetime(2024, 10, 17, 0, 31, tzinfo=UTC) - timedelta(microseconds=1)


def test_missing_offset_widens_by_14_hours_and_is_flagged():
    when = parse_when("2024-10-17T09:30")
    assert when.earliest() == datetime(2024, 10, 16, 19, 30, tzinfo=UTC)
    assert when.latest() > datetime(2024, 10, 17, 23, 30, tzinfo=UTC)
    assert any("UTC offset" in note for note in when.notes())


def test_month_spans_the_month():
    when = parse_when("2024-02")
    assert when.earliest() < datetime(2024, 2, 1, tzinfo=UTC)
    assert when.latest() > datetime(2024, 2, 29, 23, 59, tzinfo=UTC)
    assert when.latest() < datetime(2024, 3, 2, tzinfo=UTC)


def test_is_before_means_definitely_before():
    assert parse_when("2024-10-14").is_before(parse_when("2024-10-17"))
    # Dates without an offset may be days in different zones (±14 h each), so days
    # two apart can overlap: only a three-day gap is certain.
    assert not parse_when("2024-10-15").is_before(parse_when("2024-10-17"))
    assert parse_when("2024-10-15T00:00+00:00").is_before(parse_when("2024-10-17T00:00+00:00"))
    # A day does not precede a moment inside it, nor vice versa.
    day, moment = parse_when("2024-10-17"), parse_when("2024-10-17T09:30+09:00")
    assert not day.is_before(moment) and not moment.is_before(day)
    assert parse_when("2024-10-17T09:30Z").is_before(parse_when("2024-10-17T09:31Z"))
    assert parse_when("2024-10-18T00:00+09:00").definitely_after(parse_when("2024-10-17T09:31Z"))


def test_approximate_widens_comparisons():
    assert parse_when("2024-10").is_before(parse_when("2024-11-15"))
    assert not parse_when("~2024-10").is_before(parse_when("2024-11-15"))


def test_in_future():
    now = datetime(2024, 10, 17, 12, 0, tzinfo=UTC)
    assert parse_when("2025").in_future(now)
    assert not parse_when("2024-10-18").in_future(now)  # could already be the 18th east of UTC
    assert not parse_when("2024").in_future(now)
    assert parse_when("2024-10-17T12:01Z").in_future(now)
    with pytest.raises(ValueError):
        parse_when("2024").in_future(datetime(2024, 1, 1))


@pytest.mark.parametrize(
    "text", ["2024", "~2024-10", "2024-10-17", "2024-10-17T09:30+09:00", "2024-10-17T09:30:00"]
)
def test_json_round_trip(text):
    when = parse_when(text)
    data = json.loads(json.dumps(when.to_json()))
    assert set(data) == {
        "text",
        "precision",
        "approximate",
        "utc_offset_known",
        "earliest",
        "latest",
    }
    assert When.from_json(data) == when


def test_from_json_refuses_a_precision_that_does_not_match():
    with pytest.raises(BadInput):
        When.from_json({"text": "2024-10", "precision": "day"})


@pytest.mark.parametrize(
    "text",
    ["", "yesterday", "17/10/2024", "2024-13", "2023-02-29", "2024-10-17T24:00",
     "2024-10-17T09:60", "2024-10-17T09:30+15:00", "20241017", "2024-10-17T09"],
)  # fmt: skip
def test_bad_dates_name_the_accepted_forms(text):
    with pytest.raises(BadInput) as err:
        parse_when(text)
    assert err.value.subject == text
    assert "2024-10-17T09:30+09:00" in str(err.value)


def test_unparseable_message():
    with pytest.raises(BadInput, match="not a date; use 2024, 2024-10, 2024-10-17"):
        parse_when("last Tuesday")


def test_exif_capture_time_with_offset():
    when = when_from_exif("2024:10:17 09:30:00", "+09:00")
    assert when.text == "2024-10-17T09:30:00+09:00"
    assert when.precision == "second" and when.utc_offset_known


def test_exif_capture_time_without_offset_is_flagged():
    when = when_from_exif("2024:10:17 09:30:00\x00")
    assert not when.utc_offset_known
    assert when.notes()


@pytest.mark.parametrize(
    ("value", "offset"),
    [("0000:00:00 00:00:00", None), ("    :  :     :  :  ", None), ("2024:10:17 09:30:00", "JST")],
)
def test_bad_exif_times(value, offset):
    with pytest.raises(BadInput):
        when_from_exif(value, offset)


def test_sub_seconds_narrow_the_interval():
    early = parse_when("2024-10-16T22:47:44.1+10:00")
    late = parse_when("2024-10-16T22:47:44.9+10:00")
    assert early.text.endswith("44.1+10:00") and early.precision == "second"
    assert early.earliest() == datetime(2024, 10, 16, 12, 47, 44, 100000, UTC)
    assert early.latest() == datetime(2024, 10, 16, 12, 47, 44, 199999, UTC)
    assert early.is_before(late) and not early.overlaps(late)
    # EXIF SubSecTime may carry more digits than a microsecond: kept in the text, read to 1 µs.
    long = parse_when("2024-10-16T22:47:44.12345678Z")
    assert long.text == "2024-10-16T22:47:44.12345678+00:00"
    assert long.latest() - long.earliest() < timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("2024-10", "2024-10"),
        ("~2024-10-17", "~2024-10-17"),
        ("2024-10-17T09:30+09:00", "2024-10-17T09:30+09:00"),
        ("2024-10-16T22:47:44", "2024-10-16T22:47:44 (local time, zone unknown)"),
    ],
)
def test_display_is_the_recorded_value_never_an_instant(text, shown):
    when = parse_when(text)
    assert when.display() == shown
    reading = when.reading()
    assert reading["display"] == shown and reading["precision"] == when.precision
    assert reading["earliest"] == when.earliest().isoformat()
    assert reading["latest"] == when.latest().isoformat()
    assert set(when.to_json()) < set(reading)  # what is stored in events is unchanged


def test_order_is_by_interval_not_by_earliest_instant():
    posted, captured = parse_when("~2024-10-17"), parse_when("2024-10-16T23:31Z")
    assert posted.earliest() < captured.earliest()  # what used to put "posted" first
    assert captured.order_key() < posted.order_key()
    assert posted.overlaps(captured) and captured.overlaps(posted)
    month, day = parse_when("2024-09"), parse_when("2024-10-17")
    assert month.order_key() < day.order_key() and not month.overlaps(day)


def test_capture_when_applies_an_inferred_offset_only_to_a_zoneless_time():
    assert capture_when(None) is None and capture_when("not a date") is None
    assert capture_when("2024-10-16T22:47:44").local_only
    assert capture_when("2024-10-16T22:47:44", "+10:00").text == "2024-10-16T22:47:44+10:00"
    assert capture_when("2024-10-16T22:47:44+09:00", "+10:00").text == (
        "2024-10-16T22:47:44+09:00")
