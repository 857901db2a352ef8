"""The fast PDQ path (provenance/matching/pdq.py) against pdqhash's own Python API."""

from __future__ import annotations

import numpy as np
import pdqhash
import pytest
from PIL import Image

from fixtures import images as F
from provenance.matching import hashing as H
from provenance.matching import pdq as pdqfast
from provenance.matching.pdq import DIHEDRAL, pack_bits


def _reference(img: Image.Image) -> H.PictureHashes:
    """hashing.hash_picture as it was written before pdqfast: one pdqhash call per hash."""
    small = H._reduced(img, H.HASH_SIDE)
    box = H.trim_box(small)
    sx, sy = img.width / small.width, img.height / small.height
    full_box = (round(box[0] * sx), round(box[1] * sy), round(box[2] * sx), round(box[3] * sy))
    trimmed = small.crop(box) if box != (0, 0, *small.size) else small
    hashed = H._reduced(trimmed, H.HASH_SIDE).convert("RGB")
    all_bits, quality = pdqhash.compute_dihedral(np.asarray(hashed))
    pdq = [H.PerceptualHash("pdq", pack_bits(b), int(quality), n)
           for b, n in zip(all_bits, DIHEDRAL, strict=True)]
    phash = H.phash_variants(hashed)
    regions = []
    for name, b in H.region_boxes(hashed.size).items():
        bits, q = pdqhash.compute(np.asarray(hashed.crop(b)))
        if q >= H.PDQ_MIN_QUALITY:
            regions.append(H.PerceptualHash("pdq", pack_bits(bits), int(q), name))
    band = H.content_band(np.asarray(hashed))  # the picture between an app's chrome
    if band is not None:
        bits, q = pdqhash.compute(np.asarray(hashed.crop(band)))
        if q >= H.PDQ_MIN_QUALITY:
            regions.append(H.PerceptualHash("pdq", pack_bits(bits), int(q), "band"))
    return H.PictureHashes(full_box, (pdq[0], phash[0], *regions), tuple(pdq[1:] + phash[1:]))


def _pictures() -> list[Image.Image]:
    rng = np.random.default_rng(3)
    noise = Image.fromarray(rng.integers(0, 256, (217, 383, 3), dtype=np.uint8))
    tiny = Image.fromarray(rng.integers(0, 256, (4, 9, 3), dtype=np.uint8))
    flat = Image.new("RGB", (300, 200), (40, 90, 160))
    padded = Image.new("RGB", (500, 500), (255, 255, 255))
    padded.paste(F.photo(2).resize((400, 260)), (50, 120))
    return [F.photo(1), F.photo(5).rotate(90, expand=True), noise, tiny, flat, padded]


def test_the_native_path_is_found() -> None:
    # The wheel pinned in this project exports the C++ functions; losing them costs speed only.
    assert pdqfast.native()


@pytest.mark.parametrize("index", range(6))
def test_windows_and_dihedral_equal_pdqhash(index: int) -> None:
    rgb = np.asarray(_pictures()[index].convert("RGB"))
    picture = pdqfast.Picture(rgb)
    bits, quality = pdqhash.compute_dihedral(rgb)
    assert picture.dihedral() == ([pack_bits(b) for b in bits], int(quality))
    h, w = rgb.shape[:2]
    for box in ((0, 0, w, h), (1, 2, w - 3, h - 1), (w // 3, h // 4, w, h), (0, 0, 3, 3)):
        crop = np.ascontiguousarray(rgb[box[1]:box[3], box[0]:box[2]])
        bits1, quality1 = pdqhash.compute(crop)
        assert picture.window(box) == (pack_bits(bits1), int(quality1)), box


@pytest.mark.parametrize("index", range(6))
def test_hash_picture_equals_one_pdqhash_call_per_hash(index: int) -> None:
    img = _pictures()[index]
    assert H.hash_picture(img) == _reference(img)


def test_fallback_without_the_native_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    img = _pictures()[0]
    monkeypatch.setattr(pdqfast, "_native", None)
    assert not pdqfast.native()
    assert H.hash_picture(img) == _reference(img)
