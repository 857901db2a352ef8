"""Case bundles: originals, a manifest and the case's events, provably cut from one log."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from provenance.case.when import parse_when
from provenance.errors import BadInput, UsageProblem
from provenance.ledger import checkpoint as checkpoints
from provenance.ledger import log
from provenance.ledger.db import database_id, now_utc
from provenance.ledger.evidence import EvidenceStore

FORMAT = "prov-bundle/1"
CHUNK = 1 << 20
# Keys in event data that name an actor, and those that name a claim: ids are
# local to a database, so they are translated on import.
ACTOR_KEYS = ("from_actor", "to_actor", "asserted_by", "claimant")
CLAIM_KEYS = ("claim",)


@dataclass
class BundleSummary:
    path: str
    case: str
    items: int
    originals: int
    events: int
    head: str
    signed: bool

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _case_items(conn: sqlite3.Connection, case: str) -> list[str]:
    rows = conn.execute(
        "SELECT i.sha256 FROM items i WHERE i.sha256 IN"
        " (SELECT item FROM sightings WHERE case_name = ?) ORDER BY i.registered_event",
        (case,),
    ).fetchall()
    return [r[0] for r in rows]


def write_bundle(
    conn: sqlite3.Connection, case: str, out: Path, *, by: str, key_file: Path | None = None
) -> BundleSummary:
    """Write `out` (a zip): the case's originals, its events, the chain proving them, a manifest."""
    items = _case_items(conn, case)
    if not items:
        raise UsageProblem(f"no items in case {case!r}: `prov list --case` shows a case's items")
    chain = log.check_chain(conn)
    if chain.problems:
        raise BadInput(case, "the log does not verify, so it cannot be bundled: " +
                       chain.problems[0])
    wanted = set(items)
    rows = conn.execute("SELECT * FROM events ORDER BY seq").fetchall()
    included: list[sqlite3.Row] = []
    actor_ids: set[int] = set()
    for row in rows:
        body = json.loads(row["payload"])
        data = body["data"]
        if row["item"] in wanted:
            if body["type"] == "near_duplicate.found" and data.get("other") not in wanted:
                continue
            included.append(row)
            actor_ids.update(int(data[k]) for k in ACTOR_KEYS if data.get(k) is not None)
    actor_rows = [r for r in rows if r["type"] == "actor.created" and r["seq"] in actor_ids]
    included = sorted(included + actor_rows, key=lambda r: r["seq"])

    store = EvidenceStore.beside(conn)
    checkpoint = checkpoints.make(conn, by=by, key_file=key_file)
    manifest_items = []
    tmp = out.with_name(f".{out.name}.partial")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for sha in items:
            item = conn.execute("SELECT size, md5, stored FROM items WHERE sha256 = ?",
                                (sha,)).fetchone()
            entry = {"sha256": sha, "size": item["size"], "md5": item["md5"], "original": None}
            source = store.path_of(sha)
            if item["stored"] and source.exists():
                name = f"originals/{sha}"
                zf.write(source, name, compress_type=zipfile.ZIP_STORED)
                entry["original"] = name
            manifest_items.append(entry)
        zf.writestr("events.jsonl", "".join(r["payload"] + "\n" for r in included))
        zf.writestr("chain.jsonl", "".join(
            json.dumps([r["seq"], r["leaf_hash"], r["chain_hash"]]) + "\n" for r in rows))
        zf.writestr("checkpoint.json", json.dumps(checkpoint, indent=2))
        manifest = {
            "format": FORMAT,
            "case": case,
            "database_id": database_id(conn),
            "created_at": now_utc(),
            "created_by": by,
            "events_included": len(included),
            "log_events": len(rows),
            "head": checkpoint["head"],
            "items": manifest_items,
        }
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
    os.replace(tmp, out)
    return BundleSummary(str(out), case, len(items),
                         sum(1 for i in manifest_items if i["original"]), len(included),
                         checkpoint["head"], "signature" in checkpoint)


# ------------------------------------------------------------------ reading


@dataclass
class Bundle:
    manifest: dict[str, Any]
    checkpoint: dict[str, Any]
    events: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


_ALLOWED = {"manifest.json", "events.jsonl", "chain.jsonl", "checkpoint.json"}


