"""Searching the catalogue for what a file's fingerprints re-upload or resemble.

`find_for` is the one entry: a picture goes through the hash and keypoint rules
(matchrule), then the keypoint stage against held videos' frames and documents' pages; a
video is aligned frame by frame (videomatch); a document is matched page by page.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from provenance.matching import audiomatch, keyframes, matchrule, videomatch
from provenance.matching.catalogue import Catalogue
from provenance.matching.hashing import from_rows
from provenance.matching.keyframes import Keyframes
from provenance.matching.localmatch import LocalFeatures
from provenance.matching.matchrule import Match


class Fingerprints(Protocol):
    """What search needs of a file (ingest.analysis.Analysis is one): its stored hash rows,
    its query-only hash rows, and its packed keypoints."""

    hashes: list[dict[str, Any]]
    query_hashes: list[dict[str, Any]]
    features: dict[str, Any] | None

# The keypoint stage looks at this many nearest held videos (by frame hash) at most: each
# costs ~0.1 s (8 query keyframes, each matched against all of a candidate's keyframes at
# once, then 3 geometric checks). A cropped copy's hashes are far from everything, so the
# nearest by hash is a weak ranking: with more videos held than this, a heavy crop can be
# missed (measured in bench/README-video.md).
VIDEO_KEYFRAME_CANDIDATES = 6
# ...unless few videos are held: then every one is checked (about 0.1 s each).
VIDEO_KEYFRAME_ALL = 24
# A long PDF as a query: its first pages go through the keypoint stage, all through hashes.
QUERY_PAGES_WITH_KEYPOINTS = 20


def is_video(analysis: Fingerprints) -> bool:
    return any(h.get("frame_seconds") is not None for h in analysis.hashes)


def is_document(analysis: Fingerprints) -> bool:
    return any(h.get("page") is not None for h in analysis.hashes)


def load_keyframes(cat: Catalogue, key: int) -> Keyframes | None:
    return _load(str(cat.store_root), cat.items.sha(key))


@functools.lru_cache(maxsize=32)  # a video's keyframes are ~1 MB; a batch revisits a few
def _load(root: str, sha256: str) -> Keyframes | None:


    return keyframes.load(Path(root), sha256)


def _nearest(cat: Catalogue, queries: list[bytes], *, video: bool, count: int,
             exclude: set[int]) -> list[int]:
    """Held videos (or documents) nearest any of the query PDQ hashes, however far."""


    stored = cat.stored
    if not queries or not len(stored.keys["pdq"]) or count <= 0:
        return []
    if stored.hints.get("frames" if video else "pages") is False:
        return []  # the hash cache knows no row is one: no 88 MB column scanned to see it
    marked = (~np.isnan(stored.frame_seconds["pdq"]) if video else stored.page["pdq"] >= 0)
    rows = np.flatnonzero(marked)
    if not len(rows):
        return []
    if video and count < VIDEO_KEYFRAME_ALL:
        held = [int(k) for k in np.unique(stored.keys["pdq"][rows]) if int(k) not in exclude]
        if len(held) <= VIDEO_KEYFRAME_ALL:
            count = len(held)
    # Distances at the frames' (or pages') rows only: the numbers a pass over every stored
    # hash gives there, without two such passes per picture query (eleven million hashes
    # each at a million items) and their 44 MB arrays.
    index = stored.index("pdq")
    best = index.distances_at(queries[0], rows).astype(np.int32)
    for q in queries[1:]:
        np.minimum(best, index.distances_at(q, rows), out=best)
    keys = stored.keys["pdq"]
    out: list[int] = []
    for row in rows[np.argsort(best, kind="stable")]:  # nearest first, then by row
        key = int(keys[row])
        if key not in exclude and key not in out:
            out.append(key)
            if len(out) >= count:
                break
    return out


def page_features_of(cat: Catalogue, key: int, page: int) -> LocalFeatures | None:
    """The keypoints of page `page` of held document `key` (None: not a document, or none
    kept for that page)."""
    stored = load_keyframes(cat, key)
    if stored is None or stored.label_kind != "page":
        return None
    for label, features in zip(stored.labels, stored.features, strict=True):
        if int(label) == page:
            return features
    return None


def _keyframe_match(key: int, km: Any, label_kind: str) -> Match:

    seconds = km.label if label_kind == "seconds" else None
    page = int(km.label) if label_kind == "page" else None
    return Match(key, km.verdict, "orb", float(km.inliers), "full", seconds, page, km.detail)


def _merge(found: list[Match], extra: list[Match]) -> list[Match]:
    """Add keypoint matches, replacing a weaker verdict for the same item."""
    by_key = {m.key: m for m in found}
    for m in extra:
        old = by_key.get(m.key)
        if old is None or (old.verdict != "re-upload" and m.verdict == "re-upload"):
            by_key[m.key] = m
    out = list(by_key.values())
    out.sort(key=_order)
    return out


def _order(m: Match) -> tuple[int, int, float]:
    """Re-uploads first; hash matches by distance, then keypoint matches by agreement."""
    orb = m.algorithm == "orb"
    return ({"re-upload": 0, "similar": 1}[m.verdict], int(orb), -m.distance if orb
            else m.distance)


def find_video(cat: Catalogue, analysis: Fingerprints, excluded: set[int],
               crop_candidates: int) -> list[Match]:
    """A video query: frame alignment against everything held, then keypoints."""

    frames = videomatch.query_frames(analysis.hashes + analysis.query_hashes)
    found = videomatch.find(frames, cat.stored, exclude=excluded)
    if crop_candidates <= 0 or not keyframes.is_packed(analysis.features):
        return found
    assert analysis.features is not None
    query = _probe_keyframes(keyframes.unpack(analysis.features))
    settled = {m.key for m in found if m.verdict == "re-upload"}
    spread = max(1, len(frames) // 8)
    probes = [frames.pdq["full"][i].tobytes() for i in range(0, len(frames), spread)][:8]
    extra = []
    for key in _nearest(cat, probes, video=True, exclude=excluded | settled,
                        count=min(crop_candidates, VIDEO_KEYFRAME_CANDIDATES)):
        stored = load_keyframes(cat, key)
        if stored is None or stored.label_kind != "seconds":
            continue
        km = keyframes.match_video(query, stored)
        if km is not None:
            m = _keyframe_match(key, km, "seconds")
            # Keypoints compare a few keyframes, not every sampled frame: the span of the pairs
            # that agree is what was seen to match ("at least"), not the copy's extent.
            m.detail = {**m.detail, "covers_at_least": True,
                        "checked_seconds": [round(float(t), 2) for t in query.labels]}
            extra.append(m)
    return _merge(found, extra)


def _probe_keyframes(query: Keyframes) -> Keyframes:
    """The query keyframes the crop stage tries: QUERY_KEYFRAMES of them, spread from the
    first to the last, so that a full-length copy is checked to its end (taking every n-th
    from the start left up to a sixth of a video unchecked)."""
    n = len(query.features)
    if n <= keyframes.QUERY_KEYFRAMES:
        return query
    picks = sorted({round(i * (n - 1) / (keyframes.QUERY_KEYFRAMES - 1))
                    for i in range(keyframes.QUERY_KEYFRAMES)})
    return Keyframes(query.label_kind, [query.labels[i] for i in picks],
                     [query.features[i] for i in picks])


def picture_keyframe_stage(cat: Catalogue, found: list[Match], upright_pdq: bytes | None,
                           features: Any, excluded: set[int], crop_candidates: int
                           ) -> list[Match]:
    """A picture's keypoints against the nearest held documents' pages and videos' frames."""

    if features is None or upright_pdq is None or crop_candidates <= 0:
        return found
    settled = {m.key for m in found if m.verdict == "re-upload"} | excluded
    extra = []
    for video in (False, True):
        count = crop_candidates if not video else min(crop_candidates,
                                                      VIDEO_KEYFRAME_CANDIDATES)
        for key in _nearest(cat, [upright_pdq], video=video, count=count, exclude=settled):
            stored = load_keyframes(cat, key)
            if stored is None:
                continue
            km = keyframes.match_picture(features, stored)
            if km is not None:
                extra.append(_keyframe_match(key, km, stored.label_kind))
    return _merge(found, extra)


