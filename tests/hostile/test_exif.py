"""Hostile EXIF: a flood of tags must not flood the database or the event log."""

from __future__ import annotations

import io
import struct
from pathlib import Path

from fixtures import media

# One 2 KB string, and thousands of IFD entries that all point at it: a tiny file whose
# tags, read naively, expand to megabytes of text.
FLOOD = 5000
SHARED = 2048


def _flooded_jpeg() -> bytes:
    text = b"A" * (SHARED - 1) + b"\x00"
    real = [(0x010F, b"HostileCam\x00"), (0x0132, b"2024:10:16 22:47:44\x00")]
    count = len(real) + FLOOD
    ifd_size = 2 + 12 * count + 4
    data_at = 8 + ifd_size
    blobs = b""
    entries = b""
    for tag, value in real:
        entries += struct.pack("<HHII", tag, 2, len(value), data_at + len(blobs))
        blobs += value
    shared_at = data_at + len(blobs)
    blobs += text
    for n in range(FLOOD):
        entries += struct.pack("<HHII", 0xD000 + n, 2, SHARED, shared_at)
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", count) + entries
    tiff += struct.pack("<I", 0) + blobs
    assert len(tiff) < 65_000  # fits one APP1 segment, as the attack's did
    buf = io.BytesIO()
    media.photo_pixels(11, (320, 240)).save(buf, "JPEG", quality=90)
    jpeg = buf.getvalue()
    # The APP1 segment goes in by hand, right after SOI: Pillow would re-parse the tags.
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def test_an_exif_tag_flood_is_capped_with_a_warning_and_the_facts_still_read(prov, db, tmp_path):
    path = tmp_path / "flood.jpg"
    path.write_bytes(_flooded_jpeg())
    assert path.stat().st_size < 100_000
    run = prov("add", str(path), "--json")
    assert run.exit_code == 0, run.stderr
    [line] = [w for w in run.stderr.splitlines() if "EXIF" in w and "dropped" in w]
    assert "flood.jpg" in line and "tags" in line
    [added] = run.json()
    doc = prov("show", added["sha256"], "--json").json()
    # The normalised facts come through although the raw tags were capped.
    assert doc["metadata"]["make"] == "HostileCam"
    assert doc["metadata"]["captured_at"] == "2024-10-16T22:47:44"
    log = prov("log", "--json").stdout
    assert len(log) < 600_000, f"event log JSON is {len(log)} bytes"
    size = sum(p.stat().st_size for p in Path(db).parent.glob(Path(db).name + "*"))
    assert size < 2_000_000, f"database is {size} bytes for a {path.stat().st_size} byte file"
    assert prov("verify").exit_code == 0
