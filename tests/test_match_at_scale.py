"""The match rule's large-collection path gives what its plain path gives, where it answers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from provenance.matching import hashing, matchrule
from provenance.matching.index import ChunkIndex, words_of


def _near(rng: np.random.Generator, base: np.ndarray, bits: int) -> np.ndarray:
    flipped = np.unpackbits(base)
    flipped[rng.choice(256, bits, replace=False)] ^= 1
    return np.packbits(flipped)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_large_path_names_the_same_nearest_query_hash_as_the_plain_path(seed, monkeypatch):
    # At scale the per-row "which query hash came nearest" is kept only for the rows some
    # hash other than the upright one came closer to; every row a verdict can rest on
    # (within PDQ_SIMILAR of the upright hash, or within PDQ_MATCH of any) must still name
    # a hash at the distance the plain path finds. Stored rows are planted near each
    # of the query's hashes at 0-40 bits, some in the tail the chunk index does not cover.
    rng = np.random.default_rng(seed)
    queries = [hashing.PerceptualHash("pdq", rng.integers(0, 256, 32, np.uint8).tobytes(), 90,
                                      region)
               for region in ("c90", "full", "rot90", "flipx", "band")]
    values = rng.integers(0, 256, (3000, 32), np.uint8)
    for i in range(0, 3000, 7):
        q = queries[int(rng.integers(len(queries)))]
        values[i] = _near(rng, np.frombuffer(q.value, np.uint8), int(rng.integers(0, 41)))
    stored = replace(matchrule.StoredSet.from_rows([]), keys={"pdq": np.arange(3000)},
                     values={"pdq": values})
    plain = matchrule._nearest(stored, "pdq", queries)
    covered = 2600  # rows after these were appended after the index was built
    stored.chunk = ChunkIndex.build(values[:covered])
    stored.adopt_words("pdq", words_of(values))
    monkeypatch.setattr(matchrule, "LARGE", 0)
    large = matchrule._nearest(stored, "pdq", queries)
    assert plain is not None and large is not None and large.query is None
    upright = np.asarray(stored.distances(queries[1].value))
    answers = np.flatnonzero((plain.distance <= hashing.PDQ_MATCH)
                             | (upright <= hashing.PDQ_SIMILAR))
    assert len(answers) > 300 and (answers >= covered).any()
    for row in answers.tolist():
        assert int(large.distance[row]) == int(plain.distance[row]), row
        # The hash named is one at that distance (of several at one distance, the plain
        # path names the first, the large path the upright one: ties, either is right).
        named = np.frombuffer(queries[large.query_of(row)].value, np.uint8)
        assert int(np.unpackbits(named ^ values[row]).sum()) == int(large.distance[row]), row
        if large.query_of(row) != plain.query_of(row):
            other = np.frombuffer(queries[plain.query_of(row)].value, np.uint8)
            assert int(np.unpackbits(other ^ values[row]).sum()) == int(plain.distance[row])
    # Both paths hand the crop stage the same nearest items.
    for count in (1, 8):
        assert matchrule._nearest_keys(stored, "pdq", large, count, set()) == \
            matchrule._nearest_keys(stored, "pdq", plain, count, set())