def find_document(cat: Catalogue, analysis: Fingerprints, excluded: set[int],
                  crop_candidates: int) -> list[Match]:
    """A document query: each page as a picture; per held item, the best page's match."""

    pages = sorted({h["page"] for h in analysis.hashes if h.get("page") is not None})
    page_features: dict[int, Any] = {}
    if keyframes.is_packed(analysis.features):
        assert analysis.features is not None
        kf = keyframes.unpack(analysis.features)
        page_features = {int(label): f for label, f in zip(kf.labels, kf.features, strict=True)}
    best: dict[int, Match] = {}
    for number in pages:
        rows = [h for h in analysis.hashes + analysis.query_hashes if h.get("page") == number]
        query = from_rows(rows)
        features = page_features.get(number)
        found = matchrule.find(query, cat.stored, exclude=excluded, query_features=features,
                               load_features=cat.features, crop_candidates=crop_candidates,
                               load_page_features=functools.partial(page_features_of, cat))
        if number <= QUERY_PAGES_WITH_KEYPOINTS:
            upright = next((h.value for h in query
                            if h.algorithm == "pdq" and h.region == "full"), None)
            found = picture_keyframe_stage(cat, found, upright, features, excluded,
                                           crop_candidates)
        for m in found:
            m.detail = {**m.detail, "query_page": number}
            old = best.get(m.key)
            if old is None or _better(m, old):
                best[m.key] = m
    out = list(best.values())
    out.sort(key=_order)
    return out


