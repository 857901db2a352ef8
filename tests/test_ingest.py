"""Registering files through `prov add`, and reading them back with list, show and log."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from fixtures import media


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_add_registers_identity_metadata_and_stores_a_read_only_copy(prov, db, tmp_path):
    data = media.jpeg_with_exif(1, gps=media.SERGEEVKA, altitude=-12.5)
    photo = write(tmp_path / "in" / "clip_still.jpg", data)

    run = prov("add", str(photo), "--case", "dprk", "--source-url", "https://t.me/x/1", "--json")

    assert run.exit_code == 0, run.stderr
    [result] = run.json()
    assert result["status"] == "new"
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["kind"] == "image" and result["error"] is None
    shown = prov("show", result["sha256"][:8], "--json").json()
    assert shown["md5"] == hashlib.md5(data).hexdigest()
    assert shown["mime"] == "image/jpeg" and shown["size"] == len(data)
    meta = shown["metadata"]
    assert meta["gps_latitude"] == pytest.approx(43.3491, abs=1e-6)
    assert meta["gps_longitude"] == pytest.approx(133.3597, abs=1e-6)
    assert meta["gps_altitude"] == pytest.approx(-12.5)
    assert meta["captured_at"] == "2024-10-17T09:30:00+10:00"
    assert meta["captured_offset"] == "+10:00"
    assert (meta["make"], meta["model"]) == ("Samsung", "SM-A525F")
    assert (meta["width"], meta["height"]) == (640, 480)
    assert shown["raw_metadata"]["exif"]["Image Make"] == "Samsung"
    [sighting] = shown["sightings"]
    assert sighting["source_url"] == "https://t.me/x/1" and sighting["case_name"] == "dprk"
    assert sighting["file_name"] == "clip_still.jpg" and sighting["recorded_by"] == "tester"
    for key in ("custody", "claims", "near_duplicates", "events"):
        assert key in shown
    stored = db.parent / "evidence.store" / "sha256" / result["sha256"][:2] / result["sha256"][
        2:4] / result["sha256"]
    assert stored.read_bytes() == data
    assert not stored.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_a_heic_whose_exif_has_no_exif_prefix_keeps_its_metadata(prov, tmp_path):
    """HEIF leaves the "Exif\0\0" before an EXIF item's TIFF header optional; Apple writes
    it, libheif (and the tools and phones built on it) does not, and exifread refuses the
    item without it. Before: "EXIF unreadable (AssertionError)", no time, place or camera
    recorded for such a photo. Now the item is read as the TIFF it is."""
    data = media.jpeg_with_exif(3, gps=media.SERGEEVKA, fmt="HEIF")
    photo = write(tmp_path / "phone.heic", data)
    run = prov("add", str(photo), "--json")
    assert run.exit_code == 0, run.stderr
    [result] = run.json()
    assert not [w for w in result["warnings"] if "EXIF" in w], result["warnings"]
    meta = prov("show", result["sha256"][:8], "--json").json()["metadata"]
    assert meta["gps_latitude"] == pytest.approx(43.3491, abs=1e-6)
    assert meta["captured_at"] == "2024-10-17T09:30:00+10:00"
    assert (meta["make"], meta["model"]) == ("Samsung", "SM-A525F")


def test_same_bytes_again_is_a_sighting_not_a_second_item(prov, tmp_path):
    data = media.jpeg_with_exif(2)
    first = write(tmp_path / "a" / "one.jpg", data)
    second = write(tmp_path / "b" / "renamed.jpg", data)
    assert prov("add", str(first)).exit_code == 0
    run = prov("add", str(second), "--source-url", "https://x.com/p/2", "--json")
    assert run.json()[0]["status"] == "known"
    items = prov("list", "--json").json()
    assert len(items) == 1 and items[0]["sightings"] == 2
    shown = prov("show", items[0]["sha256"], "--json").json()
    assert [s["file_name"] for s in shown["sightings"]] == ["one.jpg", "renamed.jpg"]
    assert [e["type"] for e in shown["events"]] == [
        "item.registered", "sighting.recorded", "sighting.recorded"]


def test_folders_recurse_in_a_deterministic_order_and_skip_hidden_files(prov, tmp_path):
    root = tmp_path / "drop"
    write(root / "b" / "2.jpg", media.jpeg_with_exif(11))
    write(root / "a" / "1.jpg", media.jpeg_with_exif(12))
    write(root / "c.png", media.png_with_alpha(13))
    write(root / ".hidden.jpg", media.jpeg_with_exif(14))
    write(root / ".cache" / "x.jpg", media.jpeg_with_exif(15))
    run = prov("add", str(root), "--json")
    assert run.exit_code == 0, run.stderr
    names = [Path(r["path"]).relative_to(root).as_posix() for r in run.json()]
    assert names == ["a/1.jpg", "b/2.jpg", "c.png"]


def test_many_files_use_the_process_pool_and_all_land(prov, tmp_path):
    for i in range(12):
        write(tmp_path / "many" / f"{i:02}.jpg", media.jpeg_with_exif(100 + i, size=(160, 120)))
    run = prov("add", str(tmp_path / "many"), "--json")
    assert run.exit_code == 0
    assert [r["status"] for r in run.json()] == ["new"] * 12
    assert len(prov("list", "--json").json()) == 12


def test_no_copy_references_the_original(prov, db, tmp_path):
    photo = write(tmp_path / "ref.jpg", media.jpeg_with_exif(3))
    sha = prov("add", str(photo), "--no-copy", "--json").json()[0]["sha256"]
    assert prov("show", sha, "--json").json()["stored"] is False
    assert not (db.parent / "evidence.store" / "sha256" / sha[:2]).exists()
    assert prov("verify").exit_code == 0


def test_kind_is_sniffed_from_bytes_and_can_be_overridden(prov, tmp_path):
    png_named_jpg = write(tmp_path / "looks.jpg", media.png_with_alpha(4))
    scan = write(tmp_path / "page.png", media.scan_page(1))
    notes = write(tmp_path / "notes.txt", b"field notes\n")
    runs = [
        prov("add", str(png_named_jpg), "--json").json()[0],
        prov("add", str(scan), "--kind", "scan", "--json").json()[0],
        prov("add", str(notes), "--json").json()[0],
    ]
    assert [r["kind"] for r in runs] == ["image", "scan", "other"]
    shown = prov("show", runs[0]["sha256"], "--json").json()
    assert shown["mime"] == "image/png"


def test_list_filters_by_case_and_kind(prov, tmp_path):
    prov("add", str(write(tmp_path / "a.jpg", media.jpeg_with_exif(21))), "--case", "one")
    prov("add", str(write(tmp_path / "b.png", media.scan_page(2))), "--case", "two",
         "--kind", "scan")
    assert [i["file_name"] for i in prov("list", "--case", "one", "--json").json()] == ["a.jpg"]
    assert [i["file_name"] for i in prov("list", "--kind", "scan", "--json").json()] == ["b.png"]
    text = prov("list").stdout
    assert "a.jpg" in text and "b.png" in text


def test_show_and_log_accept_a_prefix_and_refuse_short_or_unknown_ones(prov, tmp_path):
    sha = prov("add", str(write(tmp_path / "a.jpg", media.jpeg_with_exif(31))), "--json").json()[
        0]["sha256"]
    assert prov("show", sha[:6]).exit_code == 0
    short = prov("show", sha[:5])
    assert short.exit_code == 2 and "at least 6" in short.stderr
    missing = prov("show", "ffffff" if not sha.startswith("ffffff") else "eeeeee")
    assert missing.exit_code == 2 and "prov list" in missing.stderr
    not_hex = prov("show", "sergeevka")
    assert not_hex.exit_code == 2 and "not an item" in not_hex.stderr
    log = prov("log", sha[:10], "--json").json()
    assert [e["type"] for e in log] == ["item.registered", "sighting.recorded"]
    assert all(len(e["chain_hash"]) == 64 for e in log)


def test_an_ambiguous_prefix_lists_the_candidates(prov, db):
    from provenance.ledger import log
    from provenance.ledger.db import connect, transaction

    conn = connect(db)
    with transaction(conn):
        for sha in ("abcdef01" + "0" * 56, "abcdef02" + "0" * 56):
            log.record(conn, "item.registered", {
                "sha256": sha, "md5": "0" * 32, "size": 1, "mime": "text/plain",
                "kind": "other", "stored": False, "metadata": {}, "raw_metadata": {},
                "hashes": []}, by="tester", item=sha)
    run = prov("show", "abcdef")
    assert run.exit_code == 2
    assert "ambiguous" in run.stderr
    assert "abcdef01" in run.stderr and "abcdef02" in run.stderr
    assert prov("show", "abcdef02").exit_code == 0


def test_commands_refuse_a_missing_database_with_the_fix(tmp_path):
    from typer.testing import CliRunner

    from provenance.cli import app

    result = CliRunner().invoke(app, ["--db", str(tmp_path / "nope.db"), "list"])
    assert result.exit_code == 2
    assert "prov init" in result.stderr
    assert not (tmp_path / "nope.db").exists()


def test_init_is_idempotent_and_db_comes_from_the_environment(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from provenance.cli import app

    monkeypatch.setenv("PROV_DB", str(tmp_path / "env.db"))
    first = CliRunner().invoke(app, ["init"])
    again = CliRunner().invoke(app, ["init"])
    assert first.exit_code == 0 and "initialised" in first.stdout
    assert again.exit_code == 0 and "already initialised" in again.stdout
    assert (tmp_path / "env.db").exists()


def test_investigator_comes_from_by_option(db, tmp_path):
    from typer.testing import CliRunner

    from provenance.cli import app

    photo = write(tmp_path / "a.jpg", media.jpeg_with_exif(41))
    CliRunner().invoke(app, ["--db", str(db), "--by", "ana", "add", str(photo)])
    conn = sqlite3.connect(db)
    assert {r[0] for r in conn.execute("SELECT recorded_by FROM events")} == {"ana"}


# --- bad input -------------------------------------------------------------------


def test_each_bad_input_gets_one_line_and_the_rest_of_the_batch_goes_in(prov, db, tmp_path):
    bad = media.write_bad_inputs(tmp_path / "bad")
    good = write(tmp_path / "good.jpg", media.jpeg_with_exif(51))
    missing = tmp_path / "missing.jpg"
    args = [str(p) for p in bad.values()] + [str(missing), str(good)]

    run = prov("add", *args, "--json")

    assert run.exit_code == 1
    by_name = {Path(r["path"]).name: r for r in run.json()}
    reasons = {
        "empty.jpg": "empty file",
        "truncated.jpg": "truncated",
        "corrupt.png": "not an image format",
        "notes.jpg": "text/plain",
        "missing.jpg": "no such file",
    }
    for name, reason in reasons.items():
        assert by_name[name]["status"] == "error", name
        assert reason in by_name[name]["error"], (name, by_name[name]["error"])
        error_lines = [line for line in run.stderr.splitlines() if line.startswith("error:")
                       and name in line]
        assert len(error_lines) == 1, (name, run.stderr)
    assert "Traceback" not in run.stderr
    # The photo with absurd EXIF is evidence all the same: registered, with warnings.
    absurd = by_name["absurd_exif.jpg"]
    assert absurd["status"] == "new"
    assert any("latitude" in w for w in absurd["warnings"])
    assert any("not a real date" in w for w in absurd["warnings"])
    assert any("orientation" in w for w in absurd["warnings"])
    meta = prov("show", absurd["sha256"], "--json").json()["metadata"]
    assert "gps_latitude" not in meta and "captured_at" not in meta and "orientation" not in meta
    assert by_name["good.jpg"]["status"] == "new"
    # A picture too large to decode is evidence too: registered undecoded, saying so (18).
    bomb = by_name["bomb.png"]
    assert bomb["status"] == "new" and any("decoding limit" in w for w in bomb["warnings"])
    # Nothing half-written: exactly the three registered items, and the log verifies.
    assert len(prov("list", "--json").json()) == 3
    assert prov("verify").exit_code == 0


def test_text_named_jpg_can_be_registered_deliberately_as_other(prov, tmp_path):
    notes = write(tmp_path / "notes.jpg", b"not a photo\n")
    refused = prov("add", str(notes))
    assert refused.exit_code == 1 and "--kind other" in refused.stderr
    accepted = prov("add", str(notes), "--kind", "other", "--json")
    assert accepted.exit_code == 0 and accepted.json()[0]["kind"] == "other"


def test_kind_override_that_contradicts_the_bytes_is_refused(prov, tmp_path):
    notes = write(tmp_path / "notes.txt", b"not a video\n")
    run = prov("add", str(notes), "--kind", "video")
    assert run.exit_code == 1 and "not a video" in run.stderr


def test_a_non_utf8_file_name_is_kept_with_its_raw_bytes(prov, tmp_path):
    path = media.non_utf8_name(tmp_path / "latin1")
    run = prov("add", path, "--json")
    assert run.exit_code == 0
    [result] = run.json()
    assert result["status"] == "new" and "caf\\xe9" in result["path"]
    assert any("UTF-8" in w for w in result["warnings"])
    assert "warning:" in run.stderr and "caf\\xe9-photo.jpg" in run.stderr
    [sighting] = prov("show", result["sha256"], "--json").json()["sightings"]
    assert bytes.fromhex(sighting["file_name_hex"]) == b"caf\xe9-photo.jpg"
    assert prov("verify").exit_code == 0


def test_an_unreadable_file_is_reported_and_skipped(prov, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads any file; permission errors cannot be provoked")
    locked = write(tmp_path / "locked.jpg", media.jpeg_with_exif(61))
    locked.chmod(0)
    run = prov("add", str(locked))
    assert run.exit_code == 1 and "permission denied" in run.stderr


def test_real_exif_crash_cases_do_not_crash_prov(prov, tmp_path):
    """exifread's own crash cases are not available to tests; hostile EXIF is generated."""
    data = bytearray(media.jpeg_with_exif(71, gps=media.SERGEEVKA))
    # Corrupt bytes inside the EXIF segment (after the APP1 header) but not the image.
    for offset in range(40, 160, 7):
        data[offset] ^= 0xFF
    photo = write(tmp_path / "mangled_exif.jpg", bytes(data))
    run = prov("add", str(photo), "--json")
    assert "Traceback" not in run.stderr
    assert run.json()[0]["status"] in ("new", "error")
    assert prov("verify").exit_code == 0
