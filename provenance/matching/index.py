"""Exact Hamming search and near-duplicate clustering over perceptual hashes held as numpy words."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# Clustering candidate generation: 16 chunks of 16 bits; a pair sharing one chunk exactly is
# checked. That finds every pair within 15 bits, and (measured in bench/query_index.py) nearly
# every pair within 31: bits that differ between near-duplicates are few and scattered.
CHUNK_BITS = 16
# Sorted-neighbour window inside one chunk bucket: a huge bucket (thousands of copies of one
# viral image, or of near-blank frames) is linked along its sort order instead of all-pairs.
MAX_BUCKET_WINDOW = 64


def words_of(hashes: np.ndarray) -> np.ndarray:
    """(n, nbytes) uint8 -> (nbytes/8, n) uint64, one contiguous row per word, for streaming XOR."""
    import numpy as np

    hashes = np.ascontiguousarray(hashes, dtype=np.uint8)
    if hashes.ndim != 2 or hashes.shape[1] % 8:
        raise ValueError(f"hashes must be (n, 8k) bytes, got shape {hashes.shape}")
    return np.ascontiguousarray(hashes.view(np.uint64).T)


class HashIndex:
    """Every stored hash of one algorithm, searched exhaustively: exact, ~5 ms per million."""

    # Rows per step of distances(): its buffers stay in cache instead of streaming 8 MB
    # temporaries per word through memory.
    BLOCK = 1 << 15

    def __init__(self, ids: np.ndarray | Sequence[int] | None, hashes: np.ndarray | None,
                 *, words: np.ndarray | None = None) -> None:
        """From (n, nbytes) hashes, or from their words_of() layout, e.g. memory-mapped from
        the hash cache: transposing a million hashes costs a query 10-25 ms. ids None: the
        row numbers (made only if search asks for them)."""
        import numpy as np

        if words is None:
            if hashes is None:
                raise ValueError("HashIndex needs hashes or their words")
            words = words_of(hashes)
        self._words = np.asarray(words)  # a memmap's indexing is Python; the buffer is not
        n = self._words.shape[1]
        self._ids = None if ids is None else np.asarray(ids, dtype=np.int64)
        if self._ids is not None and len(self._ids) != n:
            raise ValueError(f"{len(self._ids)} ids for {n} hashes")
        self.nbytes = self._words.shape[0] * 8

    @property
    def ids(self) -> np.ndarray:
        import numpy as np

        if self._ids is None:
            self._ids = np.arange(self._words.shape[1], dtype=np.int64)
        return self._ids

    @classmethod
    def from_bytes(cls, rows: Iterable[tuple[int, bytes]]) -> HashIndex:
        import numpy as np

        pairs = list(rows)
        nbytes = len(pairs[0][1]) if pairs else 32
        hashes = np.frombuffer(b"".join(v for _, v in pairs), dtype=np.uint8).reshape(-1, nbytes)
        return cls(np.array([i for i, _ in pairs], dtype=np.int64), hashes)

    def __len__(self) -> int:
        return int(self._words.shape[1])

    def distances(self, query: bytes) -> np.ndarray:
        """Hamming distance from query to every stored hash (uint16, index order)."""
        import numpy as np

        if len(query) != self.nbytes:
            raise ValueError(f"query is {len(query)} bytes, index holds {self.nbytes}-byte hashes")
        q = np.frombuffer(query, dtype=np.uint64)
        n = len(self)
        total = np.zeros(n, dtype=np.uint16)
        xor = np.empty(min(n, self.BLOCK), dtype=np.uint64)
        count = np.empty(min(n, self.BLOCK), dtype=np.uint8)
        for start in range(0, n, self.BLOCK):
            stop = min(start + self.BLOCK, n)
            x, c, t = xor[: stop - start], count[: stop - start], total[start:stop]
            for k in range(self._words.shape[0]):
                np.bitwise_xor(self._words[k, start:stop], q[k], out=x)
                np.bitwise_count(x, out=c)
                t += c
        return total

    def distances_at(self, query: bytes, rows: np.ndarray) -> np.ndarray:
        """Hamming distance from query to the stored hashes at `rows` (uint16, their order):
        what distances() gives there, for a few rows without a pass over all of them."""
        import numpy as np

        if len(query) != self.nbytes:
            raise ValueError(f"query is {len(query)} bytes, index holds {self.nbytes}-byte hashes")
        q = np.frombuffer(query, dtype=np.uint64)
        total = np.zeros(len(rows), dtype=np.uint16)
        for k in range(self._words.shape[0]):
            total += np.bitwise_count(self._words[k][rows] ^ q[k])
        return total

    def search(self, query: bytes, max_distance: int) -> list[tuple[int, int]]:
        """(id, distance) of every stored hash within max_distance, nearest first."""
        return self.search_many([query], max_distance)

    def search_many(self, queries: Sequence[bytes], max_distance: int) -> list[tuple[int, int]]:
        """Like search, for several variants of one query (e.g. the 8 dihedral PDQ hashes):
        each id once, at its smallest distance to any variant."""
        import numpy as np

        if not queries or not len(self.ids):
            return []
        best = self.distances(queries[0])
        for q in queries[1:]:
            np.minimum(best, self.distances(q), out=best)
        hits = np.flatnonzero(best <= max_distance)
        ids, dist = self.ids[hits], best[hits]
        # Per id (an item may hold several hashes, e.g. regions), keep its nearest.
        order = np.lexsort((dist, ids))
        ids, dist = ids[order], dist[order]
        first = np.ones(len(ids), dtype=bool)
        first[1:] = ids[1:] != ids[:-1]
        ids, dist = ids[first], dist[first]
        order = np.lexsort((ids, dist))
        return [(int(i), int(d)) for i, d in zip(ids[order], dist[order], strict=True)]


def near_pairs(hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index pairs (a, b, distance), a < b, within max_distance, found by shared 16-bit chunks."""
    import numpy as np

    hashes = np.ascontiguousarray(hashes, dtype=np.uint8)
    n, nbytes = hashes.shape
    words = hashes.view(np.uint64)
    chunks = hashes.view(np.uint16)  # (n, nbytes/2)
    found_a, found_b, found_d = [], [], []
    for c in range(chunks.shape[1]):
        key = chunks[:, c]
        order = np.argsort(key, kind="stable")
        skey = key[order]
        for k in range(1, MAX_BUCKET_WINDOW + 1):
            same = np.flatnonzero(skey[k:] == skey[:-k])
            if not len(same):
                break
            a, b = order[same], order[same + k]
            d = np.bitwise_count(words[a] ^ words[b]).sum(axis=1, dtype=np.uint16)
            close = d <= max_distance
            found_a.append(np.minimum(a, b)[close])
            found_b.append(np.maximum(a, b)[close])
            found_d.append(d[close])
    if not found_a:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.uint16)
    a, b, d = np.concatenate(found_a), np.concatenate(found_b), np.concatenate(found_d)
    pair = np.unique(a.astype(np.int64) * n + b, return_index=True)[1]
    return a[pair].astype(np.int64), b[pair].astype(np.int64), d[pair]


