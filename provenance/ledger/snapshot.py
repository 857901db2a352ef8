"""Read-only snapshots: a consistent copy of the database (and, on request, its originals)
for a team to browse and verify while the desk that owns the log goes on recording."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from provenance.errors import UsageProblem
from provenance.ledger import checkpoint, log
from provenance.ledger.db import (
    SNAPSHOT_MARKER,
    connect,
    database_id,
    db_path_of,
    now_utc,
    snapshot_marker,
    store_dir,
)
from provenance.ledger.evidence import CHUNK, EvidenceStore

# The key a snapshot carries in its `meta` table (db.snapshot_marker reads it); open_db
# refuses to write to a database that has it, so a snapshot never forks the log it copies.
MARKER = SNAPSHOT_MARKER


@dataclass
class Snapshot:
    path: Path
    events: int
    head: str
    checkpoint: Path
    originals_copied: int = 0
    originals_absent: int = 0  # not in the source's store either
    damaged: list[str] = field(default_factory=list)  # one line each, not copied
    store: Path | None = None


def refuse_rehash_without_originals(conn: sqlite3.Connection) -> None:
    """A snapshot taken without its originals cannot have them re-hashed: say so, rather
    than report every original "missing"."""
    doc = snapshot_marker(conn)
    if doc is not None and not doc.get("originals"):
        raise UsageProblem(
            f"{db_path_of(conn)} is a snapshot taken without its originals: verify it with"
            " --no-rehash, or take the snapshot again with --originals")


def checkpoint_of(out: Path) -> Path:
    """Where a snapshot's checkpoint goes: beside it, `FILE.checkpoint.json`."""
    return out.with_name(out.name + ".checkpoint.json")


def check_target(source: Path, out: Path) -> Path:
    """`out` refused in one line if a snapshot cannot be written there; nothing created."""
    out = out.expanduser()
    if out.is_dir():
        raise UsageProblem(f"{out} is a folder; name the snapshot's file, e.g. {out / 'team.db'}")
    if out.exists() or out.is_symlink():
        raise UsageProblem(f"{out} already exists; a snapshot never replaces a file: name a"
                           " new one")
    with contextlib.suppress(OSError):
        if out.resolve() == source.resolve():
            raise UsageProblem(f"{out} is the database itself; name a new file")
    if checkpoint_of(out).exists():
        raise UsageProblem(f"{out}: its checkpoint {checkpoint_of(out).name} already exists"
                           " beside it; name another file")
    if store_dir(out).exists():
        raise UsageProblem(f"{out}: its store folder {store_dir(out).name} already exists"
                           " beside it; name another file or move that folder")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UsageProblem(f"{out}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageProblem(f"{out}: cannot write in {parent} (permission denied)")
    return out


def take(conn: sqlite3.Connection, out: Path, *, by: str, originals: bool = False,
         key_file: Path | None = None,
         progress: Callable[[str], None] | None = None) -> Snapshot:
    """Copy the database as it stands (one read transaction) to `out`, mark it a snapshot,
    write its checkpoint beside it, and with `originals` copy every stored original
    (each re-hashed as it is copied). Nothing is left at `out` if it fails."""
    source = db_path_of(conn)
    if snapshot_marker(conn) is not None:
        raise UsageProblem(f"{source} is itself a snapshot: copy the file as it is (it stays"
                           " read-only), or snapshot the database it was taken from")
    out = check_target(source, out)
    folder = out.parent if str(out.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=folder)
    os.close(fd)
    os.unlink(tmp_name)  # VACUUM INTO wants a file that does not exist
    tmp = Path(tmp_name)
    tmp_store = folder / f".{out.name}.store.partial-{os.getpid()}"
    try:
        if progress:
            progress(f"copying the database to {out} (one consistent read)")
        conn.execute("VACUUM INTO ?", (str(tmp),))
        snap = connect(tmp)
        try:
            events, head = log.head(snap)
            doc = {"database_id": database_id(snap), "events": events, "head": head,
                   "taken_at": now_utc(), "taken_by": by, "source": str(source),
                   "originals": originals}
            with snap:
                snap.execute("INSERT INTO meta VALUES (?, ?)", (MARKER, json.dumps(doc)))
            check = checkpoint.make(snap, by=by, key_file=key_file)
            shas = [str(r[0]) for r in snap.execute("SELECT sha256 FROM items ORDER BY sha256")]
        finally:
            snap.close()
        result = Snapshot(out, events, head, checkpoint_of(out))
        if originals:
            _copy_originals(EvidenceStore.beside(conn), EvidenceStore(tmp_store), shas, result,
                            progress)
        os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        with open(result.checkpoint, "x", encoding="utf-8") as f:
            f.write(json.dumps(check, indent=2) + "\n")
        try:
            if originals:
                os.rename(tmp_store, store_dir(out))
                result.store = store_dir(out)
            os.link(tmp, out)  # never replaces a file that appeared meanwhile
        except BaseException:
            result.checkpoint.unlink()
            if result.store is not None:
                shutil.rmtree(result.store, ignore_errors=True)
            raise
        return result
    finally:
        for leftover in (tmp, Path(str(tmp) + "-journal")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        if tmp_store.exists():
            shutil.rmtree(tmp_store, ignore_errors=True)


def _copy_originals(src: EvidenceStore, dst: EvidenceStore, shas: list[str], result: Snapshot,
                    progress: Callable[[str], None] | None) -> None:
    if progress:
        progress(f"copying {len(shas):,} originals, each re-hashed as it is copied")
    for sha in shas:
        path = src.path_of(sha)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                result.damaged.append(f"original {sha}: not a regular file in"
                                      f" {src.root}; not copied")
                continue
        except FileNotFoundError:
            result.originals_absent += 1
            continue
        target = dst.path_of(sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with open(path, "rb") as f, open(target, "xb") as w:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                w.write(chunk)
        if digest.hexdigest() != sha:
            target.unlink()
            result.damaged.append(f"original {sha}: its bytes in {src.root} hash to"
                                  f" {digest.hexdigest()}; not copied (run `prov verify` on the"
                                  " source)")
            continue
        os.chmod(target, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        result.originals_copied += 1
