"""Pictures as ingest stores them, and a gallery of them for `matchrule.find`: shared by the
matching tests (test_matchrule, test_kpindex)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image

from fixtures import images as F
from provenance import hashing as H
from provenance import matchrule, relations
from provenance.localmatch import LocalFeatures
from provenance.media.extract import hash_pixels

BASES = [11, 12, 13]
DISTRACTORS = range(500, 540)
SHAPES = [(640, 480), (480, 640), (800, 450), (320, 240)]


@dataclass
class Picture:
    rows: list[dict[str, Any]]
    query: list[H.PerceptualHash]
    features: LocalFeatures | None


def picture(img: Image.Image, fmt: str = "PNG", **params: Any) -> Picture:
    """What ingest records for an image file, converted the way relations.find_for does."""
    rows, query_only, keypoints = hash_pixels(H.load_image(F.encode(img, fmt, **params)))
    return Picture(rows, relations._hashes(rows) + relations._hashes(query_only),
                   relations._features(keypoints))


class Gallery:
    def __init__(self, pictures: list[Picture]) -> None:
        self.pictures = pictures
        self.stored = matchrule.StoredSet.from_rows([
            (key, h, r["frame_seconds"], r["page"]) for key, p in enumerate(pictures)
            for r, h in zip(p.rows, relations._hashes(p.rows), strict=True)])

    def find(self, q: Picture, *, exclude: set[int] | None = None,
             crop_candidates: int = relations.ADD_CROP_CANDIDATES) -> dict[int, str]:
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
