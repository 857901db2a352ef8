"""The crop stage: ORB keypoints and geometric verification of near-duplicate candidates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
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
# A picture whose middle 80% of grey levels (10th to 90th percentile) and whose typical GRID
# cell (1st to 99th percentile) both span fewer than LOW_CONTRAST grey levels is dim: before
# FAST, it is stretched so that the typical cell spans STRETCHED_SPAN, by at most MAX_GAIN.
LOW_CONTRAST = 64
STRETCHED_SPAN = 200
MAX_GAIN = 6.0
# FAST runs on the picture lightly blurred: DETECT_BLUR of the decoded picture's pixels (the
# file's own up to hashing.TARGET; a camera JPEG is decoded at about 500 px), at most
# DETECT_BLUR_MAX pixels of the FEATURE_SIDE copy. The descriptors are computed on the
# picture itself, as ORB does. On hard edges JPEG ringing and the pixel staircase pass FAST's
# threshold of 5: a black silhouette's crop + caption + q60 copy verified with 20 inliers,
# blurred first with 28 (threshold 20). Measured and not taken: stronger blur (1.2 px: 45
# there, but a video screenshot against its frame fell from 58 to 12 as the scene's grain
# was smoothed away) and a fixed blur of the FEATURE_SIDE copy (it smooths pictures shrunk
# to it and not their crops, blown up to it).
DETECT_BLUR = 0.5
DETECT_BLUR_MAX = 0.6
_RATIO = 0.8  # Lowe's ratio test: a match must be clearly better than the runner-up
# The runner-up is the nearest descriptor of a keypoint more than _DISTINCT px (of the
# FEATURE_SIDE copy) from the best match's, among its _RIVALS nearest. The same corner found
# again - at another pyramid level, or on the next jag of a hard edge - is no rival: counted
# as one, it threw good matches away (the silhouette's copy: 13 inliers, now 20 unblurred;
# the fundus crop + caption: 29 -> 37). No distinct rival among the _RIVALS nearest: the
# match is dropped, as ambiguous. Distinct pictures reach at most 12 inliers in the
# benchmark (27,582 verifications), as with the plain ratio test.
_RIVALS = 8
_DISTINCT = 12.0
_SCALE_RANGE = (0.2, 5.0)  # a re-upload is not shrunk or blown up beyond this
# Keypoints that agree only on an overlay are not the same picture. Where the two pictures
# overlap under the fitted transform, each is cut into EXPLAIN_GRID x EXPLAIN_GRID cells; the
# "explained" share is the share of its keypoints lying in a cell that holds an inlier (the
# better of the two pictures: a screenshot's small copy of a photo finds few of the photo's
# fine keypoints, yet its inliers reach every cell of it). A copy, however re-encoded, cropped
# or captioned, explains most of its overlap; two different photos under one caption bar,
# logo or app chrome leave the content unexplained. Measured on generated photos
# (fixtures/overlays.py): different pictures sharing a caption bar 0.29-0.39, a channel logo
# 0.16-0.19, app chrome 0.56-0.75; their copies under bench/robustness_images.py's
# transformations 0.89 and more, screenshots of a photo 0.91 and more. Smooth real photos in
# app chrome are not separated yet (bench/README-hashing.md, "Overlays").
EXPLAIN_GRID = 4
MIN_EXPLAINED = 0.6
MIN_OVERLAP = 0.5
# The same layout (identity geometry: two screenshots of one app, two pages on one
# letterhead, two frames of one channel) must be explained almost everywhere: there the
# chrome alone is a large share of the picture.
IDENTITY_EXPLAINED = 0.9
IDENTITY_SCALE = 0.03
IDENTITY_TURN = 1.0  # degrees
IDENTITY_SHIFT = 0.02  # of FEATURE_SIDE
# Content that differs where the pictures overlap: see _contradicted. Measured on the
# pairs of bench/overlays.py and bench/robustness_images.py (64 bases, real and generated)
# that the rules above let through: every copy that keypoints verify under the robustness
# transformations has at most 0.2 of its busy bands differing (1 of 2,021 lost, a 0.25x
# copy the hashes find anyway), screenshots of a photo at most 0.4 (3 of 174 lost); of
# the agreements between different pictures, 1,576 in one app's chrome, 207 under one
# caption bar and 452 under one channel logo, 0, 0 and 2 remain above MAX_CONTRADICTED.
CONTENT_ROWS = 10
CONTENT_MIN = 5
AGREE_RADIUS = 4.0
AGREE_BITS = 64
MAX_CONTRADICTED = 0.3
SAME_SCALE = 1.25  # within this factor both pictures' keypoints are counted
# Two shots of one scene seconds apart (a burst, HDR on and off) are "similar", not a
# re-upload: at one scale, turned 0.4-10 degrees, the centre moved 1.5% of the picture or
# more. Measured (bench/overlays.py, bench/README-hashing.md): generated burst pairs turned
# 0.54-1.38 degrees and moved 2.0-2.5%, all 24 caught; of the 2,021 copies that keypoints
# verify in bench/robustness_images.py, none (their turn at one scale at most 0.26 degrees
# where the centre moved, 1.39 degrees only for a copy halved in size, centre in place).
CAPTURE_TURN = (0.4, 10.0)
CAPTURE_SHIFT = 0.015
# Agreement at about one layout (scale within LAYOUT_SCALE of 1, not turned) whose inliers'
# bounding box covers under LOCAL_SHARE of both pictures is an overlay's: a channel's badge
# covers at most 0.19 of a picture (fixtures/overlays.py), and on a smooth or dark picture it
# is the only place keypoints are found, so the rules above, which count keypoints, saw it
# explain everything (colour wheel and fundus image under one badge: 36-40 inliers,
# bench/overlays.py). Not at other geometries: a screenshot of scikit-image's wide "text"
# picture (its words a small part of it) verified with 44 inliers at scale 0.46 and was lost
# to this rule there. The badge is drawn in proportion to the picture, so two badged
# pictures of other sizes meet at a scale a few percent off 1 (0.946: a 102-px and a 370-px
# picture). Of the 64 bases, only the colour wheel has its keypoints within 0.3 of itself
# (0.198; the next 0.449). The inliers' box is smaller than the keypoints' span: colour
# wheel and fundus photograph 0.067-0.08 of each other, a halved, brightened, watermarked
# copy of a dark camera photo and its original 0.209 (lost at a threshold of 0.3).
LOCAL_SHARE = 0.15
LAYOUT_SCALE = 0.1


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
    # Keypoints of the picture's `band` alone (a screenshot's photo between the app's chrome,
    # hashing.content_band), found at an original's scale, in the band's own pixels: see
    # matching.bandkeys. None when the picture has no band (or its cache predates them).
    band: LocalFeatures | None = None
    # (width, height) of the picture the keypoints were found on (fitted to FEATURE_SIDE);
    # None when unknown (a cache written before it was kept).
    size: tuple[int, int] | None = None

    def part(self, mirrored: bool) -> LocalFeatures:
        keep = (self.points[:, 0] < 0) if mirrored else (self.points[:, 0] >= 0)
        points = self.points[keep]
        if mirrored:
            points = points.copy()
            points[:, 0] = -1 - points[:, 0]
        return LocalFeatures(points, self.descriptors[keep], size=self.size)

    def pack(self) -> dict[str, Any]:
        """The picklable, JSON-free form that travels from worker processes: count, then the
        points (float32, n x 2) and descriptors (uint8, n x 32) as raw bytes."""
        out = {"points": self.points.astype(np.float32).tobytes(),
               "descriptors": self.descriptors.astype(np.uint8).tobytes(),
               "count": int(len(self.points))}
        if self.band is not None:
            out["band"] = self.band.pack()
        if self.size is not None:
            out["size"] = [int(self.size[0]), int(self.size[1])]
        return out

    @classmethod
    def unpack(cls, packed: dict[str, Any]) -> LocalFeatures:
        """The inverse of `pack` (also reads the first `count` rows of a keyframe pack)."""
        n = int(packed["count"])
        band = packed.get("band")
        return cls(np.frombuffer(packed["points"], np.float32)[: 2 * n].reshape(n, 2),
                   np.frombuffer(packed["descriptors"], np.uint8)[: 32 * n].reshape(n, 32),
                   cls.unpack(band) if band else None, _size(packed.get("size")))


def _size(value: Any) -> tuple[int, int] | None:
    """A stored (width, height), or None when absent or not two positive numbers."""
    try:
        w, h = (int(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (w, h) if w > 0 and h > 0 else None


def local_features(img: Image.Image, *, mirrored: bool = False) -> LocalFeatures:
    """ORB keypoints of the picture and, with `mirrored`, of its mirror image too."""
    import cv2
    from PIL import Image, ImageOps

    gray = _stretched(img.convert("L"))
    scale = FEATURE_SIDE / max(gray.size)
    gray = gray.resize((max(1, round(gray.width * scale)), max(1, round(gray.height * scale))),
                       Image.Resampling.BILINEAR)
    sigma = min(DETECT_BLUR * scale, DETECT_BLUR_MAX)
    orb = cv2.ORB_create(nfeatures=MAX_KEYPOINTS * 4,  # type: ignore[attr-defined]
                         fastThreshold=FAST_THRESHOLD)
    points, descriptors = [], []
    for flip in (False, True) if mirrored else (False,):
        pixels = np.asarray(ImageOps.mirror(gray) if flip else gray)
        detected = orb.detect(cv2.GaussianBlur(pixels, (0, 0), sigma), None)
        keypoints, found = orb.compute(pixels, _spread(detected, pixels.shape))
        if found is None or not len(keypoints):
            continue
        pts = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
        if flip:
            pts[:, 0] = -1 - pts[:, 0]
        points.append(pts)
        descriptors.append(found)
    if not points:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8),
                             size=gray.size)
    return LocalFeatures(np.concatenate(points), np.concatenate(descriptors), size=gray.size)


def _stretched(gray: Image.Image) -> Image.Image:
    """A dim, low-contrast picture stretched linearly around its middle grey levels.

    FAST's threshold is in grey levels, so a picture whose grey levels span little (a fundus
    photograph: 69-117 between its 1st and 99th percentiles) kept ~100 keypoints and its
    crops failed verification (8-12 inliers); stretched, 71-128. The stretch is monotonic,
    so ORB's comparisons, the descriptors, stay as they were.

    Dimness is judged on the middle 80% of the picture's grey levels and on the median cell
    of a GRID x GRID grid; the stretch maps the median cell's range to STRETCHED_SPAN levels.
    Judged on the whole picture's 1st to 99th percentiles, a caption's black and white on a
    re-post of the fundus image set the range, the picture was left dim and its crop +
    caption copy verified with 5 inliers (now 33). The middle 80% alone calls a text page
    dim (white paper: 0 levels between its 10th and 90th percentiles) and blew it up to
    noise; the median cell alone called two thirds of `bench/ingest.py`'s scenes dim, and
    their extra keypoints cut `prov add` from 12x to 9x. Pictures with ordinary contrast
    are left alone for that reason: stretched too, a typical scene found four times the
    keypoints and verification cost `prov add` a third of its throughput.
    """

    w, h = gray.size
    if h < GRID or w < GRID:
        return gray
    low, high = _levels(gray, 0.1, 0.9)
    if high - low >= LOW_CONTRAST:
        return gray
    ranges = np.array([_levels(gray.crop((c * w // GRID, r * h // GRID, (c + 1) * w // GRID,
                                          (r + 1) * h // GRID)), 0.01, 0.99)
                       for r in range(GRID) for c in range(GRID)])
    low, high = np.median(ranges, axis=0)
    if np.median(ranges[:, 1] - ranges[:, 0]) >= LOW_CONTRAST:
        return gray
    gain = min(STRETCHED_SPAN / max(high - low, 1.0), MAX_GAIN)
    middle = (low + high) / 2
    return gray.point([int(np.clip(round(128 + (level - middle) * gain), 0, 255))
                       for level in range(256)])


def _levels(gray: Image.Image, *shares: float) -> np.ndarray:
    """The grey levels below which these shares of the picture's pixels lie (percentiles)."""

    cumulative = np.cumsum(gray.histogram())
    return np.searchsorted(cumulative, cumulative[-1] * np.array(shares))


