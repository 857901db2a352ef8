"""Video and document scans end to end: metadata, re-uploads, clips, stills, pages, bad input.

Through the CLI in-process, like the rest of the suite. Videos are small (192x108, 16 s) so
the module's fixtures take a few seconds to encode.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures import documents
from fixtures import video as fx

from .conftest import invoke

W, H = 192, 108
APPLE_TAGS = fx.APPLE_TAGS


def both(*transforms: fx.Transform) -> fx.Transform:
    def apply(a: fx.Frame) -> fx.Frame:
        for t in transforms:
            a = t(a)
        return a

    return apply


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    src = fx.write_video(d / "original.mp4", seed=1, seconds=16, width=W, height=H, audio=True)
    v = {"original": src}
    v["apple"] = fx.write_video(d / "apple.mp4", seed=5, seconds=3, width=W, height=H,
                                creation_time="2024-10-18T04:12:09.000000Z", location=None,
                                metadata=APPLE_TAGS, rotation=90)
    v["other"] = fx.write_video(d / "other.mp4", seed=2, seconds=8, width=W, height=H)
    v["reencoded"] = fx.transcode(src, d / "mpeg4.mp4", codec="mpeg4")
    v["low_bitrate"] = fx.transcode(src, d / "crf35.mp4", options={"crf": "35"})
    v["resized"] = fx.transcode(src, d / "small.mp4", transform=fx.resize(128, 72))
    v["cropped"] = fx.transcode(src, d / "crop.mp4", transform=fx.crop(0.8))
    v["letterboxed"] = fx.transcode(src, d / "letterbox.mp4", transform=fx.letterbox())
    v["watermarked"] = fx.transcode(src, d / "watermark.mp4", transform=fx.watermark("@rp"))
    v["fps15"] = fx.transcode(src, d / "fps15.mp4", fps=15)
    v["mirrored"] = fx.transcode(src, d / "mirror.mp4", transform=fx.mirror())
    v["rotated"] = fx.transcode(src, d / "rotated.mp4", transform=rotate90)
    v["clip"] = fx.transcode(src, d / "clip_6_12.mp4", start=6, end=12)
    v["still"] = fx.write_screenshot(src, d / "still_9s.png", 9.0)
    v["still_jpeg"] = fx.write_screenshot(src, d / "still_13s.jpg", 13.0)
    v["no_video"] = fx.write_audio_only(d / "no_video.mp4", seconds=1)
    v["truncated"] = fx.write_truncated(src, d / "truncated.mp4")
    v["garbage"] = fx.write_garbage(d / "garbage.mp4")
    pdf = documents.write_questionnaire(d / "questionnaire.pdf")
    v["pdf"] = pdf
    v["photo"] = documents.write_photographed(pdf, d / "photo_page1.jpg", page=1)
    v["rescan"] = _rescan(pdf, d / "rescan_page2.jpg", page=2)
    v["locked"] = documents.write_encrypted(pdf, d / "locked.pdf")
    v["corrupt"] = documents.write_corrupt(d / "corrupt.pdf")
    return v


def rotate90(a: fx.Frame) -> fx.Frame:
    """A copy turned a quarter: no frame hash survives it, keypoints do."""
    import numpy as np

    return np.ascontiguousarray(np.rot90(a))


def _rescan(pdf: Path, dst: Path, page: int) -> Path:
    """A page printed and scanned again: another resolution, greyscale, JPEG."""
    import pymupdf
    from PIL import Image

    with pymupdf.open(str(pdf)) as doc:
        pix = doc.load_page(page - 1).get_pixmap(dpi=150, alpha=False)
    img = Image.frombytes("RGB", (pix.width, pix.height), pix.samples).convert("L")
    img.save(dst, "JPEG", quality=70)
    return dst


def cli(db: Path, *args: str) -> tuple[int, str, str]:
    run = invoke(db, *args)
    return run.exit_code, run.stdout, run.stderr


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory, media: dict[str, Path]) -> tuple[Path, dict]:
    """A database holding the original video, a distinct one, and the questionnaire PDF."""
    db = tmp_path_factory.mktemp("held") / "evidence.db"
    assert cli(db, "init")[0] == 0
    code, out, err = cli(db, "add", str(media["original"]), str(media["other"]), "--json")
    assert code == 0, err
    code, out2, err = cli(db, "add", "--kind", "scan", str(media["pdf"]), "--json")
    assert code == 0, err
    shas = {r["path"]: r["sha256"] for r in json.loads(out) + json.loads(out2)}
    return db, {name: shas[str(media[name])] for name in ("original", "other", "pdf")}


def matches(db: Path, path: Path) -> list[dict]:
    code, out, err = cli(db, "match", str(path), "--json")
    assert code == 0, err
    return [m for m in json.loads(out)["matches"] if m["verdict"] != "identical"]


# --- metadata -------------------------------------------------------------------------------


def test_video_metadata_lands_in_the_item_columns(prov, media):
    [r] = prov("add", str(media["apple"]), "--json").json()
    assert r["status"] == "new" and r["kind"] == "video"
    shown = prov("show", r["sha256"], "--json").json()
    meta = shown["metadata"]
    assert meta["captured_at"] == "2024-10-18T13:12:09+09:00"
    assert meta["captured_offset"] == "+09:00"
    assert (meta["gps_latitude"], meta["gps_longitude"], meta["gps_altitude"]) == (
        43.3491, 133.3597, 12.0)
    assert (meta["make"], meta["model"], meta["software"]) == ("Apple", "iPhone 13", "17.6.1")
    assert meta["codec"] == "h264" and (meta["width"], meta["height"]) == (W, H)
    assert meta["rotation"] == 90 and meta["frame_rate"] == 25.0
    assert meta["duration_seconds"] == pytest.approx(3.0, abs=0.1)
    tags = shown["raw_metadata"]["container"]["tags"]
    assert tags["com.apple.quicktime.model"] == "iPhone 13"
    [listed] = prov("list", "--json").json()
    assert listed["captured_at"] == "2024-10-18T13:12:09+09:00"


# --- video against video --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["reencoded", "low_bitrate", "resized", "cropped",
                                  "letterboxed", "watermarked", "fps15", "mirrored"])
def test_each_transformed_copy_is_found(held, media, name):
    db, shas = held
    found = matches(db, media[name])
    assert [m["sha256"] for m in found] == [shas["original"]], found
    assert found[0]["verdict"] == "re-upload"
    if found[0]["algorithm"] == "vpdq":
        detail = found[0]["detail"]
        assert detail["query_share"] >= 0.5 and detail["candidate_share"] >= 0.5
        assert detail["mirrored"] == (name == "mirrored")


def test_a_clip_names_the_seconds_it_covers(held, media):
    db, shas = held
    [m] = matches(db, media["clip"])
    assert m["sha256"] == shas["original"] and m["verdict"] == "re-upload"
    start, end = m["detail"]["covers_seconds"]
    assert abs(start - 6) <= 1 and abs(end - 12) <= 1
    assert m["detail"]["query_share"] > 0.8 and m["detail"]["candidate_share"] < 0.5


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[tuple[int, int], Path]]:
    """Footage that changes slowly, as real footage does (the scene of fixtures/video.py at
    an eighth of its speed): neighbouring seconds look alike, so a clip's frames also come
    close to held frames a second before and after where they belong. Held, with two clips
    of known start and end."""
    d = tmp_path_factory.mktemp("slow")
    scene = fx.Scene(4, W, H)
    src = fx.write_video(d / "slow.mp4", seconds=40, width=W, height=H,
                         source=lambda t: scene.frame(t / 8))
    clips = {span: fx.transcode(src, d / f"slow_{span[0]}_{span[1]}.mp4", start=span[0],
                                end=span[1]) for span in ((3, 9), (12, 30))}
    db = d / "evidence.db"
    invoke(db, "init", check=True)
    invoke(db, "add", str(src), check=True)
    return db, clips


@pytest.mark.parametrize("span", [(3, 9), (12, 30)])
def test_clip_coverage_never_spills_past_the_clip_and_says_to_within_what(slow, span):
    db, clips = slow
    [m] = matches(db, clips[span])
    assert m["algorithm"] == "vpdq" and m["verdict"] == "re-upload"
    start, end = m["detail"]["covers_seconds"]
    # Not a second of the held video outside the clip (its last frame is 1/25 s before the
    # end) ...
    assert span[0] <= start and end <= span[1]
    # The typical gap between samples: a second, more where near-identical frames (slow
    # footage) were skipped.
    within = m["detail"]["covers_within_seconds"]
    assert 1.0 <= within <= 2.0
    # ... and each end within the stated step of where the clip starts and ends.
    assert start - span[0] <= within and span[1] - end <= within
    text = cli(db, "match", str(clips[span]))[1]
    assert f"covering {start:g}-{end:g} s of it to within {within:g} s" in text


def test_a_copy_found_by_keypoints_says_at_least_and_which_seconds_were_checked(prov, media):
    [orig] = prov("add", str(media["original"]), "--json").json()
    [rotated] = prov("add", str(media["rotated"]), "--json").json()
    [m] = rotated["matches"]
    assert m["sha256"] == orig["sha256"]
    assert (m["algorithm"], m["verdict"]) == ("orb", "re-upload")
    detail = m["detail"]
    words = prov("match", str(media["rotated"])).stdout
    assert "covering at least" in words
    assert detail["covers_at_least"] is True
    checked = detail["checked_seconds"]
    # At most eight keyframes, spread over the whole copy: its first and its last are checked
    # (every n-th from the start left the last seconds of a video unchecked).
    assert len(checked) <= 8 and checked[0] == 0 and checked[-1] >= 15
    start, end = detail["covers_seconds"]
    assert 0 <= start <= end <= 16
    phrase = f"covering at least {start:g}-{end:g} s"
    assert f"{phrase} of it (keyframes checked at" in words
    shown = prov("show", orig["sha256"], "--json").json()
    [relation] = shown["near_duplicates"]
    assert phrase in relation["summary"]


def test_a_still_names_the_second_it_came_from(held, media):
    db, shas = held
    for still, second in (("still", 9), ("still_jpeg", 13)):
        [m] = [m for m in matches(db, media[still]) if m["sha256"] == shas["original"]]
        assert m["verdict"] == "re-upload" and abs(m["frame_seconds"] - second) <= 1


def test_distinct_footage_is_not_linked(held, media):
    db, shas = held
    assert matches(db, media["other"]) == []


def test_a_video_containing_a_held_still(prov, media):
    [still] = prov("add", str(media["still"]), "--json").json()
    [video] = prov("add", str(media["original"]), "--json").json()
    [m] = video["matches"]
    assert m["sha256"] == still["sha256"] and m["verdict"] == "re-upload"
    assert abs(m["detail"]["query_seconds"] - 9) <= 1


def test_add_records_video_relations_and_dupes_shows_the_family(prov, media):
    [orig] = prov("add", str(media["original"]), "--json").json()
    added = prov("add", str(media["clip"]), str(media["mirrored"]), str(media["other"]),
                 "--json").json()
    clip, mirrored, other = added
    assert [m["sha256"] for m in clip["matches"]] == [orig["sha256"]]
    assert other["matches"] == []
    shown = prov("show", orig["sha256"], "--json").json()
    assert {r["counterpart"] for r in shown["near_duplicates"]} >= {clip["sha256"],
                                                                    mirrored["sha256"]}
    [family] = prov("dupes", "--json").json()
    assert family["earliest"] == orig["sha256"]
    assert {m["sha256"] for m in family["members"]} == {orig["sha256"], clip["sha256"],
                                                        mirrored["sha256"]}
    relation = next(m for m in family["members"] if m["sha256"] == clip["sha256"])
    assert relation["relation_to_earliest"]["covers_seconds"][0] == pytest.approx(6, abs=1)
    text = prov("dupes").stdout
    assert "covering" in text and "clip_6_12.mp4" in text
    assert prov("verify").exit_code == 0


# --- documents ------------------------------------------------------------------------------


def test_pdf_scan_metadata_and_pages(held):
    db, shas = held
    code, out, _ = cli(db, "show", shas["pdf"], "--json")
    shown = json.loads(out)
    assert shown["kind"] == "scan" and shown["metadata"]["page_count"] == 3
    meta = shown["metadata"]
    assert meta["producer"] == "Microsoft® Word 2016"
    assert meta["created_at"] == "2024-10-17T09:30:00+09:00"
    assert "captured_at" not in meta  # a document's creation date is not a capture time


@pytest.mark.parametrize(("name", "page"), [("photo", 1), ("rescan", 2)])
def test_a_photographed_or_rescanned_page_names_the_page(held, media, name, page):
    db, shas = held
    found = matches(db, media[name])
    assert [m["sha256"] for m in found] == [shas["pdf"]], found
    assert found[0]["verdict"] == "re-upload" and found[0]["page"] == page


# --- bad input ------------------------------------------------------------------------------


def test_bad_video_and_documents_get_one_line_each_and_the_rest_goes_in(prov, media):
    bad = ["truncated", "no_video", "garbage", "corrupt"]
    result = prov("add", *(str(media[n]) for n in bad), str(media["locked"]),
                  str(media["other"]))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(bad)
    for name, reason in (("truncated", "truncated"), ("no_video", "no video stream"),
                         ("garbage", "not a video"), ("corrupt", "corrupt")):
        assert any(str(media[name]) in e and reason in e for e in errors), errors
    # Password-protected: registered with a warning and its metadata, no page hashes.
    assert f"warning: {media['locked']}: encrypted" in result.stderr
    items = {i["file_name"]: i for i in prov("list", "--json").json()}
    assert set(items) == {"locked.pdf", "other.mp4"}
    locked = prov("show", items["locked.pdf"]["sha256"], "--json").json()
    assert locked["metadata"]["needs_password"] is True and locked["metadata"]["page_count"] == 3
    assert prov("verify").exit_code == 0
