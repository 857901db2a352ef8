"""Candidate retrieval by keypoints: which stored pictures share the most ORB descriptors.

The hashes find a re-upload's original when the copy keeps most of the picture. A crop
that is off every stored window moves every hash far away, and among a thousand pictures
the original can rank below dozens of unrelated ones by hash; its keypoints are still
there. This index votes. Each ORB descriptor (256 bits) is cut into TABLES words of 16
bits (bit-sampling LSH for Hamming distance: ORB's tests were learned to be uncorrelated,
so adjacent bits are as independent as any). A stored descriptor that shares a word with
a query descriptor and is within MATCH_BITS of it gives its picture one vote per query
keypoint, if it is nearly as near as the nearest found anywhere (NEAREST_MARGIN); a
keypoint voting for several pictures shares its vote among them.

Two views of one point differ in ~20-40 of 256 bits, so they share a given 16-bit word
with probability ~0.1-0.3 and one of 8 words with ~0.6-0.9; the distance check then keeps
chance collisions out. Measured on 20%-off-centre crops against 1,064 pictures
(bench/README-hashing.md): the original gets the most votes for every one of 64 crops
(by hash it ranked below the 4 nearest for 6 of them). The votes only choose which pictures go
through keypoint verification (provenance.matching.localmatch.verify); they never decide a verdict.

Pure: no database. `relations` feeds it the stored keypoint caches and the benchmarks
their gallery, so both exercise the same retrieval. A segment can be written to a folder and
opened memory-mapped (`_Segment.save`, `_Segment.open`): matching.kpcache keeps a database's
index on disk that way, in shards of at most SHARD_ROWS rows, so an archive of a hundred
thousand pictures is queried without reading or sorting it all in each process.
At that size a query keypoint's words meet thousands of stored rows: each table keeps its
rows' tail words beside them (TAIL_BITS), so only the rows close there are read from the
descriptors, and the vote stays with the nearest pictures (bench/kpscale.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from provenance.matching.localmatch import LocalFeatures

TABLES = 8
# A collision counts as a vote only if the two descriptors are this close: ORB descriptors
# of one point under re-encoding and rescaling are mostly within 40 bits, unrelated ones
# 100-128 bits apart.
MATCH_BITS = 56
# A query keypoint votes only for the pictures whose nearest descriptor is within this many
# bits of the nearest one found over the whole index. Among a thousand pictures a chance
# collision within MATCH_BITS is rare; among a hundred thousand, a dim picture's keypoints
# (flat, low-contrast patches) are within MATCH_BITS of hundreds of other pictures' too, and
# sharing each vote among all of them left its original 0.46 votes against a stranger's 1.3
# from two chance collisions (bench/kpscale.py, README "Crops at scale"). A crop's keypoints
# are 8-30 bits from the original's, its chance collisions 40-56; the keypoints an app's
# status bar or a channel's logo repeats in every picture of it are found within a few bits
# of each other in all of them, so their vote is still shared (the burstiness weighting).
NEAREST_MARGIN = 12
# Per table, a stored row sharing the query's word is gathered only if its tail word (bits
# 128-255: word t + TABLES, which no table is keyed by) is within TAIL_BITS of the query's:
# read in the table's own sorted order, the tails lie next to the words, so this check reads
# contiguous memory, and only the rows that pass it are fetched from all over the
# descriptors (random reads that dominated a query at 100,000 pictures). Two views of one
# point (20-40 bits apart of 256) pass it with probability ~0.9; unrelated rows ~0.05.
TAIL_BITS = 4
# Per stored picture, the first PER_PART upright and PER_PART mirrored keypoints are indexed
# (ingest stores them strongest-per-grid-cell first, so these still cover the whole picture).
# Measured on 20%-off-centre crops among 1,064 pictures: 128 rank the originals first as
# often as all ~600 do, at a fifth of the memory (~21 KB a picture) and 12 ms a query.
PER_PART = 128
# Words shared by more than this share of all indexed descriptors (flat patches, stock
# patterns) say nothing about which picture it is: they are skipped, not counted.
_COMMON = 0.0002
# Segments stop merging past this many rows (~4,000 pictures): a merge sorts both in memory,
# so this bounds the memory and time any one `prov add` can spend on it (~90 MB, ~1 s),
# and an index of any size is a list of shards of at most this size.
SHARD_ROWS = 1 << 20
_SHARD_FILES = ("item_keys", "owner", "descriptors", "starts", "rows", "tails")
_WORDS = 1 << 16


def words(descriptors: np.ndarray) -> np.ndarray:
    """(n, 32) uint8 ORB descriptors -> (n, TABLES) uint16 words (bytes 2t and 2t+1)."""
    import numpy as np

    return np.ascontiguousarray(descriptors, np.uint8).view(np.uint16)[:, :TABLES]


def tails(descriptors: np.ndarray) -> np.ndarray:
    """(n, 32) uint8 ORB descriptors -> (n, TABLES) uint16 tail words (words TABLES...)."""
    import numpy as np

    return np.ascontiguousarray(descriptors, np.uint8).view(np.uint16)[:, TABLES:2 * TABLES]


def indexed_part(features: LocalFeatures) -> np.ndarray:
    """The descriptors of `features` that go into the index."""
    import numpy as np

    upright = features.points[:, 0] >= 0
    keep = np.concatenate([np.flatnonzero(upright)[:PER_PART], np.flatnonzero(~upright)[:PER_PART]])
    own = np.asarray(features.descriptors[np.sort(keep)], np.uint8)
    if features.band is None:
        return own
    # A screenshot's photo band, at an original's scale (matching.bandkeys): an original
    # queried later votes for the screenshot through these.
    return np.concatenate([own, np.asarray(features.band.descriptors[:PER_PART], np.uint8)])


def _distinct(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting: np.unique's own path imports numpy.ma (~15 ms of a prov match)."""
    import numpy as np

    ordered = np.sort(values)
    if not len(ordered):
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def run_starts(column: np.ndarray) -> np.ndarray:
    """Where each word's run starts among the column's words sorted: for every w in
    0.._WORDS, how many words are below w (int32, _WORDS + 1 of them). Counted, not searched:
    a binary search per word over a segment cost ~1 ms a table (65,537 searches), which a
    `prov add` paid for every new picture's segment and every merge."""
    import numpy as np

    counts = np.bincount(np.asarray(column, np.int64), minlength=_WORDS)
    return np.concatenate(([0], np.cumsum(counts))).astype(np.int32)