def _spread(keypoints: Any, shape: tuple[int, ...]) -> list[Any]:
    """At most MAX_KEYPOINTS: the strongest few of every grid cell, then the strongest left."""

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


@dataclass(frozen=True)
class Verification:
    """What keypoint verification found: the inliers that count (0: not the same picture),
    and, when the agreement was rejected as an overlay's (chrome, caption bar, logo,
    letterhead), which of the query's upright keypoints made it (indices into
    `query.part(mirrored=False)`), so that the caller can look again without them."""

    inliers: int
    overlay: np.ndarray
    # The pictures agree, but as two captures of one scene (see _is_capture), not one upload.
    capture: bool = False
    # When they agree: which of the query's upright keypoints are the inliers (as `overlay`
    # indexes them), for a caller that finds the agreement is an overlay's after all
    # (matching.bandkeys: two screenshots whose photos do not agree).
    agreed: np.ndarray | None = None


def verify(query: LocalFeatures, stored: LocalFeatures) -> int:
    """How many keypoint matches agree on one plausible similarity transform (0 if none).

    The query's upright keypoints are matched with the stored picture's upright ones and,
    where it has them, with its mirrored ones: a mirrored re-post is then a plain similarity.
    """
    return check(query, stored).inliers


def check(query: LocalFeatures, stored: LocalFeatures) -> Verification:
    """`verify`, with the query keypoints of an agreement rejected as an overlay's."""
    upright = query.part(mirrored=False)
    best = _verify(upright, stored.part(mirrored=False))
    if best.inliers < LOCAL_MATCH_INLIERS:
        other = _verify(upright, stored.part(mirrored=True))
        winner = other if other.inliers > best.inliers else best
        overlay = (winner.overlay if winner.inliers >= LOCAL_MATCH_INLIERS
                   else np.union1d(best.overlay, other.overlay))
        best = Verification(winner.inliers, overlay, winner.capture, winner.agreed)
    return best