def _safe_names(zf: zipfile.ZipFile, subject: str) -> None:
    """Refuse path traversal and anything a bundle should not hold."""
    for info in zf.infolist():
        name = info.filename
        pure = PurePosixPath(name)
        if (name.startswith("/") or "\\" in name or ".." in pure.parts or ":" in name
                or info.is_dir()):
            raise BadInput(subject, f"refused: unsafe path {name!r} in the archive")
        if name in _ALLOWED:
            continue
        if len(pure.parts) == 2 and pure.parts[0] == "originals" and len(pure.parts[1]) == 64:
            continue
        raise BadInput(subject, f"refused: unexpected member {name!r} in the archive")


def read_bundle(path: Path, public_key: Path | None = None) -> Bundle:
    """Open and fully check a bundle: paths, hashes, the chain, the signature."""
    subject = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BadInput(subject, f"not a readable bundle ({exc})") from None
    with zf:
        _safe_names(zf, subject)
        try:
            manifest = json.loads(zf.read("manifest.json"))
            checkpoint = json.loads(zf.read("checkpoint.json"))
            events_text = zf.read("events.jsonl").decode("utf-8")
            chain_rows = [json.loads(line) for line in
                          zf.read("chain.jsonl").decode("utf-8").splitlines() if line]
        except (KeyError, ValueError) as exc:
            raise BadInput(subject, f"refused: incomplete or malformed bundle ({exc})") from None
        if manifest.get("format") != FORMAT:
            raise BadInput(subject, f"refused: unknown bundle format {manifest.get('format')!r}")
        payloads = [line for line in events_text.splitlines() if line]
        _check_chain(subject, manifest, checkpoint, chain_rows, payloads)
        warnings = _check_signature(subject, checkpoint, public_key)
        for entry in manifest["items"]:
            if entry.get("original") is None:
                continue
            if entry["original"] != f"originals/{entry['sha256']}":
                raise BadInput(subject, f"refused: manifest entry {entry['sha256']} is misnamed")
            digest = hashlib.sha256()
            with zf.open(entry["original"]) as fh:
                while chunk := fh.read(CHUNK):
                    digest.update(chunk)
            if digest.hexdigest() != entry["sha256"]:
                raise BadInput(subject, f"refused: hash mismatch for {entry['original']}"
                               " (the original was altered after bundling)")
    events = [json.loads(p) for p in payloads]
    return Bundle(manifest, checkpoint, events, warnings)


def _check_chain(subject: str, manifest: dict[str, Any], checkpoint: dict[str, Any],
                 chain_rows: list[list[Any]], payloads: list[str]) -> None:
    """Recompute the source log's chain from its genesis; every included event must be in it."""
    previous = log.genesis(manifest["database_id"])
    leaves: dict[int, str] = {}
    for expected, row in enumerate(chain_rows, start=1):
        seq, leaf, chain = row
        if seq != expected or log.chain_hash(previous, leaf) != chain:
            raise BadInput(subject, f"refused: the bundle's log does not verify at event {seq}")
        leaves[seq] = leaf
        previous = chain
    if previous != manifest["head"] or previous != checkpoint.get("head"):
        raise BadInput(subject, "refused: the bundle's log does not end at its recorded head")
    if checkpoint.get("database_id") != manifest["database_id"]:
        raise BadInput(subject, "refused: checkpoint and manifest name different databases")
    for payload in payloads:
        try:
            body = json.loads(payload)
            seq = int(body["seq"])
        except (ValueError, KeyError, TypeError):
            raise BadInput(subject, "refused: an event in the bundle is unreadable") from None
        if leaves.get(seq) != log.leaf_hash(payload):
            raise BadInput(subject, f"refused: event {seq} in the bundle does not match its log"
                           " (edited after bundling)")


def _check_signature(subject: str, checkpoint: dict[str, Any],
                     public_key: Path | None) -> list[str]:
    signature = checkpoint.get("signature")
    if public_key is None:
        return ["bundle is signed, but the signature was not checked: pass --public-key"] \
            if signature else []
    valid = checkpoints.verify_signature(checkpoint, public_key)
    if valid is None:
        raise BadInput(subject, "refused: the bundle is not signed, but a public key was given")
    if not valid:
        raise BadInput(subject, "refused: the bundle's signature does not verify")
    return []


# ------------------------------------------------------------------ importing


