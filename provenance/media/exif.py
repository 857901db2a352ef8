"""Image metadata: EXIF read with exifread, normalised into prov's metadata fields."""

from __future__ import annotations

import io
import math
import re
from datetime import datetime, timedelta
from typing import Any

_heif_registered = False


def register_heif() -> bool:
    """Let Pillow open HEIC/HEIF (phones' default photo format), once per process; True if
    this call registered it, False if it already was.

    pillow-heif loads its native library on import, so this runs only when a picture is
    about to be decoded, never at `prov --help`.
    """
    global _heif_registered
    if _heif_registered:
        return False
    import pillow_heif

    pillow_heif.register_heif_opener()
    _heif_registered = True
    return True

# Tags that are bulk binary or pointers: kept out of the raw JSON (their
# presence is still recorded) because they say nothing an investigator reads.
_SKIP_RAW = {"JPEGThumbnail", "TIFFThumbnail", "EXIF MakerNote", "Image ExifOffset",
             "Image GPSInfo", "EXIF InteroperabilityOffset"}
_EXIF_DATE = re.compile(r"^\s*(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")
_MAX_RAW_VALUE = 2000
# A camera writes a few hundred tags at most (maker notes included) in well under 64 KB,
# which is all one JPEG APP1 segment holds; beyond these, tags are noise or an attack.
_MAX_RAW_TAGS = 1000
_MAX_RAW_TOTAL = 128_000


def read_exif(data: bytes) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(normalised metadata, raw tags as text, warnings) from an image's bytes.

    Unreadable or absurd EXIF never rejects a file: the bytes are evidence
    whatever their metadata says. Each problem becomes a warning instead.
    """
    import logging

    import exifread

    # exifread reports oddities through logging; prov turns them into warnings.
    logging.getLogger("exifread").setLevel(logging.CRITICAL)
    warnings: list[str] = []
    tags, error = _parse(exifread, data, warnings)
    if tags is None:
        tiff = _heif_exif(data)
        if tiff is not None:
            # exifread's HEIF reader asks for "Exif\0\0" before the TIFF header, which the
            # HEIF standard leaves optional and libheif (and the tools built on it) does not
            # write: the EXIF item, as pillow-heif gives it, is read as TIFF instead.
            tags, error = _parse(exifread, tiff, warnings)
    if tags is None:
        warnings.append(f"EXIF unreadable ({error}); none recorded")
        return {}, {}, warnings
    raw = _capped_raw(tags, warnings)
    meta = normalise(tags, warnings)
    return meta, raw, warnings


def _parse(exifread: Any, data: bytes, warnings: list[str]
           ) -> tuple[dict[str, Any] | None, str]:
    """exifread's tags, or (None, what it raised)."""
    try:
        return exifread.process_file(io.BytesIO(data), details=True,
                                     extract_thumbnail=False), ""
    except Exception as exc:  # noqa: BLE001 - exifread raises anything on hostile input
        # Maker notes are the usual culprit; the standard tags may still read.
        try:
            tags = exifread.process_file(io.BytesIO(data), details=False,
                                         extract_thumbnail=False)
        except Exception as exc2:  # noqa: BLE001
            return None, f"{type(exc2).__name__}: {exc2}"
        warnings.append(f"maker notes unreadable ({type(exc).__name__}); standard EXIF kept")
        return tags, ""


def _heif_exif(data: bytes) -> bytes | None:
    """The EXIF of a HEIF file as TIFF bytes (its "Exif\0\0" prefix, if any, taken off),
    read by pillow-heif without decoding the picture; None for another format, a file
    pillow-heif cannot read, or no EXIF."""
    if data[4:8] != b"ftyp":
        return None
    try:
        import pillow_heif

        exif = pillow_heif.open_heif(io.BytesIO(data)).info.get("exif")
    except Exception:  # noqa: BLE001 - pillow-heif raises anything on hostile input
        return None
    if not exif:
        return None
    tiff = bytes(exif)
    if tiff.startswith(b"Exif\0\0"):
        tiff = tiff[6:]
    return tiff if tiff[:4] in (b"II*\0", b"MM\0*") else None


