"""Keypoints of a screenshot's photo band, found at the scale an original's keypoints have.

A phone screenshot (1170x2532) shows its photo as a full-width band about a third of the
screenshot's height (hashing.content_band). Keypoints are found on a picture fitted to
localmatch.FEATURE_SIDE px, so the screenshot's photo spans about 230 of its 512 rows: the
keypoint detector sees it at half the scale the original was seen at, and most of the
original's fine keypoints have no counterpart. The keypoint vote (kpindex) then ranked the
original below the 30 most voted pictures for 11 of the 17 social-app screenshots `prov add`
missed in bench/overlays.py, although the photo verified against its original with 35-108
inliers when checked directly.

So a picture with a band also keeps the keypoints of the band alone, cropped out and fitted
to FEATURE_SIDE like any picture (`LocalFeatures.band`, in the band's own pixels): at ingest
they are indexed under the picture beside its whole keypoints, at query they vote for
candidates of their own, and verification tries the band against the other picture (and the
other's band) when the whole pictures do not verify. The overlay rules of
localmatch.check apply to every one of these comparisons unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from provenance.matching import localmatch
from provenance.matching.localmatch import LOCAL_MATCH_INLIERS, LocalFeatures, Verification

if TYPE_CHECKING:
    from PIL import Image


def with_band(features: LocalFeatures, picture: Image.Image,
              rows: tuple[float, float] | None) -> LocalFeatures:
    """`features` of `picture` (the trimmed picture they were found on) with the keypoints of
    its band, rows (top, bottom) as shares of its height; unchanged when there is no band."""
    if rows is None:
        return features
    top, bottom = round(rows[0] * picture.height), round(rows[1] * picture.height)
    if bottom - top < 8:
        return features
    band = localmatch.local_features(picture.crop((0, top, picture.width, bottom)))
    if not len(band.points):
        return features
    return LocalFeatures(features.points, features.descriptors, band, features.size)


# A band comparison counts only when its agreement covers at least this share of the
# query's side (the band, or the whole picture): a screenshot's photo and its original agree
# all over, while a badge on a picture with flat rows at top and bottom (a colour wheel)
# covered 0.2 of that picture's band, against a dark picture under the same badge, where
# the whole pictures' comparison had found it an overlay's (localmatch.LOCAL_SHARE).
BAND_SHARE = 0.3


def _spread(found: Verification, query: LocalFeatures) -> float:
    """The share of `query`'s picture that the box of its agreeing keypoints covers (1.0 when
    its size or the agreeing keypoints are not known)."""
    if query.size is None or found.agreed is None or not len(found.agreed):
        return 1.0
    points = query.part(mirrored=False).points[found.agreed]
    box = np.prod(points.max(axis=0) - points.min(axis=0))
    return float(box / (query.size[0] * query.size[1]))


def banded(query: LocalFeatures | None, stored: LocalFeatures | None) -> bool:
    """Both pictures have a band: two screenshots (or two framed pictures), whose whole
    pictures share whatever chrome or frame surrounds their photos."""
    return query is not None and stored is not None and query.band is not None \
        and stored.band is not None


def check_pair(query: LocalFeatures, stored: LocalFeatures) -> Verification:
    """localmatch.check of the two pictures, and of their bands where they have them.

    Only one has a band (a screenshot and a photo): when the whole pictures do not verify,
    the band against the other picture (or the picture against the other's band) is tried;
    the one that verifies, with the most inliers, is the answer.

    Both have bands (two screenshots): the whole pictures agreeing says nothing, since the
    app's chrome agrees around any two photos (measured: the moon and a camera photo in the
    social app's chrome verified with 20 inliers, their bands with none). One of the band
    comparisons must verify; when none does, an agreement of the whole pictures is returned
    as an overlay's (its inliers as `overlay`, so the caller looks again without them).

    The overlay keypoints returned are always the whole query's, the only ones the caller
    can leave out of its next vote.
    """
    whole = localmatch.check(query, stored)
    verified = whole.inliers >= LOCAL_MATCH_INLIERS and not len(whole.overlay)
    both = banded(query, stored)
    if (verified and not both) or (query.band is None and stored.band is None):
        return whole
    pairs = []
    if query.band is not None:
        pairs.append((query.band, stored))
    if stored.band is not None:
        pairs.append((query, stored.band))
    if query.band is not None and stored.band is not None:
        pairs.append((query.band, stored.band))
    best: Verification | None = None
    for q, s in pairs:
        found = localmatch.check(q, s)
        if found.inliers >= LOCAL_MATCH_INLIERS and not len(found.overlay) \
                and _spread(found, q) >= BAND_SHARE \
                and (best is None or found.inliers > best.inliers):
            best = found
    if best is not None:
        # The whole query's keypoints are what the caller indexes: its own answer stands
        # when it has more inliers (and carries the right ones).
        return whole if verified and whole.inliers >= best.inliers else \
            Verification(best.inliers, np.zeros(0, np.int64), best.capture)
    if verified and both:
        agreed = whole.agreed if whole.agreed is not None else whole.overlay
        return Verification(0, agreed)
    return whole
