"""A hash link through one corner window, made by an overlay in that corner: a channel's badge.

Every post of one channel carries its badge in the same corner. On two dark pictures the
badge is most of what a corner window's PDQ sees: in bench/overlays.py the top-left 80%
windows of two different badged pictures were 28-30 bits apart (a re-upload is within 31),
although their keypoints agreed only on the badge. A badged copy of a picture meets its
original through the windows the badge leaves alone (the lower right, the band below it),
and its keypoints agree over the whole picture, badge aside.

So a link that rests on one of the query's windows (hashing.REGIONS) is checked by
keypoints, and it is only "similar" when they reject the agreement as an overlay's and the
keypoints that made it lie in a small part of the picture: their bounding box covers under
LOCAL_SHARE of the span of the query's keypoints. Measured on the logo set's pairs
(64 bases): the badge pairs 0.10-0.17; true badged copies that keypoints reject as an
overlay (the badge's rows differ) 0.79-1.0. An earlier rule that made every such rejected
window link "similar" turned true badged copies "similar" too (the set's recall 0.444 ->
0.238): the spread of the agreement is what tells them apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.matching import hashing

if TYPE_CHECKING:
    from provenance.matching.localmatch import LocalFeatures, Verification

LOCAL_SHARE = 0.4


def through_window(region: str) -> bool:
    """The query's hash that made the link is one of its sub-region windows."""
    return region in hashing.REGIONS


def local_overlay(found: Verification, query: LocalFeatures) -> bool:
    """Keypoints rejected the agreement as an overlay's, and it lies in a small part of the
    query (under LOCAL_SHARE of the span of its upright keypoints)."""
    import numpy as np

    if not len(found.overlay):
        return False
    points = query.part(mirrored=False).points
    agreed = points[found.overlay]
    span = np.prod(np.maximum(points.max(axis=0) - points.min(axis=0), 1.0))
    box = np.prod(agreed.max(axis=0) - agreed.min(axis=0))
    return bool(box / span < LOCAL_SHARE)