def cluster(hashes: np.ndarray, max_distance: int, rank: np.ndarray | None = None
            ) -> list[list[int]]:
    """Near-duplicate families (row indices, best-ranked first) of two or more members.

    Pairs within max_distance are joined into connected components; a component is then cut
    into families each held by a representative (its best-ranked member, e.g. the earliest
    copy) and the members within max_distance of it. So no family spans more than twice the
    threshold: unrelated photos cannot chain together through a series of intermediates.
    rank orders members (lower first); default row order.
    """
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    hashes = np.ascontiguousarray(hashes, dtype=np.uint8)
    n = len(hashes)
    rank = np.arange(n) if rank is None else np.asarray(rank)
    a, b, _ = near_pairs(hashes, max_distance)
    if not len(a):
        return []
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    linked = np.unique(np.concatenate([a, b]))
    by_label = linked[np.argsort(labels[linked], kind="stable")]
    bounds = np.flatnonzero(np.diff(labels[by_label])) + 1
    words = hashes.view(np.uint64)
    families: list[list[int]] = []
    for members in np.split(by_label, bounds):
        members = members[np.argsort(rank[members], kind="stable")]
        while len(members) > 1:
            d = np.bitwise_count(words[members] ^ words[members[0]]).sum(axis=1)
            held = d <= max_distance
            if held.sum() > 1:
                families.append([int(m) for m in members[held]])
            members = members[~held]
    families.sort(key=lambda f: rank[f[0]])
    return families


# Multi-index search: a 256-bit hash split into 16 chunks of 16 bits. If two hashes differ
# in at most 31 bits, some chunk differs in at most one (16 chunks x 2 bits would be 32), so
# probing each chunk's exact value and its 16 one-bit neighbours finds every hash within 31
# bits — exactly, no approximation — while touching ~17 x 16 small buckets, not a million rows.
PROBE_CHUNKS = 16