def _better(a: Match, b: Match) -> bool:
    rank = {"re-upload": 0, "similar": 1}
    if rank[a.verdict] != rank[b.verdict]:
        return rank[a.verdict] < rank[b.verdict]
    if a.algorithm == "orb" or b.algorithm == "orb":
        return a.algorithm != "orb" and b.algorithm == "orb"  # a hash match beats keypoints
    return a.distance < b.distance


def upright_pdq(analysis: Fingerprints) -> bytes | None:
    value = next((h["value"] for h in analysis.hashes
                  if h["algorithm"] == "pdq" and (h.get("region") or "full") == "full"), None)
    return bytes.fromhex(value) if value else None


def _features(packed: dict[str, Any] | None) -> LocalFeatures | None:
    return LocalFeatures.unpack(packed) if packed else None


def find_for(
    cat: Catalogue, analysis: Fingerprints, *, exclude: str | None = None, crop_candidates: int
) -> list[Match]:
    """Picture matches, then what shares only the sound ("same audio", or an audio re-upload)."""
    seen = find_seen(cat, audiomatch.without_sound(analysis), exclude=exclude,
                     crop_candidates=crop_candidates)
    return audiomatch.merge(seen, audiomatch.find(cat, analysis, exclude=exclude))


def find_seen(
    cat: Catalogue, analysis: Fingerprints, *, exclude: str | None = None, crop_candidates: int
) -> list[Match]:

    query = from_rows(analysis.hashes) + from_rows(analysis.query_hashes)
    if not query or not len(cat.stored):
        return []
    key = cat.items.key(exclude) if exclude else None
    excluded = {key} if key is not None else set()

    if is_video(analysis):
        return find_video(cat, analysis, excluded, crop_candidates)
    if is_document(analysis):
        return find_document(cat, analysis, excluded, crop_candidates)
    features = _features(analysis.features)
    found = matchrule.find(query, cat.stored, exclude=excluded, query_features=features,
                           load_features=cat.features, crop_candidates=crop_candidates,
                           keypoint_index=cat.keypoint_index() if features is not None else None,
                           load_page_features=functools.partial(page_features_of, cat))
    # Keypoints against held documents' pages and videos' frames (a photographed page, a
    # cropped still): their hashes are per page and per frame, their keypoints apart.
    return picture_keyframe_stage(cat, found, upright_pdq(analysis), features,
                                        excluded, crop_candidates)
