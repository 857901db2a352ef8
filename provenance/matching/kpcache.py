"""The keypoint index's rows (provenance.matching.kpindex), cached beside the store and topped up.

Building the index means reading every held picture's keypoint cache: ~0.3 ms a file,
a second or more for a few thousand pictures, on every `prov match`. The indexed rows
(item key and descriptor, ~10 KB a picture) are kept in one place instead; a process
reads them in milliseconds, tops them up from the keypoint caches of pictures registered
since, and rewrites them when that tail has grown. Derived data like the hash cache:
checked against the database on every load, rebuilt when it disagrees, never evidence.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from provenance.matching.kpindex import KeypointIndex

# Bumped whenever what is indexed per picture changes (kpindex.indexed_part, or the
# keypoints localmatch.local_features finds).
VERSION = 1
PICTURE_KINDS = ("image", "scan")
_MARKS = ", ".join("?" for _ in PICTURE_KINDS)
# The cache is rewritten when the pictures read from their own files since it was written
# reach this many, or this share of the cached ones.
_TAIL_MIN, _TAIL_SHARE = 64, 0.05


def _folder(store: Path, db_id: str) -> Path:
    return store / "index" / f"keypoints-v{VERSION}-{db_id}"


def _read(folder: Path) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray] | None:
    import numpy as np

    try:
        meta = json.loads((folder / "meta.json").read_text())
        keys = np.load(folder / "keys.npy", mmap_mode="r")
        desc = np.load(folder / "descriptors.npy", mmap_mode="r")
        pictures = np.load(folder / "pictures.npy")
        if len(keys) != int(meta["rows"]) or desc.shape != (len(keys), 32) \
                or len(pictures) != int(meta["pictures"]):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return meta, keys, desc, pictures


def load(conn: sqlite3.Connection, store: Path, limit: int) -> tuple[KeypointIndex, int] | None:
    """The index over every held picture and the highest registered_event it has looked at;
    None when there are more than `limit` pictures."""
    from provenance.ledger.db import database_id
    from provenance.matching.derived import load_features
    from provenance.matching.kpindex import KeypointIndex

    folder = _folder(store, database_id(conn))
    cached = _read(folder)
    upto, count = 0, 0
    if cached is not None:
        meta = cached[0]
        upto, count = int(meta["upto"]), int(meta["pictures"])
        row = conn.execute("SELECT sha256 FROM items WHERE registered_event = ?",
                           (upto,)).fetchone()
        if upto and (row is None or row[0] != meta.get("last_sha256")):
            cached, upto, count = None, 0, 0
    if cached is None and conn.execute(
            f"SELECT COUNT(*) FROM items WHERE kind IN ({_MARKS})", PICTURE_KINDS
    ).fetchone()[0] > limit:
        return None
    tail = pictures_after(conn, upto)
    if count + len(tail) > limit:
        return None
    index = KeypointIndex()
    if cached is not None:
        _, keys, desc, pictures = cached
        index.add_indexed(keys, desc, pictures.tolist())
    index.add((key, load_features(store, sha)) for key, sha in tail)
    if tail:
        upto = int(tail[-1][0])
        if cached is None or len(tail) >= max(_TAIL_MIN, _TAIL_SHARE * count):
            _save(folder, index, upto, tail[-1][1])
    return index, upto


def pictures_after(conn: sqlite3.Connection, upto: int) -> list[tuple[int, str]]:
    """(registered_event, sha256) of every picture registered after event `upto`, in order."""
    return conn.execute(f"SELECT registered_event, sha256 FROM items WHERE kind IN ({_MARKS})"
                        " AND registered_event > ? ORDER BY registered_event",
                        (*PICTURE_KINDS, upto)).fetchall()


def _save(folder: Path, index: KeypointIndex, upto: int, last_sha256: str) -> None:
    import numpy as np

    from provenance.matching.derived import save_derived_folder

    keys, desc = index.rows()

    def fill(tmp: Path) -> None:
        np.save(tmp / "keys.npy", keys)
        np.save(tmp / "descriptors.npy", desc)
        np.save(tmp / "pictures.npy", np.array(sorted(index.pictures), np.int64))
        (tmp / "meta.json").write_text(json.dumps({
            "upto": upto, "last_sha256": last_sha256, "rows": int(len(keys)),
            "pictures": len(index.pictures)}))

    save_derived_folder(folder, fill)
