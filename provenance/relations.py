"""Near-duplicate relations: the check on every new item, `prov match`, and their events."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import log
from .projection import applies, attribution
from .store import db_path_of, store_dir, transaction

if TYPE_CHECKING:
    from .hashing import PerceptualHash
    from .ingest import AddResult, Analysis
    from .kpindex import KeypointIndex
    from .localmatch import LocalFeatures
    from .matchrule import Match, StoredSet

# New items are checked against the nearest few stored items with keypoints too (the crop
# stage); `prov match`, run by a person waiting for one answer, looks wider (8). Measured
# (bench/README-hashing.md): 8 lifts 20%-off-centre crops from 0.905 to 0.937 recall but
# costs `prov add` 40% of its throughput on 12 MP photos, so a batch uses 4.
ADD_CROP_CANDIDATES = 4
# Crop candidates are also retrieved by keypoints (provenance.kpindex), from an index over
# every held picture's keypoints, held in memory (~21 KB a picture) and cached beside the
# store (provenance.kpcache). That suits the thousands of pictures of an investigation; above
# this many, or above matchrule.LARGE stored hashes, crop candidates come from hashes alone.
KEYPOINT_INDEX_MAX = 20_000


@applies("near_duplicate.found")
def _apply_relation(conn: sqlite3.Connection, event: Any) -> None:
    d = event.data
    conn.execute(
        "INSERT INTO near_duplicates (id, item, other, algorithm, distance, verdict, detail_json,"
        " recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (event.seq, event.item, d["other"], d["algorithm"], d["distance"], d["verdict"],
         json.dumps(d.get("detail") or {}, sort_keys=True), *attribution(event)),
    )


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
        from .evidence import load_features

        if key not in self._features:
            self._features[key] = load_features(self.store_root, self.items.sha(key))
        return self._features[key]

    def keypoint_index(self) -> KeypointIndex | None:
        """Every held picture's keypoints, indexed for crop candidates (None: too many).

        Read from its cache on first use (provenance.kpcache) and topped up with pictures
        registered since, as the hashes are.
        """
        from . import kpcache, matchrule
        from .evidence import load_features

        if self._keypoints_off:
            return None
        conn = self.items.conn
        if self._keypoints is None:
            loaded = None
            if len(self.stored) <= matchrule.LARGE:
                loaded = kpcache.load(conn, self.store_root, KEYPOINT_INDEX_MAX)
            if loaded is None:
                self._keypoints_off = True
                return None
            self._keypoints, self._keypoints_upto = loaded
            return self._keypoints
        rows = kpcache.pictures_after(conn, self._keypoints_upto)
        if rows:
            self._keypoints.add((key, load_features(self.store_root, sha)) for key, sha in rows)
            self._keypoints_upto = int(rows[-1][0])
            if len(self._keypoints) > KEYPOINT_INDEX_MAX:
                self._keypoints, self._keypoints_off = None, True
        return self._keypoints


_CATALOGUES: dict[tuple[str, str], Catalogue] = {}


def catalogue(conn: sqlite3.Connection) -> Catalogue:
    """Load (or bring up to date) the packed hashes of every item in this database."""
    from . import hashcache
    from .store import database_id

    db_path = db_path_of(conn)
    cache_key = (str(db_path), database_id(conn))
    current = _CATALOGUES.get(cache_key)
    latest = conn.execute("SELECT COALESCE(MAX(id), 0) FROM hashes").fetchone()[0]
    if current is not None and current.max_hash_id == latest:
        return current
    if current is not None and current.max_hash_id < latest:
        # Within a batch: append what was registered since, in memory.
        fresh, new_max, _ = hashcache.rows_after(conn, current.max_hash_id)
        chunk = current.stored.chunk
        current.stored = hashcache.extend(current.stored, fresh)
        current.stored.chunk = chunk  # still exact for the rows it covers
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


def _hashes(rows: list[dict[str, Any]]) -> list[PerceptualHash]:
    from .hashing import PerceptualHash

    return [PerceptualHash(r["algorithm"], bytes.fromhex(r["value"]), r.get("quality"),
                           r.get("region") or "full") for r in rows]


def _features(features: dict[str, Any] | None) -> LocalFeatures | None:
    if not features:
        return None
    import numpy as np

    from .localmatch import LocalFeatures

    n = int(features["count"])
    return LocalFeatures(np.frombuffer(features["points"], np.float32).reshape(n, 2),
                         np.frombuffer(features["descriptors"], np.uint8).reshape(n, 32))


def find_for(
    cat: Catalogue, analysis: Analysis, *, exclude: str | None = None, crop_candidates: int
) -> list[Match]:
    from . import matchrule

    query = _hashes(analysis.hashes) + _hashes(analysis.query_hashes)
    if not query or not len(cat.stored):
        return []
    key = cat.items.key(exclude) if exclude else None
    excluded = {key} if key is not None else set()
    from . import relations_media as media

    if media.is_video(analysis):
        return media.find_video(cat, analysis, excluded, crop_candidates)
    if media.is_document(analysis):
        return media.find_document(cat, analysis, excluded, crop_candidates)
    features = _features(analysis.features)
    found = matchrule.find(query, cat.stored, exclude=excluded, query_features=features,
                           load_features=cat.features, crop_candidates=crop_candidates,
                           keypoint_index=cat.keypoint_index() if features is not None else None)
    # Keypoints against held documents' pages and videos' frames (a photographed page, a
    # cropped still): their hashes are per page and per frame, their keypoints apart.
    return media.picture_keyframe_stage(cat, found, media.upright_pdq(analysis), features,
                                        excluded, crop_candidates)


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


def check_new_item(
    conn: sqlite3.Connection, result: AddResult, analysis: Analysis, by: str
) -> None:
    """After a new item is registered: find what it re-uploads, record each relation."""
    from .evidence import put_features

    if result.status != "new" or result.sha256 is None or not analysis.hashes:
        return
    sha = result.sha256
    from . import keyframes

    if keyframes.is_packed(analysis.features):
        assert analysis.features is not None
        keyframes.put(store_dir(db_path_of(conn)), sha, analysis.features)
    elif analysis.features:
        put_features(store_dir(db_path_of(conn)), sha, analysis.features)
    cat = catalogue(conn)
    matches = find_for(cat, analysis, exclude=sha, crop_candidates=ADD_CROP_CANDIDATES)
    found = [match_json(cat, m) for m in matches]
    if found:
        with transaction(conn):
            for m in found:
                detail = dict(m["detail"])
                for key in ("frame_seconds", "page"):
                    if key in m:
                        detail[key] = m[key]
                log.record(conn, "near_duplicate.found", {
                    "other": m["sha256"], "algorithm": m["algorithm"], "distance": m["distance"],
                    "verdict": m["verdict"], "detail": detail,
                }, by=by, item=sha)
    result.matches = found


def near_duplicates_for_item(conn: sqlite3.Connection, sha256: str) -> list[dict[str, Any]]:
    """Relations in either direction, best first, each with a one-line summary."""
    rows = conn.execute(
        "SELECT n.*, CASE WHEN n.item = ? THEN n.other ELSE n.item END AS counterpart,"
        " CASE WHEN n.item = ? THEN 'older' ELSE 'newer' END AS direction"
        " FROM near_duplicates n WHERE n.item = ? OR n.other = ? ORDER BY n.id",
        (sha256, sha256, sha256, sha256)).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        d["detail"] = json.loads(d.pop("detail_json"))
        where = d["detail"].get("frame_seconds")
        page = d["detail"].get("page")
        covers = d["detail"].get("covers_seconds")  # of the older item, video against video
        first = conn.execute("SELECT file_name FROM sightings WHERE item = ? ORDER BY id LIMIT 1",
                             (d["counterpart"],)).fetchone()
        role = "re-upload of" if d["direction"] == "older" else "re-uploaded as"
        if d["verdict"] == "similar":
            role = "similar to"
        d["summary"] = (f"{role} {d['counterpart'][:12]} ({first[0] if first else '-'}):"
                        f" {d['algorithm']} {d['distance']:g}"
                        + (f", covering {covers[0]:g}-{covers[1]:g} s" if covers
                           else f", at {where:g} s" if where is not None else "")
                        + (f", page {page}" if page is not None else "")
                        + f"  [event {d['id']}]")
        out.append(d)
    return out


def match(conn: sqlite3.Connection, target: str, *, max_distance: int | None = None,
          crop_candidates: int | None = None) -> dict[str, Any]:
    """`prov match FILE|ITEM`: what the file (or held item) re-uploads or resembles."""
    import os

    from . import matchrule, registry
    from .errors import BadInput, UsageProblem
    from .evidence import EvidenceStore
    from .ingest import analyse

    held: str | None = None
    if os.path.isfile(target):
        path = target
    else:
        held = registry.resolve(conn, target)
        stored = EvidenceStore.beside(conn).path_of(held)
        if stored.exists():
            path = str(stored)
        else:
            row = conn.execute("SELECT path FROM sightings WHERE item = ? AND path IS NOT NULL"
                               " ORDER BY id", (held,)).fetchall()
            reachable = [r[0] for r in row if os.path.isfile(r[0])]
            if not reachable:
                raise UsageProblem(f"item {held[:12]} was referenced, not copied, and no copy"
                                   " is reachable to hash again")
            path = reachable[0]
    analysis = analyse(path)
    if analysis.error:
        raise BadInput(target, analysis.error)
    if held is None and analysis.sha256 and conn.execute(
            "SELECT 1 FROM items WHERE sha256 = ?", (analysis.sha256,)).fetchone():
        held = analysis.sha256
    cat = catalogue(conn)
    found = find_for(cat, analysis, exclude=held,
                     crop_candidates=matchrule.CROP_CANDIDATES if crop_candidates is None
                     else crop_candidates)
    matches = [match_json(cat, m) for m in found
               if max_distance is None or m.algorithm == "orb" or m.distance <= max_distance]
    is_file = os.path.isfile(target)
    if is_file and held is not None:
        # The very bytes are held already: that is the best match there is.
        held_key = cat.items.key(held)
        matches.insert(0, {"sha256": held,
                           "kind": cat.items.kind(held_key) if held_key is not None else None,
                           "distance": 0, "algorithm": "sha256", "verdict": "identical",
                           "detail": {}})
    return {
        "query": {"path": target if is_file else None, "item": None if is_file else held,
                  "sha256": analysis.sha256, "kind": analysis.kind, "held": held is not None},
        "matches": matches,
    }
