"""Times shown as what they are: each date in its own precision, zoneless clock times never
converted, sub-seconds kept, timelines and custody flags reasoning on intervals."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from fixtures import media


def exif_jpeg(seed: int, captured: str, *, offset: str | None = None,
              subsec: str | None = None, quality: int = 90) -> bytes:
    """A JPEG whose EXIF has DateTimeOriginal, and SubSecTimeOriginal/OffsetTimeOriginal."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "Samsung"
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = captured
    if subsec is not None:
        ifd[0x9291] = subsec  # SubSecTimeOriginal
    if offset is not None:
        ifd[0x9011] = offset  # OffsetTimeOriginal
    buf = io.BytesIO()
    media.photo_pixels(seed, (640, 480)).save(buf, "JPEG", quality=quality,
                                               exif=exif.tobytes())
    return buf.getvalue()


def add(prov, path: Path, data: bytes) -> str:
    path.write_bytes(data)
    run = prov("add", str(path), "--json")
    assert run.exit_code == 0, run.stderr
    return str(run.json()[0]["sha256"])


def pair(prov, tmp_path: Path, seed: int = 31) -> tuple[str, str]:
    """Two re-uploads of one photo (quality 90 and 70), without capture times."""
    a = add(prov, tmp_path / "a.jpg", media.jpeg_with_exif(seed, captured=None, quality=90))
    b = add(prov, tmp_path / "b.jpg", media.jpeg_with_exif(seed, captured=None, quality=70))
    return a, b


# --- dupes: a date in its own precision ---------------------------------------------------

def test_dupes_prints_a_month_as_the_month_not_its_earliest_instant(prov, tmp_path):
    a, b = pair(prov, tmp_path)
    prov("custody", "add", a, "--action", "posted", "--from", "channel A", "--at", "2024-10")
    prov("custody", "add", b, "--action", "posted", "--from", "channel B", "--at", "2024-12-03")
    text = prov("dupes").stdout
    assert "custody 2024-10)" in text
    assert "2024-09-30" not in text and "+00:00" not in text.split("\n")[0]
    [family] = prov("dupes", "--json").json()
    assert family["earliest"] == a
    when = family["earliest_when"]
    assert (when["text"], when["display"], when["precision"]) == ("2024-10", "2024-10", "month")
    assert when["source"] == "custody"
    assert when["earliest"].startswith("2024-09-30T10:00") and when["latest"].startswith(
        "2024-11-01T13:59")
    # The key that was there stays, with its old meaning: the interval's earliest instant.
    assert family["earliest_at"] == when["earliest"]
    assert family["members"][1]["earliest_when"]["text"] == "2024-12-03"
    assert family["order_uncertain"] == []


def test_dupes_says_order_uncertain_when_the_earliest_dates_overlap(prov, tmp_path):
    a, b = pair(prov, tmp_path)
    prov("custody", "add", a, "--action", "posted", "--from", "channel A", "--at", "2024-10")
    prov("custody", "add", b, "--action", "posted", "--from", "channel B",
         "--at", "2024-10-05T10:00Z")
    [family] = prov("dupes", "--json").json()
    # By interval, not earliest instant: the exact time on the 5th leads the vaguer month.
    assert family["earliest"] == b and family["order_uncertain"] == [a]
    assert "order uncertain: " + a[:12] in prov("dupes").stdout


# --- EXIF times without a zone: local time, never converted -------------------------------

def test_a_zoneless_exif_time_is_shown_as_recorded_never_shifted(prov, tmp_path):
    a = add(prov, tmp_path / "night.jpg", exif_jpeg(31, "2024:10:16 22:47:44"))
    b = add(prov, tmp_path / "night2.jpg", exif_jpeg(31, "2024:10:16 22:47:44", quality=70))
    show = prov("show", a).stdout
    assert "2024-10-16T22:47:44 (local time, zone unknown)" in show
    assert "08:47" not in show
    dupes = prov("dupes").stdout
    assert "capture time 2024-10-16T22:47:44 (local time, zone unknown)" in dupes
    assert "08:47" not in dupes
    doc = prov("show", b, "--json").json()
    [capture] = [e for e in doc["custody"]["timeline"] if e["kind"] == "capture"]
    assert capture["when"]["zone"] == "local time, zone unknown"
    assert capture["when"]["text"] == "2024-10-16T22:47:44"
    assert "captured_offset" not in doc["metadata"]
    for fmt in ("md", "html"):
        out = tmp_path / f"report.{fmt}"
        assert prov("export", a, "--format", fmt, "--out", str(out)).exit_code == 0
        report = out.read_text()
        assert "2024-10-16T22:47:44 (local time, zone unknown)" in report
        assert "08:47" not in report


