"""The content-addressed, read-only store of originals that sits beside the database."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BadInput
from .store import db_path_of, store_dir

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
        if target.exists() and hash_file(target) == sha256:
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

    def put(self, source: str, sha256: str) -> Path:
        """Copy `source` in under its hash, checking the bytes copied are the bytes analysed."""
        target = self.path_of(sha256)
        if target.exists() and hash_file(target) == sha256:
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


def hash_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def features_path(root: Path, sha256: str) -> Path:
    """Keypoints of an item's picture: a derived cache, rebuilt from the original if lost."""
    return root / "features" / sha256[:2] / f"{sha256}.npz"


def save_derived(target: Path, **arrays: Any) -> None:
    """Write a derived cache file (numpy arrays) beside the store: whole, then renamed, once."""
    import numpy as np

    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-", suffix=".npz")
    with os.fdopen(fd, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, target)


def save_derived_folder(folder: Path, fill: Callable[[Path], None]) -> bool:
    """Write a derived cache folder: `fill` writes into a fresh folder, which is then swapped
    in whole, so a reader never sees half of it. False if the store cannot be written (a
    read-only store still works; its caches are rebuilt in memory each time)."""
    import shutil

    tmp: Path | None = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".incoming-"))
        fill(tmp)
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except OSError:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        return False
    return True


def put_features(root: Path, sha256: str, features: dict[str, Any]) -> None:
    import numpy as np

    count = int(features["count"])
    save_derived(
        features_path(root, sha256),
        points=np.frombuffer(features["points"], np.float32).reshape(count, 2),
        descriptors=np.frombuffer(features["descriptors"], np.uint8).reshape(count, 32),
    )


def load_features(root: Path, sha256: str) -> Any:
    """The item's LocalFeatures, or None when no keypoints were cached for it."""
    import numpy as np

    from .localmatch import LocalFeatures

    path = features_path(root, sha256)
    try:
        with np.load(path) as data:
            return LocalFeatures(data["points"], data["descriptors"])
    except (OSError, ValueError, KeyError):
        return None