@dataclass
class ImportSummary:
    path: str
    case: str
    new_items: int = 0
    known_items: int = 0
    events_recorded: int = 0
    events_skipped: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def import_bundle(
    conn: sqlite3.Connection,
    path: Path,
    *,
    by: str,
    public_key: Path | None = None,
    received_from: str | None = None,
) -> ImportSummary:
    """Check a bundle completely, then merge it in one transaction: all of it or nothing.

    Every event keeps its original recorder and time (`imported_from`); originals are
    copied into the store under their hash; the hand-over is recorded as a `received`
    custody event from `received_from` (else the bundle's creator). Importing the same
    bundle twice records nothing the second time.
    """
    from provenance.case import actors
    from provenance.ledger.db import transaction

    bundle = read_bundle(path, public_key)
    manifest = bundle.manifest
    source_db = manifest["database_id"]
    if source_db == database_id(conn):
        raise UsageProblem(f"{path} was bundled from this very database; nothing to import")
    summary = ImportSummary(str(path), manifest["case"], warnings=list(bundle.warnings))
    originals = {e["sha256"]: e["original"] for e in manifest["items"]}
    store = EvidenceStore.beside(conn)
    done = _already_imported(conn, source_db)
    sender_name = received_from or manifest["created_by"]
    with transaction(conn), zipfile.ZipFile(path) as zf:
        actor_map: dict[int, int] = {}
        claim_map: dict[int, int] = {}
        notices: list[str] = []
        for ev in bundle.events:
            seq, kind, data = ev["seq"], ev["type"], dict(ev["data"])
            if kind == "actor.created":
                try:
                    actor_map[seq] = actors.find(conn, data["name"]).id
                except UsageProblem:
                    actor_map[seq] = actors.create(conn, data["name"], by=by, kind=data["kind"],
                                                   url=data.get("url"), note=data.get("note")).id
                continue
            if seq in done:
                summary.events_skipped += 1
                if kind == "claim.recorded":
                    claim_map[seq] = done[seq]
                continue
            origin = {"database_id": source_db, "seq": seq, "recorded_by": ev["recorded_by"],
                      "recorded_at": ev["recorded_at"], "bundle_head": manifest["head"]}
            if kind == "item.registered":
                if conn.execute("SELECT 1 FROM items WHERE sha256 = ?",
                                (data["sha256"],)).fetchone():
                    summary.known_items += 1
                    continue
                member = originals.get(data["sha256"])
                data["stored"] = member is not None
                if member is not None:
                    _extract(zf, member, store, data["sha256"])
                summary.new_items += 1
            elif kind == "item.stored":
                continue
            for key in ACTOR_KEYS:
                if data.get(key) is not None:
                    data[key] = actor_map[int(data[key])]
            for key in CLAIM_KEYS:
                if data.get(key) is not None:
                    data[key] = claim_map[int(data[key])]
            data["imported_from"] = origin
            recorded = log.record(conn, kind, data, by=by, item=ev["item"])
            if kind == "claim.recorded":
                claim_map[seq] = recorded.seq
            summary.events_recorded += 1
        if summary.events_recorded == 0:
            summary.warnings.append("everything in this bundle was already imported; nothing new")
            return summary
        sender = actors.resolve_or_create(conn, sender_name, by=by, notices=notices)
        receiver = actors.resolve_or_create(conn, by, by=by, notices=notices)
        for sha in originals:
            log.record(conn, "custody.recorded", {
                "action": "received", "from_actor": sender.id, "to_actor": receiver.id,
                "asserted_by": None, "at": parse_when(now_utc()).to_json(), "url": None,
                "note": f"imported from bundle {path.name} (case {manifest['case']!r},"
                        f" source log head {manifest['head'][:16]}…)",
                "imported_bundle": {"database_id": source_db, "head": manifest["head"]},
            }, by=by, item=sha)
        summary.warnings.extend(notices)
    return summary


def _already_imported(conn: sqlite3.Connection, source_db: str) -> dict[int, int]:
    """Source seq -> our seq, for events an earlier import of that database recorded."""
    rows = conn.execute(
        "SELECT seq, json_extract(payload, '$.data.imported_from.seq') FROM events"
        " WHERE json_extract(payload, '$.data.imported_from.database_id') = ?",
        (source_db,),
    )
    return {int(r[1]): int(r[0]) for r in rows}


def _extract(zf: zipfile.ZipFile, member: str, store: EvidenceStore, sha: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".bundle-")
    try:
        with os.fdopen(fd, "wb") as out, zf.open(member) as src:
            while chunk := src.read(CHUNK):
                out.write(chunk)
        store.put(tmp, sha)
    finally:
        os.unlink(tmp)