def test_an_exif_offset_says_which_tag_it_came_from(prov, tmp_path):
    sha = add(prov, tmp_path / "day.jpg", exif_jpeg(43, "2024:10:17 09:31:05", offset="+10:00"))
    doc = prov("show", sha, "--json").json()
    assert doc["metadata"]["captured_at"] == "2024-10-17T09:31:05+10:00"
    assert doc["metadata"]["captured_offset_source"] == "EXIF OffsetTimeOriginal"
    show = prov("show", sha).stdout
    assert "UTC offset from" in show and "EXIF OffsetTimeOriginal" in show
    assert "local time" not in show


def _later_with_the_smaller_hash() -> tuple[bytes, bytes]:
    """(taken at .9 s, taken at .1 s of the same second), chosen so that the later photo has
    the smaller SHA-256: a tie on whole seconds, broken by hash, then picks the later."""
    for quality in range(90, 60, -1):
        later = exif_jpeg(47, "2024:10:16 22:47:44", offset="+10:00", subsec="9",
                          quality=quality)
        earlier = exif_jpeg(47, "2024:10:16 22:47:44", offset="+10:00", subsec="1",
                            quality=quality - 10)
        if hashlib.sha256(later).hexdigest() < hashlib.sha256(earlier).hexdigest():
            return later, earlier
    raise AssertionError("no pair found")


def test_sub_seconds_are_kept_so_the_later_photo_is_never_earliest(prov, tmp_path):
    later_bytes, earlier_bytes = _later_with_the_smaller_hash()
    later = add(prov, tmp_path / "later.jpg", later_bytes)
    earlier = add(prov, tmp_path / "earlier.jpg", earlier_bytes)
    assert prov("show", later, "--json").json()["metadata"]["captured_at"] == (
        "2024-10-16T22:47:44.9+10:00")
    [family] = prov("dupes", "--json").json()
    assert family["earliest"] == earlier
    assert family["earliest_when"]["text"] == "2024-10-16T22:47:44.1+10:00"
    assert family["order_uncertain"] == []  # a tenth of a second, but known: no overlap


# --- the timeline: ordered by interval, overlaps said -------------------------------------

def test_timeline_orders_by_interval_and_says_order_uncertain(prov, tmp_path):
    sha = add(prov, tmp_path / "arrival.jpg",
              exif_jpeg(53, "2024:10:16 23:31:00", offset="+00:00"))
    prov("custody", "add", sha, "--action", "posted", "--from", "Telegram channel",
         "--at", "~2024-10-17")
    doc = prov("show", sha, "--json").json()
    timeline = doc["custody"]["timeline"]
    assert [e["kind"] for e in timeline] == ["capture", "custody", "sighting"]
    capture, posted, _ = timeline
    assert posted["order_uncertain"] is True and posted["overlaps"] == ["capture time"]
    assert capture["overlaps"] == [f"event {posted['id']}"]
    assert posted["when"]["display"] == "~2024-10-17" and posted["when"]["approximate"]
    show = prov("show", sha).stdout
    lines = [line for line in show.splitlines() if "captured (per" in line or " posted " in line]
    assert lines[0].lstrip().startswith("2024-10-16T23:31:00+00:00 captured")
    assert lines[1].lstrip().startswith("~2024-10-17 posted")
    assert "order uncertain: overlaps capture time" in lines[1]
    out = tmp_path / "report.md"
    prov("export", sha, "--format", "md", "--out", str(out))
    assert "order uncertain: overlaps capture time" in out.read_text()


# --- custody flags with mixed precisions --------------------------------------------------

def flags_of(prov, item) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in prov("custody", "list", item, "--json").json()["flags"]:
        out.setdefault(f["flag"], []).append(f["message"])
    return out


@pytest.fixture
def item(prov, tmp_path) -> str:
    return add(prov, tmp_path / "x.jpg", exif_jpeg(59, "2024:10:17 09:31:05", offset="+10:00"))