def _capped_raw(tags: dict[str, Any], warnings: list[str]) -> dict[str, str]:
    """The raw tags as text, within _MAX_RAW_TAGS and _MAX_RAW_TOTAL characters.

    Thousands of tags can point at one string, so a small file could otherwise become
    megabytes of event payload. Standard tags are kept before maker notes; what is left
    out is counted in a warning. Normalisation reads the parsed tags, not this copy.
    """
    raw: dict[str, str] = {}
    total = dropped = dropped_chars = 0
    names = [n for n in tags if n not in _SKIP_RAW]
    names.sort(key=lambda n: n.startswith("MakerNote"))  # stable: file order otherwise
    for name in names:
        text = _printable(tags[name])
        text = text if len(text) <= _MAX_RAW_VALUE else text[:_MAX_RAW_VALUE] + "…"
        if len(raw) >= _MAX_RAW_TAGS or total + len(name) + len(text) > _MAX_RAW_TOTAL:
            dropped += 1
            dropped_chars += len(text)
            continue
        raw[name] = text
        total += len(name) + len(text)
    if dropped:
        warnings.append(
            f"EXIF has {len(names)} tags; {dropped} raw tags ({dropped_chars:,} characters)"
            f" dropped to stay within {_MAX_RAW_TAGS} tags and {_MAX_RAW_TOTAL // 1000} KB of"
            " raw metadata; the normalised fields were still read from all of them")
    return raw


def _printable(tag: Any) -> str:
    text = getattr(tag, "printable", None)
    if text is None:
        text = str(tag)
    return str(text).replace("\x00", "").strip()


def _text(tags: dict[str, Any], name: str) -> str | None:
    tag = tags.get(name)
    if tag is None:
        return None
    value = _printable(tag)
    return value or None


def _number(value: Any) -> float:
    if hasattr(value, "num") and hasattr(value, "den"):
        if value.den == 0:
            raise ValueError("zero denominator")
        return float(value.num) / float(value.den)
    return float(value)


