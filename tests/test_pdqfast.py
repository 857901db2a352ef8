"""The fast PDQ path (provenance/media/pdqfast.py) against pdqhash and hashing.hash_picture."""

from __future__ import annotations

import numpy as np
import pdqhash
import pytest
from PIL import Image

from fixtures import images as F
from provenance import hashing as H
from provenance.media import pdqfast
from provenance.media.extract import hash_picture


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
    assert picture.dihedral() == ([H._pack_pdq(b) for b in bits], int(quality))
    h, w = rgb.shape[:2]
    for box in ((0, 0, w, h), (1, 2, w - 3, h - 1), (w // 3, h // 4, w, h), (0, 0, 3, 3)):
        crop = np.ascontiguousarray(rgb[box[1]:box[3], box[0]:box[2]])
        bits1, quality1 = pdqhash.compute(crop)
        assert picture.window(box) == (H._pack_pdq(bits1), int(quality1)), box


@pytest.mark.parametrize("index", range(6))
def test_hash_picture_equals_hashing(index: int) -> None:
    img = _pictures()[index]
    assert hash_picture(img) == H.hash_picture(img)


def test_fallback_without_the_native_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    img = _pictures()[0]
    monkeypatch.setattr(pdqfast, "_native", None)
    assert not pdqfast.native()
    assert hash_picture(img) == H.hash_picture(img)
