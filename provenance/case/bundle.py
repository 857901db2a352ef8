"""Case bundles: originals, a manifest and the case's events, provably cut from one log."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.case import actors, analysis_state
from provenance.case.bundle_events import (
    ACTOR_KEYS,
    CHECKS,
    CLAIM_KEYS,
    EVENT_KEYS,
    INCIDENT_KEYS,
    check_events,
)
from provenance.case.bundle_originals import discard, stage_originals
from provenance.case.bundle_read import CHUNK, FORMAT, Bundle, read_bundle, refuse
from provenance.case.when import parse_when
from provenance.errors import Ambiguous, BadInput, NotFound, UsageProblem
from provenance.ledger import checkpoint as checkpoints
from provenance.ledger import log, timestamp
from provenance.ledger.db import database_id, now_utc, transaction
from provenance.ledger.evidence import EvidenceStore

# (path of a staged original, its kind, its MIME type) -> None, or BadInput when prov would
# not take the picture in (`prov add`'s pixel limits): given by a layer that decodes media.
PixelCheck = Callable[[Path, str, str], None]


@dataclass
class BundleSummary:
    path: str
    case: str
    items: int
    originals: int
    events: int
    head: str
    signed: bool
    timestamps: int = 0  # time-stamps of the log's heads carried
    stamp: str | None = None  # what the time-stamp asked for with --tsa says

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _case_items(conn: sqlite3.Connection, case: str) -> list[str]:
    rows = conn.execute(
        "SELECT i.sha256 FROM items i WHERE i.sha256 IN"
        " (SELECT item FROM sightings WHERE case_name = ?) ORDER BY i.registered_event",
        (case,),
    ).fetchall()
    return [r[0] for r in rows]


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction: the items, events and head bundled are of one moment."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def write_bundle(
    conn: sqlite3.Connection, case: str, out: Path, *, by: str, key_file: Path | None = None,
    tsa: str | None = None, tsa_cert: Path | None = None,
) -> BundleSummary:
    """Write `out` (a zip): the case's originals, its events, the chain proving them, and a
    manifest (signed with `key_file`) listing the items and the exact events included.

    The manifest carries every RFC 3161 time-stamp the log holds of a head it proves; with
    `tsa` (a URL: the one network step) the bundle's own head is stamped too, the token put
    in its checkpoint and, once the bundle is written, recorded in the log."""
    fresh: timestamp.Stamp | None = None
    with _snapshot(conn):
        items = _case_items(conn, case)
        if not items:
            raise UsageProblem(f"no items in case {case!r}: `prov list --case` shows a case's"
                               " items")
        chain = log.check_chain(conn)
        if chain.problems:
            raise BadInput(case, "the log does not verify, so it cannot be bundled: " +
                           chain.problems[0])
        included = _included(conn, set(items))
        store = EvidenceStore.beside(conn)
        entries = []
        for sha in items:
            row = conn.execute("SELECT size, md5, stored FROM items WHERE sha256 = ?",
                               (sha,)).fetchone()
            original = f"originals/{sha}" if row["stored"] else None
            if original and not store.path_of(sha).is_file():
                raise BadInput(sha, f"refused: its stored original is missing from"
                               f" {store.path_of(sha)}, so case {case!r} cannot be bundled whole"
                               " (`prov verify` reports the store)")
            entries.append({"sha256": sha, "size": row["size"], "md5": row["md5"],
                            "original": original})
        checkpoint = checkpoints.make(conn, by=by, key_file=key_file)
        stamps = [_stamp_record(r) for r in conn.execute(
            "SELECT * FROM timestamps WHERE events <= ? ORDER BY id", (checkpoint["events"],))]
        if tsa is not None:
            fresh = timestamp.stamp_head(tsa, checkpoint["head"])
            if tsa_cert is not None:
                timestamp.verify(fresh.response, checkpoint["head"], tsa_cert,
                                 f"reply from {tsa}")
            checkpoint["timestamp"] = fresh.record(events=checkpoint["events"], tsa=tsa)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "case": case,
            "database_id": database_id(conn),
            "created_at": now_utc(),
            "created_by": by,
            "events_included": len(included),
            "log_events": checkpoint["events"],
            "head": checkpoint["head"],
            "items": entries,
            "events": [[r["seq"], r["leaf_hash"]] for r in included],
            "timestamps": stamps,
        }
        if key_file is not None:
            manifest = checkpoints.sign(manifest, key_file)
        tmp = out.with_name(f".{out.name}.partial")
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for entry in entries:
                    if entry["original"]:
                        _write_original(zf, store, entry)
                zf.writestr("events.jsonl", "".join(r["payload"] + "\n" for r in included))
                with zf.open("chain.jsonl", "w") as fh:
                    for r in conn.execute("SELECT seq, leaf_hash, chain_hash FROM events"
                                          " WHERE seq <= ? ORDER BY seq", (checkpoint["events"],)):
                        fh.write((json.dumps([r[0], r[1], r[2]]) + "\n").encode("ascii"))
                zf.writestr("checkpoint.json", json.dumps(checkpoint, indent=2))
                zf.writestr("manifest.json", json.dumps(manifest, indent=2))
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    if fresh is not None:
        # After the snapshot: the stamp's event follows the head it stamps.
        timestamp.record(conn, fresh, tsa=tsa, by=by)
    return BundleSummary(str(out), case, len(items), sum(1 for e in entries if e["original"]),
                         len(included), checkpoint["head"], "signature" in manifest,
                         len(stamps) + (fresh is not None),
                         fresh.sentence() if fresh else None)


def _stamp_record(row: sqlite3.Row) -> dict[str, Any]:
    """A recorded stamp as a bundle carries it: the fields of its `checkpoint.timestamped`."""
    return {"events": row["events"], "head": row["head"], "gen_time": row["gen_time"],
            "tsa": row["tsa"], "tsa_name": row["tsa_name"], "serial": row["serial"],
            "policy": row["policy"], "hash": "sha256", "response": row["response"]}


def _included(conn: sqlite3.Connection, wanted: set[str]) -> list[sqlite3.Row]:
    """The case's events, and the creation of every actor they name, in log order."""
    included: list[sqlite3.Row] = []
    actor_ids: set[int] = set()
    incident_ids: set[int] = set()
    for row in conn.execute("SELECT * FROM events ORDER BY seq"):
        if row["item"] not in wanted:
            continue
        body = json.loads(row["payload"])
        data = body["data"]
        if body["type"] == "near_duplicate.found" and data.get("other") not in wanted:
            continue
        if body["type"] not in CHECKS:
            raise BadInput(row["item"], f"refused: event {row['seq']} is of type"
                           f" {body['type']!r}, which bundles cannot carry yet")
        included.append(row)
        actor_ids.update(int(data[k]) for k in ACTOR_KEYS if data.get(k) is not None)
        if body["type"] == "incident.linked":
            incident_ids.add(int(data["incident"]))
    included += _incidents_of(conn, incident_ids)
    if actor_ids:
        marks = ", ".join("?" for _ in actor_ids)
        included += conn.execute(f"SELECT * FROM events WHERE type = 'actor.created' AND seq IN"
                                 f" ({marks})", sorted(actor_ids)).fetchall()
    return sorted(included, key=lambda r: r["seq"])


