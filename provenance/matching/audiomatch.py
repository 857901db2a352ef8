"""Sound near-duplicates: landmark hashes aligned in time, the share of each side matched.

The rule:

1. Every landmark of the query (provenance.matching.audiofp; and of its speed-changed
   variants, query-only rows "x0.97"...) is looked up among the stored landmarks.
2. Per held item, hits vote for a time offset (stored second - query second), per speed
   variant. The offset held by the most landmarks (within OFFSET_WINDOW) is where the query
   sits in the held item; hits at other offsets are chance and are dropped.
3. Seconds count, not landmarks: a second of either side is matched when an aligned
   landmark falls in it, and gaps of up to FILL_GAP seconds between matched seconds are
   filled (a word's pause has no landmark). query_share and candidate_share are matched
   seconds over seconds that have any landmark at all: silence is never part of either.
4. A link needs MIN_ALIGNED aligned landmarks over at least MIN_SECONDS distinct seconds,
   and REUPLOAD_SHARE of one side matched (a clip is all of itself and a little of its
   source). Then: an audio file against an audio file is a "re-upload"; anything involving a
   video is "same audio" - never a picture re-upload, and only where the picture matched
   nothing (search merges them so). Fewer seconds shared than that is "similar": shown to a
   person, never linked.

Measured in bench/audio.py (bench/README-audio.md): with these thresholds every copy of four
3-minute recordings was found (the fewest aligned landmarks, a 15 s cut: 46) and nothing
matched among 54 recordings (50 unrelated minute-long calls, speech and field noise).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from provenance.matching import audiofp

if TYPE_CHECKING:
    import numpy as np

    from provenance.matching.catalogue import Catalogue
    from provenance.matching.matchrule import Match

MIN_ALIGNED = 12
MIN_SECONDS = 3
REUPLOAD_SHARE = 0.5
OFFSET_BIN = 0.1  # seconds
OFFSET_WINDOW = 0.3  # seconds: hits within this of each other agree on one offset
FILL_GAP = 3  # seconds without an aligned landmark that still count as covered between two
# A hash held this many times over is too common to say anything (a click, a beep).
MAX_POSTINGS = 5000
VERDICT_ORDER = {"re-upload": 0, "same audio": 1, "similar": 2}


class Fingerprints(Protocol):
    hashes: list[dict[str, Any]]
    query_hashes: list[dict[str, Any]]
    features: dict[str, Any] | None


@dataclass
class AudioSet:
    """Every stored landmark: item key, hash, anchor second; sorted by hash."""

    keys: np.ndarray  # int64
    hashes: np.ndarray  # uint32
    seconds: np.ndarray  # float64
    max_id: int

    @classmethod
    def empty(cls) -> AudioSet:
        import numpy as np

        return cls(np.zeros(0, np.int64), np.zeros(0, np.uint32), np.zeros(0, np.float64), 0)

    def extend(self, conn: sqlite3.Connection) -> AudioSet:
        """This set with the landmarks registered since it was read."""
        import numpy as np

        rows = conn.execute(
            "SELECT h.id, i.registered_event, h.value, h.frame_seconds FROM hashes h"
            " JOIN items i ON i.sha256 = h.item"
            " WHERE h.algorithm = ? AND h.region = 'full' AND h.id > ?",
            (audiofp.ALGORITHM, self.max_id)).fetchall()
        if not rows:
            return self
        ids = max(r[0] for r in rows)
        keys = np.concatenate([self.keys, np.array([r[1] for r in rows], np.int64)])
        values = np.frombuffer(b"".join(bytes(r[2]) for r in rows), ">u4").astype(np.uint32)
        hashes = np.concatenate([self.hashes, values])
        seconds = np.concatenate([self.seconds, np.array([r[3] for r in rows], np.float64)])
        order = np.argsort(hashes, kind="stable")
        return AudioSet(keys[order], hashes[order], seconds[order], max(ids, self.max_id))

    def informative_seconds(self, key: int) -> np.ndarray:
        import numpy as np

        return np.unique(np.floor(self.seconds[self.keys == key]).astype(np.int64))


_SETS: dict[tuple[str, str], tuple[AudioSet, bytes | None]] = {}


def stored_set(cat: Catalogue) -> AudioSet:
    """The database's landmarks, read once per process and topped up as items arrive.

    Rows are only ever appended; the set read before is current up to its highest row id
    if that row still holds the value it ended with (else this is another database that
    took the same path, and it is read afresh)."""
    from provenance.ledger.db import database_id

    conn = cat.items.conn
    cache = (str(cat.store_root), database_id(conn))
    current, last = _SETS.get(cache) or (AudioSet.empty(), None)
    if current.max_id:
        row = conn.execute("SELECT value FROM hashes WHERE id = ?", (current.max_id,)
                           ).fetchone()
        if row is None or bytes(row[0]) != last:
            current = AudioSet.empty()
    latest = conn.execute("SELECT COALESCE(MAX(id), 0) FROM hashes WHERE algorithm = ?",
                          (audiofp.ALGORITHM,)).fetchone()[0]
    if latest < current.max_id:
        current = AudioSet.empty()
    if latest != current.max_id:
        current = current.extend(conn)
        row = conn.execute("SELECT value FROM hashes WHERE id = ?", (current.max_id,)
                           ).fetchone()
        _SETS[cache] = (current, bytes(row[0]) if row else None)
    return current


@dataclass
class Query:
    """A sound's landmarks, per speed variant: factor -> (hashes, seconds on its timeline)."""

    variants: dict[tuple[float, int], tuple[np.ndarray, np.ndarray]]
    informative: np.ndarray  # the query's own seconds that have any landmark
    is_video: bool

    def __bool__(self) -> bool:
        return (1.0, 0) in self.variants and len(self.variants[1.0, 0][0]) > 0


