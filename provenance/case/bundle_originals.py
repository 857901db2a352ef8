"""A bundle's originals: read once, checked against the manifest, staged for the store."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from typing import IO

from provenance.case.bundle_read import CHUNK, Bundle, BundledItem, malformed_as_refusal, refuse
from provenance.ledger.evidence import EvidenceStore

# Originals are written as declared (and signed); the disk must hold them with room to spare.
SPARE_BYTES = 64 << 20


def stage_originals(bundle: Bundle, store: EvidenceStore, keep: set[str]) -> dict[str, str]:
    """Read every original in the bundle, checking its size, SHA-256 and MD5 against the
    manifest; copy those in `keep` into the store's staging folder as they are read.

    Returns SHA-256 -> staged file. Either every original checks and the wanted ones are
    staged, or nothing is left behind and the bundle is refused.
    """
    subject = bundle.subject
    wanted = [it for it in bundle.items.values() if it.member and it.sha256 in keep]
    _check_space(store, sum(it.size for it in wanted), subject)
    staged: dict[str, str] = {}
    try:
        with malformed_as_refusal(subject):
            for item in bundle.items.values():
                if item.member is None:
                    continue
                target = None
                if item.sha256 in keep:
                    store.staging.mkdir(parents=True, exist_ok=True)
                    fd, target = tempfile.mkstemp(dir=store.staging, prefix=".incoming-")
                    staged[item.sha256] = target
                    with os.fdopen(fd, "wb") as out:
                        _copy_checked(bundle, item, out)
                        out.flush()
                        os.fsync(out.fileno())
                else:
                    _copy_checked(bundle, item, None)
    except BaseException:
        discard(staged.values())
        raise
    return staged


def _copy_checked(bundle: Bundle, item: BundledItem, out: IO[bytes] | None) -> None:
    assert item.member is not None
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with bundle.zf.open(item.member) as src:
        while chunk := src.read(CHUNK):
            size += len(chunk)
            if size > item.size:
                break
            sha.update(chunk)
            md5.update(chunk)
            if out is not None:
                out.write(chunk)
    if size != item.size:
        raise refuse(bundle.subject, f"original {item.sha256} is not the {item.size:,} bytes"
                     " the manifest declares")
    if sha.hexdigest() != item.sha256:
        raise refuse(bundle.subject, f"hash mismatch for {item.member} (the original was"
                     " altered after bundling)")
    if md5.hexdigest() != item.md5:
        raise refuse(bundle.subject, f"the MD5 of {item.member} is not the manifest's")


def _check_space(store: EvidenceStore, needed: int, subject: str) -> None:
    where = store.root
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    if needed + SPARE_BYTES > free:
        raise refuse(subject, f"its originals need {needed:,} bytes and {where} has"
                     f" {free:,} free")


def discard(paths: Iterable[str | os.PathLike[str]]) -> None:
    """Remove staged copies that will not be kept."""
    for path in list(paths):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
