"""Re-upload detection through the database: `prov add` checks, `prov match`, `prov dupes`."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from fixtures import images as F


def save(img, path: Path, fmt: str = "JPEG", **params) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(F.encode(img, fmt, **params))
    return path


@pytest.fixture
def original(prov, tmp_path):
    img = F.photo(7, (800, 600))
    path = save(img, tmp_path / "held" / "original.jpg", quality=92)
    sha = prov("add", str(path), "--json").json()[0]["sha256"]
    return img, sha


@pytest.mark.parametrize(
    ("name", "transform"),
    [
        ("jpeg30", lambda im: F.jpeg(im, 30)),
        ("half", lambda im: F.resize(im, 0.5)),
        ("mirror", F.mirror),
        ("rot90", lambda im: F.rotate(im, 90)),
        ("pad", lambda im: F.pad(im, 0.2)),
        ("letterbox", lambda im: F.letterbox(im, 0.2)),
        ("screenshot", F.screenshot),
        ("text", F.text_watermark),
        ("gray", F.grayscale),
        ("crop10", lambda im: F.crop(im, 0.10)),
    ],
)
def test_add_reports_a_reupload_and_records_it(prov, tmp_path, original, name, transform):
    img, sha = original
    copy = save(transform(img), tmp_path / "new" / f"{name}.png", "PNG")
    [result] = prov("add", str(copy), "--json").json()
    assert result["status"] == "new"
    assert [m["sha256"] for m in result["matches"]] == [sha], result["matches"]
    match = result["matches"][0]
    assert match["verdict"] == "re-upload"
    assert match["algorithm"] in ("pdq", "phash", "orb")
    shown = prov("show", sha, "--json").json()
    [rel] = shown["near_duplicates"]
    assert rel["counterpart"] == result["sha256"] and rel["verdict"] == "re-upload"
    events = [e["type"] for e in prov("log", result["sha256"], "--json").json()]
    assert "near_duplicate.found" in events
    assert prov("verify").exit_code == 0


def test_distinct_photos_are_not_linked(prov, tmp_path, original):
    paths = [save(F.photo(100 + i, (640, 480)), tmp_path / "other" / f"{i}.jpg")
             for i in range(6)]
    results = prov("add", *map(str, paths), "--json").json()
    assert all(r["matches"] == [] for r in results)
    assert prov("dupes", "--json").json() == []


def test_near_uniform_images_are_never_linked_automatically(prov, tmp_path):
    a = save(F.flat((120, 120, 120), seed=1), tmp_path / "a.png", "PNG")
    b = save(F.flat((121, 119, 120), seed=2), tmp_path / "b.png", "PNG")
    prov("add", str(a))
    [result] = prov("add", str(b), "--json").json()
    assert all(m["verdict"] != "re-upload" for m in result["matches"])


def test_hashes_round_trip_through_the_database(prov, db, original):
    from provenance.matching import hashing

    img, sha = original
    conn = sqlite3.connect(db)
    rows = dict(conn.execute("SELECT algorithm, value FROM hashes WHERE item = ? AND"
                             " region = 'full'", (sha,)).fetchall())
    stored = db.parent / "evidence.store" / "sha256" / sha[:2] / sha[2:4] / sha
    fresh = hashing.hash_source(stored)
    assert rows["pdq"] == fresh.get("pdq").value and len(rows["pdq"]) == 32
    assert rows["phash"] == fresh.get("phash").value and len(rows["phash"]) == 8


def test_exif_orientations_register_as_one_picture(prov, tmp_path):
    img = F.photo(11, (640, 480))
    shas = []
    for orientation in range(1, 9):
        path = tmp_path / f"o{orientation}.jpg"
        path.write_bytes(F.orient(img, orientation))
        [r] = prov("add", str(path), "--json").json()
        shas.append(r["sha256"])
        if orientation > 1:
            assert shas[0] in [m["sha256"] for m in r["matches"]], orientation
    assert len(set(shas)) == 8


def test_match_across_formats_and_identical_bytes(prov, tmp_path, original):
    img, sha = original
    for fmt, ext in (("PNG", "png"), ("WEBP", "webp"), ("TIFF", "tif"), ("GIF", "gif")):
        copy = save(img, tmp_path / "q" / f"copy.{ext}", fmt)
        doc = prov("match", str(copy), "--json").json()
        assert doc["matches"][0]["sha256"] == sha, fmt
        assert doc["matches"][0]["verdict"] == "re-upload"
    held = tmp_path / "held" / "original.jpg"
    doc = prov("match", str(held), "--json").json()
    assert doc["matches"][0] == {"sha256": sha, "kind": "image", "distance": 0,
                                 "algorithm": "sha256", "verdict": "identical", "detail": {}}
    assert doc["query"]["held"] is True


def test_match_heic(prov, tmp_path, original):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    img, sha = original
    buf = io.BytesIO()
    img.save(buf, "HEIF", quality=80)
    copy = tmp_path / "copy.heic"
    copy.write_bytes(buf.getvalue())
    doc = prov("match", str(copy), "--json").json()
    assert doc["matches"][0]["sha256"] == sha and doc["query"]["kind"] == "image"


def test_match_an_item_and_refuse_a_bad_target(prov, tmp_path, original):
    img, sha = original
    copy = save(F.resize(img, 0.5), tmp_path / "half.jpg")
    new = prov("add", str(copy), "--json").json()[0]["sha256"]
    doc = prov("match", sha[:8], "--json").json()
    assert doc["query"]["item"] == sha
    assert [m["sha256"] for m in doc["matches"]] == [new]
    text = prov("match", sha[:8]).stdout
    assert "re-upload" in text and new[:12] in text
    missing = prov("match", str(tmp_path / "nope.jpg"))
    assert missing.exit_code == 2


def test_match_of_a_referenced_item_whose_file_was_replaced_is_refused(prov, tmp_path,
                                                                        original):
    # Registered with --no-copy, then the file at that path replaced by another picture that
    # is itself a copy of a held item: matching it under the old item's name would be a lie.
    img, held = original
    path = save(F.photo(21, (640, 480)), tmp_path / "inbox" / "drop.jpg", quality=90)
    ref = prov("add", str(path), "--no-copy", "--json").json()[0]["sha256"]
    assert prov("match", ref[:8], "--json").exit_code == 0
    save(F.resize(img, 0.5), path)  # a re-upload of `held` now sits where `ref` was
    run = prov("match", ref[:8], "--json")
    assert run.exit_code == 2 and run.stdout == ""
    assert "no copy matching the item is reachable" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    path.unlink()
    gone = prov("match", ref[:8])
    assert gone.exit_code == 2 and "no copy is reachable" in gone.stderr


def test_dupes_lists_families_earliest_copy_first(prov, tmp_path):
    base = F.photo(21, (640, 480))
    later = tmp_path / "later.jpg"
    later.write_bytes(F.encode(F.resize(base, 0.5), "JPEG"))
    earlier = save(base, tmp_path / "earlier.png", "PNG")
    [later_r] = prov("add", str(later), "--json").json()
    [earlier_r] = prov("add", str(earlier), "--json").json()
    # The copy registered second is the earlier one, by custody: it leads its family.
    prov("custody", "add", earlier_r["sha256"], "--action", "posted", "--from", "channel A",
         "--at", "2024-10-01")
    prov("custody", "add", later_r["sha256"], "--action", "posted", "--from", "channel B",
         "--at", "2024-10-09")
    families = prov("dupes", "--json").json()
    assert len(families) == 1
    family = families[0]
    assert family["earliest"] == earlier_r["sha256"] and family["size"] == 2
    assert [m["sha256"] for m in family["members"]] == [earlier_r["sha256"], later_r["sha256"]]
    assert family["members"][0]["earliest_source"] == "custody"
    text = prov("dupes").stdout
    assert "family of 2" in text
    # Each date as recorded ("2024-10-01"), never its earliest instant ("2024-09-30T10:00").
    assert "(custody 2024-10-01)" in text and "[custody 2024-10-09]" in text
    assert "2024-09-30" not in text


def test_dupes_does_not_chain_unrelated_images_through_an_intermediate(prov, tmp_path):
    """A half-and-half composite relates to both halves' sources; they stay apart."""
    from PIL import Image

    left, right = F.photo(31, (640, 480)), F.photo(32, (640, 480))
    composite = Image.new("RGB", (640, 480))
    composite.paste(left.crop((0, 0, 320, 480)), (0, 0))
    composite.paste(right.crop((320, 0, 640, 480)), (320, 0))
    paths = [save(left, tmp_path / "left.png", "PNG"), save(right, tmp_path / "right.png", "PNG"),
             save(composite, tmp_path / "composite.png", "PNG")]
    prov("add", *map(str, paths))
    for family in prov("dupes", "--json").json():
        names = {m["file_name"] for m in family["members"]}
        assert not {"left.png", "right.png"} <= names