def test_no_gap_when_a_capture_is_recorded_beside_a_month_precision_event(prov, item):
    prov("custody", "add", item, "--action", "posted", "--from", "Telegram channel",
         "--at", "2024-10")
    prov("custody", "add", item, "--action", "captured", "--from", "soldier",
         "--at", "~2024-10-16")
    flags = flags_of(prov, item)
    assert "gap" not in flags, flags
    assert "before-capture" not in flags
    events = prov("custody", "list", item, "--json").json()["events"]
    assert [e["when"]["display"] for e in events] == ["2024-10", "~2024-10-16"]
    assert events[0]["when"]["precision"] == "month" and events[1]["when"]["approximate"]
    text = prov("custody", "list", item).stdout
    assert "2024-10 posted" in text and "~2024-10-16 captured" in text
    assert "2024-09-30" not in text


def test_gap_when_no_capture_is_recorded_at_any_precision(prov, item):
    prov("custody", "add", item, "--action", "posted", "--from", "Telegram channel",
         "--at", "~2024-10-17")
    prov("custody", "add", item, "--action", "shared", "--from", "CNN", "--to", "BBC",
         "--at", "2024-10")
    [gap] = flags_of(prov, item)["gap"]
    assert "nothing records who captured it" in gap


def test_gap_and_before_capture_when_the_recorded_capture_is_certainly_later(prov, item):
    first = prov("custody", "add", item, "--action", "posted", "--from", "Telegram channel",
                 "--at", "2024-10-17T10:00Z")
    assert first.exit_code == 0
    prov("custody", "add", item, "--action", "captured", "--from", "soldier", "--at", "2024-10-20")
    flags = flags_of(prov, item)
    assert "first holder is unknown" in flags["gap"][0]
    assert "comes after another event" in flags["gap"][0]
    assert any("recorded capture" in m for m in flags["before-capture"])


def test_before_capture_reasons_on_intervals_of_mixed_precision(prov, item):
    # The file says 2024-10-17T09:31:05+10:00; "2024-10" overlaps it, "2024-09" cannot.
    prov("custody", "add", item, "--action", "shared", "--from", "A", "--to", "B",
         "--at", "2024-10")
    assert "before-capture" not in flags_of(prov, item)
    prov("custody", "add", item, "--action", "shared", "--from", "B", "--to", "C",
         "--at", "2024-09")
    [message] = flags_of(prov, item)["before-capture"]
    assert "2024-09" in message and "2024-10-17T09:31:05+10:00" in message


def test_no_broken_handover_when_the_order_is_only_a_vaguer_date_sorting_first(prov, item):
    prov("custody", "add", item, "--action", "captured", "--from", "soldier", "--at", "2024-10")
    prov("custody", "add", item, "--action", "sent", "--from", "UA", "--to", "CNN",
         "--at", "2024-10-17T09:00+00:00")
    prov("custody", "add", item, "--action", "shared", "--from", "CNN", "--to", "BBC",
         "--at", "2024-10")
    assert "broken-handover" not in flags_of(prov, item)


def test_broken_handover_only_when_every_possible_next_event_starts_elsewhere(prov, item):
    prov("custody", "add", item, "--action", "captured", "--from", "soldier", "--at", "2024-10")
    prov("custody", "add", item, "--action", "sent", "--from", "UA", "--to", "CNN",
         "--at", "2024-10")
    prov("custody", "add", item, "--action", "published", "--from", "BBC",
         "--at", "2024-11-05T10:00Z")
    [message] = flags_of(prov, item)["broken-handover"]
    assert "to CNN" in message and "BBC" in message
    # CNN publishing on about the 20th could be the next event: nothing certain is broken.
    prov("custody", "add", item, "--action", "published", "--from", "CNN", "--at", "~2024-10-20")
    assert "broken-handover" not in flags_of(prov, item)


def test_future_flag_with_mixed_precisions(prov, item):
    prov("custody", "add", item, "--action", "captured", "--from", "soldier", "--at", "~2024-10")
    prov("custody", "add", item, "--action", "archived", "--from", "soldier", "--at", "2999")
    prov("custody", "add", item, "--action", "archived", "--from", "soldier",
         "--at", "2999-01-01T00:00")
    flags = flags_of(prov, item)
    assert len(flags["future"]) == 2 and all("2999" in m for m in flags["future"])