def normalise(tags: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, tag in (("make", "Image Make"), ("model", "Image Model"),
                     ("software", "Image Software")):
        value = _text(tags, tag)
        if value:
            meta[key] = value

    orientation = tags.get("Image Orientation")
    if orientation is not None:
        try:
            number = int(orientation.values[0])
            if 1 <= number <= 8:
                meta["orientation"] = number
            else:
                warnings.append(f"EXIF orientation {number} is not 1-8; ignored")
        except (IndexError, TypeError, ValueError, AttributeError):
            warnings.append("EXIF orientation unreadable; ignored")

    captured = _capture_time(tags, warnings)
    if captured:
        meta.update(captured)

    meta.update(_gps(tags, warnings))
    return meta


def _capture_time(tags: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    for name, subsec, offset in (
        ("EXIF DateTimeOriginal", "EXIF SubSecTimeOriginal", "EXIF OffsetTimeOriginal"),
        ("EXIF DateTimeDigitized", "EXIF SubSecTimeDigitized", "EXIF OffsetTimeDigitized"),
        ("Image DateTime", "EXIF SubSecTime", "EXIF OffsetTime"),
    ):
        text = _text(tags, name)
        if not text:
            continue
        match = _EXIF_DATE.match(text)
        try:
            if not match:
                raise ValueError
            y, mo, d, h, mi, s = (int(g) for g in match.groups())
            moment = datetime(y, mo, d, h, mi, s)
        except ValueError:
            warnings.append(f"EXIF {name.split()[-1]} {text!r} is not a real date; ignored")
            continue
        if not 1826 <= moment.year <= datetime.now().year + 1:
            # The first photograph is from 1826; anything earlier is a broken clock.
            warnings.append(f"EXIF {name.split()[-1]} {text!r} is implausible; ignored")
            continue
        iso = moment.isoformat()
        fraction = _text(tags, subsec)
        if fraction and fraction.isdigit():
            iso += "." + fraction
        result: dict[str, Any] = {"captured_at_source": name.split()[-1]}
        offset_text = _text(tags, offset)
        if offset_text:
            om = _OFFSET.match(offset_text)
            if om and int(om.group(2)) <= 14 and int(om.group(3)) < 60:
                tz = f"{om.group(1)}{om.group(2)}:{om.group(3)}"
                iso += tz
                result["captured_offset"] = tz
                result["captured_offset_source"] = f"EXIF {offset.split()[-1]}"
            else:
                warnings.append(f"EXIF offset {offset_text!r} is not a UTC offset; ignored")
        if "captured_offset" not in result:
            result.update(_offset_from_gps(tags, moment))
        result["captured_at"] = iso
        return result
    return {}


# GPS time is UTC at the fix, which may be older than the shutter: a zone is inferred only
# when the clock and GPS time differ by whole quarter hours to within this.
_GPS_AGREEMENT = timedelta(minutes=2)


def _offset_from_gps(tags: dict[str, Any], local: datetime) -> dict[str, Any]:
    """The UTC offset implied by GPS date and time, for a clock time with none, or {}.

    The capture time itself stays as recorded (local, no zone); the offset is kept beside
    it with its source, so a reader knows prov inferred it.
    """
    date, stamp = _text(tags, "GPS GPSDate"), tags.get("GPS GPSTimeStamp")
    if not date or stamp is None:
        return {}
    try:
        h, m, sec = (_number(v) for v in list(stamp.values)[:3])
        day = datetime.strptime(date.strip()[:10], "%Y:%m:%d")
        utc = day + timedelta(hours=h, minutes=m, seconds=sec)
    except (TypeError, ValueError, ZeroDivisionError, AttributeError, OverflowError):
        return {}
    diff = local - utc
    quarters = round(diff / timedelta(minutes=15))
    offset = timedelta(minutes=15 * quarters)
    if abs(diff - offset) > _GPS_AGREEMENT or abs(offset) > timedelta(hours=14):
        return {}
    minutes = abs(quarters) * 15
    tz = f"{'-' if quarters < 0 else '+'}{minutes // 60:02}:{minutes % 60:02}"
    return {"captured_offset": tz, "captured_offset_source":
            f"inferred from GPS time (GPSDate {date.strip()[:10]}, GPSTimeStamp"
            f" {utc:%H:%M:%S} UTC, {abs(diff - offset).total_seconds():g} s from the clock)"}


def _gps(tags: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for axis, limit, neg in (("Latitude", 90.0, "S"), ("Longitude", 180.0, "W")):
        tag = tags.get(f"GPS GPS{axis}")
        if tag is None:
            continue
        try:
            parts = [_number(v) for v in tag.values]
            while len(parts) < 3:
                parts.append(0.0)
            degrees = parts[0] + parts[1] / 60 + parts[2] / 3600
            ref = (_text(tags, f"GPS GPS{axis}Ref") or "").upper()[:1]
        except (TypeError, ValueError, ZeroDivisionError, AttributeError):
            warnings.append(f"EXIF GPS {axis.lower()} unreadable; ignored")
            continue
        if not math.isfinite(degrees) or not 0 <= degrees <= limit or min(parts) < 0:
            warnings.append(f"EXIF GPS {axis.lower()} {degrees:g} is out of range; ignored")
            continue
        if ref == neg:
            degrees = -degrees
        out[f"gps_{axis.lower()}"] = round(degrees, 7)
    if ("gps_latitude" in out) != ("gps_longitude" in out):
        warnings.append("EXIF GPS has only one coordinate; ignored")
        out.clear()
    altitude = tags.get("GPS GPSAltitude")
    if altitude is not None and out:
        try:
            value = _number(altitude.values[0])
            ref_tag = tags.get("GPS GPSAltitudeRef")
            if ref_tag is not None and int(ref_tag.values[0]) == 1:
                value = -value
            if math.isfinite(value) and -12_000 <= value <= 100_000:
                out["gps_altitude"] = round(value, 2)
            else:
                warnings.append(f"EXIF GPS altitude {value:g} m is implausible; ignored")
        except (TypeError, ValueError, ZeroDivisionError, IndexError, AttributeError):
            warnings.append("EXIF GPS altitude unreadable; ignored")
    return out
