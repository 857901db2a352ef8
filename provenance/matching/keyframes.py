"""Keypoints of a video's sampled frames or a document's pages: the crop stage beyond hashes.

A whole-picture hash cannot see through a 20% crop of a video or a phone photo of a page
(measured: PDQ 86 bits from its page, 100+ for a cropped frame). ORB keypoints verified
geometrically can (provenance.matching.localmatch), so each video keeps them for up to 60 frames and
each document for its pages. Like image keypoints they are a derived cache beside the store,
rebuilt from the original if lost, never evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provenance.matching.localmatch import LocalFeatures

# A photographed page is a re-upload of a page when this many keypoints agree on one
# geometry. Higher than for photos (localmatch.LOCAL_MATCH_INLIERS = 20): pages of one form
# share a printed header and rules. Measured on the questionnaire fixture: the photo of
# page 1 reaches 100 inliers with page 1 and 25-28 with pages 2 and 3 through the header.
PAGE_MATCH_INLIERS = 50
# A frame (or a still) against a video frame: as for photos. Measured: a 20% crop of a
# synthetic scene reaches 44-52 inliers with its own frame, at most 9 with other footage.
FRAME_MATCH_INLIERS = 20
# Video against video: keyframe pairs that must agree (on the same time offset, within
# OFFSET_TOLERANCE seconds) before the crop stage calls it a re-upload; one pair is "similar".
VIDEO_MATCH_PAIRS = 2
OFFSET_TOLERANCE = 2.0
# Query keyframes tried against a candidate video, and how many of its keyframes (or pages)
# each is verified against: those that receive the most descriptor matches. One matching
# pass over all of a candidate's descriptors, then SHORTLIST geometric checks, instead of a
# check per stored keyframe (8 x 60 x ~2 ms).
QUERY_KEYFRAMES = 8
SHORTLIST = 3


@dataclass(frozen=True)
class Keyframes:
    """Keypoints per labelled picture: frame seconds (video) or page numbers (document)."""

    label_kind: str  # "seconds" | "page"
    labels: list[float]
    features: list[LocalFeatures]


def pack(frames: list[tuple[float, LocalFeatures]], label_kind: str) -> dict[str, Any]:
    """A picklable dict (Analysis.features) holding every picture's keypoints."""
    import numpy as np

    counts = [len(f.points) for _, f in frames]
    points = np.concatenate([f.points for _, f in frames]) if frames else np.zeros((0, 2))
    descriptors = (np.concatenate([f.descriptors for _, f in frames]) if frames
                   else np.zeros((0, 32), np.uint8))
    return {"keyframes": label_kind, "labels": [float(t) for t, _ in frames],
            "counts": counts, "points": points.astype(np.float32).tobytes(),
            "descriptors": descriptors.astype(np.uint8).tobytes(), "count": int(sum(counts))}


def is_packed(features: dict[str, Any] | None) -> bool:
    return bool(features) and "keyframes" in (features or {})


def unpack(features: dict[str, Any]) -> Keyframes:

    from provenance.matching.localmatch import LocalFeatures

    whole = LocalFeatures.unpack(features)
    points, descriptors = whole.points, whole.descriptors
    out, start = [], 0
    for c in features["counts"]:
        out.append(LocalFeatures(points[start:start + c], descriptors[start:start + c]))
        start += c
    return Keyframes(features["keyframes"], list(features["labels"]), out)


def _path(root: Path, sha256: str) -> Path:
    return root / "features" / sha256[:2] / f"{sha256}.keyframes.npz"


def put(root: Path, sha256: str, features: dict[str, Any]) -> None:
    """Cache an item's keyframe keypoints beside the store (written whole, then renamed)."""
    import numpy as np

    from provenance.matching.derived import save_derived

    save_derived(_path(root, sha256), kind=np.array([features["keyframes"]]),
                 labels=np.array(features["labels"], np.float64),
                 counts=np.array(features["counts"], np.int64),
                 points=np.frombuffer(features["points"], np.uint8),
                 descriptors=np.frombuffer(features["descriptors"], np.uint8))