def test_a_zone_inferred_from_gps_time_says_so_and_the_time_stays_as_recorded(prov, tmp_path):
    from fractions import Fraction

    from PIL import Image

    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = "2024:10:16 22:47:44"
    gps = exif.get_ifd(0x8825)
    gps[0x0000] = b"\x02\x02\x00\x00"
    gps[0x001D] = "2024:10:16"  # GPSDateStamp, UTC
    gps[0x0007] = (Fraction(12), Fraction(47), Fraction(43))  # GPSTimeStamp: 10 h earlier
    buf = io.BytesIO()
    media.photo_pixels(61, (320, 240)).save(buf, "JPEG", exif=exif.tobytes())
    sha = add(prov, tmp_path / "gps.jpg", buf.getvalue())
    meta = prov("show", sha, "--json").json()["metadata"]
    assert meta["captured_at"] == "2024-10-16T22:47:44"  # as recorded, never converted
    assert meta["captured_offset"] == "+10:00"
    assert meta["captured_offset_source"].startswith("inferred from GPS time")
    show = prov("show", sha).stdout
    assert "2024-10-16T22:47:44 (local time; zone +10:00 inferred from GPS time" in show
    [capture] = [e for e in prov("show", sha, "--json").json()["custody"]["timeline"]
                 if e["kind"] == "capture"]
    assert "zone +10:00 inferred from GPS time" in capture["summary"]
    assert capture["when"]["earliest"] == "2024-10-16T12:47:44+00:00"


def test_a_gps_time_that_does_not_fit_a_zone_infers_nothing(prov, tmp_path):
    from fractions import Fraction

    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2024:10:16 22:47:44"
    gps = exif.get_ifd(0x8825)
    gps[0x0000] = b"\x02\x02\x00\x00"
    gps[0x001D] = "2024:10:16"
    gps[0x0007] = (Fraction(12), Fraction(21), Fraction(0))  # a stale fix: 10 h 26 min
    buf = io.BytesIO()
    media.photo_pixels(62, (320, 240)).save(buf, "JPEG", exif=exif.tobytes())
    sha = add(prov, tmp_path / "stale.jpg", buf.getvalue())
    meta = prov("show", sha, "--json").json()["metadata"]
    assert "captured_offset" not in meta
    assert "(local time, zone unknown)" in prov("show", sha).stdout


def test_a_video_capture_offset_names_the_container_tag_it_came_from(tmp_path):
    from fixtures import video as fx
    from provenance.media.video.container import video_metadata

    utc = video_metadata(fx.write_video(tmp_path / "utc.mp4", seconds=1, width=64, height=48))
    assert utc["captured_at"].endswith("+00:00")
    assert utc["captured_offset_source"].startswith("container creation_time (UTC")
    apple = video_metadata(fx.write_video(tmp_path / "apple.mp4", seconds=1, width=64,
                                          height=48, metadata=fx.APPLE_TAGS))
    assert apple["captured_at"] == "2024-10-18T13:12:09+09:00"
    assert apple["captured_offset_source"] == "container tag com.apple.quicktime.creationdate"
    local = video_metadata(fx.write_video(tmp_path / "local.mp4", seconds=1, width=64,
                                          height=48, creation_time=None,
                                          metadata={"date": "2024-10-18T13:12:09"}))
    assert local["captured_at"] == "2024-10-18T13:12:09"  # as written, not shifted
    assert local["captured_offset_source"] is None  # no zone: none invented


def test_the_datasette_custody_views_order_by_interval_and_show_dates_as_recorded(
        prov, db, item):
    import sqlite3

    prov("custody", "add", item, "--action", "posted", "--from", "Telegram channel",
         "--at", "~2024-10-17")
    prov("custody", "add", item, "--action", "captured", "--from", "soldier",
         "--at", "2024-10-16T23:31Z")
    prov("custody", "add", item, "--action", "archived", "--from", "CNN",
         "--at", "2024-12-01T10:00")
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT action, at_shown, order_uncertain FROM custody_timeline"
                        " WHERE item = ?", (item,)).fetchall()
    assert rows == [("captured", "2024-10-16T23:31+00:00", 1),
                    ("posted", "~2024-10-17", 1),
                    ("archived", "2024-12-01T10:00 (local time, zone unknown)", 0)]
    chain, first = conn.execute("SELECT chain, first_dated_shown FROM item_custody"
                                " WHERE item = ?", (item,)).fetchone()
    assert chain.splitlines()[0].startswith("2024-10-16T23:31+00:00 captured by soldier")
    assert chain.splitlines()[1].startswith("~2024-10-17 posted")
    assert chain.splitlines()[1].endswith("(order uncertain)")
    assert first == "2024-10-16T23:31+00:00"
