"""Stored perceptual hashes as packed arrays, cached beside the store and topped up.

Loading a million hashes row by row from SQLite takes seconds; the packed copy
loads in milliseconds. It is derived data: checked against the database on every
load (row count and highest id), rebuilt whenever it disagrees, never evidence.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from .matchrule import StoredSet

VERSION = 1
_QUERY = (
    "SELECT h.id, i.registered_event, h.algorithm, h.value, h.quality, h.frame_seconds, h.page"
    " FROM hashes h JOIN items i ON i.sha256 = h.item WHERE h.id > ? ORDER BY h.id"
)
_NBYTES = {"pdq": 32, "phash": 8}


@dataclass
class Loaded:
    stored: StoredSet
    max_hash_id: int


def _path(store: Path, db_id: str) -> Path:
    return store / "index" / f"hashes-v{VERSION}-{db_id}.npz"


def load(conn: sqlite3.Connection, store: Path) -> Loaded:
    import numpy as np

    from .matchrule import ALGORITHMS
    from .store import database_id

    path = _path(store, database_id(conn))
    arrays: dict[str, np.ndarray] = {}
    cached_max = 0
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        cached_max = int(arrays["max_id"][0])
        count = conn.execute("SELECT COUNT(*) FROM hashes WHERE id <= ?",
                             (cached_max,)).fetchone()[0]
        if count != int(arrays["count"][0]):
            raise ValueError("stale")
    except (OSError, ValueError, KeyError):
        arrays, cached_max = {}, 0

    fresh, new_max, added = rows_after(conn, cached_max)
    merged: dict[str, dict[str, np.ndarray]] = {}
    for a in ALGORITHMS:
        if arrays:
            merged[a] = {n: np.concatenate([arrays[f"{a}_{n}"], fresh[a][n]]) for n in fresh[a]}
        else:
            merged[a] = fresh[a]
    if added or not arrays:
        total = conn.execute("SELECT COUNT(*) FROM hashes WHERE id <= ?", (new_max,)).fetchone()[0]
        _save(path, merged, new_max, total)
    return Loaded(_stored(merged), new_max)


def _stored(merged: dict[str, dict[str, np.ndarray]]) -> StoredSet:
    from .matchrule import ALGORITHMS, StoredSet

    return StoredSet(
        keys={a: merged[a]["k"] for a in ALGORITHMS},
        values={a: merged[a]["v"] for a in ALGORITHMS},
        quality={a: merged[a]["q"] for a in ALGORITHMS},
        frame_seconds={a: merged[a]["f"] for a in ALGORITHMS},
        page={a: merged[a]["p"] for a in ALGORITHMS},
    )


def rows_after(
    conn: sqlite3.Connection, max_id: int
) -> tuple[dict[str, dict[str, np.ndarray]], int, int]:
    """Hash rows with id > max_id as packed columns; the new highest id; how many rows."""
    import numpy as np

    from .matchrule import ALGORITHMS

    parts: dict[str, dict[str, list[Any]]] = {a: {"k": [], "v": [], "q": [], "f": [], "p": []}
                                              for a in ALGORITHMS}
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
    out: dict[str, dict[str, np.ndarray]] = {
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


def extend(stored: StoredSet, fresh: dict[str, dict[str, np.ndarray]]) -> StoredSet:
    """`stored` with freshly registered rows appended (in memory only)."""
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
    return _stored(merged)


def _save(path: Path, merged: dict, max_id: int, count: int) -> None:
    import numpy as np

    flat = {f"{a}_{n}": arr for a, cols in merged.items() for n, arr in cols.items()}
    flat["max_id"] = np.array([max_id], np.int64)
    flat["count"] = np.array([count], np.int64)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-", suffix=".npz")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **flat)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only store still works, it just loads from the database each time