_NONE = np.zeros(0, np.int64)


def _verify(query: LocalFeatures, stored: LocalFeatures) -> Verification:
    import cv2

    if len(query.descriptors) < 8 or len(stored.descriptors) < 8:
        return Verification(0, _NONE)
    # Lowe's ratio test against the best rival more than _DISTINCT px from the best match.
    rivals = min(_RIVALS, len(stored.descriptors))
    dist, nearest = cv2.batchDistance(query.descriptors, stored.descriptors, cv2.CV_32S,
                                      normType=cv2.NORM_HAMMING, K=rivals)
    where = stored.points[nearest]
    apart = np.hypot(*np.moveaxis(where - where[:, :1], 2, 0)) > _DISTINCT
    apart[:, 0] = False
    rival = dist[np.arange(len(dist)), np.argmax(apart, axis=1)]
    good = np.flatnonzero(apart.any(axis=1) & (dist[:, 0] < _RATIO * rival))
    if len(good) < 8:
        return Verification(0, _NONE)
    src, dst = query.points[good], stored.points[nearest[good, 0]]
    transform, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                                  ransacReprojThreshold=4.0, maxIters=2000)
    if transform is None or mask is None:
        return Verification(0, _NONE)
    scale = float(np.hypot(transform[0, 0], transform[1, 0]))
    if not _SCALE_RANGE[0] <= scale <= _SCALE_RANGE[1]:
        return Verification(0, _NONE)
    inliers = mask.ravel().astype(bool)
    # Many matches piled on one small patch (a shared logo, a caption) are not the same photo:
    # count only inliers spread over distinct cells of a 8x8 grid of the stored image.
    pts = dst[inliers]
    if len(pts) == 0:
        return Verification(0, _NONE)
    span = np.maximum(stored.points.max(axis=0), 1.0)
    cells = np.unique((np.minimum(pts / span * 8, 7)).astype(np.int32), axis=0)
    counted = int(min(inliers.sum(), len(cells) * 4))
    if counted < 8:
        return Verification(counted, _NONE)
    overlay = Verification(0, good[inliers])
    # Agreement confined to a small part of both pictures of one layout (a channel's badge on
    # two pictures that have keypoints nowhere else) is an overlay's, whatever the rules
    # below find.
    if _same_layout(transform) \
            and max(_covered(src[inliers], query), _covered(pts, stored)) < LOCAL_SHARE:
        return overlay
    # Agreement only an overlay explains (an app's chrome, a caption bar, a channel logo, a
    # letterhead) leaves the content where the pictures overlap unexplained: see _explained.
    on_stored = _overlap(query.points, transform, stored.points)
    on_query = _overlap(stored.points, _inverse(transform), query.points)
    # The overlap itself must be a good share of one of the pictures (all of a crop, all of
    # the photo inside a screenshot), not a strip where an overlay met an overlay.
    if max(_share(on_stored, stored.points), _share(on_query, query.points)) < MIN_OVERLAP:
        return overlay
    explained = max(_explained(stored.points, pts, on_stored),
                    _explained(query.points, src[inliers], on_query))
    needed = IDENTITY_EXPLAINED if _is_identity(transform) else MIN_EXPLAINED
    if explained < needed:
        return overlay
    if _contradicted(query, stored, transform, dist, nearest) > MAX_CONTRADICTED:
        return overlay
    return Verification(counted, _NONE, _is_capture(transform, query.points), good[inliers])