class _Segment:
    """Per table, the indexed descriptors' rows in the order of their words, with where each
    word's run starts (a directory of _WORDS + 1 offsets) and each row's tail word."""

    folder: Path | None = None  # where it is saved, when it was opened from or saved to disk

    def __init__(self, keys: np.ndarray, descriptors: np.ndarray) -> None:
        import numpy as np

        self.item_keys, owner = np.unique(np.asarray(keys, np.int64), return_inverse=True)
        self.owner = owner.astype(np.int32)
        self.descriptors = np.ascontiguousarray(descriptors, np.uint8)
        self.packed = self.descriptors.view(np.uint64)
        self.size = len(keys)
        w, tail = words(self.descriptors), tails(self.descriptors)
        # Where each word's run starts, not the sorted words themselves: a query's runs are
        # then two lookups a word, where binary searches over 25 memory-mapped shards took
        # 0.6 s of a query at 100,000 pictures.
        self.starts: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []
        self.tails: list[np.ndarray] = []  # per table, each row's tail word in sorted order
        for t in range(TABLES):
            order = np.argsort(w[:, t], kind="stable")
            self.starts.append(run_starts(w[:, t]))
            self.rows.append(order.astype(np.int32))
            self.tails.append(np.ascontiguousarray(tail[order, t]))

    def save(self, folder: Path) -> None:
        """Write the segment's arrays into `folder` (which exists and is empty)."""
        import numpy as np

        np.save(folder / "item_keys.npy", self.item_keys)
        np.save(folder / "owner.npy", self.owner)
        np.save(folder / "descriptors.npy", self.descriptors)
        np.save(folder / "starts.npy", np.stack(self.starts))
        np.save(folder / "rows.npy", np.stack(self.rows))
        np.save(folder / "tails.npy", np.stack(self.tails))

    @classmethod
    def open(cls, folder: Path) -> _Segment:
        """A segment saved in `folder`, memory-mapped: nothing is read until a query needs
        it (ValueError or OSError if the folder does not hold one)."""
        import numpy as np

        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _SHARD_FILES}
        size = len(arrays["owner"])
        if arrays["descriptors"].shape != (size, 32) \
                or arrays["starts"].shape != (TABLES, _WORDS + 1) \
                or arrays["rows"].shape != (TABLES, size) \
                or arrays["tails"].shape != (TABLES, size) or arrays["item_keys"].ndim != 1:
            raise ValueError(f"{folder}: not a keypoint index shard")
        seg = cls.__new__(cls)
        seg.item_keys = np.asarray(arrays["item_keys"])  # one per picture: small, read now
        seg.owner = arrays["owner"]
        seg.descriptors = arrays["descriptors"]
        seg.packed = seg.descriptors.view(np.uint64)
        seg.size = size
        seg.starts = list(arrays["starts"])
        seg.rows = list(arrays["rows"])
        seg.tails = list(arrays["tails"])
        seg.folder = folder
        return seg

    def keys(self) -> np.ndarray:
        """The item key of every indexed descriptor."""
        return self.item_keys[self.owner]

    def runs(self, qwords: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per table, where each query word's run of equal stored words starts and ends."""
        import numpy as np

        at = qwords.astype(np.int64)
        return [(np.asarray(self.starts[t][at[:, t]], np.int64),
                 np.asarray(self.starts[t][at[:, t] + 1], np.int64)) for t in range(TABLES)]

    def voters(self, query: np.ndarray, runs: list[tuple[np.ndarray, np.ndarray]],
               keep: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query keypoint, picture row in item_keys, bits to its nearest descriptor there)
        for every picture with a descriptor within MATCH_BITS of a query keypoint's, each
        pair once. `query` is the (n, 32) uint8 descriptors."""
        import numpy as np

        packed, qtails = query.view(np.uint64), tails(query)
        pairs_q, pairs_r = [], []
        for t, (lo, hi) in enumerate(runs):
            lengths = np.where(keep[t], hi - lo, 0)
            n = int(lengths.sum())
            if not n:
                continue
            # Every position of every matching run: lo[i], lo[i] + 1, ..., hi[i] - 1.
            starts = np.repeat(lo - np.cumsum(np.concatenate(([0], lengths[:-1]))), lengths)
            at = starts + np.arange(n)
            qi = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
            near = np.bitwise_count(self.tails[t][at] ^ qtails[qi, t]) <= TAIL_BITS
            pairs_r.append(self.rows[t][at[near]])
            pairs_q.append(qi[near])
        if not pairs_q:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        qi, row = np.concatenate(pairs_q), np.concatenate(pairs_r)
        dist = np.bitwise_count(packed[qi] ^ self.packed[row]).sum(axis=1)
        close = dist <= MATCH_BITS
        qi, dist = qi[close], dist[close].astype(np.int64)
        owner = self.owner[row[close]].astype(np.int64)
        # One entry per query keypoint and picture, at its nearest descriptor there.
        size = max(len(self.item_keys), 1)
        code = qi * size + owner
        order = np.lexsort((dist, code))
        code, dist = code[order], dist[order]
        first = np.concatenate(([True], code[1:] != code[:-1])) if len(code) else code > 0
        return code[first] // size, code[first] % size, dist[first]


@dataclass
class KeypointIndex:
    """Indexed keypoints of stored pictures, in segments: one big, a few recent small ones."""

    segments: list[_Segment] = field(default_factory=list)
    pictures: set[int] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.pictures)

    @property
    def size(self) -> int:
        return sum(s.size for s in self.segments)

    def add(self, pictures: Iterable[tuple[int, LocalFeatures | None]]) -> None:
        """Index more pictures (item key, features); one already indexed is skipped.

        Each batch becomes a segment (a batch of more than SHARD_ROWS / 2 rows several); a
        segment at least half the size of the one before is merged into it, up to SHARD_ROWS
        rows, so segments stay few (about log2 of the pictures, or their rows / SHARD_ROWS)
        and a picture is sorted into a merged segment only about log2 times, however it was
        added.
        """
        import numpy as np

        keys: list[np.ndarray] = []
        desc: list[np.ndarray] = []
        added: list[int] = []
        seen: set[int] = set()
        rows = 0

        def flush() -> None:
            self.add_indexed(np.concatenate(keys) if keys else np.zeros(0, np.int64),
                             np.concatenate(desc) if desc else np.zeros((0, 32), np.uint8),
                             added)
            keys.clear()
            desc.clear()
            added.clear()

        for key, f in pictures:
            if key in self.pictures or key in seen or f is None:
                continue
            part = indexed_part(f)
            added.append(key)
            seen.add(key)
            if len(part):
                keys.append(np.full(len(part), key, np.int64))
                desc.append(part)
                rows += len(part)
                if rows >= SHARD_ROWS // 2:
                    flush()
                    rows = 0
        flush()

    def add_indexed(self, keys: np.ndarray, descriptors: np.ndarray,
                    pictures: Iterable[int]) -> None:
        """Add descriptors already cut to indexed_part (as `rows()` gives them back)."""
        import numpy as np

        self.pictures.update(int(p) for p in pictures)
        if not len(keys):
            return
        self.segments.append(_Segment(keys, descriptors))
        while len(self.segments) > 1 and self.segments[-1].size * 2 >= self.segments[-2].size \
                and self.segments[-1].size + self.segments[-2].size <= SHARD_ROWS:
            last, before = self.segments.pop(), self.segments.pop()
            self.segments.append(_Segment(np.concatenate([before.keys(), last.keys()]),
                                          np.concatenate([before.descriptors, last.descriptors])))

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Every indexed descriptor: (item key per row, (n, 32) descriptors)."""
        import numpy as np

        if not self.segments:
            return np.zeros(0, np.int64), np.zeros((0, 32), np.uint8)
        return (np.concatenate([s.keys() for s in self.segments]),
                np.concatenate([s.descriptors for s in self.segments]))

    def votes(self, query: LocalFeatures) -> tuple[np.ndarray, np.ndarray]:
        """(item keys, votes) of every indexed picture (a picture is in one segment only);
        each query keypoint's one vote is split among the pictures it votes for."""
        import numpy as np

        upright = np.ascontiguousarray(query.part(mirrored=False).descriptors, np.uint8)
        if not len(upright) or not self.segments:
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        common = max(8, int(self.size * _COMMON))
        qwords = words(upright)
        runs = [seg.runs(qwords) for seg in self.segments]
        # A word too common over all segments together is skipped in every one of them.
        keep = [sum(r[t][1] - r[t][0] for r in runs) <= common for t in range(TABLES)]
        keys = np.concatenate([seg.item_keys for seg in self.segments])
        offsets = np.cumsum([0] + [len(seg.item_keys) for seg in self.segments])
        found = [seg.voters(upright, r, keep) for seg, r in zip(self.segments, runs, strict=True)]
        qi = np.concatenate([q for q, _, _ in found])
        picture = np.concatenate([p + offsets[i] for i, (_, p, _) in enumerate(found)])
        dist = np.concatenate([d for _, _, d in found])
        # A query keypoint votes only for the pictures nearly as near as its nearest one
        # (NEAREST_MARGIN): chance collisions do not outvote the original at scale.
        nearest = np.full(len(upright), MATCH_BITS, np.int64)
        np.minimum.at(nearest, qi, dist)
        near = dist <= nearest[qi] + NEAREST_MARGIN
        qi, picture = qi[near], picture[near]
        # A query keypoint's vote is shared among the pictures it votes for: a keypoint of
        # an app's status bar or a channel's logo, found in every screenshot or frame of it,
        # says little about which one this is (burstiness weighting, as idf in text
        # retrieval). Counted whole, those keypoints ranked other screenshots of the same app
        # above the photo a screenshot shows.
        weight = 1.0 / np.bincount(qi, minlength=len(upright))[qi] if len(qi) else np.zeros(0)
        return keys, np.bincount(picture, weights=weight, minlength=len(keys))

    def candidates(self, query: LocalFeatures, count: int, exclude: set[int]) -> list[int]:
        """The `count` indexed pictures with the most votes (at least one), most first."""
        import numpy as np

        if count <= 0:
            return []
        keys, votes = self.votes(query)
        out: list[int] = []
        for i in np.argsort(-votes, kind="stable"):
            if votes[i] <= 0:
                break
            key = int(keys[i])
            if key not in exclude:
                out.append(key)
                if len(out) >= count:
                    break
        return out


def build(features: dict[int, LocalFeatures]) -> KeypointIndex:
    """An index over the given pictures' keypoints (upright and mirrored alike)."""
    index = KeypointIndex()
    index.add(features.items())
    return index
