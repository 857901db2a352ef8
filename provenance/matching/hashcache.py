"""Stored perceptual hashes as packed arrays, cached beside the store and topped up.

Loading a million hashes row by row from SQLite takes seconds; the packed copy is
memory-mapped in milliseconds, with the chunk tables of the exact PDQ index. It is
derived data: checked against the database on every load (row count and highest
id), rebuilt whenever it disagrees, never evidence. Each algorithm's hashes are also kept
word-transposed, the layout of the exhaustive index (provenance.matching.index.HashIndex), so a
query does not build that layout from a million rows first.

Rows registered after the chunk index was built (the tail) are written into spare rows at
the end of the cache files and searched beside that index, which covers the rows before them
(the match rule compares tail rows directly: the same answers as the index would give). The
index is rebuilt with the tail folded in only once the tail passes TAIL_MAX rows (or the rows
the index holds): rebuilding sorts every stored PDQ value, seconds at a few million, too much
to pay on every `prov add`.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from provenance.matching.index import ChunkIndex
    from provenance.matching.matchrule import StoredSet

VERSION = 6
# Hash rows (all algorithms) read from the database and searched directly beside the cache
# before the cache is rebuilt with them: ~1,800 photos of ~11 rows each, read in tens of
# milliseconds and compared in a few; the rebuild this defers costs seconds per million rows.
TAIL_MAX = 20_000
_QUERY = (
    "SELECT h.id, i.registered_event, h.algorithm, h.value, h.quality, h.frame_seconds, h.page"
    " FROM hashes h JOIN items i ON i.sha256 = h.item WHERE h.id > ? ORDER BY h.id"
)
_NBYTES = {"pdq": 32, "phash": 8}
_COLUMNS = ("k", "v", "q", "f", "p")
Columns = dict[str, dict[str, "np.ndarray"]]


@dataclass
class Loaded:
    stored: StoredSet
    max_hash_id: int
    # Over the first PDQ rows (chunk_index.values), when the cache holds one; the rows after
    # them are the tail, which the match rule searches directly.
    chunk_index: ChunkIndex | None


def _folder(store: Path, db_id: str) -> Path:
    return store / "index" / f"hashes-v{VERSION}-{db_id}"


def _read(folder: Path) -> tuple[Columns, dict[str, Any]] | None:
    import numpy as np

    from provenance.matching.matchrule import ALGORITHMS

    try:
        meta = json.loads((folder / "meta.json").read_text())
        cols: Columns = {}
        for a in ALGORITHMS:
            # Files hold `capacity` rows; the first `rows` are live, the rest is room for
            # a tail appended in place (see _append).
            rows, capacity = int(meta["rows"][a]), int(meta["capacity"][a])
            if rows > capacity:
                return None
            cols[a] = {}
            for c in _COLUMNS:
                column = np.load(folder / f"{a}_{c}.npy", mmap_mode="r")
                # Another process may swap in a newer cache while this one reads file by
                # file: every column must have the length this meta.json promised.
                if len(column) != capacity:
                    return None
                cols[a][c] = column[:rows]
            words = np.load(folder / f"{a}_w.npy", mmap_mode="r")
            if words.shape != (_NBYTES[a] // 8, capacity):
                return None
            cols[a]["w"] = words[:, :rows]
        int(meta["chunk_rows"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return cols, meta


def load(conn: sqlite3.Connection, store: Path) -> Loaded:
    """Every stored hash, from the cache when it is current, topped up from the database."""
    import numpy as np

    from provenance.ledger.db import database_id
    from provenance.matching.index import ChunkIndex, words_of
    from provenance.matching.matchrule import ALGORITHMS

    folder = _folder(store, database_id(conn))
    cached = _read(folder)
    cached_max = 0
    meta: dict[str, Any] = {}
    if cached is not None:
        cols, meta = cached
        cached_max = int(meta["max_id"])
        # Hash rows are only ever appended; the cache is current up to max_id if the row
        # there is the one it ended with (a count would scan a million rows each time).
        row = conn.execute("SELECT value FROM hashes WHERE id = ?", (cached_max,)).fetchone()
        if cached_max and (row is None or bytes(row[0]).hex() != meta.get("last_value")):
            cached, cached_max = None, 0
    fresh, new_max, added = rows_after(conn, cached_max)
    if cached is not None:
        cols, _ = cached
        folded = int(meta["folded"])  # rows (all algorithms) the chunk index was built with
        tail = sum(int(n) for n in meta["rows"].values()) - folded + added
        # A tail longer than the folded rows is folded in at once: the rebuild then costs
        # no more than twice the tail's own rows (a young collection stays fully indexed).
        chunk = _cached_chunk(folder, cols, meta)
        if not added or (chunk is not None and tail <= min(TAIL_MAX, folded)):
            if added:
                appended = _append(folder, meta, fresh, new_max, conn)
                cols, meta = appended or ({
                    a: {**{c: np.concatenate([cols[a][c], fresh[a][c]]) for c in _COLUMNS},
                        "w": np.concatenate([cols[a]["w"], words_of(fresh[a]["v"])], axis=1)}
                    for a in ALGORITHMS}, meta)  # not written: held in memory, no marks of its rows
                # Over the columns now searched: the index over the columns read before the
                # tail was appended would map the same 350 MB of words a second time
                # (two mappings, twice the page faults; `prov add` at a million items).
                chunk = _cached_chunk(folder, cols, meta) or chunk
            stored = _with_words(_stored(cols), cols)
            stored.hints = _hints(meta, cols)
            return Loaded(stored, new_max, chunk)
        merged = {a: {c: np.concatenate([cols[a][c], fresh[a][c]]) for c in _COLUMNS}
                  for a in ALGORITHMS}
    else:
        merged = fresh
    chunk = ChunkIndex.build(merged["pdq"]["v"])
    marks = _marks(merged["pdq"])
    _save(folder, merged, chunk, new_max, _last_value(conn, new_max), marks)
    stored = _stored(merged)
    stored.hints = _hints({"marks": marks}, merged)
    return Loaded(stored, new_max, chunk)


def _last_value(conn: sqlite3.Connection, hash_id: int) -> str | None:
    last = conn.execute("SELECT value FROM hashes WHERE id = ?", (hash_id,)).fetchone()
    return bytes(last[0]).hex() if last else None


def _cached_chunk(folder: Path, cols: Columns, meta: dict[str, Any]) -> ChunkIndex | None:
    """The cached chunk index over the first chunk_rows PDQ rows (the match rule compares
    the rows after them directly); None if missing or not theirs."""
    import numpy as np

    from provenance.matching.index import ChunkIndex

    covered = int(meta["chunk_rows"])
    try:
        order = np.load(folder / "pdq_order.npy", mmap_mode="r")
        if order.shape[1] == covered <= len(cols["pdq"]["v"]):
            return ChunkIndex(np.load(folder / "pdq_offsets.npy", mmap_mode="r"), order,
                              cols["pdq"]["v"][:covered], cols["pdq"].get("w"))
    except (OSError, ValueError, IndexError):
        pass
    return None


def _append(folder: Path, meta: dict[str, Any], fresh: Columns, max_id: int,
            conn: sqlite3.Connection) -> tuple[Columns, dict[str, Any]] | None:
    """Write the tail into the cache files' spare rows, then a new meta.json (renamed into
    place): a reader sees the rows its meta.json counts, which are whole before it names
    them. Two processes appending at once write the same rows (hash rows never change).
    None if there is no room or the store cannot be written (the caller keeps the tail in
    memory)."""
    import os

    import numpy as np

    from provenance.matching.index import words_of

    rows = {a: int(n) for a, n in meta["rows"].items()}
    if any(rows[a] + len(fresh[a]["k"]) > int(meta["capacity"][a]) for a in fresh):
        return None
    try:
        for a, part in fresh.items():
            n, t = rows[a], len(part["k"])
            if not t:
                continue
            for c in _COLUMNS:
                column = np.load(folder / f"{a}_{c}.npy", mmap_mode="r+")
                column[n:n + t] = part[c]
                column.flush()
            words = np.load(folder / f"{a}_w.npy", mmap_mode="r+")
            words[:, n:n + t] = words_of(part["v"])
            words.flush()
            rows[a] = n + t
        marks = _marks_after(folder, meta, fresh["pdq"])
        tmp = folder / f".meta-{os.getpid()}.json"
        tmp.write_text(json.dumps({**meta, "max_id": max_id, "rows": rows,
                                   "last_value": _last_value(conn, max_id), "marks": marks}))
        os.replace(tmp, folder / "meta.json")
    except (OSError, ValueError):
        return None
    read = _read(folder)
    return read if read is not None and int(read[1]["max_id"]) == max_id else None


def _marks(pdq: dict[str, np.ndarray]) -> dict[str, Any]:
    """What a query would otherwise scan every stored PDQ row for (~220 MB of columns at a
    million items): whether any row is a video's frame or a document's page (the keypoint
    stage looks for those), and whether item keys ascend (the match rule then finds an
    item's rows by bisection). True of exactly the first `rows` PDQ rows."""
    import numpy as np

    keys = np.asarray(pdq["k"])
    return {"rows": int(len(keys)),
            "frames": bool((~np.isnan(np.asarray(pdq["f"]))).any()),
            "pages": bool((np.asarray(pdq["p"]) >= 0).any()),
            "keys_ascending": bool(len(keys) < 2 or (keys[1:] >= keys[:-1]).all())}


def _marks_after(folder: Path, meta: dict[str, Any], fresh: dict[str, np.ndarray]
                 ) -> dict[str, Any]:
    """The marks of the PDQ rows once `fresh` is appended after the meta's: from the meta's
    marks, where they are of its rows, and the fresh rows (the last key read from the
    cache); else the cache's rows are scanned for them once (a cache written before marks,
    or marks of other rows: a process that kept no marks appended since)."""
    import numpy as np

    old, rows = meta.get("marks"), int(meta["rows"]["pdq"])
    if not isinstance(old, dict) or old.get("rows") != rows:
        old = _marks({c: np.load(folder / f"pdq_{c}.npy", mmap_mode="r")[:rows]
                      for c in ("k", "f", "p")})
    if not len(fresh["k"]):
        return dict(old)
    new = _marks(fresh)
    ascending = bool(old["keys_ascending"]) and new["keys_ascending"]
    if ascending and rows:
        last = int(np.load(folder / "pdq_k.npy", mmap_mode="r")[rows - 1])
        ascending = int(fresh["k"][0]) >= last
    return {"rows": rows + new["rows"], "frames": bool(old["frames"]) or new["frames"],
            "pages": bool(old["pages"]) or new["pages"], "keys_ascending": ascending}


def _hints(meta: dict[str, Any], cols: Columns) -> dict[str, bool]:
    """The meta's marks, if they are of exactly these PDQ rows (see _marks); else none."""
    marks = meta.get("marks")
    if not isinstance(marks, dict) or marks.get("rows") != len(cols["pdq"]["k"]):
        return {}
    return {k: bool(marks[k]) for k in ("frames", "pages", "keys_ascending") if k in marks}


def _stored(cols: Columns) -> StoredSet:
    from provenance.matching.matchrule import ALGORITHMS, StoredSet

    return StoredSet(
        keys={a: cols[a]["k"] for a in ALGORITHMS},
        values={a: cols[a]["v"] for a in ALGORITHMS},
        quality={a: cols[a]["q"] for a in ALGORITHMS},
        frame_seconds={a: cols[a]["f"] for a in ALGORITHMS},
        page={a: cols[a]["p"] for a in ALGORITHMS},
    )


def _with_words(stored: StoredSet, cols: Columns) -> StoredSet:
    """Hand the cached word layout to the StoredSet's exhaustive indexes, which it would
    otherwise build on first use from the same rows (ids: row numbers, as it gives them)."""
    for a, columns in cols.items():
        words = columns.get("w")
        if words is not None:
            stored.adopt_words(a, words)
    return stored


def rows_after(conn: sqlite3.Connection, max_id: int) -> tuple[Columns, int, int]:
    """Hash rows with id > max_id as packed columns; the new highest id; how many rows."""
    import numpy as np

    from provenance.matching.matchrule import ALGORITHMS

    parts: dict[str, dict[str, list[Any]]] = {a: {c: [] for c in _COLUMNS} for a in ALGORITHMS}
    new_max, added = max_id, 0
    for hid, key, algorithm, value, quality, seconds, page in conn.execute(_QUERY, (max_id,)):
        new_max = max(new_max, hid)
        added += 1
        part = parts.get(algorithm)
        if part is None:
            continue
        part["k"].append(key)
        part["v"].append(value)
        part["q"].append(-1 if quality is None else quality)
        part["f"].append(np.nan if seconds is None else seconds)
        part["p"].append(-1 if page is None else page)
    out: Columns = {
        a: {
            "k": np.array(p["k"], np.int64),
            "v": (np.frombuffer(b"".join(p["v"]), np.uint8).reshape(-1, _NBYTES[a])
                  if p["v"] else np.zeros((0, _NBYTES[a]), np.uint8)),
            "q": np.array(p["q"], np.int16),
            "f": np.array(p["f"], np.float64),
            "p": np.array(p["p"], np.int32),
        }
        for a, p in parts.items()
    }
    return out, new_max, added


def extend(stored: StoredSet, fresh: Columns) -> StoredSet:
    """`stored` with freshly registered rows appended (in memory only). The exact chunk
    index is kept: it still covers exactly the rows it was built over, which stay first."""
    import numpy as np

    merged = {
        a: {
            "k": np.concatenate([stored.keys[a], fresh[a]["k"]]),
            "v": np.concatenate([stored.values[a], fresh[a]["v"]]),
            "q": np.concatenate([stored.quality[a], fresh[a]["q"]]),
            "f": np.concatenate([stored.frame_seconds[a], fresh[a]["f"]]),
            "p": np.concatenate([stored.page[a], fresh[a]["p"]]),
        }
        for a in fresh
    }
    extended = _stored(merged)
    extended.chunk = stored.chunk
    return extended


def _save(folder: Path, cols: Columns, chunk: ChunkIndex, max_id: int,
          last_value: str | None, marks: dict[str, Any]) -> None:
    """Write the cache into a fresh folder and swap it in, so readers never see half of it."""
    import numpy as np

    from provenance.matching.derived import save_derived_folder
    from provenance.matching.index import words_of

    rows = {a: int(len(columns["k"])) for a, columns in cols.items()}

    def fill(tmp: Path) -> None:
        for a, columns in cols.items():
            # TAIL_MAX spare rows (zeros, never read: beyond `rows`) for _append.
            for c in _COLUMNS:
                column = np.ascontiguousarray(columns[c])
                spare = np.zeros((TAIL_MAX, *column.shape[1:]), column.dtype)
                np.save(tmp / f"{a}_{c}.npy", np.concatenate([column, spare]))
            words = words_of(columns["v"])
            np.save(tmp / f"{a}_w.npy",
                    np.concatenate([words, np.zeros((words.shape[0], TAIL_MAX), words.dtype)],
                                   axis=1))
        np.save(tmp / "pdq_offsets.npy", chunk.offsets)
        np.save(tmp / "pdq_order.npy", chunk.order)
        (tmp / "meta.json").write_text(json.dumps({
            "max_id": max_id, "last_value": last_value, "rows": rows,
            "capacity": {a: n + TAIL_MAX for a, n in rows.items()},
            "chunk_rows": rows["pdq"], "folded": sum(rows.values()),
            "marks": marks}))

    if save_derived_folder(folder, fill):
        # Caches of this database in an earlier format are never read again.
        db_id = folder.name.removeprefix(f"hashes-v{VERSION}-")
        for stale in folder.parent.glob(f"hashes-v*-{db_id}"):
            if stale != folder:
                shutil.rmtree(stale, ignore_errors=True)