def _covered(points: np.ndarray, features: LocalFeatures) -> float:
    """The share of the picture that the bounding box of `points` (its keypoints) covers;
    1.0 when the picture's size is not known."""
    if features.size is None or not len(points):
        return 1.0
    box = np.prod(points.max(axis=0) - points.min(axis=0))
    return float(box / (features.size[0] * features.size[1]))


def _contradicted(query: LocalFeatures, stored: LocalFeatures, transform: np.ndarray,
                  dist: np.ndarray, nearest: np.ndarray) -> float:
    """The share of the overlap's busy rows where the content differs (0: none; 1: all).

    The overlap is cut into CONTENT_ROWS horizontal bands. A band is busy when it holds at
    least CONTENT_MIN keypoints of a picture, and differs when none of them finds its
    counterpart in the other picture: a keypoint of that one within AGREE_RADIUS px of where
    the transform puts it, its descriptor within AGREE_BITS. An overlay (status bar,
    caption lines, a logo, a letterhead's header) agrees in its own bands; the different
    photo or body between them agrees nowhere. A copy, however re-encoded, agrees a little
    in nearly every band (bench/README-hashing.md, "Overlays").

    Counted on the coarser picture (the one the transform enlarges): a small copy has no
    counterpart for the original's fine detail, but the original has one for nearly every
    keypoint of the copy. When both are at about one scale, on the one with more busy bands
    (a smooth picture under a logo keeps keypoints on the logo only). `dist` and `nearest` are the
    query's nearest stored descriptors, as verification found them.
    """
    scale = float(np.hypot(transform[0, 0], transform[1, 0]))
    forward = _differing(query, stored, transform, dist, nearest)
    backward = _differing(stored, query, _inverse(transform))
    if scale < 1 / SAME_SCALE:
        return backward[0]
    if scale > SAME_SCALE:
        return forward[0]
    # At one scale, the picture with more busy bands says more (a smooth picture under a
    # logo has keypoints only on the logo, and they all agree).
    return max(forward, backward, key=lambda side: (side[1], -side[0]))[0]


