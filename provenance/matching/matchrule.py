"""How a query is matched against stored hashes: candidates, the crop stage, verdicts.

Pure: no database. `relations` feeds it stored hashes from the database and the
benchmarks feed it theirs, so both exercise exactly the same rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provenance.matching import hashing
from provenance.matching.windowlink import local_overlay, through_window

if TYPE_CHECKING:
    import numpy as np

    from provenance.matching.kpindex import KeypointIndex
    from provenance.matching.localmatch import LocalFeatures

# Nearest stored items (by upright PDQ, and by pHash) handed to the crop stage even when
# their hashes are far: a 20% crop moves PDQ well past any threshold, but the original
# is usually still among the nearest few.
CROP_CANDIDATES = 8
# Candidates asked for again once verification rejected agreement as an overlay's (see
# find): as many for `prov add` as for `prov match`, so both give one answer.
LOOK_AGAIN = CROP_CANDIDATES
OVERLAY_RADIUS = 24.0  # px of localmatch.FEATURE_SIDE
WHOLE_PHASH = 4  # see `windowed` in find
WINDOW_CLOSE = 16  # see `windowed` in find
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
    # Exact multi-index over the first chunk_rows PDQ rows (matching.index.ChunkIndex), set
    # by the database side for large collections; rows after those are searched directly.
    chunk: Any = None
    # Facts about exactly these PDQ rows known without scanning them (the hash cache keeps
    # them): "frames", "pages" (any row is one), "keys_ascending". Absent: scan.
    hints: dict[str, bool] = field(default_factory=dict)

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
        from provenance.matching.index import HashIndex

        if algorithm not in self._indexes:
            import numpy as np

            rows = np.arange(len(self.keys[algorithm]), dtype=np.int64)
            self._indexes[algorithm] = HashIndex(rows, self.values[algorithm])
        return self._indexes[algorithm]

    def distances(self, value: bytes, algorithm: str = "pdq") -> Any:
        """Hamming distance from `value` to every stored hash of `algorithm`, in row order."""
        import numpy as np

        return np.asarray(self.index(algorithm).distances(value))

    def adopt_words(self, algorithm: str, words: Any) -> None:
        """Use an already packed word layout (from the hash cache) for `algorithm`'s
        exhaustive index instead of building it from the same rows on first use."""
        from provenance.matching.index import HashIndex

        self._indexes[algorithm] = HashIndex(None, None, words=words)

    def key_quality(self, key: int) -> int | None:
        """The lowest PDQ quality among the item's stored hashes; None if none is known."""
        import numpy as np

        memo: dict[int, int | None] = self._indexes.setdefault("_key_quality", {})
        if key in memo:
            return memo[key]
        keys, quality = self.keys["pdq"], self.quality["pdq"]
        if "_keys_sorted" not in self._indexes:
            # Rows are appended item by item, so keys usually ascend: then an item's rows
            # are one slice, found in microseconds even among millions.
            known = self.hints.get("keys_ascending")
            self._indexes["_keys_sorted"] = known if known is not None else bool(
                len(keys) < 2 or np.all(keys[1:] >= keys[:-1]))
        if self._indexes["_keys_sorted"]:
            lo, hi = np.searchsorted(keys, key, "left"), np.searchsorted(keys, key, "right")
            q = np.asarray(quality[lo:hi])
        else:
            q = np.asarray(quality[keys == key])
        q = q[q >= 0]
        memo[key] = int(q.min()) if len(q) else None
        return memo[key]

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


@dataclass
class _Nearest:
    """Per stored row: its smallest distance to any of the query's hashes, and to which."""

    distance: np.ndarray  # (rows,) uint16
    # (rows,) index into the query hashes; None at scale: then every row's nearest is
    # `upright` except the rows in `others` (row -> query), the few some other hash of the
    # query came closer to. A dense array would be 44 MB to allocate and fill per query at
    # eleven million rows, for a handful of rows ever read.
    query: np.ndarray | None
    upright: int = 0
    others: dict[int, int] = field(default_factory=dict)

    def query_of(self, row: int) -> int:
        if self.query is not None:
            return int(self.query[row])
        return self.others.get(row, self.upright)


