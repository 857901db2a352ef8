"""Video near-duplicates from per-frame PDQ hashes: align in time, count frames on each side.

Pure, like matchrule: the stored side is a matchrule.StoredSet whose rows carry
`frame_seconds` (video frames), `page` (document pages) or neither (pictures).

The rule, in the manner of Meta's vPDQ with a time-alignment guard:

1. Every sampled query frame (and its mirror image) is compared with every stored PDQ row.
   A *strong* frame match is within hashing.PDQ_MATCH (31 bits) with both frames' PDQ
   quality >= hashing.PDQ_MIN_QUALITY (flat frames - black, a wall - carry no information
   and never count, on either side).
2. Against a stored video, strong matches vote for a time offset (stored second - query
   second). The offset held by the most query frames (within 2 s) is where the query sits.
3. At that offset, a query frame also counts as matched if a stored frame within
   ALIGN_TOLERANCE seconds of its aligned time is within ALIGNED_PDQ bits: watermarks and
   letterboxing move many frames a little past 31 bits, and a frame that is both at the
   right time and that close is not chance (distinct frames sit at 100-128 bits).
4. query_share = matched query frames / informative query frames; candidate_share = matched
   stored frames / informative stored frames. A re-upload needs >= REUPLOAD_SHARE of one
   side's frames (that is, of the shorter side: a clip is all of itself and a little of its
   source) and at least MIN_STRONG strong, time-consistent frames. One strong frame is
   "similar": shown to a person, never linked automatically.

Frame-rate changes and re-encoding keep the timeline, so the offset holds; a speed change
(1.25x) does not and is not claimed. A picture against a video: its best frame within
31 bits names the second it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provenance.matching import hashing

if TYPE_CHECKING:
    import numpy as np

    from provenance.matching.matchrule import Match, StoredSet

REUPLOAD_SHARE = 0.5
MIN_STRONG = 3
ALIGNED_PDQ = 47
ALIGN_TOLERANCE = 1.5  # seconds; frames are sampled about once a second on each side
OFFSET_WINDOW = 2.0  # seconds: strong matches within this agree on one offset
ORIENTATIONS = ("full", "flipy")  # upright, and mirrored left-right


@dataclass
class QueryFrames:
    """A video's sampled frames as arrays: seconds, PDQ per orientation, quality."""

    seconds: np.ndarray  # (n,) float64
    pdq: dict[str, np.ndarray]  # orientation -> (n, 32) uint8; missing rows are zero
    quality: np.ndarray  # (n,) int16

    def __len__(self) -> int:
        return len(self.seconds)


def query_frames(rows: list[dict[str, Any]]) -> QueryFrames:
    """Group hash rows (stored and query-only) of one video by frame."""
    import numpy as np

    times = sorted({r["frame_seconds"] for r in rows
                    if r["algorithm"] == "pdq" and r.get("frame_seconds") is not None})
    at = {t: i for i, t in enumerate(times)}
    pdq = {o: np.zeros((len(times), 32), np.uint8) for o in ORIENTATIONS}
    quality = np.full(len(times), -1, np.int16)
    for r in rows:
        if r["algorithm"] != "pdq" or r.get("frame_seconds") is None:
            continue
        region = r.get("region") or "full"
        if region not in pdq:
            continue
        i = at[r["frame_seconds"]]
        pdq[region][i] = np.frombuffer(bytes.fromhex(r["value"]), np.uint8)
        if region == "full" and r.get("quality") is not None:
            quality[i] = r["quality"]
    return QueryFrames(np.array(times, np.float64), pdq, quality)


def _informative(quality: np.ndarray) -> np.ndarray:
    return (quality < 0) | (quality >= hashing.PDQ_MIN_QUALITY)


@dataclass
class _Hits:
    frame: np.ndarray  # query frame index
    orientation: np.ndarray  # index into ORIENTATIONS
    row: np.ndarray  # stored pdq row
    distance: np.ndarray


