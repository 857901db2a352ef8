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
        if self.intact(sha256):
            os.unlink(staged)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        self._mark_pending(sha256)
        os.chmod(staged, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        if target.exists() and not target.is_symlink():
            os.chmod(target, stat.S_IRUSR | stat.S_IWUSR)
        os.replace(staged, target)  # replaces a link itself, never what it points at
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

    def intact(self, sha256: str) -> bool:
        """The stored original is a regular file (not a link) holding exactly its bytes."""
        path = self.path_of(sha256)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return False
        except FileNotFoundError:
            return False
        return sha256_file(path) == sha256

    def damage(self, sha256: str, size: int) -> str | None:
        """What is wrong with a stored original, in a few words, or None when it is whole."""
        path = self.path_of(sha256)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return "missing"
        if not stat.S_ISREG(info.st_mode):
            kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
            return f"{kind}, not the stored bytes"
        if sha256_file(path) != sha256:
            return "modified"
        if info.st_size != size:  # its own bytes, but not what its registration declared
            return f"{info.st_size} bytes, registered as {size}"
        return None

    def _pending(self, sha256: str) -> Path:
        return self.staging / f".pending-{sha256}"

    def _mark_pending(self, sha256: str) -> None:
        """Say, before an original lands in the store, that a registration is under way.

        The original goes in before the transaction naming it commits (so a committed item
        always has its bytes); if that transaction never commits, this marker tells verify
        the unnamed original is an interrupted registration, not an item lost from the log.
        """
        self.staging.mkdir(parents=True, exist_ok=True)
        self._pending(sha256).touch()

    def settle(self, sha256: str) -> None:
        """The registration naming this original committed: its marker is no longer needed."""
        self._pending(sha256).unlink(missing_ok=True)

    def is_pending(self, sha256: str) -> bool:
        return self._pending(sha256).exists()

    def entries(self) -> Iterator[Path]:
        """Every entry where originals live (sha256/xx/yy/NAME), staging left out."""
        top = self.root / "sha256"
        if not top.is_dir():
            return
        for first in sorted(top.iterdir()):
            if first == self.staging:
                continue
            if not first.is_dir() or first.is_symlink():
                yield first
                continue
            for second in sorted(first.iterdir()):
                if not second.is_dir() or second.is_symlink():
                    yield second
                    continue
                yield from sorted(second.iterdir())

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
        if self.intact(sha256):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        self._mark_pending(sha256)
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
            if target.exists() and not target.is_symlink():
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


@dataclass
class StoreCheck:
    checked: int
    problems: list[str]
    warnings: list[str]
    unnamed: list[Path]  # entries no item of the snapshot names: see `unnamed_problems`


def check_store(conn: sqlite3.Connection) -> StoreCheck:
    """Every stored original: there, a regular file, of the registered size, its own hash;
    referenced (--no-copy) originals where still reachable; entries no item names."""
    store = EvidenceStore.beside(conn)
    result = StoreCheck(0, [], [], [])
    named: set[str] = set()
    rows = conn.execute(
        "SELECT sha256, stored, size FROM items ORDER BY registered_event").fetchall()
    for row in rows:
        sha = row["sha256"]
        if row["stored"]:
            named.add(sha)
            result.checked += 1
            damage = store.damage(sha, int(row["size"]))
            if damage == "missing":
                result.problems.append(
                    f"stored original {sha} is missing from {store.path_of(sha)}")
            elif damage == "modified":
                result.problems.append(
                    f"stored original {sha} has been modified ({store.path_of(sha)})")
            elif damage:
                result.problems.append(
                    f"stored original {sha} is {damage} ({store.path_of(sha)})")
            continue
        # --no-copy items: check the sighted paths that are still reachable.
        reachable = list(store.copies(conn, sha))
        if not reachable:
            result.warnings.append(
                f"item {sha[:12]} was referenced, not copied; no copy is reachable")
        for p in reachable:
            result.checked += 1
            if sha256_file(p) != sha:
                result.problems.append(
                    f"referenced original {p} no longer matches item {sha[:12]}")
    result.unnamed = [p for p in store.entries() if p.name not in named]
    return result


def unnamed_problems(conn: sqlite3.Connection, unnamed: list[Path]
                     ) -> tuple[list[str], list[str]]:
    """Judge entries no item named at verify's snapshot, against the log as it is now.

    Run after the snapshot ends: a `prov add` that committed meanwhile names its original
    now. One still unnamed is a registration under way or interrupted when its marker says
    so (a warning); otherwise nothing explains it, as when committed items were lost from
    the database, and it is a problem.
    """
    store = EvidenceStore.beside(conn)
    problems: list[str] = []
    warnings: list[str] = []
    for path in unnamed:
        row = conn.execute(
            "SELECT stored FROM items WHERE sha256 = ?", (path.name,)).fetchone()
        if row is not None and row["stored"]:
            continue
        if store.is_pending(path.name):
            warnings.append(
                f"{path}: an original whose registration is under way or was interrupted;"
                " add the file again to register it")
        else:
            problems.append(
                f"{path}: in the evidence store but no item names it (items lost from the"
                " database, or a file put there by hand)")
    return problems, warnings
