"""The exact multi-index PDQ search and the memory-mapped hash cache."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures import media
from provenance.matching.index import ChunkIndex, HashIndex, words_of


def _planted(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    for i in range(0, n - 1, 5):  # near neighbours at every distance up to 40 bits
        bits = np.unpackbits(values[i])
        bits[rng.choice(256, int(rng.integers(0, 41)), replace=False)] ^= 1
        values[i + 1] = np.packbits(bits)
    return values


@pytest.mark.parametrize("words", [False, True])
@pytest.mark.parametrize("limit", [0, 5, 16, 31])
def test_chunk_index_finds_exactly_what_brute_force_finds(limit, words):
    values = _planted(4000, seed=limit)
    chunk, brute = ChunkIndex.build(values), HashIndex(np.arange(len(values)), values)
    if words:
        # Candidates checked in the word layout, as the hash cache hands it over: with
        # spare columns after the indexed rows (a tail, or room for one) that must not count.
        spare = np.random.default_rng(7).integers(0, 2**63, (4, 50), dtype=np.uint64)
        chunk = ChunkIndex(chunk.offsets, chunk.order, chunk.values,
                           np.concatenate([words_of(values), spare], axis=1))
    rng = np.random.default_rng(99)
    for _ in range(60):
        queries = [values[int(rng.integers(len(values)))].tobytes() for _ in range(3)]
        rows, dist = chunk.within(queries, limit)
        assert sorted(zip(rows.tolist(), dist.tolist(), strict=True)) == sorted(
            brute.search_many(queries, limit))


@pytest.mark.parametrize("words", [False, True])
def test_chunk_index_names_a_nearest_query_of_each_row(words):
    # Candidates are ruled out word by word (ChunkIndex._close); each row kept must still be
    # named with a query at its smallest distance, as the match rule reports which hash
    # (window, turn, mirror) met it.
    values = _planted(3000, seed=5)
    chunk = ChunkIndex.build(values)
    if words:
        chunk = ChunkIndex(chunk.offsets, chunk.order, chunk.values, words_of(values))
    brute = HashIndex(np.arange(len(values)), values)
    rng = np.random.default_rng(3)
    for _ in range(30):
        queries = [values[int(rng.integers(len(values)))].tobytes() for _ in range(5)]
        rows, dist, owner = chunk.within(queries, 31, with_query=True)
        each = np.stack([brute.distances(q) for q in queries])
        assert np.array_equal(dist, each[:, rows].min(axis=0))
        assert np.array_equal(each[owner, rows], dist)
        assert set(rows.tolist()) == set(np.flatnonzero(each.min(axis=0) <= 31).tolist())


def test_chunk_index_refuses_a_radius_it_cannot_answer_exactly():
    chunk = ChunkIndex.build(_planted(100, seed=1))
    with pytest.raises(ValueError, match="exact only up to 31"):
        chunk.within([bytes(32)], 32)


def test_hash_cache_is_topped_up_and_rebuilt_when_stale(prov, db, tmp_path):
    from provenance.ledger.db import connect, store_dir
    from provenance.matching import hashcache

    for i in range(3):
        (tmp_path / f"{i}.jpg").write_bytes(media.jpeg_with_exif(400 + i, size=(160, 120)))
        prov("add", str(tmp_path / f"{i}.jpg"))
    conn = connect(db)
    first = hashcache.load(conn, store_dir(db))
    assert len(first.stored.keys["pdq"]) >= 3 and first.chunk_index is not None
    again = hashcache.load(conn, store_dir(db))  # from the memory-mapped cache
    assert np.array_equal(np.asarray(again.stored.values["pdq"]),
                          np.asarray(first.stored.values["pdq"]))
    (tmp_path / "new.jpg").write_bytes(media.jpeg_with_exif(499, size=(160, 120)))
    prov("add", str(tmp_path / "new.jpg"))
    topped = hashcache.load(conn, store_dir(db))
    assert len(topped.stored.keys["pdq"]) > len(first.stored.keys["pdq"])
    expected = conn.execute("SELECT value FROM hashes WHERE algorithm = 'pdq' ORDER BY id")
    assert [bytes(v) for v in np.asarray(topped.stored.values["pdq"])] == [
        r[0] for r in expected]
    # A database whose rows no longer end where the cache ended is read afresh.
    conn.execute("DELETE FROM hashes WHERE id = (SELECT MAX(id) FROM hashes)")
    rebuilt = hashcache.load(conn, store_dir(db))
    assert len(rebuilt.stored.keys["pdq"]) + len(rebuilt.stored.keys["phash"]) == \
        conn.execute("SELECT COUNT(*) FROM hashes").fetchone()[0]


def test_cached_word_layout_is_the_index_matchrule_would_build(prov, db, tmp_path):
    from provenance.ledger.db import connect, store_dir
    from provenance.matching import hashcache
    from provenance.matching.matchrule import StoredSet

    for i in range(3):
        (tmp_path / f"{i}.jpg").write_bytes(media.jpeg_with_exif(600 + i, size=(160, 120)))
        prov("add", str(tmp_path / f"{i}.jpg"))
    conn = connect(db)
    hashcache.load(conn, store_dir(db))  # builds the cache
    cached = hashcache.load(conn, store_dir(db)).stored  # memory-mapped, words included
    plain = StoredSet(cached.keys, cached.values, cached.quality, cached.frame_seconds,
                      cached.page)
    rng = np.random.default_rng(5)
    for algorithm, nbytes in (("pdq", 32), ("phash", 8)):
        ours, theirs = cached.index(algorithm), plain.index(algorithm)
        assert not ours._words.flags.owndata  # the cache's mapped words, not transposed again
        assert np.array_equal(ours.ids, theirs.ids)
        for query in [*np.asarray(cached.values[algorithm])[:2],
                      rng.integers(0, 256, nbytes, dtype=np.uint8)]:
            assert np.array_equal(ours.distances(query.tobytes()),
                                  theirs.distances(query.tobytes()))


def test_phash_is_imagehash_phash_without_scipy():
    imagehash = pytest.importorskip("imagehash")
    from fixtures import images as F
    from provenance.matching import hashing

    for seed in range(40):
        img = F.photo(seed, (240 + seed, 180))
        expected = np.packbits(imagehash.phash(img).hash.flatten()).tobytes()
        assert hashing._phash(img) == expected


def test_new_rows_are_searched_beside_the_cached_index_then_folded_in(prov, db, tmp_path,
                                                                        monkeypatch):
    """`prov add` must not rebuild the chunk index (seconds at millions of rows) for one
    new item: its rows are a tail searched directly, folded into the cache past TAIL_MAX."""
    import io
    import json

    from PIL import Image

    from provenance.ledger.db import connect, store_dir
    from provenance.matching import catalogue, hashcache, matchrule

    for i in range(3):
        (tmp_path / f"{i}.jpg").write_bytes(media.jpeg_with_exif(700 + i, size=(320, 240)))
        prov("add", str(tmp_path / f"{i}.jpg"))
    conn = connect(db)
    built = hashcache.load(conn, store_dir(db))
    meta = next(store_dir(db).glob("index/hashes-v*/meta.json"))
    written = json.loads(meta.read_text())["max_id"]
    order = meta.with_name("pdq_order.npy")  # the chunk index's sorted tables
    sorted_at = (order.stat().st_ino, order.stat().st_mtime_ns)
    raw = media.jpeg_with_exif(799, size=(320, 240))
    (tmp_path / "new.jpg").write_bytes(raw)
    prov("add", str(tmp_path / "new.jpg"))
    new_sha = conn.execute("SELECT sha256 FROM items ORDER BY rowid DESC LIMIT 1").fetchone()[0]
    copy = tmp_path / "copy.jpg"  # a resized re-upload of the new photo
    Image.open(io.BytesIO(raw)).resize((240, 180)).save(copy, "JPEG", quality=80)

    # The chunk index (used above LARGE rows; here for every size) covers the cached rows only.
    monkeypatch.setattr(matchrule, "LARGE", 0)

    def found() -> list[tuple[str, str, int]]:
        catalogue._CATALOGUES.clear()  # each `prov match` a fresh process: load from disk
        doc = json.loads(prov("match", str(copy), "--json").stdout)
        return [(m["sha256"], m["verdict"], m["distance"]) for m in doc["matches"]]

    tail = hashcache.load(conn, store_dir(db))
    # The tail was written into the cache's spare rows; the chunk index was not rebuilt.
    assert json.loads(meta.read_text())["max_id"] == tail.max_hash_id > written
    assert (order.stat().st_ino, order.stat().st_mtime_ns) == sorted_at
    covered = int(tail.chunk_index.values.shape[0])
    assert covered == len(built.stored.keys["pdq"]) < len(tail.stored.keys["pdq"])
    assert tail.chunk_index.words is not None  # candidates checked in the mapped word layout
    in_tail = found()
    assert in_tail[0][:2] == (new_sha, "re-upload")

    monkeypatch.setattr(hashcache, "TAIL_MAX", 0)  # the tail is now too long: folded in
    (tmp_path / "more.jpg").write_bytes(media.jpeg_with_exif(798, size=(320, 240)))
    prov("add", str(tmp_path / "more.jpg"))
    folded = hashcache.load(conn, store_dir(db))
    assert json.loads(meta.read_text())["max_id"] == folded.max_hash_id > tail.max_hash_id
    assert int(folded.chunk_index.values.shape[0]) == len(folded.stored.keys["pdq"])
    assert found() == in_tail  # the same answer, now from the index
    expected = conn.execute("SELECT value FROM hashes WHERE algorithm = 'pdq' ORDER BY id")
    assert [bytes(v) for v in np.asarray(folded.stored.values["pdq"])] == [
        r[0] for r in expected]


def test_a_tail_appended_on_load_is_searched_through_one_mapping_of_the_words(prov, db,
                                                                            tmp_path):
    """The exhaustive pass and the chunk index's candidate check read the same words: two
    mappings of the file (one from before the tail was appended) doubled the pages `prov
    add` faulted in at a million items (1,066 -> 732 MB)."""
    from provenance.matching import catalogue

    for i in range(3):
        catalogue._CATALOGUES.clear()  # each `prov add` a fresh process: the cache is read
        (tmp_path / f"{i}.jpg").write_bytes(media.jpeg_with_exif(720 + i, size=(320, 240)))
        prov("add", str(tmp_path / f"{i}.jpg"))
    catalogue._CATALOGUES.clear()
    (tmp_path / "new.jpg").write_bytes(media.jpeg_with_exif(730, size=(320, 240)))
    prov("add", str(tmp_path / "new.jpg"))  # registers, then loads the cache: a tail
    [cat] = catalogue._CATALOGUES.values()
    chunk, words = cat.stored.chunk, cat.stored.index("pdq")._words
    assert chunk is not None and chunk.words is not None
    assert int(chunk.values.shape[0]) < words.shape[1]  # the new rows are a tail
    assert np.shares_memory(chunk.words, words)


def _scanned(stored) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    keys = np.asarray(stored.keys["pdq"])
    return {"frames": bool((~np.isnan(np.asarray(stored.frame_seconds["pdq"]))).any()),
            "pages": bool((np.asarray(stored.page["pdq"]) >= 0).any()),
            "keys_ascending": bool(len(keys) < 2 or (keys[1:] >= keys[:-1]).all())}


def test_the_cache_knows_what_a_query_would_scan_its_rows_for(prov, db, tmp_path):
    # Whether any stored row is a frame or a page, and whether keys ascend: kept in the
    # cache's meta.json for exactly its rows, so a query skips scanning 220 MB of columns at
    # a million items; wrong hints would hide a held video from the keypoint stage.
    import json

    from fixtures import video as V
    from provenance.ledger.db import connect, store_dir
    from provenance.matching import hashcache

    for i in range(8):  # enough rows that the tails below are appended, not folded in
        (tmp_path / f"{i}.jpg").write_bytes(media.jpeg_with_exif(610 + i, size=(160, 120)))
    prov("add", *(str(tmp_path / f"{i}.jpg") for i in range(8)))
    conn = connect(db)
    built = hashcache.load(conn, store_dir(db))  # built, with its marks
    assert built.stored.hints == _scanned(built.stored) == {
        "frames": False, "pages": False, "keys_ascending": True}
    [meta_path] = (store_dir(db) / "index").glob("hashes-*/meta.json")
    indexed = json.loads(meta_path.read_text())["chunk_rows"]
    for added in (tmp_path / "8.jpg", V.write_video(tmp_path / "clip.mp4", seconds=2.0)):
        if added.suffix == ".jpg":
            added.write_bytes(media.jpeg_with_exif(618, size=(160, 120)))
        prov("add", str(added))
        before = json.loads(meta_path.read_text())["rows"]["pdq"]
        appended = hashcache.load(conn, store_dir(db)).stored  # the tail written in place
        meta = json.loads(meta_path.read_text())
        assert meta["rows"]["pdq"] > before and meta["chunk_rows"] == indexed  # not rebuilt
        again = hashcache.load(conn, store_dir(db)).stored
        assert appended.hints == again.hints == _scanned(again)
    assert again.hints["frames"] is True and again.hints["pages"] is False
    # Marks of other rows than those read are not used.
    meta = {"marks": {"rows": 1, "frames": False, "pages": False, "keys_ascending": True}}
    assert hashcache._hints(meta, {"pdq": {"k": np.arange(2)}}) == {}


def test_marks_after_a_tail_see_keys_stop_ascending(tmp_path):
    # A deferred analysis (`prov analyse`) appends an earlier item's rows after later ones.
    from provenance.matching import hashcache

    np.save(tmp_path / "pdq_k.npy", np.array([1, 2, 5, 0, 0], np.int64))
    meta = {"rows": {"pdq": 3}, "marks": {"rows": 3, "frames": False, "pages": False,
                                          "keys_ascending": True}}

    def tail(keys: list[int]) -> dict[str, np.ndarray]:
        return {"k": np.array(keys, np.int64), "f": np.full(len(keys), np.nan),
                "p": np.full(len(keys), -1, np.int32)}

    assert hashcache._marks_after(tmp_path, meta, tail([5, 6]))["keys_ascending"] is True
    assert hashcache._marks_after(tmp_path, meta, tail([4, 6]))["keys_ascending"] is False
    assert hashcache._marks_after(tmp_path, meta, tail([7, 6]))["keys_ascending"] is False
    # Marks of other rows (or none): the cache's own rows are read for them.
    np.save(tmp_path / "pdq_f.npy", np.array([np.nan, 1.0, np.nan, 0, 0]))
    np.save(tmp_path / "pdq_p.npy", np.array([-1, -1, -1, 0, 0], np.int32))
    assert hashcache._marks_after(tmp_path, {**meta, "marks": {"rows": 2}}, tail([7])) == {
        "rows": 4, "frames": True, "pages": False, "keys_ascending": True}


def test_a_tail_with_no_room_in_the_cache_is_searched_from_memory(prov, db, tmp_path,
                                                                   monkeypatch):
    # Appending in place needs spare rows in the cache files; without them (or with a store
    # that cannot be written) the tail is held in memory, with no marks for its rows.
    from provenance.ledger.db import connect, store_dir
    from provenance.matching import hashcache

    for i in range(8):
        (tmp_path / f"{i}.jpg").write_bytes(media.jpeg_with_exif(630 + i, size=(160, 120)))
    prov("add", *(str(tmp_path / f"{i}.jpg") for i in range(8)))
    conn = connect(db)
    monkeypatch.setattr(hashcache, "TAIL_MAX", 1)
    hashcache.load(conn, store_dir(db))  # built with room for one more row only
    monkeypatch.undo()
    (tmp_path / "8.jpg").write_bytes(media.jpeg_with_exif(638, size=(160, 120)))
    prov("add", str(tmp_path / "8.jpg"))
    loaded = hashcache.load(conn, store_dir(db))
    expected = conn.execute("SELECT value FROM hashes WHERE algorithm = 'pdq' ORDER BY id")
    assert [bytes(v) for v in np.asarray(loaded.stored.values["pdq"])] == [r[0] for r in expected]
    assert loaded.chunk_index is not None and loaded.stored.hints == {}
