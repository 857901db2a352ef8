"""The keypoint index (provenance.matching.kpindex), kept on disk beside the store in shards.

Building the index means reading every held picture's keypoint cache (~0.3 ms a file) and
sorting its rows eight ways: seconds for a few thousand pictures, minutes for a hundred
thousand, on every `prov match`. The index's segments are kept instead, each in its own
folder of numpy arrays (`shards/NAME`, written once, never changed), listed with the
pictures they cover in `state/` (swapped in whole). A process opens the shards
memory-mapped (nothing is read until a query touches it, and only the pages it touches),
tops them up from the keypoint caches of pictures registered since, and writes what it
added as new shards once that tail reaches _TAIL_MIN pictures; small shards merge into
bigger ones as kpindex's segments do, up to kpindex.SHARD_ROWS rows. Derived data like the
hash cache: checked against the database on every load, rebuilt when it disagrees, never
evidence.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from provenance.matching.kpindex import KeypointIndex, _Segment

# Bumped whenever what is indexed per picture changes (kpindex.indexed_part, or the
# keypoints localmatch.local_features finds), or how it is laid out on disk (2: shards;
# 3: a picture's band keypoints are indexed too, matching.bandkeys; 4: each table keeps
# its rows' tail words, kpindex.TAIL_BITS, and where each word's run starts, not the words).
VERSION = 4
PICTURE_KINDS = ("image", "scan")
_MARKS = ", ".join("?" for _ in PICTURE_KINDS)
# Pictures registered since the cache was written are read from their own files; once they
# reach this many, what they add is written as a new shard (only that is written).
_TAIL_MIN = 64
# A rebuild reads the keypoint files in batches of this many pictures and writes each
# finished shard to disk as it goes, so memory stays near one shard's whatever the size.
_REBUILD_BATCH = 2048


def _folder(store: Path, db_id: str) -> Path:
    return store / "index" / f"keypoints-v{VERSION}-{db_id}"


def _read(folder: Path) -> tuple[dict[str, Any], list[_Segment], np.ndarray] | None:
    """The saved state and its shards opened memory-mapped; None if any part is unusable."""
    import numpy as np

    from provenance.matching.kpindex import _Segment

    try:
        meta = json.loads((folder / "state" / "meta.json").read_text())
        pictures = np.load(folder / "state" / "pictures.npy")
        segments = [_Segment.open(folder / "shards" / str(name)) for name in meta["shards"]]
        if len(pictures) != int(meta["pictures"]) \
                or sum(s.size for s in segments) != int(meta["rows"]):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return meta, segments, pictures


def load(conn: sqlite3.Connection, store: Path, limit: int) -> tuple[KeypointIndex, int] | None:
    """The index over every held picture and the highest registered_event it has looked at;
    None when it would hold more than `limit` indexed descriptors (rows)."""
    from provenance.ledger.db import database_id
    from provenance.matching.derived import load_features
    from provenance.matching.kpindex import KeypointIndex

    folder = _folder(store, database_id(conn))
    cached = _read(folder)
    upto = 0
    if cached is not None:
        meta = cached[0]
        upto = int(meta["upto"])
        row = conn.execute("SELECT sha256 FROM items WHERE registered_event = ?",
                           (upto,)).fetchone()
        if upto and (row is None or row[0] != meta.get("last_sha256")):
            cached, upto = None, 0
    index = KeypointIndex()
    on_disk: list[str] = []
    if cached is not None:
        meta, segments, pictures = cached
        index.segments = segments
        index.pictures = set(pictures.tolist())
        on_disk = list(meta["shards"])
    if index.size > limit:
        return None
    tail = pictures_after(conn, upto)
    last = tail[-1] if tail else None
    rebuild = cached is None
    if rebuild:
        _remove_older(store, database_id(conn))
    for first in range(0, len(tail), _REBUILD_BATCH):
        batch = tail[first:first + _REBUILD_BATCH]
        index.add((key, load_features(store, sha)) for key, sha in batch)
        if index.size > limit:
            return None
        if rebuild:  # spill finished shards as they come: a rebuild's memory stays bounded
            _write_shards(folder, index, final=False)
    if last is not None:
        upto = int(last[0])
        if rebuild or len(tail) >= _TAIL_MIN:
            _save(folder, index, upto, last[1], on_disk, everything_else=rebuild)
    return index, upto


def _remove_older(store: Path, db_id: str) -> None:
    """Remove this database's index folders of earlier versions: an upgrade rebuilds the
    index in a new folder, and the old one (about 2 GB at 100,000 pictures) is read by
    nothing any more. Derived data, never evidence."""
    for old in (store / "index").glob(f"keypoints-v*-{db_id}"):
        version = old.name[len("keypoints-v"):-len(db_id) - 1]
        if version.isdigit() and int(version) < VERSION:
            shutil.rmtree(old, ignore_errors=True)


def pictures_after(conn: sqlite3.Connection, upto: int) -> list[tuple[int, str]]:
    """(registered_event, sha256) of every picture registered after event `upto`, in order."""
    return conn.execute(PICTURES_AFTER, (*PICTURE_KINDS, upto)).fetchall()


# `+kind`: read by items_registered_event (the few pictures past the cache, in order), not by
# items_kind, which SQLite preferred: every picture of the archive read and sorted, 1.7 s of
# each `prov add` and `prov match` at a million items.
PICTURES_AFTER = (f"SELECT registered_event, sha256 FROM items WHERE +kind IN ({_MARKS})"
                  " AND registered_event > ? ORDER BY registered_event")


def _write_shards(folder: Path, index: KeypointIndex, *, final: bool) -> bool:
    """Write the index's in-memory segments as shards and swap in their mapped copies; with
    `final` False, only those no longer growing (past half of SHARD_ROWS). False if the
    store cannot be written (a read-only store still works, rebuilt in memory each time)."""
    from provenance.matching import kpindex
    from provenance.matching.derived import save_derived_folder

    for i, seg in enumerate(index.segments):
        if seg.folder is not None or (not final and seg.size < kpindex.SHARD_ROWS // 2):
            continue
        target = folder / "shards" / uuid.uuid4().hex
        if not save_derived_folder(target, seg.save):
            return False
        try:
            index.segments[i] = kpindex._Segment.open(target)
        except (OSError, ValueError):
            return False
    return True


def _save(folder: Path, index: KeypointIndex, upto: int, last_sha256: str,
          before: list[str], *, everything_else: bool) -> None:
    """Write the new shards, then the state naming them; then remove the shards this
    process merged away (all unnamed ones after a rebuild). A process that still maps one
    keeps reading it (unlinked files stay readable); one that opens the old state after
    that finds a shard missing and rebuilds."""
    import numpy as np

    from provenance.matching.derived import save_derived_folder

    if not _write_shards(folder, index, final=True):
        return
    names = [seg.folder.name for seg in index.segments if seg.folder is not None]

    def fill(tmp: Path) -> None:
        np.save(tmp / "pictures.npy", np.array(sorted(index.pictures), np.int64))
        (tmp / "meta.json").write_text(json.dumps({
            "upto": upto, "last_sha256": last_sha256, "rows": index.size,
            "pictures": len(index.pictures), "shards": names}))

    if not save_derived_folder(folder / "state", fill):
        return
    gone = set(before) - set(names)
    if everything_else and (folder / "shards").is_dir():  # none when no picture has keypoints
        # Not the dot-named folders a concurrent writer may be filling.
        gone = {p.name for p in (folder / "shards").iterdir()
                if not p.name.startswith(".")} - set(names)
    for name in gone:
        shutil.rmtree(folder / "shards" / name, ignore_errors=True)