class ChunkIndex:
    """Exact Hamming search within 2 x chunks - 1 bits via sorted chunk tables."""

    def __init__(self, offsets: np.ndarray, order: np.ndarray, values: np.ndarray,
                 words: np.ndarray | None = None) -> None:
        """words: the same values in words_of() layout (at least n columns; the hash cache's
        exhaustive index), to check candidates against instead of `values`."""
        # offsets[c, v]: where chunk value v starts in chunk c's sorted order; with 65,537
        # entries a bucket is two lookups, not a binary search through a million keys.
        import numpy as np

        # Plain arrays over the same (possibly memory-mapped) buffers: np.memmap indexes
        # through Python, a cost per probe.
        self.offsets = np.asarray(offsets)  # (chunks, 65537) uint32
        self.order = np.asarray(order)  # (chunks, n) uint32: rows sorted by each chunk's value
        self.values = np.asarray(values)  # (n, nbytes) uint8
        # A query compares its upright hash with every row through the word layout first,
        # so its pages are mapped already; checking ~700,000 candidates there (eleven
        # million rows) took 0.04-0.10 s of CPU against 0.12-0.19 s through `values`,
        # whose 350 MB were otherwise mapped for this alone.
        self.words = None if words is None else np.asarray(words)
        if self.words is not None and (self.words.shape[0] * 8 != self.values.shape[1]
                                       or self.words.shape[1] < self.values.shape[0]):
            raise ValueError(f"words {self.words.shape} do not hold values {self.values.shape}")
        self.chunks = order.shape[0]
        self.exact_up_to = 2 * self.chunks - 1

    @classmethod
    def build(cls, values: np.ndarray) -> ChunkIndex:
        import numpy as np

        values = np.ascontiguousarray(values, dtype=np.uint8)
        chunks = np.ascontiguousarray(values.view(np.uint16).T)  # (chunks, n)
        order = np.argsort(chunks, axis=1, kind="stable").astype(np.uint32)
        counts = np.stack([np.bincount(row, minlength=65536) for row in chunks])
        offsets = np.zeros((chunks.shape[0], 65537), np.uint32)
        np.cumsum(counts, axis=1, out=offsets[:, 1:])
        return cls(offsets, np.ascontiguousarray(order), values)

    def _close(self, rows: np.ndarray, owners: np.ndarray, qwords: np.ndarray, chunk: int,
               max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, distances, owners) of the candidates found through `chunk` that are within
        max_distance of the query whose probe found them (owners: index into qwords).

        Word by word, the word holding `chunk` last (there a candidate agrees with its query
        but for a bit, having been found by that chunk's value), and a candidate is dropped
        as soon as its distance so far passes max_distance: distances only grow, so exactly
        the candidates a whole comparison keeps are kept, in their order. An unrelated row
        is ~32 bits from the query in each word, so two words rule out nearly every one of
        the ~730,000 candidates of 16 query hashes among eleven million rows, and the other
        words are read for the few left: ~1.1 million random reads instead of ~2.9 million
        (within(): 60-64 -> 32-36 ms of CPU a query at a million items, load ~7)."""
        import numpy as np

        nwords = qwords.shape[1]
        own = chunk * 2 // 8  # 16-bit chunk c is bytes 2c, 2c+1 of the hash
        # uint8: a distance so far is at most max_distance (<= exact_up_to) before a word
        # adds at most 64 bits to it.
        dist = np.zeros(len(rows), np.uint8)
        for k in [(own + 1 + i) % nwords for i in range(nwords)]:
            column = self.words[k] if self.words is not None else \
                self.values.view(np.uint64)[:, k]
            word = column[rows]
            np.bitwise_xor(word, qwords[:, k][owners], out=word)
            dist += np.bitwise_count(word)
            near = dist <= max_distance
            if not near.all():
                rows, owners, dist = rows[near], owners[near], dist[near]
        return rows, dist.astype(np.uint16), owners

    def within(self, queries: Sequence[bytes], max_distance: int, *, with_query: bool = False
               ) -> Any:
        """(rows, distances): every stored row within max_distance of any query, at its
        smallest distance. Exact for max_distance <= exact_up_to. With with_query, also
        which query each row is nearest to."""
        import numpy as np

        if max_distance > self.exact_up_to:
            raise ValueError(f"chunk probing is exact only up to {self.exact_up_to} bits")
        n = self.values.shape[0]
        if not queries or n == 0:
            empty = np.zeros(0, np.int64), np.zeros(0, np.uint16)
            return (*empty, np.zeros(0, np.int32)) if with_query else empty
        q = np.frombuffer(b"".join(queries), np.uint8).reshape(len(queries), -1)
        qchunks = q.view(np.uint16)  # (m, chunks)
        qwords = q.view(np.uint64)  # (m, words)
        flips = np.concatenate([[0], 1 << np.arange(16)]).astype(np.uint16)
        owner = np.repeat(np.arange(len(queries)), len(flips))  # query behind each probe
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for c in range(self.chunks):
            probes = (qchunks[:, c, None] ^ flips[None, :]).ravel()
            lo = self.offsets[c][probes].astype(np.int64)
            sizes = self.offsets[c][probes.astype(np.int64) + 1].astype(np.int64) - lo
            total = int(sizes.sum())
            if total == 0:
                continue
            # Concatenated ranges [lo, hi) without a Python loop.
            starts = np.repeat(lo - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
            rows = self.order[c][starts + np.arange(total)].astype(np.int64)
            # Each candidate is compared with the query whose probe found it: that is enough,
            # since a row within the limit of any query is found through that query's probes.
            found.append(self._close(rows, np.repeat(owner, sizes), qwords, c, max_distance))
        if not found:
            empty = np.zeros(0, np.int64), np.zeros(0, np.uint16)
            return (*empty, np.zeros(0, np.int32)) if with_query else empty
        rows = np.concatenate([f[0] for f in found])
        dist = np.concatenate([f[1] for f in found])
        owners = np.concatenate([f[2] for f in found])
        order = np.lexsort((dist, rows))
        rows, dist, owners = rows[order], dist[order], owners[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        if with_query:
            return rows[first], dist[first], owners[first].astype(np.int32)
        return rows[first], dist[first]