def _hits(frames: QueryFrames, stored: StoredSet) -> _Hits:
    import numpy as np

    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    useful = np.flatnonzero(_informative(frames.quality))
    stored_ok = _informative(stored.quality["pdq"])
    for oi, o in enumerate(ORIENTATIONS):
        for i in useful:
            value = frames.pdq[o][i]
            if not value.any():
                continue
            d = stored.distances(value.tobytes())
            rows = np.flatnonzero((d <= ALIGNED_PDQ) & stored_ok)
            if len(rows):
                parts.append((np.full(len(rows), i), np.full(len(rows), oi), rows,
                              d[rows].astype(np.int16)))
    if not parts:
        empty = np.zeros(0, np.int64)
        return _Hits(empty, empty, empty, empty.astype(np.int16))
    return _Hits(*(np.concatenate([p[k] for p in parts]) for k in range(4)))


def find(frames: QueryFrames, stored: StoredSet, *, exclude: set[int] | None = None
         ) -> list[Match]:
    """Every stored item this video re-uploads (or resembles, or contains a still of)."""
    import numpy as np


    exclude = exclude or set()
    if not len(frames) or not len(stored.keys["pdq"]):
        return []
    hits = _hits(frames, stored)
    keys = stored.keys["pdq"][hits.row]
    seconds = stored.frame_seconds["pdq"][hits.row]
    out: list[Match] = []
    for key in np.unique(keys):
        if int(key) in exclude:
            continue
        mine = keys == key
        sub = _Hits(hits.frame[mine], hits.orientation[mine], hits.row[mine],
                    hits.distance[mine])
        if np.isnan(seconds[mine]).all():
            m = _picture(int(key), frames, sub, stored)
        else:
            m = _video(int(key), frames, sub, stored)
        if m is not None:
            out.append(m)
    out.sort(key=lambda m: ({"re-upload": 0, "similar": 1}[m.verdict],
                            -float(m.detail.get("query_share", 0)), m.distance))
    return out


def _picture(key: int, frames: QueryFrames, hits: _Hits, stored: StoredSet) -> Match | None:
    """A still (or a document page) held, found in one of the query's frames."""
    from provenance.matching.matchrule import Match

    strong = hits.distance <= hashing.PDQ_MATCH
    if not strong.any():
        return None
    best = int(hits.distance[strong].argmin())
    row = int(hits.row[strong][best])
    frame = int(hits.frame[strong][best])
    distance = int(hits.distance[strong][best])
    page = int(stored.page["pdq"][row])
    detail = {"pdq_distance": distance, "query_seconds": round(float(frames.seconds[frame]), 3),
              "mirrored": bool(hits.orientation[strong][best] == 1)}
    return Match(key, "re-upload", "pdq", float(distance), ORIENTATIONS[
        int(hits.orientation[strong][best])], None, page if page >= 0 else None, detail)


