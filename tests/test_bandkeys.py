"""A screenshot's band keypoints (matching.bandkeys) and the picture size kept with keypoints:
written to the keypoint cache by `prov add`, read back, and read as absent from a cache
file written before them (not misread; the keypoint index over them is kpcache.VERSION 3,
so an index built before is rebuilt)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from fixtures import images as F
from fixtures import overlays as O
from provenance.ledger.db import store_dir
from provenance.matching.derived import features_path, load_features
from provenance.matching.localmatch import FEATURE_SIDE, check
from tests.conftest import Run


def _add(prov: Callable[..., Run], path: Path) -> str:
    out = prov("add", str(path), "--json")
    assert out.exit_code == 0, out.output
    return str(out.json()[0]["sha256"])


def test_a_screenshot_keeps_keypoints_of_its_photo_at_an_originals_scale(
        prov: Callable[..., Run], db: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.jpg"
    shot.write_bytes(F.encode(O.screenshot(F.photo(1), "social"), "JPEG", quality=90))
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(F.encode(F.photo(1), "JPEG", quality=90))
    store = store_dir(db)
    features = load_features(store, _add(prov, shot))
    plain = load_features(store, _add(prov, photo))
    assert features.band is not None and plain.band is None
    # The band is fitted to FEATURE_SIDE as a photo is: 4:3, 512 wide (the whole
    # screenshot is 512 high and 237 wide).
    assert features.size == (237, 512)
    assert features.band.size is not None and features.band.size[0] == FEATURE_SIDE
    assert abs(features.band.size[1] - FEATURE_SIDE * 3 / 4) <= 3
    # At that scale the band verifies against the photo with far more inliers than the
    # whole screenshot does.
    assert check(features.band, plain).inliers > 2 * max(check(features, plain).inliers, 10)


def test_a_keypoint_cache_written_before_bands_is_read_without_them(tmp_path: Path) -> None:
    sha = "ab" * 32
    path = features_path(tmp_path, sha)
    path.parent.mkdir(parents=True)
    points = np.array([[10.0, 20.0], [-11.0, 20.0]], np.float32)
    descriptors = np.arange(64, dtype=np.uint8).reshape(2, 32)
    np.savez(path, points=points, descriptors=descriptors)  # the format before this change
    old = load_features(tmp_path, sha)
    assert old.band is None and old.size is None
    assert np.array_equal(old.points, points) and np.array_equal(old.descriptors, descriptors)
