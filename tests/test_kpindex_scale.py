"""Tests for matching.kpindex at scale: a crowd of chance collisions does not outvote a crop's
original, and rows whose tail word is far are not gathered (issue 20, "Crops at scale")."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from provenance.matching import kpcache, kpindex
from provenance.matching.localmatch import LocalFeatures

ORIGINAL, STRANGER, CROWD, FILLER = 1, 2, 40, 10_000


def _features(descriptors: np.ndarray) -> LocalFeatures:
    n = len(descriptors)
    points = np.stack([np.arange(n), np.arange(n)], axis=1).astype(np.float32)
    return LocalFeatures(points, np.ascontiguousarray(descriptors, np.uint8))


def _flip(descriptors: np.ndarray, bits: int, low: int, high: int,
          rng: np.random.Generator) -> np.ndarray:
    """Each descriptor with `bits` distinct bits flipped among bits low..high-1."""
    out = np.unpackbits(descriptors, axis=1, bitorder="little")
    for row in out:
        row[rng.choice(np.arange(low, high), bits, replace=False)] ^= 1
    return np.packbits(out, axis=1, bitorder="little")


def test_a_crowd_of_chance_collisions_does_not_outvote_the_original() -> None:
    # As the dim retina crop of bench/kpscale.py at 100,000 pictures: its keypoints (flat,
    # low-contrast patches) were within MATCH_BITS of the same patches in many other pictures,
    # each keypoint's vote was shared among all of them, and a stranger with a few chance
    # matches all its own outranked the original (0.46 votes against 1.33, rank 71).
    rng = np.random.default_rng(20)
    original = rng.integers(0, 256, (40, 32), dtype=np.uint8)
    # The crop: 4 bits off the original in bits 32-127, sharing words 0 and 1 and every tail.
    query = _flip(original, 4, 32, 128, rng)
    stranger = rng.integers(0, 256, (3, 32), dtype=np.uint8)
    pictures: dict[int, LocalFeatures] = {ORIGINAL: _features(original),
                                          STRANGER: _features(stranger)}
    # Each crowd picture holds the same patches 40 bits off (words 0 and tails kept): within
    # MATCH_BITS of the query's, sharing its first word, as far as chance puts them.
    for k in range(CROWD):
        pictures[100 + k] = _features(_flip(original, 40, 16, 128, rng))
    # Unrelated pictures, so that the crowd's shared words are not skipped as too common.
    for k in range(FILLER):
        pictures[100_000 + k] = _features(rng.integers(0, 256, (32, 32), dtype=np.uint8))
    index = kpindex.build(pictures)
    assert index.size * kpindex._COMMON > CROWD + 1
    keys, votes = index.votes(_features(np.concatenate([query, stranger])))
    by_key = dict(zip(keys.tolist(), votes.tolist(), strict=True))
    assert by_key[ORIGINAL] > 30 > 3 >= by_key[STRANGER] >= 2.9
    assert max(by_key[100 + k] for k in range(CROWD)) < 1
    assert index.candidates(_features(np.concatenate([query, stranger])), 2, set()) \
        == [ORIGINAL, STRANGER]


@pytest.mark.parametrize("tail_bits, votes", [(kpindex.TAIL_BITS, 1.0),
                                              (kpindex.TAIL_BITS + 4, 0.0)])
def test_a_row_whose_tail_word_is_far_is_not_gathered(tail_bits: int, votes: float) -> None:
    # Both stored descriptors are within MATCH_BITS of the query and share its first word
    # only (one bit off in each of words 1-7); the one whose tail word (bits 128-143, table
    # 0's) is more than TAIL_BITS off is never read from the descriptors: it does not vote.
    rng = np.random.default_rng(21)
    query = rng.integers(0, 256, (1, 32), dtype=np.uint8)
    stored = _flip(query, tail_bits, 128, 144, rng)
    for word in range(1, kpindex.TABLES):
        stored = _flip(stored, 1, 16 * word, 16 * word + 16, rng)
    index = kpindex.build({7: _features(stored)})
    keys, found = index.votes(_features(query))
    assert int(np.bitwise_count(query ^ stored).sum()) <= kpindex.MATCH_BITS
    assert dict(zip(keys.tolist(), found.tolist(), strict=True)) == {7: votes}


@pytest.mark.parametrize("missing", ["tails.npy", "starts.npy"])
def test_a_shard_of_the_old_layout_is_not_opened(tmp_path, missing: str) -> None:
    # Shards written before the tail words and the word directory (kpcache VERSION 3) lack
    # them: refused, not read as if empty, so kpcache rebuilds the index (whose folder name
    # changed with them anyway).
    rng = np.random.default_rng(22)
    index = kpindex.build({1: _features(rng.integers(0, 256, (10, 32), dtype=np.uint8))})
    [segment] = index.segments
    segment.save(tmp_path)
    opened = kpindex._Segment.open(tmp_path)
    assert opened.tails[0].tolist() == segment.tails[0].tolist()
    assert opened.starts[0].tolist() == segment.starts[0].tolist()
    (tmp_path / missing).unlink()
    with pytest.raises(OSError):
        kpindex._Segment.open(tmp_path)
    assert kpcache.VERSION >= 4


def test_the_word_directory_finds_every_run() -> None:
    # Each table's runs come from a directory of where each word's run starts: the rows it
    # gives for a word are exactly the stored rows with that word, for the first and last
    # words too.
    rng = np.random.default_rng(23)
    stored = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    stored[:5, :2] = 0
    stored[5:9, :2] = 255
    [segment] = kpindex.build({k: _features(stored[k * 100:(k + 1) * 100])
                               for k in range(30)}).segments
    query = np.concatenate([stored[[0, 5, 17]], rng.integers(0, 256, (4, 32), dtype=np.uint8)])
    words = kpindex.words(query)
    for t, (lo, hi) in enumerate(segment.runs(words)):
        for i in range(len(query)):
            found = sorted(segment.rows[t][lo[i]:hi[i]].tolist())
            assert found == np.flatnonzero(kpindex.words(stored)[:, t] == words[i, t]).tolist()


def test_an_upgrade_removes_the_older_index(prov, db, tmp_path) -> None:
    # The index folder is named by its version; an upgrade rebuilt it in a new folder and
    # left the old one (2.2 GB at 100,000 pictures) behind, read by nothing.
    from fixtures import images as F
    from provenance.ledger.db import database_id, open_db, store_dir
    from provenance.matching import catalogue

    path = tmp_path / "a.png"
    path.write_bytes(F.encode(F.photo(81, (320, 240)), "PNG"))
    prov("add", str(path))
    conn = open_db(db)
    try:
        db_id = database_id(conn)
        index = store_dir(db) / "index"
        for name in (f"keypoints-v3-{db_id}", f"keypoints-v2-{db_id}", "keypoints-v3-other"):
            (index / name / "shards").mkdir(parents=True)
            (index / name / "shards" / "x.npy").write_bytes(b"old")
        shutil.rmtree(index / f"keypoints-v{kpcache.VERSION}-{db_id}", ignore_errors=True)
        catalogue._CATALOGUES.clear()
        assert catalogue.catalogue(conn).keypoint_index() is not None
    finally:
        conn.close()
    assert sorted(p.name for p in index.iterdir() if p.name.startswith("keypoints-")) == \
        sorted([f"keypoints-v{kpcache.VERSION}-{db_id}", "keypoints-v3-other"])
