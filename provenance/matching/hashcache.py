"""Stored perceptual hashes as packed arrays, cached beside the store and topped up.

Loading a million hashes row by row from SQLite takes seconds; the packed copy is
memory-mapped in milliseconds, with the chunk tables of the exact PDQ index. It is
derived data: checked against the database on every load (row count and highest
id), rebuilt whenever it disagrees, never evidence. Each algorithm's hashes are also kept
word-transposed, the layout of the exhaustive index (provenance.matching.index.HashIndex), so a
query does not build that layout from a million rows first.

Rows registered after the cache was written (the tail) are read from the database on each
load and searched beside the cached chunk index, which covers the rows before them (the match
rule compares tail rows directly, exactly as the index would). The cache is rewritten with the
tail folded in only once the tail passes TAIL_MAX rows: rebuilding the chunk index sorts every
stored PDQ value, seconds at a few million, too much to pay on every `prov add` (or once
the tail holds more rows than the cache, when the rebuild is cheap by comparison).
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

VERSION = 5
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
    chunk_index: ChunkIndex | None  # over every stored PDQ row, when the cache holds one


def _folder(store: Path, db_id: str) -> Path:
    return store / "index" / f"hashes-v{VERSION}-{db_id}"


def _read(folder: Path) -> tuple[Columns, dict[str, Any]] | None:
    import numpy as np

    from provenance.matching.matchrule import ALGORITHMS

    try:
        meta = json.loads((folder / "meta.json").read_text())
        cols = {a: {c: np.load(folder / f"{a}_{c}.npy", mmap_mode="r") for c in _COLUMNS}
                for a in ALGORITHMS}
        # Another process may swap in a newer cache while this one reads file by file:
        # every column must have the length this meta.json promised, or none is used.
        for a in ALGORITHMS:
            if any(len(cols[a][c]) != int(meta["rows"][a]) for c in _COLUMNS):
                return None
            words = np.load(folder / f"{a}_w.npy", mmap_mode="r")
            if words.shape != (_NBYTES[a] // 8, int(meta["rows"][a])):
                return None
            cols[a]["w"] = words
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
    if cached is not None:
        cols, meta = cached
        cached_max = int(meta["max_id"])
        # Hash rows are only ever appended; the cache is current up to max_id if the row
        # there is the one it ended with (a count would scan a million rows each time).
        row = conn.execute("SELECT value FROM hashes WHERE id = ?", (cached_max,)).fetchone()
        if cached_max and (row is None or bytes(row[0]).hex() != meta.get("last_value")):
            cached, cached_max = None, 0
    fresh, new_max, added = rows_after(conn, cached_max)
    # A tail longer than the cache itself is folded in at once: the rebuild then costs no
    # more than twice the tail's own rows (and a young collection keeps a cache that covers it).
    if cached is not None and added <= min(TAIL_MAX, sum(int(n) for n in meta["rows"].values())):
        cols, _ = cached
        chunk = _cached_chunk(folder, cols)
        if chunk is not None or not added:
            if added:  # the tail: appended in memory, searched beside the chunk index
                cols = {a: {**{c: np.concatenate([cols[a][c], fresh[a][c]]) for c in _COLUMNS},
                            "w": np.concatenate([cols[a]["w"], words_of(fresh[a]["v"])],
                                                axis=1)}
                        for a in ALGORITHMS}
            return Loaded(_with_words(_stored(cols), cols), new_max, chunk)
    if cached is not None:
        cols, _ = cached
        merged = {a: {c: np.concatenate([cols[a][c], fresh[a][c]]) for c in _COLUMNS}
                  for a in ALGORITHMS}
    else:
        merged = fresh
    chunk = ChunkIndex.build(merged["pdq"]["v"])
    last = conn.execute("SELECT value FROM hashes WHERE id = ?", (new_max,)).fetchone()
    _save(folder, merged, chunk, new_max, bytes(last[0]).hex() if last else None)
    return Loaded(_stored(merged), new_max, chunk)


def _cached_chunk(folder: Path, cols: Columns) -> ChunkIndex | None:
    """The cached chunk index over the cached PDQ rows; None if missing or not theirs."""
    import numpy as np

    from provenance.matching.index import ChunkIndex

    try:
        order = np.load(folder / "pdq_order.npy", mmap_mode="r")
        if order.shape[1] == len(cols["pdq"]["v"]):
            return ChunkIndex(np.load(folder / "pdq_offsets.npy", mmap_mode="r"), order,
                              cols["pdq"]["v"])
    except (OSError, ValueError, IndexError):
        pass
    return None


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
          last_value: str | None) -> None:
    """Write the cache into a fresh folder and swap it in, so readers never see half of it."""
    import numpy as np

    from provenance.matching.derived import save_derived_folder
    from provenance.matching.index import words_of

    def fill(tmp: Path) -> None:
        for a, columns in cols.items():
            for c in _COLUMNS:
                np.save(tmp / f"{a}_{c}.npy", np.ascontiguousarray(columns[c]))
            np.save(tmp / f"{a}_w.npy", words_of(columns["v"]))
        np.save(tmp / "pdq_offsets.npy", chunk.offsets)
        np.save(tmp / "pdq_order.npy", chunk.order)
        rows = {a: int(len(columns["k"])) for a, columns in cols.items()}
        (tmp / "meta.json").write_text(json.dumps({"max_id": max_id, "last_value": last_value,
                                                   "rows": rows}))

    if save_derived_folder(folder, fill):
        # Caches of this database in an earlier format are never read again.
        db_id = folder.name.removeprefix(f"hashes-v{VERSION}-")
        for stale in folder.parent.glob(f"hashes-v*-{db_id}"):
            if stale != folder:
                shutil.rmtree(stale, ignore_errors=True)
