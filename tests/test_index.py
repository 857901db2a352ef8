"""Tests for matching.index: exact search against brute force, clustering without chaining."""

from __future__ import annotations

import numpy as np
import pytest

from provenance.matching.index import HashIndex, cluster, near_pairs


def brute(hashes: np.ndarray, query: np.ndarray) -> np.ndarray:
    return np.unpackbits(hashes ^ query, axis=1).sum(axis=1)


def flip(h: np.ndarray, positions: list[int] | np.ndarray) -> np.ndarray:
    out = h.copy()
    for p in positions:
        out[p // 8] ^= np.uint8(1 << (p % 8))
    return out


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 256, size=(5000, 32), dtype=np.uint8)
    for i in range(1, 200):  # plant near copies of row 0 at every distance 0..64
        hashes[i] = flip(hashes[0], rng.choice(256, size=i % 65, replace=False))
    ids = rng.permutation(10_000)[:5000].astype(np.int64)
    return ids, hashes


@pytest.mark.parametrize("max_distance", [0, 10, 31, 64, 256])
def test_search_equals_brute_force(data, max_distance: int) -> None:  # type: ignore[no-untyped-def]
    ids, hashes = data
    d = brute(hashes, hashes[0])
    expected = sorted((int(d[k]), int(ids[k])) for k in np.flatnonzero(d <= max_distance))
    got = HashIndex(ids, hashes).search(hashes[0].tobytes(), max_distance)
    assert [(dist, i) for i, dist in got] == expected


def test_distances_at_some_rows_are_the_full_pass_there(data) -> None:  # type: ignore[no-untyped-def]
    # The keypoint stage reads distances at held videos' frames and documents' pages only.
    ids, hashes = data
    hashes = np.concatenate([hashes, ~hashes[:1]])  # and the complement: 256, not 0
    index = HashIndex(ids.tolist() + [99_999], hashes)
    rows = np.array([len(hashes) - 1, 0, 3, 150, 4999, 3], np.int64)
    for query in (hashes[0], hashes[77], ~hashes[0]):
        full = index.distances(query.tobytes())
        at = index.distances_at(query.tobytes(), rows)
        assert at.dtype == full.dtype and np.array_equal(at, full[rows])
        assert np.array_equal(at, brute(hashes[rows], query))


def test_complement_is_256_not_0() -> None:
    h = np.zeros((1, 32), dtype=np.uint8)
    index = HashIndex([7], ~h)
    assert index.search(h.tobytes(), 256) == [(7, 256)]
    assert index.search(h.tobytes(), 255) == []


def test_search_many_keeps_min_distance_per_id(data) -> None:  # type: ignore[no-untyped-def]
    ids, hashes = data
    # An item holding two hashes (say full and a region) appears once, at its nearest.
    dup_ids = np.concatenate([ids, ids[:1]])
    dup_hashes = np.concatenate([hashes, flip(hashes[0], [1, 2, 3])[None]])
    index = HashIndex(dup_ids, dup_hashes)
    queries = [flip(hashes[0], [0, 5]).tobytes(), hashes[3].tobytes()]
    got = index.search_many(queries, 40)
    best = np.minimum(brute(dup_hashes, np.frombuffer(queries[0], np.uint8)),
                      brute(dup_hashes, hashes[3]))
    expected: dict[int, int] = {}
    for k in np.flatnonzero(best <= 40):
        expected[int(dup_ids[k])] = min(expected.get(int(dup_ids[k]), 999), int(best[k]))
    assert dict(got) == expected
    assert len(got) == len(expected)
    assert [d for _, d in got] == sorted(d for _, d in got)


def test_wrong_length_query_is_refused(data) -> None:  # type: ignore[no-untyped-def]
    ids, hashes = data
    with pytest.raises(ValueError, match="bytes"):
        HashIndex(ids, hashes).search(b"\x00" * 8, 5)


def test_from_bytes(data) -> None:  # type: ignore[no-untyped-def]
    ids, hashes = data
    rows = zip(ids[:50], hashes[:50], strict=True)
    index = HashIndex.from_bytes((int(i), h.tobytes()) for i, h in rows)
    assert index.search(hashes[2].tobytes(), 0)[0] == (int(ids[2]), 0)


def test_near_pairs_finds_every_pair_within_15_bits() -> None:
    rng = np.random.default_rng(2)
    hashes = rng.integers(0, 256, size=(3000, 32), dtype=np.uint8)
    for i in range(0, 600, 2):
        hashes[i + 1] = flip(hashes[i], rng.choice(256, size=(i // 2) % 16, replace=False))
    a, b, d = near_pairs(hashes, 15)
    found = set(zip(a.tolist(), b.tolist(), strict=True))
    assert {(i, i + 1) for i in range(0, 600, 2)} <= found
    assert (d <= 15).all()
    assert all(brute(hashes[[x]], hashes[y])[0] == dist for x, y, dist in zip(a, b, d, strict=True))


def test_cluster_groups_families_earliest_first() -> None:
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 256, size=(1000, 32), dtype=np.uint8)
    hashes[500] = flip(hashes[10], rng.choice(256, size=6, replace=False))
    hashes[900] = flip(hashes[10], rng.choice(256, size=9, replace=False))
    rank = np.arange(1000)[::-1]  # later rows are "earlier" copies
    assert cluster(hashes, 31, rank=rank) == [[900, 500, 10]]


def test_cluster_does_not_chain_unrelated_images() -> None:
    rng = np.random.default_rng(4)
    start = rng.integers(0, 256, size=32, dtype=np.uint8)
    order = rng.permutation(256)
    # Each step moves 12 bits: neighbours are near-duplicates, the ends are unrelated (96 bits).
    chain = np.array([flip(start, order[: 12 * k]) for k in range(9)])
    families = cluster(chain, 31)
    assert len(families) >= 2
    for family in families:
        members = chain[family]
        assert brute(members, members[0]).max() <= 31
    assert brute(chain[[8]], chain[0])[0] == 96