def load(root: Path, sha256: str) -> Keyframes | None:
    import numpy as np

    try:
        with np.load(_path(root, sha256)) as data:
            packed = {"keyframes": str(data["kind"][0]), "labels": data["labels"].tolist(),
                      "counts": data["counts"].tolist(), "points": data["points"].tobytes(),
                      "descriptors": data["descriptors"].tobytes(),
                      "count": int(data["counts"].sum())}
    except (OSError, ValueError, KeyError):
        return None
    return unpack(packed)


@dataclass(frozen=True)
class KeyframeMatch:
    verdict: str  # "re-upload" | "similar"
    inliers: int  # best pair's geometrically consistent keypoints
    label: float  # where in the stored item: seconds or page
    detail: dict[str, Any]


def match_picture(query: LocalFeatures, stored: Keyframes) -> KeyframeMatch | None:
    """One picture (a photo, a still) against every keyframe or page of one stored item."""
    from provenance.matching.localmatch import LOCAL_MATCH_INLIERS, verify

    if not stored.features:
        return None
    scores = [0] * len(stored.features)
    for i in shortlist(query, stored):
        scores[i] = verify(query, stored.features[i])
    best = max(range(len(scores)), key=lambda i: scores[i])
    threshold = PAGE_MATCH_INLIERS if stored.label_kind == "page" else FRAME_MATCH_INLIERS
    if scores[best] < LOCAL_MATCH_INLIERS:
        return None
    verdict = "re-upload" if scores[best] >= threshold else "similar"
    runner_up = max((s for i, s in enumerate(scores) if i != best), default=0)
    return KeyframeMatch(verdict, scores[best], stored.labels[best],
                         {"orb_inliers": scores[best], "orb_runner_up": runner_up})


def match_video(query: Keyframes, stored: Keyframes) -> KeyframeMatch | None:
    """A video's keyframes against another's: pairs that verify and agree on a time offset."""
    from provenance.matching.localmatch import verify

    if not query.features or not stored.features:
        return None
    step = max(1, len(query.features) // QUERY_KEYFRAMES)
    tried = list(range(0, len(query.features), step))[:QUERY_KEYFRAMES]
    pairs: list[tuple[float, float, int]] = []  # (query seconds, stored seconds, inliers)
    for qi in tried:
        scored = [(verify(query.features[qi], stored.features[i]), i)
                  for i in shortlist(query.features[qi], stored)]
        inliers, best = max(scored, default=(0, 0))
        if inliers >= FRAME_MATCH_INLIERS:
            pairs.append((query.labels[qi], stored.labels[best], inliers))
    if not pairs:
        return None
    # The largest group of pairs that agree on where the query sits in the stored video.
    offsets = sorted(s - q for q, s, _ in pairs)
    best_group: list[float] = []
    for o in offsets:
        group = [x for x in offsets if o <= x <= o + OFFSET_TOLERANCE]
        if len(group) > len(best_group):
            best_group = group
    agreed = [p for p in pairs if best_group[0] <= p[1] - p[0] <= best_group[-1]]
    verdict = "re-upload" if len(agreed) >= VIDEO_MATCH_PAIRS else "similar"
    seconds = [s for _, s, _ in agreed]
    return KeyframeMatch(verdict, max(n for *_, n in agreed), min(seconds), {
        "orb_pairs": len(agreed), "orb_pairs_tried": len(tried),
        "orb_inliers": max(n for *_, n in agreed),
        "covers_seconds": [min(seconds), max(seconds)],
        "query_seconds": [min(q for q, _, _ in agreed), max(q for q, _, _ in agreed)]})


def shortlist(query: LocalFeatures, stored: Keyframes, size: int = SHORTLIST) -> list[int]:
    """The stored pictures that receive the most ratio-test descriptor matches from query."""
    import cv2
    import numpy as np

    if len(stored.features) <= size:
        return list(range(len(stored.features)))
    if len(query.descriptors) < 2:
        return []
    descriptors = np.concatenate([f.descriptors for f in stored.features])
    owner = np.repeat(np.arange(len(stored.features)), [len(f.descriptors)
                                                        for f in stored.features])
    if len(descriptors) < 2:
        return []
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(query.descriptors, descriptors, k=2)
    good = [p[0].trainIdx for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    votes = np.bincount(owner[good], minlength=len(stored.features)) if good else \
        np.zeros(len(stored.features), np.int64)
    return [int(i) for i in np.argsort(-votes, kind="stable")[:size] if votes[i] > 0]