def query_of(analysis: Fingerprints) -> Query:
    import numpy as np

    grouped: dict[tuple[float, int], tuple[list[int], list[float]]] = {}
    for r in analysis.hashes + analysis.query_hashes:
        if r["algorithm"] != audiofp.ALGORITHM:
            continue
        variant = audiofp.parse_region(r.get("region") or "full")
        hs, ts = grouped.setdefault(variant, ([], []))
        hs.append(int(r["value"], 16))
        ts.append(float(r["frame_seconds"]))
    variants = {f: (np.array(h, np.uint32), np.array(t, np.float64))
                for f, (h, t) in grouped.items()}
    full = variants.get((1.0, 0), (np.zeros(0, np.uint32), np.zeros(0)))[1]
    video = any(r["algorithm"] == "pdq" and r.get("frame_seconds") is not None
                for r in analysis.hashes)
    # np.unique imports numpy.ma (13 ms) even for nothing: a picture has no landmarks.
    seconds = np.unique(np.floor(full).astype(np.int64)) if len(full) else np.zeros(0, np.int64)
    return Query(variants, seconds, video)


def without_sound(analysis: Fingerprints) -> Fingerprints:
    """The same fingerprints minus the landmarks: what the picture rules look at."""
    return _Seen([r for r in analysis.hashes if r["algorithm"] != audiofp.ALGORITHM],
                 [r for r in analysis.query_hashes if r["algorithm"] != audiofp.ALGORITHM],
                 analysis.features)


@dataclass
class _Seen:
    hashes: list[dict[str, Any]]
    query_hashes: list[dict[str, Any]]
    features: dict[str, Any] | None


def find(cat: Catalogue, analysis: Fingerprints, *, exclude: str | None = None
         ) -> list[Match]:
    """Every held item whose sound this file's sound shares, aligned in time, best first."""
    query = query_of(analysis)
    if not query:
        return []
    stored = stored_set(cat)
    if not len(stored.hashes):
        return []
    excluded = cat.items.key(exclude) if exclude else None
    out = []
    for key, hit in align(query, stored, excluded).items():
        both_audio = not query.is_video and cat.items.kind(key) == "audio"
        m = judge(key, hit, query, stored, "re-upload" if both_audio else "same audio")
        if m is not None:
            out.append(m)
    out.sort(key=lambda m: (VERDICT_ORDER[m.verdict], -m.distance))
    return out


@dataclass
class Hit:
    """The best alignment of the query against one held item."""

    variant: tuple[float, int]  # the query's (speed factor, shift) that aligned best
    offset: float  # held second - query second (on the variant's timeline)
    query_seconds: np.ndarray  # aligned anchors, the query's own seconds
    held_seconds: np.ndarray  # aligned anchors, the held item's seconds