def _incidents_of(conn: sqlite3.Connection, ids: set[int]) -> list[sqlite3.Row]:
    """The creation of the incidents the case's items are linked to, and the relations
    between two of them (a relation to an incident the case does not show stays behind)."""
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    rows = conn.execute(f"SELECT * FROM events WHERE type = 'incident.created' AND seq IN"
                        f" ({marks})", sorted(ids)).fetchall()
    for row in conn.execute("SELECT * FROM events WHERE type = 'incident.related'"):
        data = json.loads(row["payload"])["data"]
        if data["incident"] in ids and data["other"] in ids:
            rows.append(row)
    return rows


def _incident_for(conn: sqlite3.Connection, data: dict[str, Any], *, by: str,
                  origin: dict[str, Any], notices: list[str]) -> int:
    """The receiver's incident of this name (case aside), else the bundle's, recorded now."""
    name = " ".join(str(data["name"]).split())
    row = conn.execute("SELECT id FROM incidents WHERE name = ? COLLATE NOCASE",
                       (name,)).fetchone()
    if row is not None:
        notices.append(f"incident {name!r} is held already: the bundle's items are linked to it")
        return int(row[0])
    return log.record(conn, "incident.created", {**data, "imported_from": origin}, by=by).seq


def _write_original(zf: zipfile.ZipFile, store: EvidenceStore, entry: dict[str, Any]) -> None:
    """Copy a stored original in as it is (not deflated), re-hashing it on the way: a damaged
    copy is refused here rather than by the receiver."""
    sha = entry["sha256"]
    info = zipfile.ZipInfo(entry["original"], date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = entry["size"]
    digest = hashlib.sha256()
    big = entry["size"] >= zipfile.ZIP64_LIMIT
    with open(store.path_of(sha), "rb") as src, zf.open(info, "w", force_zip64=big) as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
    if digest.hexdigest() != sha:
        raise BadInput(sha, f"refused: its stored original {store.path_of(sha)} has been"
                       " modified, so it cannot be bundled (`prov verify` reports the store)")


# ------------------------------------------------------------------ importing


@dataclass
class ImportSummary:
    path: str
    case: str
    new_items: int = 0
    known_items: int = 0
    events_recorded: int = 0
    events_skipped: int = 0
    # "verified" (with the key given), or "not checked" (imported with --unsigned)
    signature: str = "not checked"
    signer: str | None = None
    warnings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    # "verified" (every token carried checked with --tsa-cert), "not checked", or "none"
    timestamps: str = "none"
    # what each verified token says: "log head 3fa2… existed at … per …"
    stamped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def import_bundle(
    conn: sqlite3.Connection,
    path: Path,
    *,
    by: str,
    check_pixels: PixelCheck,
    public_key: Path | None = None,
    unsigned: bool = False,
    received_from: str | None = None,
    tsa_cert: Path | None = None,
) -> ImportSummary:
    """Check a bundle completely, then merge it in one transaction: all of it or nothing,
    in the log and in the store.

    Every event keeps its original recorder and time (`imported_from`); originals are
    copied into the store under their hash; the hand-over is recorded as a `received`
    custody event from `received_from` (else the bundle's creator). Importing the same
    bundle twice records nothing the second time.
    """
    if received_from is not None and not received_from.strip():
        raise UsageProblem("--from needs a name: who handed the bundle over")
    with read_bundle(path, public_key=public_key, unsigned=unsigned) as bundle:
        source_db = bundle.manifest["database_id"]
        if source_db == database_id(conn):
            raise UsageProblem(f"{path} was bundled from this very database; nothing to import")
        done = _already_imported(conn, source_db)
        check_events(bundle, _imported_claims(conn, done))
        summary = ImportSummary(str(path), bundle.manifest["case"],
                                signature="verified" if bundle.authenticated else "not checked",
                                signer=bundle.signer, warnings=list(bundle.warnings))
        _check_stamps(bundle, tsa_cert, summary)
        store = EvidenceStore.beside(conn)
        held = _held(conn, list(bundle.items))
        staged = stage_originals(bundle, store, keep={s for s in bundle.items if not held.get(s)})
        placed: list[Path] = []
        try:
            registrations = {ev.item: ev.data for ev in bundle.events
                             if ev.type == "item.registered"}
            for sha, file in staged.items():
                reg = registrations[sha]
                try:
                    check_pixels(Path(file), str(reg["kind"]), str(reg["mime"]))
                except BadInput as exc:
                    raise refuse(bundle.subject, f"original {sha} ({reg['kind']}):"
                                 f" {exc.reason}") from None
            with transaction(conn):
                _merge(conn, bundle, summary, done, held, staged, placed, store, by=by,
                       received_from=received_from)
        except BaseException:
            # All or nothing on disk too: originals placed for this import go with it.
            discard(placed)
            raise
        finally:
            discard(staged.values())
            # Committed, their items name them; failed, they were removed: either way the
            # pending markers (which tell verify of an interrupted registration) go.
            for sha in registrations_placed(bundle):
                store.settle(sha)
    return summary


def _check_stamps(bundle: Bundle, tsa_cert: Path | None, summary: ImportSummary) -> None:
    """Each token carried must verify against `tsa_cert` (imprint = the bundle chain's head at
    its event, checked on reading; signature; chain at the stamped time), or nothing is
    imported. Without `tsa_cert`, say the tokens went unchecked."""
    if tsa_cert is None:
        if bundle.timestamps:
            summary.timestamps = "not checked"
            summary.warnings.append(f"the bundle carries {len(bundle.timestamps)} time-stamp(s)"
                                    " of its log, not checked: pass --tsa-cert CHAIN.pem")
        return
    if not bundle.timestamps:
        raise refuse(bundle.subject, "it carries no time-stamp, but --tsa-cert was given (ask"
                     " the sender for a bundle written with --tsa, or import without"
                     " --tsa-cert)")
    for stamp in bundle.timestamps:
        subject = f"{bundle.subject}: time-stamp of event {stamp['events']}"
        try:
            reply = base64.b64decode(stamp["response"], validate=True)
        except ValueError:
            raise refuse(subject, "not base64") from None
        confirmed = timestamp.verify(reply, stamp["head"], tsa_cert, subject)
        summary.stamped.append(confirmed.sentence())
    summary.timestamps = "verified"


def registrations_placed(bundle: Bundle) -> list[str]:
    """The items whose originals an import of `bundle` may place in the store."""
    return [str(ev.item) for ev in bundle.events if ev.type == "item.registered"]


def _merge(conn: sqlite3.Connection, bundle: Bundle, summary: ImportSummary,
           done: dict[int, int], held: dict[str, bool], staged: dict[str, str],
           placed: list[Path], store: EvidenceStore, *, by: str,
           received_from: str | None) -> None:
    manifest = bundle.manifest
    source_db = manifest["database_id"]
    actor_map: dict[int, int] = {}
    claim_map: dict[int, int] = {}
    incident_map: dict[int, int] = {}
    event_map: dict[int, int] = dict(done)  # source seq -> receiver seq
    # Again inside the write lock: another `prov add` may have registered one meanwhile.
    held.update(_held(conn, list(bundle.items)))

    def place(sha: str) -> None:
        target = store.path_of(sha)
        existed = target.exists()
        store.adopt(staged.pop(sha), sha)
        if not existed:
            placed.append(target)

    for ev in bundle.events:
        origin = {"database_id": source_db, "seq": ev.seq, "recorded_by": ev.recorded_by,
                  "recorded_at": ev.recorded_at, "bundle_head": manifest["head"]}
        if ev.type == "actor.created":
            actor_map[ev.seq] = (done[ev.seq] if ev.seq in done
                                 else _actor_for(conn, ev.data["name"], by=by,
                                                 notices=summary.notices, origin=origin,
                                                 data=ev.data))
            continue
        if ev.type == "incident.created":
            incident_map[ev.seq] = (done[ev.seq] if ev.seq in done else _incident_for(
                conn, ev.data, by=by, origin=origin, notices=summary.notices))
            continue
        if ev.seq in done:
            summary.events_skipped += 1
            if ev.type == "claim.recorded" or _corrects_claim(ev.type, ev.data):
                claim_map[ev.seq] = done[ev.seq]
            continue
        data = dict(ev.data)
        sha = str(ev.item)
        if ev.type == "item.registered":
            if sha in held:
                summary.known_items += 1
                if not held[sha] and sha in staged:
                    # Held as a reference only: the bundle brings the bytes themselves.
                    place(sha)
                    log.record(conn, "item.stored", {"sha256": sha, "from_bundle": {
                        "database_id": source_db, "head": manifest["head"]}}, by=by, item=sha)
                    held[sha] = True
                    summary.events_recorded += 1
                continue
            data["stored"] = sha in staged
            if sha in staged:
                place(sha)
            summary.new_items += 1
        elif ev.type == "item.stored":
            continue  # whether the receiver stores it depends on the bundle, not the source
        elif ev.type == "item.analysed" and not analysis_state.is_pending(conn, sha):
            # Analysed here already (an item's fingerprints are recorded once): skipped.
            summary.events_skipped += 1
            continue
        elif ev.type == "sighting.recorded":
            # The sender's path means nothing on this machine: kept, never followed.
            at_source = data.pop("path", None)
            data["path"] = None
            if at_source is not None:
                data["path_at_source"] = at_source
        for key in ACTOR_KEYS:
            if data.get(key) is not None:
                data[key] = actor_map[int(data[key])]
        for key in CLAIM_KEYS:
            if data.get(key) is not None:
                data[key] = claim_map[int(data[key])]
        for key in INCIDENT_KEYS.get(ev.type, ()):
            data[key] = incident_map[int(data[key])]
        for key in EVENT_KEYS:
            if data.get(key) is not None:
                data[key] = event_map[int(data[key])]
        data["imported_from"] = origin
        recorded = log.record(conn, ev.type, data, by=by, item=ev.item)
        event_map[ev.seq] = recorded.seq
        if ev.type == "claim.recorded" or _corrects_claim(ev.type, ev.data):
            claim_map[ev.seq] = recorded.seq
        summary.events_recorded += 1
    if summary.events_recorded == 0:
        summary.warnings.append("everything in this bundle was already imported; nothing new")
        return
    sender = _actor_for(conn, received_from or manifest["created_by"], by=by,
                        notices=summary.notices)
    receiver = _actor_for(conn, by, by=by, notices=summary.notices)
    for sha in bundle.items:
        log.record(conn, "custody.recorded", {
            "action": "received", "from_actor": sender, "to_actor": receiver,
            "asserted_by": None, "at": parse_when(now_utc()).to_json(), "url": None,
            "note": f"imported from bundle {bundle.path.name} (case {manifest['case']!r},"
                    f" source log head {manifest['head'][:16]}…)",
            "imported_bundle": {"database_id": source_db, "head": manifest["head"],
                                "signature": summary.signature, "signer": summary.signer},
        }, by=by, item=sha)


def _corrects_claim(kind: str, data: dict[str, Any]) -> bool:
    """A correction of a claim is a claim of its own (reviews may name it)."""
    return kind == "event.corrected" and data.get("corrects") == "claim"


def _actor_for(conn: sqlite3.Connection, name: str, *, by: str, notices: list[str],
               origin: dict[str, Any] | None = None, data: dict[str, Any] | None = None) -> int:
    """The actor of this exact name (case aside), else a new one: never refused for a
    similar name. A new actor whose name resembles others gets a notice, for the
    investigator to merge them if they are one."""
    wanted = " ".join(name.split())
    row = conn.execute("SELECT id FROM actors WHERE name = ? COLLATE NOCASE",
                       (wanted,)).fetchone()
    if row is not None:
        return int(row[0])
    try:
        actors.find(conn, wanted)
        similar: list[str] = []
    except Ambiguous as exc:
        similar = exc.candidates
    except NotFound:
        similar = []
    fields: dict[str, Any] = {"name": wanted, "kind": "unknown", "url": None, "note": None}
    if data is not None:
        fields.update({k: data.get(k) for k in ("kind", "url", "note")})
    if origin is not None:
        fields["imported_from"] = origin
    created = log.record(conn, "actor.created", fields, by=by).seq
    if similar:
        notices.append(f"new actor {wanted!r} looks like {', '.join(similar)}: if they are one"
                       " and the same, merge them (`prov actor merge`)")
    return created


def _already_imported(conn: sqlite3.Connection, source_db: str) -> dict[int, int]:
    """Source seq -> our seq, for events an earlier import of that database recorded."""
    rows = conn.execute(
        "SELECT seq, json_extract(payload, '$.data.imported_from.seq') FROM events"
        " WHERE json_extract(payload, '$.data.imported_from.database_id') = ?",
        (source_db,),
    )
    return {int(r[1]): int(r[0]) for r in rows}


def _imported_claims(conn: sqlite3.Connection, done: dict[int, int]) -> dict[int, str]:
    """Source claim id -> item, for the claims an earlier import brought."""
    source_of = {ours: source for source, ours in done.items()}
    return {source_of[row[0]]: str(row[1])
            for row in conn.execute("SELECT id, item FROM claims") if row[0] in source_of}


def _held(conn: sqlite3.Connection, shas: list[str]) -> dict[str, bool]:
    """Of these items, those the receiver holds, and whether it stores their originals."""
    held: dict[str, bool] = {}
    for sha in shas:
        row = conn.execute("SELECT stored FROM items WHERE sha256 = ?", (sha,)).fetchone()
        if row is not None:
            held[sha] = bool(row[0])
    return held
