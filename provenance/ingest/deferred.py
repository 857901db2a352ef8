"""Analysis deferred at capture: `prov analyse` decodes the stored original, records its
perceptual hashes as item.analysed, and runs the re-upload check (secure first, analyse later).

A capture registers a video, sound or document with its SHA-256, MD5, stored copy and the
container's facts (analysis.analyse(defer=True)); its frames, sound and pages are decoded
here, afterwards, in the background or when asked. One analysis per item: a lock file per
item keeps two `prov analyse` from doing the work twice, and the item.analysed applier
refuses a second one inside the recording transaction, whatever the locks did.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.case import analysis_state
from provenance.errors import BadInput, ProvError
from provenance.ingest import extract, register
from provenance.ingest.analysis import Analysis, decoder_warnings
from provenance.ledger import log
from provenance.ledger.db import db_path_of, store_dir, transaction
from provenance.ledger.evidence import EvidenceStore


@dataclass
class Outcome:
    """What `prov analyse` did with one item."""

    sha256: str
    status: str  # analysed | failed (the bytes cannot be analysed) | skipped | error
    kind: str | None = None
    event: int | None = None
    hashes: int = 0
    error: str | None = None  # failed: why the bytes cannot be analysed; error: why not now
    note: str | None = None  # skipped: why
    warnings: list[str] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)
    withdrawn_left_out: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "status": self.status, "kind": self.kind,
                "event": self.event, "hashes": self.hashes, "error": self.error,
                "note": self.note, "warnings": self.warnings, "matches": self.matches,
                "withdrawn_left_out": self.withdrawn_left_out}


def analyse_items(conn: sqlite3.Connection, shas: list[str] | None, *, by: str
                  ) -> list[Outcome]:
    """Analyse the items named (all pending ones when None), each committed on its own: one
    that cannot be done now (a full disk, a database locked too long) stays pending, and
    the others still go."""
    out = []
    for sha in analysis_state.pending(conn) if shas is None else shas:
        try:
            out.append(analyse_item(conn, sha, by=by))
        except (ProvError, OSError, sqlite3.OperationalError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            out.append(Outcome(sha, "error", error=f"not analysed ({why}); it stays pending"))
    return out


def analyse_item(conn: sqlite3.Connection, sha: str, *, by: str) -> Outcome:
    """Run one item's deferred analysis and record it; never raises for a bad item."""
    row = conn.execute("SELECT kind, mime, md5, size, stored FROM items WHERE sha256 = ?",
                       (sha,)).fetchone()
    if row is None:
        return Outcome(sha, "error", error="no such item")
    out = Outcome(sha, "skipped", str(row["kind"]))
    if not _still_pending(conn, sha, out):
        return out
    with _claim(EvidenceStore.beside(conn), sha) as mine:
        if not mine:
            out.note = "being analysed by another `prov analyse` now"
            return out
        if not _still_pending(conn, sha, out):  # finished by another while we waited
            return out
        try:
            source = _original(conn, sha, int(row["size"]), bool(row["stored"]))
        except BadInput as exc:
            out.status, out.error = "error", exc.reason
            return out
        analysis = Analysis(path=str(source), file_name=source.name, real_path=str(source),
                            sha256=sha, md5=str(row["md5"]), size=int(row["size"]),
                            mime=str(row["mime"]), kind=str(row["kind"]))
        try:
            _decode(analysis)
        except BadInput as exc:
            # A fact about the bytes (they do not decode), recorded: not retried for ever.
            analysis.error = exc.reason
        except OSError as exc:
            out.status = "error"
            out.error = f"cannot read its original ({exc.strerror or exc}); it stays pending"
            return out
        found = [] if analysis.error or not analysis.hashes else register.find_reuploads(
            conn, sha, analysis)
        with transaction(conn):
            if not _still_pending(conn, sha, out):
                return out
            event = log.record(conn, "item.analysed", _payload(analysis, found), by=by,
                               item=sha)
            for reading in analysis.readings:  # text read off its pages, with the means
                log.record(conn, reading["type"], reading["data"], by=by, item=sha)
            register.record_reuploads(conn, sha, found, by)
    out.event, out.warnings = event.seq, analysis.warnings
    if analysis.error:
        out.status, out.error = "failed", analysis.error
        return out
    out.status, out.hashes = "analysed", len(analysis.hashes)
    out.matches, out.withdrawn_left_out = register.shown_matches(conn, found)
    return out


