"""The crop stage: ORB keypoints and geometric verification of near-duplicate candidates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

# A candidate is a re-upload when at least this many keypoint matches agree on one similarity
# transform (shift, scale, rotation). Distinct photos reach far fewer (measured maximum in
# bench/README-hashing.md); crops of 20% keep most of the original's keypoints.
LOCAL_MATCH_INLIERS = 20
FEATURE_SIDE = 512  # keypoints are found on the image fitted to this, so thumbnails get some
MAX_KEYPOINTS = 600
# Keypoints are spread over a GRID x GRID grid, MAX_KEYPOINTS / GRID^2 strongest per cell first:
# kept purely by strength, a caption's letter corners took most of the budget and smooth
# pictures kept ~50 keypoints in all (measured: crop + caption copies fell from ~48 inliers to
# 18). A low FAST threshold finds candidates on smooth pictures; the grid keeps them in check.
GRID = 4
FAST_THRESHOLD = 5
LOW_CONTRAST = 96  # grey levels between the 1st and 99th percentiles; below, stretched
_RATIO = 0.8  # Lowe's ratio test: a match must be clearly better than the runner-up
_SCALE_RANGE = (0.2, 5.0)  # a re-upload is not shrunk or blown up beyond this


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoint positions (n, 2) in feature-image pixels and their ORB descriptors (n, 32).

    ORB descriptors do not survive mirroring, so the keypoints of the mirrored picture are
    kept too, marked by a negative x: (-1 - x, y) in the mirrored picture's pixels. The
    marking keeps the stored form (count, points, descriptors) unchanged; features stored
    before it simply have no mirrored part.
    """

    points: np.ndarray
    descriptors: np.ndarray

    def part(self, mirrored: bool) -> LocalFeatures:
        keep = (self.points[:, 0] < 0) if mirrored else (self.points[:, 0] >= 0)
        points = self.points[keep]
        if mirrored:
            points = points.copy()
            points[:, 0] = -1 - points[:, 0]
        return LocalFeatures(points, self.descriptors[keep])


def local_features(img: Image.Image, *, mirrored: bool = False) -> LocalFeatures:
    """ORB keypoints of the picture and, with `mirrored`, of its mirror image too."""
    import cv2
    import numpy as np
    from PIL import Image, ImageOps

    gray = _stretched(img.convert("L"))
    scale = FEATURE_SIDE / max(gray.size)
    gray = gray.resize((max(1, round(gray.width * scale)), max(1, round(gray.height * scale))),
                       Image.Resampling.BILINEAR)
    orb = cv2.ORB_create(nfeatures=MAX_KEYPOINTS * 4,  # type: ignore[attr-defined]
                         fastThreshold=FAST_THRESHOLD)
    points, descriptors = [], []
    for flip in (False, True) if mirrored else (False,):
        pixels = np.asarray(ImageOps.mirror(gray) if flip else gray)
        keypoints, found = orb.compute(pixels, _spread(orb.detect(pixels, None), pixels.shape))
        if found is None or not len(keypoints):
            continue
        pts = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
        if flip:
            pts[:, 0] = -1 - pts[:, 0]
        points.append(pts)
        descriptors.append(found)
    if not points:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
    return LocalFeatures(np.concatenate(points), np.concatenate(descriptors))


def _stretched(gray: Image.Image) -> Image.Image:
    """A dim, low-contrast picture stretched to the full range (1% clipped at each end).

    FAST's threshold is in grey levels, so a picture whose grey levels span less than
    LOW_CONTRAST (a fundus photograph: 69-117 between its 1st and 99th percentiles) kept
    ~100 keypoints and its crops failed verification (8-12 inliers); stretched, 71-128.
    The stretch is monotonic, so ORB's comparisons, the descriptors, stay as they were.
    Pictures with ordinary contrast are left alone: stretched too, a typical scene found four
    times the keypoints and verification cost `prov add` a third of its throughput.
    """
    from PIL import ImageOps

    histogram = gray.histogram()
    total = sum(histogram)
    if not total:
        return gray
    cumulative, low, high = 0, 0, 255
    for level, count in enumerate(histogram):
        if cumulative < total * 0.01 <= cumulative + count:
            low = level
        if cumulative < total * 0.99 <= cumulative + count:
            high = level
        cumulative += count
    if high - low >= LOW_CONTRAST:
        return gray
    return ImageOps.autocontrast(gray, cutoff=1)


def _spread(keypoints: Any, shape: tuple[int, ...]) -> list[Any]:
    """At most MAX_KEYPOINTS: the strongest few of every grid cell, then the strongest left."""
    import numpy as np

    if not keypoints:
        return []
    h, w = shape[:2]
    xy = np.array([k.pt for k in keypoints], np.float32)
    response = np.array([k.response for k in keypoints], np.float32)
    cell = (np.minimum(xy[:, 1] * GRID // h, GRID - 1) * GRID
            + np.minimum(xy[:, 0] * GRID // w, GRID - 1)).astype(np.int64)
    order = np.lexsort((-response, cell))  # by cell, strongest first within it
    sorted_cell = cell[order]
    starts = np.flatnonzero(np.r_[True, sorted_cell[1:] != sorted_cell[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    first = order[rank < MAX_KEYPOINTS // (GRID * GRID)]
    by_strength = np.argsort(-response, kind="stable")
    rest = by_strength[~np.isin(by_strength, first)]
    chosen = np.concatenate([first, rest[: max(0, MAX_KEYPOINTS - len(first))]])
    return [keypoints[i] for i in chosen]


def verify(query: LocalFeatures, stored: LocalFeatures) -> int:
    """How many keypoint matches agree on one plausible similarity transform (0 if none).

    The query's upright keypoints are matched with the stored picture's upright ones and,
    where it has them, with its mirrored ones: a mirrored re-post is then a plain similarity.
    """
    upright = query.part(mirrored=False)
    best = _verify(upright, stored.part(mirrored=False))
    if best < LOCAL_MATCH_INLIERS:
        best = max(best, _verify(upright, stored.part(mirrored=True)))
    return best


def _verify(query: LocalFeatures, stored: LocalFeatures) -> int:
    import cv2
    import numpy as np

    if len(query.descriptors) < 8 or len(stored.descriptors) < 8:
        return 0
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(query.descriptors, stored.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < _RATIO * p[1].distance]
    if len(good) < 8:
        return 0
    src = query.points[[m.queryIdx for m in good]]
    dst = stored.points[[m.trainIdx for m in good]]
    transform, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                                  ransacReprojThreshold=4.0, maxIters=2000)
    if transform is None or mask is None:
        return 0
    scale = float(np.hypot(transform[0, 0], transform[1, 0]))
    if not _SCALE_RANGE[0] <= scale <= _SCALE_RANGE[1]:
        return 0
    inliers = mask.ravel().astype(bool)
    # Many matches piled on one small patch (a shared logo, a caption) are not the same photo:
    # count only inliers spread over distinct cells of a 8x8 grid of the stored image.
    pts = dst[inliers]
    if len(pts) == 0:
        return 0
    span = np.maximum(stored.points.max(axis=0), 1.0)
    cells = np.unique((np.minimum(pts / span * 8, 7)).astype(np.int32), axis=0)
    return int(min(inliers.sum(), len(cells) * 4))