def test_add_finds_a_crop_the_hashes_rank_nowhere_through_keypoints(prov, tmp_path,
                                                                     monkeypatch):
    # A 30% corner crop among 43 pictures: its original is far by every hash, so only the
    # keypoint index (provenance.matching.kpindex) brings it to verification.
    from provenance.matching import catalogue as relations

    seeds = [11, 12, 13, *range(500, 540)]
    paths = [save(F.photo(s, (640, 480) if s < 500 else [(640, 480), (480, 640), (800, 450),
                                                          (320, 240)][s % 4]),
                  tmp_path / "held" / f"{s}.png", "PNG") for s in seeds]
    held = prov("add", *map(str, paths), "--json").json()
    assert [r["status"] for r in held] == ["new"] * len(seeds)
    crop = save(F.crop(F.photo(12), 0.30, 0.0), tmp_path / "new" / "crop.jpg", quality=92)
    original = held[1]["sha256"]

    relations._CATALOGUES.clear()  # a fresh process, as `prov match` would be
    monkeypatch.setattr(relations, "KEYPOINT_ROWS_MAX", 0)  # hashes alone, as before
    without = prov("match", str(crop), "--json").json()["matches"]
    assert original not in [m["sha256"] for m in without if m["verdict"] == "re-upload"]

    relations._CATALOGUES.clear()
    monkeypatch.undo()
    [result] = prov("add", str(crop), "--json").json()
    assert [(m["sha256"], m["verdict"], m["algorithm"]) for m in result["matches"]
            if m["verdict"] == "re-upload"] == [(original, "re-upload", "orb")]
    assert prov("verify").exit_code == 0
