"""Recording analysed files: a new item or a sighting of a known one, and its near-duplicates."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provenance.errors import ProvError
from provenance.ingest import pagematch, pagewords, reading, sheets, warc_in
from provenance.ingest.analysis import (
    Analysis,
    analyse,
    analyse_all,
    discard,
    display_name,
    expand,
)
from provenance.ledger import evidence, log
from provenance.ledger.db import db_path_of, store_dir, transaction, unit
from provenance.matching import keyframes
from provenance.matching.catalogue import catalogue, match_json
from provenance.matching.derived import put_features
from provenance.matching.search import find_for


@dataclass
class AddResult:
    path: str
    status: str  # new | known | error
    sha256: str | None = None
    kind: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)
    # Near-duplicates among withdrawn items: recorded in the log (a fact about the pixels),
    # not shown among the matches (`prov retract ITEM` leaves an item out of matching).
    withdrawn_left_out: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "sha256": self.sha256,
            "kind": self.kind,
            "error": self.error,
            "warnings": self.warnings,
            "matches": self.matches,
            "withdrawn_left_out": self.withdrawn_left_out,
        }


@dataclass(frozen=True)
class Sighting:
    """What the investigator says about this copy: where it came from and why it is here."""

    case: str | None = None
    source_url: str | None = None
    title: str | None = None
    note: str | None = None
    # Where a copy was seen at its source (capture, WARC record); "" path: no local path.
    seen_at: str | None = None
    page_url: str | None = None
    origin: dict[str, Any] | None = None
    path: str | None = None


def register(
    conn: sqlite3.Connection,
    analysis: Analysis,
    sighting: Sighting,
    *,
    by: str,
    copy: bool = True,
) -> AddResult:
    """Record one analysed file: a new item and its sighting, or a sighting of a known one.

    One transaction: the item, its hashes, its stored copy and its sighting land
    together or not at all. Inside a transaction already open (a capture), they commit
    with it, and the caller settles the store (`EvidenceStore.settle`) once it commits.
    """
    if analysis.error or analysis.sha256 is None:
        return AddResult(analysis.path, "error", analysis.sha256, analysis.kind or None,
                         analysis.error, analysis.warnings)
    sha = analysis.sha256
    store = evidence.EvidenceStore.beside(conn)
    nested = conn.in_transaction
    with unit(conn):
        known = conn.execute(
            "SELECT kind, stored, size FROM items WHERE sha256 = ?", (sha,)).fetchone()
        if known is None:
            if copy:
                _keep(store, analysis, sha)
            log.record(
                conn,
                "item.registered",
                {
                    "sha256": sha,
                    "md5": analysis.md5,
                    "size": analysis.size,
                    "mime": analysis.mime,
                    "kind": analysis.kind,
                    "stored": copy,
                    "metadata": analysis.metadata,
                    "raw_metadata": analysis.raw_metadata,
                    "hashes": analysis.hashes,
                    # Its perceptual analysis comes later, as an item.analysed event.
                    **({"analysis": "deferred"} if analysis.deferred else {}),
                },
                by=by,
                item=sha,
            )
            for found in analysis.readings:  # the text read off its pages, with the means
                log.record(conn, found["type"], found["data"], by=by, item=sha)
            status, kind = "new", analysis.kind
        else:
            status, kind = "known", known["kind"]
            if copy and not known["stored"]:
                _keep(store, analysis, sha)
                log.record(conn, "item.stored", {"sha256": sha}, by=by, item=sha)
            elif known["stored"]:
                damage = store.damage(sha, int(known["size"]))
                if damage is not None:
                    # The genuine bytes are here again (their hash is the item's name): put
                    # them back, and say in the log that the stored original was restored.
                    _keep(store, analysis, sha)
                    log.record(conn, "item.restored", {"sha256": sha, "damage": damage},
                               by=by, item=sha)
                    analysis.warnings.append(
                        f"the stored original was {damage}: restored from this file")
        origin = {k: v for k, v in (("seen_at", sighting.seen_at),
                                    ("page_url", sighting.page_url),
                                    ("origin", sighting.origin)) if v is not None}
        log.record(
            conn,
            "sighting.recorded",
            {
                **origin,
                "path": (sighting.path or None) if sighting.path is not None
                else os.path.abspath(analysis.path),
                "file_name": analysis.file_name,
                "file_name_hex": analysis.file_name_hex,
                "size": analysis.size,
                "source_url": sighting.source_url,
                "case": sighting.case,
                "title": sighting.title,
                "note": sighting.note,
            },
            by=by,
            item=sha,
        )
    if not nested:
        store.settle(sha)
    return AddResult(analysis.path, status, sha, kind, None, analysis.warnings)


def _keep(store: evidence.EvidenceStore, analysis: Analysis, sha: str) -> None:
    """Name the staged copy after its hash in the store (or copy now, if none was staged)."""
    if analysis.staged_copy:
        store.adopt(analysis.staged_copy, sha)
        analysis.staged_copy = None
    else:
        store.put(analysis.real_path, sha)


def add_paths(
    conn: sqlite3.Connection,
    paths: list[str],
    sighting: Sighting,
    *,
    by: str,
    kind: str | None = None,
    copy: bool = True,
    on_total: Callable[[int], None] | None = None,
    progress: Callable[[AddResult], None] | None = None,
    check_matches: bool = True,
    plan: reading.Plan | None = None,
) -> list[AddResult]:
    """Register every file named or found under the folders named, in order.

    `plan` says which pages get OCR and within which limits; when OCR was due but Tesseract
    or a language is missing, the first file concerned says how to install it (once).
    """
    results: list[AddResult] = []
    usable: list[str] = []
    expanded = list(expand(paths))
    if on_total:
        on_total(len(expanded))
    for path, problem in expanded:
        if problem:
            shown, _ = display_name(path)
            result = AddResult(shown, "error", error=problem)
            results.append(result)
            if progress:
                progress(result)
        else:
            usable.append(path)
    store = evidence.EvidenceStore.beside(conn)
    store.sweep_staging()
    stage = str(store.staging) if copy else None
    # Asked of the engine only once text was due: finding it runs Tesseract (ocr.deferred).
    engine = plan.engine if plan is not None else None
    hinted = engine is None
    plan = sheets.plan_for(conn, plan, usable, kind)
    for analysis in analyse_all(usable, kind, stage_dir=stage, plan=plan):
        if not hinted and (analysis.ocr_missing
                           or any(r["type"] == "ocr.recorded" for r in analysis.readings)):
            assert engine is not None
            hint = engine.install_hint()
            if hint:
                analysis.warnings.append(hint)
            hinted = True
        analysis_path = analysis.path
        archive = kind is None and not analysis.error and warc_in.is_archive(analysis.real_path)
        if archive:
            analysis.kind = "archive"
        if not analysis.error and analysis.sha256 and not conn.execute(
                "SELECT 1 FROM items WHERE sha256 = ?", (analysis.sha256,)).fetchone():
            # A photographed sheet whose reading names no page is read once more (the
            # database, which says what a reading names, is here, not in the workers).
            analysis.readings = pagematch.read_again(
                conn, analysis.kind, analysis.staged_copy or analysis.real_path,
                analysis.sha256, analysis.readings, plan, exclude=None)
        try:
            try:
                result = register(conn, analysis, sighting, by=by, copy=copy)
            finally:
                discard(analysis)
        except (ProvError, OSError, sqlite3.OperationalError) as exc:
            # A full disk or a failing drive stops this file, not the batch: each file's
            # outcome is reported, and the items already committed are reported as added.
            result = AddResult(analysis_path, "error", analysis.sha256, analysis.kind or None,
                               _not_registered(exc), analysis.warnings)
        if check_matches and result.status == "new":
            try:
                check_new_item(conn, result, analysis, by, plan)
            except (ProvError, OSError, sqlite3.OperationalError) as exc:
                result.warnings.append(f"registered, but near-duplicates not checked: {exc}")
        results.append(result)
        if progress:
            progress(result)
        if archive and result.status != "error":
            results.extend(register_archive_contents(conn, analysis.real_path, result, sighting,
                                                     by=by, copy=copy))
    return results


def register_archive_contents(conn: sqlite3.Connection, path: str, archive: AddResult,
                              sighting: Sighting, *, by: str, copy: bool = True
                              ) -> list[AddResult]:
    """A WACZ/WARC's media records as items, each sighted at its record's URL and date."""
    try:
        signature = warc_in.wacz_signature(path) if path.lower().endswith(".wacz") else None
    except ProvError as exc:
        return [AddResult(archive.path, "error", archive.sha256, archive.kind,
                          f"registered as an archive, but its contents cannot be read: {exc}")]
    if signature is not None:
        archive.warnings.append(f"WACZ signature: {signature['state']}; {signature['detail']}")
    problems: list[str] = []
    out: list[AddResult] = []
    for rec in warc_in.media_records(path, problems):
        analysis = analyse(rec.path)
        analysis.path = f"{archive.path}#{rec.url}"
        origin = {**rec.origin, "archive": archive.sha256}
        if signature is not None:
            origin["wacz_signature"] = signature["state"]
        seen = Sighting(case=sighting.case, source_url=rec.url, title=sighting.title,
                        note=sighting.note, seen_at=rec.date, origin=origin, path="")
        try:
            out.append(register(conn, analysis, seen, by=by, copy=copy))
        except (ProvError, OSError, sqlite3.OperationalError) as exc:
            out.append(AddResult(analysis.path, "error", analysis.sha256, None,
                                 _not_registered(exc)))
        finally:
            discard(analysis)
    out.extend(AddResult(f"{archive.path}#{p.split(':')[0]}", "error", error=p)
               for p in problems)
    return out


def _not_registered(exc: Exception) -> str:
    if isinstance(exc, ProvError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"not registered: cannot write the evidence store ({exc.strerror or exc})"
    return f"not registered: database: {exc}"


# New items are checked against the nearest few stored items with keypoints too (the crop
# stage); `prov match`, run by a person waiting for one answer, looks wider (8). Measured
# (bench/README-hashing.md): 8 lifts 20%-off-centre crops from 0.905 to 0.937 recall but
# costs `prov add` 40% of its throughput on 12 MP photos, so a batch uses 4.
ADD_CROP_CANDIDATES = 4


def check_new_item(
    conn: sqlite3.Connection, result: AddResult, analysis: Analysis, by: str,
    plan: reading.Plan | None = None,
) -> None:
    """After a new item is registered: find what it re-uploads, record each relation (and
    any text read to decide one: pagematch.read_for_links)."""
    if result.status != "new" or result.sha256 is None or not analysis.hashes:
        return
    recorded = len(analysis.readings)
    found = find_reuploads(conn, result.sha256, analysis, plan)
    late = analysis.readings[recorded:]
    if found or late:
        with transaction(conn):
            for got in late:  # the text read off its page to decide a link
                log.record(conn, got["type"], got["data"], by=by, item=result.sha256)
            record_reuploads(conn, result.sha256, found, by)
    result.matches, result.withdrawn_left_out = shown_matches(conn, found)


def _original_bytes(conn: sqlite3.Connection, sha: str) -> bytes | None:
    """The item's bytes from a copy that still hashes to it, or None."""
    path = evidence.EvidenceStore.beside(conn).locate_original(conn, sha)
    try:
        return None if path is None else path.read_bytes()
    except OSError:
        return None


