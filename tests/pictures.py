"""Pictures as ingest stores them, and a gallery of them for `matchrule.find`: shared by the
matching tests (test_matchrule, test_kpindex)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image

from fixtures import images as F
from provenance.ingest.extract import hash_pixels
from provenance.ingest.register import ADD_CROP_CANDIDATES
from provenance.matching import hashing as H
from provenance.matching import matchrule
from provenance.matching.localmatch import LocalFeatures

BASES = [11, 12, 13]
DISTRACTORS = range(500, 540)
SHAPES = [(640, 480), (480, 640), (800, 450), (320, 240)]


@dataclass
class Picture:
    rows: list[dict[str, Any]]
    query: list[H.PerceptualHash]
    features: LocalFeatures | None


def picture(img: Image.Image, fmt: str = "PNG", **params: Any) -> Picture:
    """What ingest records for an image file, converted the way search.find_for does."""
    rows, query_only, keypoints = hash_pixels(H.load_image(F.encode(img, fmt, **params)))
    return Picture(rows, H.from_rows(rows) + H.from_rows(query_only),
                   (LocalFeatures.unpack(keypoints) if keypoints else None))


class Gallery:
    def __init__(self, pictures: list[Picture]) -> None:
        self.pictures = pictures
        self.stored = matchrule.StoredSet.from_rows([
            (key, h, r["frame_seconds"], r["page"]) for key, p in enumerate(pictures)
            for r, h in zip(p.rows, H.from_rows(p.rows), strict=True)])

    def find(self, q: Picture, *, exclude: set[int] | None = None,
             crop_candidates: int = ADD_CROP_CANDIDATES) -> dict[int, str]:
        found = matchrule.find(q.query, self.stored, exclude=exclude, query_features=q.features,
                               load_features=lambda k: self.pictures[k].features,
                               crop_candidates=crop_candidates)
        return {m.key: m.verdict for m in found}


@pytest.fixture(scope="module")
def bases() -> list[Image.Image]:
    """Three generated photos the matching tests transform."""
    return [F.photo(s) for s in BASES]


@pytest.fixture(scope="module")
def gallery(bases: list[Image.Image]) -> Gallery:
    """The bases and 40 distinct distractors, stored as ingest stores them."""
    distractors = [F.photo(s, SHAPES[s % len(SHAPES)]) for s in DISTRACTORS]
    return Gallery([picture(im) for im in bases + distractors])