def align(query: Query, stored: AudioSet, excluded: int | None = None) -> dict[int, Hit]:
    """Per held item: the offset and query variant most landmarks agree on (items with
    fewer than MIN_ALIGNED shared hashes at all are not looked at)."""
    import numpy as np

    best: dict[int, tuple[int, Hit]] = {}
    width = int(round(OFFSET_WINDOW / OFFSET_BIN))
    for variant, (qh, qt) in query.variants.items():
        lo = np.searchsorted(stored.hashes, qh, "left")
        hi = np.searchsorted(stored.hashes, qh, "right")
        count = np.where(hi - lo <= MAX_POSTINGS, hi - lo, 0)
        total = int(count.sum())
        if not total:
            continue
        qi = np.repeat(np.arange(len(qh)), count)
        si = np.repeat(lo, count) + np.arange(total) - np.repeat(np.cumsum(count) - count,
                                                                  count)
        key = stored.keys[si]
        uniq, inverse, per_key = np.unique(key, return_inverse=True, return_counts=True)
        offset = stored.seconds[si] - qt[qi]
        bins = np.floor(offset / OFFSET_BIN).astype(np.int64)
        for u in np.flatnonzero(per_key >= MIN_ALIGNED):
            k = int(uniq[u])
            if k == excluded:
                continue
            mine = inverse == u
            b = bins[mine]
            lo_b = int(b.min())
            votes = np.bincount(b - lo_b)
            window = np.convolve(votes, np.ones(width, np.int64), mode="full")[width - 1:]
            start_bin = int(window.argmax()) + lo_b
            inside = (b >= start_bin) & (b < start_bin + width)
            aligned_q = qi[mine][inside]
            score = len(np.unique(aligned_q))
            if k not in best or score > best[k][0]:
                best[k] = (score, Hit(
                    variant, float(np.median(offset[mine][inside])),
                    np.round(audiofp.own_seconds(qt[aligned_q], *variant), 3),
                    stored.seconds[si[mine][inside]]))
    return {k: hit for k, (_, hit) in best.items()}


def covered(seconds: np.ndarray, informative: np.ndarray) -> np.ndarray:
    """Informative whole seconds covered by `seconds`, gaps up to FILL_GAP filled."""
    import numpy as np

    cells = np.unique(np.floor(seconds).astype(np.int64))
    if not len(cells):
        return cells
    spans = [np.arange(a, b + 1) for a, b in zip(cells[:-1], cells[1:], strict=True)
             if b - a <= FILL_GAP + 1]
    filled = np.unique(np.concatenate([cells, *spans])) if spans else cells
    return np.intersect1d(filled, informative)


def judge(key: int, hit: Hit, query: Query, stored: AudioSet, linked: str) -> Match | None:
    """The verdict for one held item's best alignment (None: chance, not a match)."""
    import numpy as np

    from provenance.matching.matchrule import Match

    aligned = len(np.unique(hit.query_seconds))
    seconds = len(np.unique(np.floor(hit.query_seconds)))
    if aligned < MIN_ALIGNED or seconds < MIN_SECONDS:
        return None
    held_informative = stored.informative_seconds(key)
    query_cells = covered(hit.query_seconds, query.informative)
    held_cells = covered(hit.held_seconds, held_informative)
    query_share = len(query_cells) / max(len(query.informative), 1)
    candidate_share = len(held_cells) / max(len(held_informative), 1)
    verdict = linked if max(query_share, candidate_share) >= REUPLOAD_SHARE else "similar"
    # A landmark anchors up to MAX_DT frames before the sound it pairs with ends.
    tail = audiofp.MAX_DT * audiofp.SECONDS_PER_FRAME / 2
    covers = [round(float(hit.held_seconds.min()), 1),
              round(float(hit.held_seconds.max()) + tail, 1)]
    detail = {
        "query_share": round(query_share, 3),
        "candidate_share": round(candidate_share, 3),
        "covers_seconds": covers,
        "query_seconds": [round(float(hit.query_seconds.min()), 1),
                          round(float(hit.query_seconds.max()) + tail, 1)],
        "landmarks_matched": aligned,
        "offset_seconds": round(hit.offset, 3),
        "speed": round(1 / hit.variant[0], 3),
    }
    region = audiofp.region_of(*hit.variant)
    return Match(key, verdict, audiofp.ALGORITHM, float(aligned), region, covers[0], None,
                 detail)


def merge(seen: list[Match], heard: list[Match]) -> list[Match]:
    """Picture matches, then sound matches of items the picture did not match, best first.

    An item already related by its picture keeps that relation alone: "same audio" says
    the picture matched nothing.
    """
    pictured = {m.key for m in seen}
    out = seen + [m for m in heard if m.key not in pictured]
    out.sort(key=lambda m: VERDICT_ORDER.get(m.verdict, 3))
    return out