def _differing(coarse: LocalFeatures, fine: LocalFeatures, transform: np.ndarray,
               dist: np.ndarray | None = None, nearest: np.ndarray | None = None
               ) -> tuple[float, int]:
    """_contradicted counted on the keypoints of `coarse` (see there): the share of its
    busy bands that differ, and how many bands are busy."""
    import cv2

    if dist is None or nearest is None:
        dist, nearest = cv2.batchDistance(coarse.descriptors, fine.descriptors, cv2.CV_32S,
                                          normType=cv2.NORM_HAMMING,
                                          K=min(_RIVALS, len(fine.descriptors)))
    mapped = coarse.points @ transform[:, :2].T + transform[:, 2]
    where = fine.points[nearest]
    near = np.hypot(*np.moveaxis(where - mapped[:, None, :], 2, 0)) <= AGREE_RADIUS
    agreed = (near & (dist <= AGREE_BITS)).any(axis=1)
    box = _overlap(coarse.points, transform, fine.points)
    inside = np.all((mapped >= box[:2]) & (mapped <= box[2:]), axis=1)
    if not inside.any():
        return 0.0, 0
    rows = np.clip(((mapped[inside, 1] - box[1]) / max(box[3] - box[1], 1e-6)
                    * CONTENT_ROWS).astype(np.int64), 0, CONTENT_ROWS - 1)
    count = np.bincount(rows, minlength=CONTENT_ROWS)
    hits = np.bincount(rows[agreed[inside]], minlength=CONTENT_ROWS)
    busy = count >= CONTENT_MIN
    return float((busy & (hits == 0)).sum() / max(int(busy.sum()), 1)), int(busy.sum())