# Above this many stored PDQ rows, a query's many hashes (windows, rotations, mirrors) are
# matched through the exact chunk index (every row within PDQ_MATCH bits), and only the
# upright whole-picture hash is compared with every row (for the similar band and the
# nearest candidates of the crop stage): 18 full passes over millions of rows would cost
# most of a second per query.
LARGE = 250_000


def _nearest(stored: StoredSet, algorithm: str, queries: list[hashing.PerceptualHash]
             ) -> _Nearest | None:
    import numpy as np

    if not queries or not len(stored.keys[algorithm]):
        return None
    if algorithm == "pdq" and stored.chunk is not None and len(stored.keys["pdq"]) > LARGE:
        return _nearest_large(stored, queries)
    if algorithm == "phash" and len(stored.keys["pdq"]) > LARGE:
        # At scale pHash only confirms PDQ near-misses of the upright picture (see LARGE).
        upright = [q for q in queries if q.region == "full"][:1] or queries[:1]
        queries = upright
    index = stored.index(algorithm)
    best = index.distances(queries[0].value).copy()
    which = np.zeros(len(best), np.int32)
    for qi, q in enumerate(queries[1:], start=1):
        d = index.distances(q.value)
        closer = d < best
        best[closer] = d[closer]
        which[closer] = qi
    return _Nearest(best, which)


def _nearest_large(stored: StoredSet, queries: list[hashing.PerceptualHash]) -> _Nearest:
    import numpy as np

    upright = next((i for i, q in enumerate(queries) if q.region == "full"), 0)
    index = stored.index("pdq")
    best = index.distances(queries[upright].value)  # a fresh array, ours to change
    others: dict[int, int] = {}
    chunk = stored.chunk
    covered = int(chunk.values.shape[0])
    # The upright hash's own distances are all in `best` already: only the others are
    # probed for (a row is taken from them only where one comes strictly closer).
    probed = [i for i in range(len(queries)) if i != upright]
    rows, dist, owner = chunk.within([queries[i].value for i in probed], hashing.PDQ_MATCH,
                                     with_query=True)
    closer = dist < best[rows]
    best[rows[closer]] = dist[closer]
    others.update(zip(rows[closer].tolist(), np.asarray(probed, np.int64)[owner[closer]].tolist(),
                      strict=True))
    if covered < len(best):  # appended since the index was built: compare directly
        tail = stored.values["pdq"][covered:].view(np.uint64)
        for qi in probed:
            q = queries[qi]
            qw = np.frombuffer(q.value, np.uint64)
            d = np.bitwise_count(tail ^ qw).sum(axis=1, dtype=np.uint16)
            seg = best[covered:]
            closer_t = d < seg
            seg[closer_t] = d[closer_t]
            others.update((covered + int(r), qi) for r in np.flatnonzero(closer_t))
    return _Nearest(best, None, upright, others)


def _best_rows(stored: StoredSet, algorithm: str, queries: list[hashing.PerceptualHash],
               near: _Nearest | None, limit: int) -> dict[int, _Best]:
    """Per stored item, its nearest row to any query hash within `limit` bits."""
    import numpy as np

    best: dict[int, _Best] = {}
    if near is None:
        return best
    rows = np.flatnonzero(near.distance <= limit)
    for row in rows[np.argsort(near.distance[rows], kind="stable")]:
        key = int(stored.keys[algorithm][row])
        if key not in best:
            best[key] = _Best(int(near.distance[row]), int(row),
                              queries[near.query_of(int(row))])
    return best


def _nearest_keys(stored: StoredSet, algorithm: str, near: _Nearest | None, count: int,
                  exclude: set[int]) -> list[int]:
    """The `count` stored items nearest to the query (by any of their rows), however far."""
    import numpy as np

    if near is None or count <= 0:
        return []
    keys = stored.keys[algorithm]
    dist = near.distance
    # The nearest rows first, without sorting a million distances: an item holds up to a
    # dozen rows (whole picture and windows), so `count` items are almost always among the
    # nearest 16 * (count + len(exclude)) rows. Every row within the distance that holds
    # that many (found by counting, not by partitioning eleven million rows with an index
    # array: 0.2-0.3 s at a million items), ordered by distance then row, is exactly the
    # start of the full stable sort; if it holds `count` items they are the full sort's.
    take = 16 * (count + len(exclude))
    if take < len(dist):
        part = _rows_holding(dist, take, stored.values[algorithm].shape[1] * 8)
        out, _ = _first_keys(keys, part[np.argsort(dist[part], kind="stable")], count,
                             exclude)
        if len(out) >= count:
            return out
    return _first_keys(keys, np.argsort(dist, kind="stable"), count, exclude)[0]


