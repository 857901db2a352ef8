"""The catalogue: one database's stored hashes packed for search, kept current in a batch."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.ledger.db import database_id, db_path_of, store_dir
from provenance.matching import hashcache, kpcache
from provenance.matching.derived import load_features
from provenance.matching.kpindex import KeypointIndex
from provenance.matching.localmatch import LocalFeatures
from provenance.matching.matchrule import Match, StoredSet

# Crop candidates are also retrieved by keypoints (matching.kpindex), from an index over
# every held picture's keypoints (256 rows, ~21 KB, a picture), kept beside the store in
# memory-mapped shards (matching.kpcache) and topped up in memory within a batch. Its cost
# grows with it: bench/kpscale.py measured a query at ~0.2-0.6 s over 9,000 pictures and
# 3-4.5 s, touching 2.2 GB of mapped pages, over 101,000 (on 2 shared cores, load ~17;
# README, "Crops at scale"). Above this many rows (~130,000 pictures), not measured, crop
# candidates come from hashes alone.
KEYPOINT_ROWS_MAX = 32 * 2**20


class _Items:
    """Item key (registered_event) <-> SHA-256 and kind, looked up only when needed:
    reading a million rows up front would cost `prov match` a second."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._by_key: dict[int, tuple[str, str]] = {}

    def _row(self, key: int) -> tuple[str, str] | None:
        if key not in self._by_key:
            row = self.conn.execute("SELECT sha256, kind FROM items WHERE registered_event = ?",
                                    (key,)).fetchone()
            if row is None:
                return None
            self._by_key[key] = (row[0], row[1])
        return self._by_key[key]

    def sha(self, key: int) -> str:
        row = self._row(key)
        if row is None:
            raise KeyError(key)
        return row[0]

    def kind(self, key: int) -> str | None:
        row = self._row(key)
        return row[1] if row else None

    def key(self, sha: str) -> int | None:
        row = self.conn.execute("SELECT registered_event, kind FROM items WHERE sha256 = ?",
                                (sha,)).fetchone()
        if row is None:
            return None
        self._by_key[row[0]] = (sha, row[1])
        return int(row[0])


@dataclass
class Catalogue:
    """The stored hashes of one database, packed for search, kept current across a batch."""

    stored: StoredSet
    items: _Items
    max_hash_id: int
    store_root: Path
    _features: dict[int, Any] = field(default_factory=dict)
    _keypoints: KeypointIndex | None = None
    _keypoints_upto: int = 0  # highest registered_event looked at for the keypoint index
    _keypoints_off: bool = False

    def features(self, key: int) -> LocalFeatures | None:

        if key not in self._features:
            self._features[key] = load_features(self.store_root, self.items.sha(key))
        return self._features[key]

    def keypoint_index(self) -> KeypointIndex | None:
        """Every held picture's keypoints, indexed for crop candidates (None: too many).

        Read from its cache on first use (provenance.matching.kpcache) and topped up with pictures
        registered since, as the hashes are.
        """

        if self._keypoints_off:
            return None
        conn = self.items.conn
        if self._keypoints is None:
            loaded = kpcache.load(conn, self.store_root, KEYPOINT_ROWS_MAX)
            if loaded is None:
                self._keypoints_off = True
                return None
            self._keypoints, self._keypoints_upto = loaded
            return self._keypoints
        rows = kpcache.pictures_after(conn, self._keypoints_upto)
        if rows:
            self._keypoints.add((key, load_features(self.store_root, sha)) for key, sha in rows)
            self._keypoints_upto = int(rows[-1][0])
            if self._keypoints.size > KEYPOINT_ROWS_MAX:
                self._keypoints, self._keypoints_off = None, True
        return self._keypoints


_CATALOGUES: dict[tuple[str, str], Catalogue] = {}


def catalogue(conn: sqlite3.Connection) -> Catalogue:
    """Load (or bring up to date) the packed hashes of every item in this database."""

    db_path = db_path_of(conn)
    cache_key = (str(db_path), database_id(conn))
    current = _CATALOGUES.get(cache_key)
    latest = conn.execute("SELECT COALESCE(MAX(id), 0) FROM hashes").fetchone()[0]
    if current is not None and current.max_hash_id == latest:
        return current
    if current is not None and current.max_hash_id < latest:
        # Within a batch: append what was registered since, in memory.
        fresh, new_max, _ = hashcache.rows_after(conn, current.max_hash_id)
        current.stored = hashcache.extend(current.stored, fresh)
        current.max_hash_id = new_max
        current.items.conn = conn
        return current
    loaded = hashcache.load(conn, store_dir(db_path))
    loaded.stored.chunk = loaded.chunk_index
    cat = Catalogue(
        stored=loaded.stored,
        items=_Items(conn),
        max_hash_id=loaded.max_hash_id,
        store_root=store_dir(db_path),
    )
    _CATALOGUES[cache_key] = cat
    return cat


def match_json(cat: Catalogue, m: Match) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sha256": cat.items.sha(m.key),
        "kind": cat.items.kind(m.key),
        "distance": m.distance,
        "algorithm": m.algorithm,
        "verdict": m.verdict,
        "detail": m.detail,
    }
    if m.frame_seconds is not None:
        out["frame_seconds"] = round(m.frame_seconds, 3)
    if m.page is not None:
        out["page"] = m.page
    return out


