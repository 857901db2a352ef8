"""How a query is matched against stored hashes: candidates, the crop stage, verdicts.

Pure: no database. `relations` feeds it stored hashes from the database and the
benchmarks feed it theirs, so both exercise exactly the same rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import hashing

if TYPE_CHECKING:
    import numpy as np

    from .localmatch import LocalFeatures

# Nearest stored items (by upright PDQ, and by pHash) handed to the crop stage even when
# their hashes are far: a 20% crop moves PDQ well past any threshold, but the original
# is usually still among the nearest few.
CROP_CANDIDATES = 8
ALGORITHMS = ("pdq", "phash")
_LIMITS = {"pdq": hashing.PDQ_SIMILAR, "phash": hashing.PHASH_SIMILAR}


@dataclass
class StoredSet:
    """Every stored hash of one algorithm family, as packed arrays (one row per hash)."""

    keys: dict[str, np.ndarray]  # algorithm -> item key per row (int64)
    values: dict[str, np.ndarray]  # algorithm -> (n, nbytes) uint8
    quality: dict[str, np.ndarray]  # algorithm -> int16, -1 where unknown
    frame_seconds: dict[str, np.ndarray]  # algorithm -> float64, NaN where not a frame
    page: dict[str, np.ndarray]  # algorithm -> int32, -1 where not a page
    _indexes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[int, hashing.PerceptualHash, float | None,
                                            int | None]]) -> StoredSet:
        """Build from (item key, hash, frame seconds, page) tuples."""
        import numpy as np

        parts: dict[str, dict[str, list[Any]]] = {a: {"k": [], "v": [], "q": [], "f": [], "p": []}
                                                  for a in ALGORITHMS}
        for key, h, seconds, page in rows:
            if h.algorithm not in parts:
                continue
            part = parts[h.algorithm]
            part["k"].append(key)
            part["v"].append(np.frombuffer(h.value, np.uint8))
            part["q"].append(-1 if h.quality is None else h.quality)
            part["f"].append(np.nan if seconds is None else seconds)
            part["p"].append(-1 if page is None else page)
        nbytes = {"pdq": 32, "phash": 8}
        return cls(
            keys={a: np.array(p["k"], np.int64) for a, p in parts.items()},
            values={a: (np.stack(p["v"]) if p["v"] else np.zeros((0, nbytes[a]), np.uint8))
                    for a, p in parts.items()},
            quality={a: np.array(p["q"], np.int16) for a, p in parts.items()},
            frame_seconds={a: np.array(p["f"], np.float64) for a, p in parts.items()},
            page={a: np.array(p["p"], np.int32) for a, p in parts.items()},
        )

    def index(self, algorithm: str) -> Any:
        from .index import HashIndex

        if algorithm not in self._indexes:
            import numpy as np

            rows = np.arange(len(self.keys[algorithm]), dtype=np.int64)
            self._indexes[algorithm] = HashIndex(rows, self.values[algorithm])
        return self._indexes[algorithm]

    def __len__(self) -> int:
        return len(self.keys["pdq"])


@dataclass
class Match:
    key: int
    verdict: str  # "re-upload" | "similar"
    algorithm: str  # what decided it: "pdq", "phash" or "orb"
    distance: float  # bits for pdq/phash; geometrically consistent keypoints for orb
    query_region: str
    frame_seconds: float | None = None  # where in the stored item (video frame)
    page: int | None = None  # where in the stored item (document page)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Best:
    distance: int
    row: int
    query: hashing.PerceptualHash


def _best_rows(stored: StoredSet, algorithm: str, queries: list[hashing.PerceptualHash],
               limit: int) -> dict[int, _Best]:
    """Per stored item, its nearest row to any query hash within `limit` bits."""
    best: dict[int, _Best] = {}
    if not queries or not len(stored.keys[algorithm]):
        return best
    index = stored.index(algorithm)
    for q in queries:
        for row, dist in index.search(q.value, limit):
            key = int(stored.keys[algorithm][row])
            if key not in best or dist < best[key].distance:
                best[key] = _Best(int(dist), int(row), q)
    return best


def _nearest_keys(stored: StoredSet, algorithm: str, query: hashing.PerceptualHash | None,
                  count: int, exclude: set[int]) -> list[int]:
    import numpy as np

    if query is None or not len(stored.keys[algorithm]):
        return []
    distances = stored.index(algorithm).distances(query.value)
    order = np.argsort(distances, kind="stable")
    out: list[int] = []
    for row in order:
        key = int(stored.keys[algorithm][row])
        if key not in exclude and key not in out:
            out.append(key)
            if len(out) >= count:
                break
    return out


def find(
    query: list[hashing.PerceptualHash],
    stored: StoredSet,
    *,
    exclude: set[int] | None = None,
    query_features: LocalFeatures | None = None,
    load_features: Callable[[int], LocalFeatures | None] | None = None,
    crop_candidates: int = CROP_CANDIDATES,
) -> list[Match]:
    """Every stored item the query is a re-upload of, or similar to; best first.

    `query` holds the query's own hashes plus its dihedral PDQ variants. With
    `query_features` and `load_features`, candidates the hashes do not settle (and
    the nearest `crop_candidates` by hash, however far) go through the crop stage:
    keypoint verification (provenance.localmatch).
    """
    exclude = exclude or set()
    by_algo = {a: [h for h in query if h.algorithm == a] for a in ALGORITHMS}
    pdq_quality = min((h.quality for h in by_algo["pdq"] if h.quality is not None), default=None)
    pdq = _best_rows(stored, "pdq", by_algo["pdq"], hashing.PDQ_SIMILAR)
    phash = _best_rows(stored, "phash", by_algo["phash"], hashing.PHASH_SIMILAR)
    candidates = (pdq.keys() | phash.keys()) - exclude
    crop: list[int] = []
    local = query_features is not None and load_features is not None
    if local and crop_candidates > 0:
        upright = next((h for h in by_algo["pdq"] if h.region == "full"), None)
        crop = _nearest_keys(stored, "pdq", upright, crop_candidates, exclude)
        ph = by_algo["phash"][0] if by_algo["phash"] else None
        crop += [k for k in _nearest_keys(stored, "phash", ph, crop_candidates, exclude)
                 if k not in crop]
    if local:
        crop += [k for k in candidates if k not in crop]
    matches: list[Match] = []
    for key in sorted(candidates | set(crop)):
        p, h = pdq.get(key), phash.get(key)
        stored_quality = int(stored.quality["pdq"][p.row]) if p else -1
        quality = min(q for q in (pdq_quality, stored_quality if stored_quality >= 0 else None,
                                  100) if q is not None)
        verdict = hashing.verdict(p.distance if p else None, pdq_quality=quality,
                                  phash_distance=h.distance if h else None)
        inliers = None
        if verdict != "re-upload" and key in crop and query_features is not None and \
                load_features is not None:
            from .localmatch import verify

            other = load_features(key)
            if other is not None:
                inliers = verify(query_features, other)
                verdict = hashing.verdict(p.distance if p else None, pdq_quality=quality,
                                          phash_distance=h.distance if h else None,
                                          local_inliers=inliers)
        if verdict is None:
            continue
        matches.append(_describe(key, verdict, p, h, inliers, stored))
    matches.sort(key=lambda m: ({"re-upload": 0, "similar": 1}[m.verdict], _rank(m)))
    return matches


def _rank(m: Match) -> float:
    # Comparable across algorithms: share of bits that differ (orb: fewer inliers is worse).
    if m.algorithm == "pdq":
        return m.distance / 256
    if m.algorithm == "phash":
        return m.distance / 64
    return 1 / (1 + m.distance)


def _describe(key: int, verdict: str, p: _Best | None, h: _Best | None, inliers: int | None,
              stored: StoredSet) -> Match:
    detail: dict[str, Any] = {}
    if p:
        detail["pdq_distance"] = p.distance
    if h:
        detail["phash_distance"] = h.distance
    if inliers is not None:
        detail["orb_inliers"] = inliers
    if inliers is not None and inliers >= _orb_threshold() and not (p and p.distance <=
                                                                    hashing.PDQ_MATCH):
        algorithm, distance, region, row, algo = "orb", float(inliers), "full", p or h, "pdq"
    elif p and (not h or p.distance / 256 <= h.distance / 64 or verdict == "re-upload"):
        algorithm, distance, region, row, algo = "pdq", float(p.distance), p.query.region, p, "pdq"
    else:
        assert h is not None
        algorithm, distance, region, row, algo = ("phash", float(h.distance), h.query.region, h,
                                                  "phash")
    seconds = page = None
    if row is not None:
        algo = "pdq" if row is p else "phash"
        f = float(stored.frame_seconds[algo][row.row])
        seconds = None if f != f else f
        pg = int(stored.page[algo][row.row])
        page = None if pg < 0 else pg
    return Match(key, verdict, algorithm, distance, region, seconds, page, detail)


def _orb_threshold() -> int:
    from .localmatch import LOCAL_MATCH_INLIERS

    return LOCAL_MATCH_INLIERS