def _rows_holding(dist: np.ndarray, take: int, bits: int) -> np.ndarray:
    """Every row (ascending) whose distance is at most the smallest d such that at least
    `take` of `dist` are <= d (take <= len(dist); distances are at most `bits`).

    By bisection on d, counting; once a count is small, the search goes on among those rows
    only: at a million items two or three passes over eleven million distances, not ten.
    """
    import numpy as np

    lo, hi = 0, bits  # count(dist <= hi) >= take throughout
    rows: np.ndarray | None = None  # when set: every row with dist <= hi, and `values` theirs
    values = dist
    mask = np.empty(len(dist), bool)  # one buffer for every count over all rows
    while lo < hi:
        mid = (lo + hi) // 2
        below = np.less_equal(values, mid, out=mask[:len(values)] if rows is None else None)
        held = int(np.count_nonzero(below))
        if held < take:
            lo = mid + 1
            continue
        hi = mid
        if held <= max(take, len(values) // 16):
            rows = np.flatnonzero(below) if rows is None else rows[below]
            values = dist[rows]
    return rows[values <= lo] if rows is not None else np.flatnonzero(dist <= lo)


def _first_keys(keys: np.ndarray, order: np.ndarray, count: int, exclude: set[int]
                ) -> tuple[list[int], int]:
    """The first `count` distinct keys along `order`, and the row where the last was met."""
    out: list[int] = []
    row = -1
    for row in order:
        key = int(keys[row])
        if key not in exclude and key not in out:
            out.append(key)
            if len(out) >= count:
                break
    return out, int(row)


def find(
    query: list[hashing.PerceptualHash],
    stored: StoredSet,
    *,
    exclude: set[int] | None = None,
    query_features: LocalFeatures | None = None,
    load_features: Callable[[int], LocalFeatures | None] | None = None,
    crop_candidates: int = CROP_CANDIDATES,
    keypoint_index: KeypointIndex | None = None,
    load_page_features: Callable[[int, int], LocalFeatures | None] | None = None,
) -> list[Match]:
    """Every stored item the query is a re-upload of, or similar to; best first.

    `query` holds the query's own hashes (whole picture and sub-region windows) plus its
    rotated and mirrored variants; each is compared with every stored row of an item (its
    whole-picture and window hashes), so a crop meets the original's window and the
    original meets a stored crop's whole. With `query_features` and `load_features`,
    candidates the hashes do not settle, and the `crop_candidates` items nearest by PDQ
    and by pHash however far, go through the crop stage: keypoint verification
    (provenance.matching.localmatch). With `keypoint_index`, the `crop_candidates` pictures sharing
    the most keypoint descriptors with the query go through it too (provenance.matching.kpindex): an
    off-centre crop's original can rank below dozens of pictures by hash, not by keypoints.

    No verdict is "re-upload" unless both pictures carry information: the lower of the
    query's PDQ quality, the matched hashes' qualities and every stored hash's quality of
    the item must reach hashing.PDQ_MIN_QUALITY.

    Agreement only an overlay explains (localmatch.check) is no re-upload; its keypoints are
    then left out and the keypoint index is asked again for LOOK_AGAIN candidates. Two
    captures of one scene (localmatch's capture rule) are "similar", and so is a hash link
    that rests on pHash beyond PDQ_MATCH when keypoints find overlay-only agreement or
    another capture. With `load_page_features` (item, page) the same holds for a hash link to
    a held document's page: that page's keypoints decide (a letterhead).
    """
    import numpy as np

    exclude = exclude or set()
    by_algo = {a: [h for h in query if h.algorithm == a] for a in ALGORITHMS}
    qualities = [h.quality for h in by_algo["pdq"] if h.region == "full" and h.quality is not None]
    query_quality = min(qualities, default=None)
    near = {a: _nearest(stored, a, by_algo[a]) for a in ALGORITHMS}
    pdq = _best_rows(stored, "pdq", by_algo["pdq"], near["pdq"], hashing.PDQ_SIMILAR)
    phash = _best_rows(stored, "phash", by_algo["phash"], near["phash"], hashing.PHASH_SIMILAR)
    candidates = (pdq.keys() | phash.keys()) - exclude
    crop: list[int] = []
    local = query_features is not None and load_features is not None
    if local:
        crop = []
        by_hash = crop_candidates
        if keypoint_index is not None and query_features is not None:
            crop = keypoint_index.candidates(query_features, crop_candidates, exclude)
            if query_features.band is not None:
                # The photo inside a screenshot votes on its own, at its original's scale
                # (matching.bandkeys): the whole screenshot's votes go to the app's chrome.
                crop += [k for k in keypoint_index.candidates(
                    query_features.band, crop_candidates, exclude) if k not in crop]
            # Keypoints rank a crop's original better than hashes do; the nearest by hash
            # are kept as a second opinion, half as many (verification is the cost of add).
            by_hash = max(1, crop_candidates // 2)
        crop += [k for k in _nearest_keys(stored, "pdq", near["pdq"], by_hash, exclude)
                 if k not in crop]
        crop += [k for k in _nearest_keys(stored, "phash", near["phash"], by_hash, exclude)
                 if k not in crop]
        crop += [k for k in candidates if k not in crop]
    matches: list[Match] = []
    overlay: list[np.ndarray] = []

    def consider(key: int) -> None:
        p, h = pdq.get(key), phash.get(key)
        quality = _quality(stored, key, query_quality, p)
        verdict = hashing.verdict(p.distance if p else None, pdq_quality=quality,
                                  phash_distance=h.distance if h else None)
        # PDQ beyond its match threshold, confirmed by pHash: the hashes see one layout
        # (one letterhead, one scene) and keypoints decide whether it is one picture.
        unsure = verdict == "re-upload" and p is not None and p.distance > hashing.PDQ_MATCH
        # A held page linked by hash: pages of one letterhead or form are one layout, and
        # white paper with lines of text keeps PDQ within 31 bits of another page of it
        # (30 bits, two letters, bench/overlays.py): the page's keypoints decide too.
        if verdict == "re-upload" and p is not None and load_page_features is not None \
                and int(stored.page["pdq"][p.row]) >= 0:
            unsure = True
        # Two screenshots (both with a band) linked by a hash of more than the band: the
        # hash sees the app's chrome as much as the photo, and keypoints decide
        # (matching.bandkeys; a player app's grey textures were 24 bits apart).
        if verdict == "re-upload" and not unsure and p is not None \
                and p.query.region not in ("band", "photo") \
                and query_features is not None and query_features.band is not None \
                and load_features is not None and key in crop:
            from provenance.matching.bandkeys import banded

            unsure = banded(query_features, load_features(key))
        # A link through one corner window: a channel's badge there can make it (windowlink).
        # Not when the whole picture's pHash agrees closely too (quarter-size copies met
        # their originals through a window at 16-24 bits, pHash 0-2; badge pairs 6 or more),
        # nor when the window itself is within WINDOW_CLOSE bits: the badge pairs the rule
        # is for met at 28-30 bits, while a dark retina photo under a caption bar met its
        # original at 2 bits with its few keypoints in one small cluster, which the rule
        # took for a badge's (bench/overlays.py, caption bar, sans font).
        windowed = verdict == "re-upload" and not unsure and p is not None \
            and through_window(p.query.region) and (h is None or h.distance > WHOLE_PHASH) \
            and p.distance > WINDOW_CLOSE
        inliers = None
        if (verdict != "re-upload" or unsure or windowed) and key in crop \
                and query_features is not None and load_features is not None:
            from provenance.matching.bandkeys import check_pair
            from provenance.matching.localmatch import LOCAL_MATCH_INLIERS

            other = load_features(key)
            if other is None and unsure and load_page_features is not None:
                # A document's page: its keypoints are kept per page, not per item.
                page = int(stored.page["pdq"][p.row]) if p is not None else -1
                other = load_page_features(key, page) if page >= 0 else None
            if other is not None:
                found = check_pair(query_features, other)
                inliers = found.inliers
                overlay.append(found.overlay)
                if unsure and (len(found.overlay) or found.capture):
                    verdict = "similar"  # agreement on an overlay only, or another capture
                elif windowed:
                    if local_overlay(found, query_features):
                        verdict = "similar"
                elif not unsure:
                    verdict = hashing.verdict(p.distance if p else None, pdq_quality=quality,
                                              phash_distance=h.distance if h else None,
                                              local_inliers=inliers)
                    if verdict == "re-upload" and found.capture and \
                            inliers >= LOCAL_MATCH_INLIERS:
                        verdict = "similar"
        if verdict is not None:
            matches.append(_describe(key, verdict, p, h, inliers, stored))

    seen = candidates | set(crop)
    for key in sorted(seen):
        consider(key)
    # Keypoints whose agreement only an overlay explained (an app's chrome, a channel's
    # logo, a letterhead) voted for the pictures sharing that overlay: the candidates are
    # asked for again without them, so the photo inside a screenshot gets its own vote
    # (frequent descriptors down-weighted by what verification found).
    shared = np.unique(np.concatenate(overlay)) if overlay else np.zeros(0, np.int64)
    if keypoint_index is not None and query_features is not None and len(shared):
        again = keypoint_index.candidates(_without(query_features, shared), LOOK_AGAIN,
                                          exclude | seen)
        crop += again
        for key in again:
            consider(key)
    matches.sort(key=lambda m: ({"re-upload": 0, "similar": 1}[m.verdict], _rank(m)))
    return matches


def _without(features: LocalFeatures, drop: np.ndarray) -> LocalFeatures:
    """The upright keypoints of `features` except those at the indices `drop` and those
    within OVERLAY_RADIUS px of them (the rest of the overlay's lettering and edges, which
    did not pass the ratio test but still vote for every picture sharing the overlay)."""
    import numpy as np

    from provenance.matching.localmatch import LocalFeatures

    upright = features.part(mirrored=False)
    points = upright.points
    near = np.zeros(len(points), bool)
    for start in range(0, len(drop), 64):  # bounded memory: 64 x n distances at a time
        gap = points[:, None, :] - points[drop[start:start + 64]][None, :, :]
        near |= (np.hypot(gap[..., 0], gap[..., 1]) <= OVERLAY_RADIUS).any(axis=1)
    return LocalFeatures(points[~near], upright.descriptors[~near], size=features.size)


def _quality(stored: StoredSet, key: int, query_quality: int | None, p: _Best | None
             ) -> int | None:
    """The quality a verdict between the query and stored item `key` rests on (None: unknown).

    Every stored hash of the item counts, not only the matched one: a flat picture (a wall)
    must not be linked through its keypoints or a busier window. The stored rows carry no
    region in the database's packed copy, so this cannot single out the whole-picture row.
    """
    known = [q for q in (query_quality, stored.key_quality(key)) if q is not None]
    if p is not None:
        row_quality = int(stored.quality["pdq"][p.row])
        known += [q for q in (p.query.quality, row_quality if row_quality >= 0 else None)
                  if q is not None]
    return min(known, default=None)


def _rank(m: Match) -> float:
    # Comparable across algorithms: share of bits that differ (orb: fewer inliers is worse).
    if m.algorithm == "pdq":
        return m.distance / 256
    if m.algorithm == "phash":
        return m.distance / 64
    return 1 / (1 + m.distance)


def _describe(key: int, verdict: str, p: _Best | None, h: _Best | None, inliers: int | None,
              stored: StoredSet) -> Match:
    """One held item's Match: its verdict, the evidence that decided it (the PDQ distance,
    else the pHash distance, else the keypoint inliers), and the detail a person reads
    (which region or orientation matched, both qualities, the frame or page)."""
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
    from provenance.matching.localmatch import LOCAL_MATCH_INLIERS

    return LOCAL_MATCH_INLIERS
