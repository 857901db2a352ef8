"""The content-addressed, read-only store of originals that sits beside the database."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from provenance.errors import BadInput
from provenance.ledger.db import db_path_of, store_dir

CHUNK = 1 << 20


@dataclass(frozen=True)
class EvidenceStore:
    root: Path

    @classmethod
    def beside(cls, conn: sqlite3.Connection) -> EvidenceStore:
        return cls(store_dir(db_path_of(conn)))

    @property
    def staging(self) -> Path:
        """Where workers write copies while hashing; adopted under their hash on commit."""
        return self.root / "sha256" / "incoming"

    def adopt(self, staged: str, sha256: str) -> Path:
        """Make a staged copy (written from the hashed bytes) the stored original."""
        target = self.path_of(sha256)
        if target.exists() and sha256_file(target) == sha256:
            os.unlink(staged)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(staged, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        if target.exists():
            os.chmod(target, stat.S_IRUSR | stat.S_IWUSR)
        os.replace(staged, target)
        return target

    def sweep_staging(self, older_than_seconds: float = 86_400) -> int:
        """Remove staged copies a killed process left behind; return how many.

        Only old ones: a staged file this young may belong to another `prov add` still
        running. They are never evidence (nothing names them), just disk space.
        """
        import time

        removed = 0
        if not self.staging.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        for path in self.staging.glob(".incoming-*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
        return removed

    def path_of(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    def copies(self, conn: sqlite3.Connection, sha256: str) -> Iterator[Path]:
        """Where an item's bytes may be: its stored original (if it was copied), then every
        sighted path that is still a file. Nothing here is re-hashed: see locate_original."""
        row = conn.execute("SELECT stored FROM items WHERE sha256 = ?", (sha256,)).fetchone()
        if row is not None and row["stored"]:
            yield self.path_of(sha256)
        for (path,) in conn.execute(
                "SELECT path FROM sightings WHERE item = ? AND path IS NOT NULL ORDER BY id",
                (sha256,)):
            if os.path.isfile(path):
                yield Path(path)

    def locate_original(self, conn: sqlite3.Connection, sha256: str) -> Path | None:
        """The first reachable copy whose SHA-256 is the item's, else None.

        A referenced (--no-copy) file may have been replaced since it was registered: only
        bytes that hash to the item are ever read as the item.
        """
        for path in self.copies(conn, sha256):
            if path.is_file() and sha256_file(path) == sha256:
                return path
        return None

    def put(self, source: str, sha256: str) -> Path:
        """Copy `source` in under its hash, checking the bytes copied are the bytes analysed."""
        target = self.path_of(sha256)
        if target.exists() and sha256_file(target) == sha256:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256:
                raise BadInput(
                    source, "the file changed while it was being registered; add it again"
                )
            os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            if target.exists():
                # A damaged copy: replacing a read-only file needs write access to the folder only.
                os.chmod(target, stat.S_IRUSR | stat.S_IWUSR)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return target


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