def _still_pending(conn: sqlite3.Connection, sha: str, out: Outcome) -> bool:
    st = analysis_state.state(conn, sha)
    if st is None:
        out.note = "analysed when it was registered; nothing to do"
    elif st["state"] != "pending":
        out.note = f"already analysed (event {st['event']}, {st['state']})"
    return st is not None and st["state"] == "pending"


def _original(conn: sqlite3.Connection, sha: str, size: int, stored: bool) -> Path:
    """The item's stored original, checked whole (its SHA-256) before anything decodes it."""
    store = EvidenceStore.beside(conn)
    if stored:
        damage = store.damage(sha, size)
        if damage is None:
            return store.path_of(sha)
        raise BadInput(sha[:12], f"its stored original is {damage}: not analysed (it stays"
                       " pending); `prov add` the genuine file to restore it, then"
                       " `prov analyse` again")
    found = store.locate_original(conn, sha)
    if found is None:
        raise BadInput(sha[:12], "no copy of its original is reachable: not analysed (it"
                       " stays pending); `prov add` the file, then `prov analyse` again")
    return found


def _decode(analysis: Analysis) -> None:
    """The perceptual analysis `prov add` would have made: frames, sound, pages, text."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = extract.extract(analysis.real_path, analysis.kind, analysis.mime)
    analysis.warnings.extend(decoder_warnings(caught))
    analysis.metadata, analysis.raw_metadata = got.metadata, got.raw_metadata
    analysis.hashes, analysis.query_hashes = got.hashes, got.query_hashes
    analysis.features, analysis.readings = got.features, got.readings
    analysis.warnings.extend(got.warnings)


def _payload(analysis: Analysis, found: list[dict[str, Any]]) -> dict[str, Any]:
    if analysis.error:
        return {"sha256": analysis.sha256, "error": analysis.error, "hashes": [],
                "warnings": analysis.warnings}
    return {"sha256": analysis.sha256, "hashes": analysis.hashes,
            "metadata": analysis.metadata, "raw_metadata": analysis.raw_metadata,
            "warnings": analysis.warnings,
            # The re-upload check made with it (each relation is its own event too).
            "near_duplicates": [m["sha256"] for m in found]}


@contextmanager
def _claim(store: EvidenceStore, sha: str) -> Iterator[bool]:
    """An exclusive, non-blocking lock on this item's analysis (False: another holds it).
    The lock goes with the process, however it ends. Its file is removed once the analysis
    is recorded: a process that locks a removed file, or a new one, finds the item analysed
    (the state is read again under the lock)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the applier's check inside the transaction remains
        yield True
        return
    store.staging.mkdir(parents=True, exist_ok=True)
    path = store.staging / f".analysing-{sha}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def background_log(conn: sqlite3.Connection) -> Path:
    """Where a background `prov analyse` writes what it would have said on a terminal."""
    return store_dir(db_path_of(conn)) / "analyse.log"


def start_background(conn: sqlite3.Connection, shas: list[str], *, by: str
                     ) -> subprocess.Popen[bytes]:
    """`prov analyse SHA...` in a process of its own, in its own session (it outlives the
    command that started it and a Ctrl-C meant for that one); its output goes to the log."""
    logfile = background_log(conn)
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "provenance", "--db", str(db_path_of(conn)), "--by", by,
             "analyse", *shas],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
