"""`prov get`: an original written back out, re-hashed on the way."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from provenance.errors import BadInput, UsageProblem

CHUNK = 1 << 20
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass
class Written:
    path: Path
    sha256: str
    size: int
    source: Path


def file_name_for(conn: sqlite3.Connection, sha256: str, mime: str) -> str:
    """The first recorded file name (its last path part, control characters replaced), else
    SHA.ext from the MIME type."""
    row = conn.execute("SELECT file_name, file_name_hex FROM sightings WHERE item = ?"
                       " ORDER BY id LIMIT 1", (sha256,)).fetchone()
    name = row["file_name"] if row and not row["file_name_hex"] else None
    if name:
        name = _UNSAFE.sub("_", os.path.basename(name)).strip()
        if name and name not in (".", ".."):
            return name
    ext = mimetypes.guess_extension(mime or "") or ".bin"
    return sha256 + ext


def write_original(conn: sqlite3.Connection, sha256: str, out_dir: Path) -> Written:
    """Copy the item's original into `out_dir`, hashing the bytes as they are written; a
    copy whose SHA-256 is not the item's is removed and refused. An existing file is never
    overwritten."""
    from provenance.ledger.evidence import EvidenceStore

    if out_dir.exists() and not out_dir.is_dir():
        raise UsageProblem(f"--out {out_dir} is a file: give a folder")
    item = conn.execute("SELECT mime, size FROM items WHERE sha256 = ?", (sha256,)).fetchone()
    source = EvidenceStore.beside(conn).locate_original(conn, sha256)
    if source is None:
        raise BadInput(sha256[:12], "no copy of the original is reachable (not in the store,"
                       " and no referenced file has its bytes): `prov verify` says why")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / file_name_for(conn, sha256, item["mime"])
    if target.exists() or target.is_symlink():
        raise UsageProblem(f"{target} already exists: choose another --out folder (prov never"
                           " overwrites a file)")
    digest = hashlib.sha256()
    size = 0
    try:
        out = open(target, "xb")  # noqa: SIM115 - closed below; never replaces a file
    except FileExistsError:
        raise UsageProblem(f"{target} already exists: choose another --out folder") from None
    try:
        with open(source, "rb") as src, out:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise BadInput(str(target), f"the bytes read from {source} hash to"
                           f" {digest.hexdigest()[:16]}…, not to the item: nothing written")
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return Written(target, sha256, size, source)