def find_reuploads(conn: sqlite3.Connection, sha: str, analysis: Analysis,
                   plan: reading.Plan | None = None) -> list[dict[str, Any]]:
    """What the analysed item `sha` re-uploads or resembles among the held items (its
    keypoints are put in the derived caches first). Text read to decide a link to a held
    page is added to `analysis.readings`, for the caller to record."""
    if keyframes.is_packed(analysis.features):
        assert analysis.features is not None
        keyframes.put(store_dir(db_path_of(conn)), sha, analysis.features)
    elif analysis.features:
        put_features(store_dir(db_path_of(conn)), sha, analysis.features)
    cat = catalogue(conn)
    matches = find_for(cat, analysis, exclude=sha, crop_candidates=ADD_CROP_CANDIDATES)
    linked = [match_json(cat, m) for m in matches]
    extra, unread = pagematch.read_for_links(conn, analysis.kind, analysis.readings, linked,
                                             plan, lambda: _original_bytes(conn, sha))
    analysis.readings = analysis.readings + extra
    found = pagematch.check(conn, analysis.kind, analysis.readings, linked, exclude=sha,
                            text_unread=analysis.ocr_missing or unread)
    return pagewords.check(conn, analysis.kind, analysis.readings, found)


def record_reuploads(conn: sqlite3.Connection, sha: str, found: list[dict[str, Any]],
                     by: str) -> None:
    """One near_duplicate.found event per relation (inside the caller's transaction)."""
    for m in found:
        detail = dict(m["detail"])
        for key in ("frame_seconds", "page"):
            if key in m:
                detail[key] = m[key]
        log.record(conn, "near_duplicate.found", {
            "other": m["sha256"], "algorithm": m["algorithm"], "distance": m["distance"],
            "verdict": m["verdict"], "detail": detail,
        }, by=by, item=sha)


def shown_matches(conn: sqlite3.Connection, found: list[dict[str, Any]]
                  ) -> tuple[list[dict[str, Any]], int]:
    """The relations to show, and how many were left out as withdrawn items'."""
    from provenance.case.retracted import withdrawn_items

    withdrawn = withdrawn_items(conn)
    shown = [m for m in found if m["sha256"] not in withdrawn]
    return shown, len(found) - len(shown)