def _share(box: np.ndarray, points: np.ndarray) -> float:
    """The share of the span of `points` that `box` covers."""
    span = np.maximum(points.max(axis=0) - points.min(axis=0), 1e-6)
    return float(np.prod(np.maximum(box[2:] - box[:2], 0)) / np.prod(span))


def _inverse(transform: np.ndarray) -> np.ndarray:
    return np.asarray(np.linalg.inv(np.vstack([transform, [0.0, 0.0, 1.0]]))[:2])


def _overlap(points: np.ndarray, transform: np.ndarray, onto: np.ndarray) -> np.ndarray:
    """The box (x0, y0, x1, y1), in `onto`'s pixels, where the keypoints of both pictures lie:
    the span of `points` mapped by `transform`, cut to the span of `onto`."""
    low, high = points.min(axis=0), points.max(axis=0)
    corners = np.array([[low[0], low[1]], [high[0], low[1]], [low[0], high[1]],
                        [high[0], high[1]]], np.float64) @ transform[:, :2].T + transform[:, 2]
    return np.concatenate([np.maximum(corners.min(axis=0), onto.min(axis=0)),
                           np.minimum(corners.max(axis=0), onto.max(axis=0))])


def _explained(points: np.ndarray, inliers: np.ndarray, box: np.ndarray) -> float:
    """The share of one picture's keypoints in the overlap that lie in an EXPLAIN_GRID cell
    (of the overlap) holding at least one inlier."""
    size = np.maximum(box[2:] - box[:2], 1e-6)

    def cells(p: np.ndarray) -> np.ndarray:
        xy = np.clip(((p - box[:2]) / size * EXPLAIN_GRID).astype(np.int64), 0, EXPLAIN_GRID - 1)
        return np.asarray(xy[:, 1] * EXPLAIN_GRID + xy[:, 0])

    inside = np.all((points >= box[:2]) & (points <= box[2:]), axis=1)
    if not inside.any():
        return 0.0
    count = np.bincount(cells(points[inside]), minlength=EXPLAIN_GRID ** 2)
    hit = np.bincount(cells(inliers), minlength=EXPLAIN_GRID ** 2) > 0
    return float(count[hit].sum() / count.sum())


def _is_capture(transform: np.ndarray, points: np.ndarray) -> bool:
    """Same scale, but turned by CAPTURE_TURN degrees and its centre moved CAPTURE_SHIFT: two
    shots of one scene seconds apart (the camera moved in the hand), not one picture
    re-encoded, resized, cropped or padded, which is never turned by a degree."""
    scale = float(np.hypot(transform[0, 0], transform[1, 0]))
    turn = abs(float(np.degrees(np.arctan2(transform[1, 0], transform[0, 0]))))
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    moved = float(np.hypot(*(transform[:, :2] @ centre + transform[:, 2] - centre)))
    return (abs(scale - 1) <= IDENTITY_SCALE and CAPTURE_TURN[0] <= turn <= CAPTURE_TURN[1]
            and moved >= CAPTURE_SHIFT * FEATURE_SIDE)


def _same_layout(transform: np.ndarray) -> bool:
    """About one scale (within LAYOUT_SCALE), not turned (IDENTITY_TURN): shifted or not."""
    scale = float(np.hypot(transform[0, 0], transform[1, 0]))
    turn = abs(float(np.degrees(np.arctan2(transform[1, 0], transform[0, 0]))))
    return abs(scale - 1) <= LAYOUT_SCALE and turn <= IDENTITY_TURN


def _is_identity(transform: np.ndarray) -> bool:
    """Same scale, no turn, no shift (within IDENTITY_*): both pictures have one layout."""
    scale = float(np.hypot(transform[0, 0], transform[1, 0]))
    turn = abs(float(np.degrees(np.arctan2(transform[1, 0], transform[0, 0]))))
    shift = float(np.abs(transform[:, 2]).max())
    return (abs(scale - 1) <= IDENTITY_SCALE and turn <= IDENTITY_TURN
            and shift <= IDENTITY_SHIFT * FEATURE_SIDE)
