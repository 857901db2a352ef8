"""Tests for matching.matchrule: every re-upload family through `find`, as ingest stores it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pdqhash
import pytest
from PIL import Image

from fixtures import images as F
from provenance.ingest.extract import hash_pixels
from provenance.matching import hashing as H
from provenance.matching import matchrule
from tests.pictures import DISTRACTORS, Gallery, picture

FAMILIES = {
    "jpeg q30": lambda im: F.jpeg(im, 30),
    "resize 0.25x": lambda im: F.resize(im, 0.25),
    "resize 2x": lambda im: F.resize(im, 2.0),
    "crop 5% off-centre": lambda im: F.crop(im, 0.05, 0.25),
    "pad 30% white": lambda im: F.pad(im, 0.3, (255, 255, 255)),
    "pad 10% blue": lambda im: F.pad(im, 0.1, (40, 90, 200)),
    "letterbox 30%": lambda im: F.letterbox(im, 0.3),
    "text watermark": F.text_watermark,
    "logo watermark": F.logo_watermark,
    "mirror": F.mirror,
    "rotate 90": lambda im: F.rotate(im, 90),
    "rotate 180": lambda im: F.rotate(im, 180),
    "grayscale": F.grayscale,
    "brightness -30%": lambda im: F.brightness(im, 0.7),
    "contrast +30%": lambda im: F.contrast(im, 1.3),
    "screenshot": lambda im: F.jpeg(F.screenshot(im, dark=False), 50),
    "grayscale + letterbox + q40": lambda im: F.jpeg(F.letterbox(F.grayscale(im), 0.2), 40),
    "logo + brightness + resize": lambda im: F.resize(F.brightness(F.logo_watermark(im), 1.2),
                                                      0.5),
    # The named shortfalls of the hash-only design: crops, and mirrored padded thumbnails.
    "crop 10% off-centre": lambda im: F.crop(im, 0.10, 0.75),
    "crop 20% off-centre": lambda im: F.crop(im, 0.20, 0.25),
    "crop 20% corner": lambda im: F.crop(im, 0.20, 0.0),
    "crop 10% + text + q60": lambda im: F.jpeg(F.text_watermark(F.crop(im, 0.1, 1.0)), 60),
    "mirror + pad 20% + resize 0.5x": lambda im: F.resize(F.pad(F.mirror(im), 0.2), 0.5),
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_each_family_is_a_reupload_of_its_original_only(
    name: str, bases: list[Image.Image], gallery: Gallery
) -> None:
    for key, base in enumerate(bases):
        verdicts = gallery.find(picture(FAMILIES[name](base), "JPEG", quality=92))
        assert verdicts.get(key) == "re-upload", (key, verdicts.get(key))
        assert [k for k, v in verdicts.items() if v == "re-upload"] == [key]


def test_crop_found_the_other_way_round(bases: list[Image.Image]) -> None:
    # The crop was registered first; the original arrives later and must find it.
    cropped = Gallery([picture(F.crop(bases[0], 0.2, 1.0), "JPEG", quality=90)]
                      + [picture(F.photo(s)) for s in DISTRACTORS[:10]])
    assert cropped.find(picture(bases[0])).get(0) == "re-upload"


def test_distinct_images_are_never_reuploads(gallery: Gallery) -> None:
    for key, p in enumerate(gallery.pictures):
        verdicts = gallery.find(p, exclude={key}, crop_candidates=matchrule.CROP_CANDIDATES)
        assert "re-upload" not in verdicts.values(), (key, verdicts)


def test_without_the_crop_stage_a_20_percent_off_grid_crop_is_not_a_hash_match(
    bases: list[Image.Image], gallery: Gallery
) -> None:
    # Guards the test above it: the crop is found by keypoints, not by an easy hash.
    q = picture(F.crop(bases[0], 0.20, 0.25), "JPEG", quality=92)
    found = {m.key: m.verdict for m in matchrule.find(q.query, gallery.stored)}
    assert found.get(0) != "re-upload"


def test_low_quality_picture_is_never_auto_linked() -> None:
    wall = F.clock_on_wall()
    stored = Gallery([picture(wall), picture(F.photo(3))])
    copy = picture(wall, "JPEG", quality=80)
    full = [h for h in copy.query if (h.algorithm, h.region) == ("pdq", "full")][0]
    assert full.quality is not None and full.quality < H.PDQ_MIN_QUALITY
    found = matchrule.find(copy.query, stored.stored)
    # Its hash does match (so without the quality rule this would be a re-upload) ...
    assert found and found[0].key == 0 and found[0].distance <= H.PDQ_MATCH
    # ... but it is only ever offered for review, with the crop stage too.
    assert found[0].verdict == "similar"
    assert stored.find(copy, crop_candidates=matchrule.CROP_CANDIDATES).get(0) == "similar"


def test_a_tiny_copy_of_a_detailed_picture_is_linked_and_a_tiny_flat_one_is_not() -> None:
    # A 25-px copy is blown up onto PDQ's 64x64 grid, where its gradient truncates away: PDQ
    # alone scores it under 50. Measured on its own pixels it keeps the original's detail.
    from PIL import ImageFilter

    original = F.contrast(F.photo(5, (100, 75)).filter(ImageFilter.GaussianBlur(1)), 0.5)
    tiny = F.resize(original, 0.25)
    on_grid = pdqhash.compute(np.asarray(H._reduced(tiny, H.HASH_SIDE)))[1]
    assert on_grid < H.PDQ_MIN_QUALITY <= H.native_quality(tiny)
    stored = Gallery([picture(original), *(picture(F.photo(s)) for s in DISTRACTORS[:8])])
    assert stored.find(picture(tiny, "JPEG", quality=90)) == {0: "re-upload"}
    # A near-uniform tiny picture (sensor noise of a few grey levels) still measures as flat.
    rng = np.random.default_rng(0)
    flat = Image.fromarray(np.clip(128 + rng.normal(0, 2, (25, 25, 3)), 0, 255).astype(np.uint8))
    assert H.native_quality(flat) < H.PDQ_MIN_QUALITY
    full = [h for h in picture(flat).query if (h.algorithm, h.region) == ("pdq", "full")][0]
    assert full.quality is not None and full.quality < H.PDQ_MIN_QUALITY


@pytest.mark.parametrize(("seed", "contrast"), [(7, 0.3), (9, 0.5)])
def test_a_dim_picture_reposted_cropped_with_a_caption_is_verified(seed: int,
                                                                    contrast: float) -> None:
    # A dim picture gives FAST few corners unless stretched; the caption's black and white
    # span nearly the whole range at the 1st and 99th percentiles, so dimness is judged on
    # the middle grey levels and the typical grid cell (judged on the extremes: 17-18 inliers).
    from provenance.matching.localmatch import LOCAL_MATCH_INLIERS, verify

    original = F.contrast(F.photo(seed, (120, 90)), contrast)
    copy = F.jpeg(F.text_watermark(F.crop(original, 0.1, 0.25)), 60)
    grey = np.asarray(copy.convert("L"))
    low, high = np.percentile(grey, (1, 99))
    assert high - low > 150
    stored = Gallery([picture(original), *(picture(F.photo(s)) for s in DISTRACTORS[:8])])
    q = picture(copy, "JPEG", quality=92)
    assert q.features is not None and stored.pictures[0].features is not None
    assert verify(q.features, stored.pictures[0].features) >= LOCAL_MATCH_INLIERS
    assert stored.find(q) == {0: "re-upload"}


def test_low_quality_stored_item_is_not_linked_by_keypoints(bases: list[Image.Image]) -> None:
    # However well keypoints agree, an item whose stored hashes say "no information" (a flat
    # picture; here forced by its quality) is only offered for review.
    original = picture(bases[1])
    flat_rows = [dict(r, quality=10) if r["algorithm"] == "pdq" else r for r in original.rows]
    low = Gallery([replace(original, rows=flat_rows)])
    verdicts = low.find(picture(F.crop(bases[1], 0.2, 0.25), "JPEG", quality=90))
    assert verdicts.get(0) == "similar"
    normal = Gallery([original])
    assert normal.find(picture(F.crop(bases[1], 0.2, 0.25), "JPEG", quality=90)).get(0) \
        == "re-upload"


def test_region_rows_are_stored_and_flat_windows_left_out() -> None:
    rows, query, _ = hash_pixels(H.load_image(F.encode(F.photo(4), "PNG")), features=False)
    regions = [r["region"] for r in rows if r["algorithm"] == "pdq"]
    assert regions == ["full", *H.REGIONS]
    assert all(r["quality"] >= H.PDQ_MIN_QUALITY for r in rows if r["region"] != "full")
    assert {r["region"] for r in query} == {"rot90", "rot180", "rot270", "flipx", "flipy",
                                            "flipplus", "flipminus"}
    # A photo whose top half is sky: windows wholly inside it would say nothing.
    sky = F.photo(4)
    sky.paste(F.flat((90, 140, 220), size=(640, 430)), (0, 0))
    rows, _, _ = hash_pixels(H.load_image(F.encode(sky, "PNG")), features=False)
    assert len([r for r in rows if r["algorithm"] == "pdq"]) < 1 + len(H.REGIONS)


def test_a_dim_low_contrast_picture_keeps_enough_keypoints_for_its_crops() -> None:
    # Grey levels squeezed into 50-127 (a dim fundus photograph, a night shot): FAST's fixed
    # threshold found 22 keypoints and the crop verified with 0 inliers before the stretch.
    from provenance.matching.localmatch import LOCAL_MATCH_INLIERS, local_features, verify

    base = F.photo(12, (160, 120))
    dim = Image.fromarray((np.asarray(base).astype(np.float32) * 0.3 + 50).astype(np.uint8))
    stored = local_features(H.load_image(F.encode(dim, "PNG")), mirrored=True)
    crop = local_features(H.load_image(F.encode(F.crop(dim, 0.2, 0.25), "JPEG", quality=92)))
    assert len(stored.part(mirrored=False).descriptors) >= 300
    assert verify(crop, stored) >= LOCAL_MATCH_INLIERS


def test_nearest_keys_without_a_full_sort_agree_with_the_full_sort() -> None:
    # _nearest_keys takes the nearest rows by partition; ties must still fall as a full
    # stable sort lets them (by row), or the crop candidates would depend on the shortcut.
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(50, 5000))
        keys = np.sort(rng.integers(0, n // int(rng.integers(1, 12)) + 1, n)).astype(np.int64)
        dist = rng.integers(0, int(rng.choice([3, 20, 256])), n).astype(np.uint16)
        stored = replace(matchrule.StoredSet.from_rows([]), keys={"pdq": keys})
        near = matchrule._Nearest(dist, np.zeros(n, np.int32))
        count = int(rng.integers(1, 10))
        exclude = set(rng.choice(keys, int(rng.integers(0, 3))).tolist())
        full = matchrule._first_keys(keys, np.argsort(dist, kind="stable"), count, exclude)[0]
        assert matchrule._nearest_keys(stored, "pdq", near, count, exclude) == full