def _video(key: int, frames: QueryFrames, hits: _Hits, stored: StoredSet) -> Match | None:
    import numpy as np

    from provenance.matching.matchrule import Match

    best: tuple[Any, ...] | None = None
    stored_seconds = stored.frame_seconds["pdq"]
    for oi in range(len(ORIENTATIONS)):
        mine = hits.orientation == oi
        strong = mine & (hits.distance <= hashing.PDQ_MATCH)
        if not strong.any():
            continue
        offsets = stored_seconds[hits.row[strong]] - frames.seconds[hits.frame[strong]]
        offset = _consensus(offsets, hits.frame[strong])
        drift = np.abs(stored_seconds[hits.row] - frames.seconds[hits.frame] - offset)
        aligned = mine & (drift <= ALIGN_TOLERANCE)
        if not aligned.any():
            continue
        matched_frames = np.unique(hits.frame[aligned])
        # Stored frames, not rows: a frame may store several PDQ rows (sub-region windows).
        matched_rows = np.unique(stored_seconds[hits.row[aligned]])
        strong_frames = np.unique(hits.frame[aligned & (hits.distance <= hashing.PDQ_MATCH)])
        # Per matched query frame, its nearest aligned stored frame: the typical distance.
        per_frame = [int(hits.distance[aligned & (hits.frame == f)].min()) for f in matched_frames]
        score = (len(matched_frames), len(strong_frames))
        if best is None or score > best[0]:
            best = (score, oi, offset, matched_frames, matched_rows, strong_frames, per_frame)
    if best is None:
        return None
    _, oi, offset, matched_frames, matched_rows, strong_frames, per_frame = best
    query_total = int(_informative(frames.quality).sum())
    candidate_rows = (stored.keys["pdq"] == key) & _informative(stored.quality["pdq"])
    candidate_total = len(np.unique(stored_seconds[candidate_rows]))
    query_share = len(matched_frames) / max(query_total, 1)
    candidate_share = len(matched_rows) / max(candidate_total, 1)
    enough = min(MIN_STRONG, query_total, candidate_total)
    reupload = len(strong_frames) >= enough and max(query_share, candidate_share) >= \
        REUPLOAD_SHARE
    in_query = frames.seconds[matched_frames]
    held = np.unique(stored_seconds[stored.keys["pdq"] == key])
    start, end, within = _coverage(in_query, float(offset), held, frames.seconds)
    detail = {
        "query_share": round(query_share, 3),
        "candidate_share": round(candidate_share, 3),
        "covers_seconds": [start, end],
        "covers_within_seconds": within,
        "query_seconds": [round(float(in_query.min()), 3), round(float(in_query.max()), 3)],
        "frames_matched": len(matched_frames),
        "strong_frames": len(strong_frames),
        "offset_seconds": round(float(offset), 3),
        "mirrored": oi == 1,
    }
    distance = float(np.median(per_frame))
    return Match(key, "re-upload" if reupload else "similar", "vpdq", distance,
                 ORIENTATIONS[oi], start, None, detail)


def _coverage(in_query: np.ndarray, offset: float, held: np.ndarray, query_seconds: np.ndarray
              ) -> tuple[float, float, float]:
    """Which seconds of the held video the matched query frames sit on, and to within what.

    The span is the matched query frames' own times moved by the agreed offset, not the held
    frames they were compared with: ALIGN_TOLERANCE lets a query frame match a held frame up
    to 1.5 s away, so the held frames would spill about a second past each end of a clip
    (a 12-30 s clip reported as 11-31 s in slow footage). Frames are sampled about once a
    second on each side, so either end and the offset are known to within one sampling
    step: the larger of the two videos' typical gap between samples (1 s as sampled).
    """
    import numpy as np

    first, last = float(held.min()), float(held.max())
    start = min(max(float(in_query.min()) + offset, first), last)
    end = max(min(float(in_query.max()) + offset, last), start)
    gaps = [float(np.median(np.diff(s))) for s in (held, query_seconds) if len(s) > 1]
    within = max(gaps, default=1.0)
    return round(start, 2), round(end, 2), round(within, 1)


def _consensus(offsets: np.ndarray, frame: np.ndarray) -> float:
    """The offset most query frames agree on (within OFFSET_WINDOW): their median offset."""
    import numpy as np

    # Half-second bins; each query frame votes once per bin, so a static shot that matches
    # every stored frame cannot outvote the frames that pin the offset down.
    bins = np.floor(offsets / 0.5).astype(np.int64)
    pairs = np.unique(np.stack([bins, frame.astype(np.int64)]), axis=1)
    lo = int(pairs[0].min())
    votes = np.bincount(pairs[0] - lo)
    width = int(OFFSET_WINDOW / 0.5)
    window = np.convolve(votes, np.ones(width, np.int64), mode="full")[width - 1:]
    start = int(window.argmax()) + lo
    inside = (bins >= start) & (bins < start + width)
    return float(np.median(offsets[inside]))
