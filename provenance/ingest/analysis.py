"""Analysing files without the database: identity, sniffing, metadata, hashes, a staged copy."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from provenance.errors import BadInput
from provenance.ingest import extract, reading
from provenance.media import sniff

CHUNK = 1 << 20
# Below this many files a process pool costs more than it saves.
POOL_THRESHOLD = 4


@dataclass
class Analysis:
    """Everything learnt from one file without touching the database (picklable)."""

    path: str  # printable
    file_name: str
    real_path: str = ""  # as the OS names it (may hold undecodable bytes)
    staged_copy: str | None = None  # bytes copied into the store's staging folder, unnamed yet
    file_name_hex: str | None = None
    sha256: str | None = None
    md5: str | None = None
    size: int = 0
    mime: str = ""
    kind: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    raw_metadata: dict[str, Any] = field(default_factory=dict)
    hashes: list[dict[str, Any]] = field(default_factory=list)
    query_hashes: list[dict[str, Any]] = field(default_factory=list)
    features: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    readings: list[dict[str, Any]] = field(default_factory=list)  # text read off its pages
    ocr_missing: bool = False
    # Registered with its container's facts only; its perceptual analysis comes later, as an
    # item.analysed event (a capture secures first: ingest/deferred.py).
    deferred: bool = False


def display_name(path: str) -> tuple[str, str | None]:
    """A printable form of a path, and its raw bytes in hex when they are not UTF-8."""
    try:
        path.encode("utf-8")
        return path, None
    except UnicodeEncodeError:
        raw = os.fsencode(path)
        return raw.decode("utf-8", "backslashreplace"), raw.hex()


def expand(paths: Iterable[str]) -> Iterator[tuple[str, str | None]]:
    """Files named, and files under folders named (recursive, hidden skipped, sorted).

    Yields (path, problem): a problem is set for a path that cannot be used.
    """
    for given in paths:
        if not os.path.lexists(given):
            yield given, "no such file or folder"
            continue
        if os.path.isdir(given):
            found: list[str] = []
            for root, dirs, files in os.walk(given, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(
                    os.path.join(root, f) for f in files if not f.startswith(".")
                )
            found.sort(key=os.fsencode)
            for path in found:
                yield path, not_regular(path)
        else:
            yield given, not_regular(given)


def not_regular(path: str) -> str | None:
    """Why a path is not read, or None for a regular file (a link to one counts as one).

    Only regular files are read: a FIFO would block `prov add` for ever, and a link to a
    device such as /dev/zero would be read, and copied into the store, until the disk fills.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "a symbolic link to nothing" if os.path.islink(path) else "no such file"
    except OSError as exc:
        return f"cannot read the file ({exc.strerror or exc})"
    if stat.S_ISREG(info.st_mode):
        return None
    what = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
    via = " (through a symbolic link)" if os.path.islink(path) else ""
    return f"{what}{via}, not a regular file: not read"


_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


# Files up to this size are kept in memory after hashing so an image is read once, not twice.
KEEP_IN_MEMORY = 256 << 20


@dataclass
class _Read:
    sha256: str
    md5: str
    size: int
    head: bytes
    data: bytes | None  # the whole file, when small enough to keep
    staged: str | None  # a copy written into the store's staging folder while reading


def _read(path: str, stage_dir: str | None) -> _Read:
    """One pass over the file: SHA-256, MD5, the first bytes, and (optionally) a staged copy.

    The copy is written from the very bytes that were hashed, so the store can never
    hold anything but the content the item is named after.
    """
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    head = b""
    kept: list[bytes] | None = []
    out = None
    staged = None
    if stage_dir is not None:
        os.makedirs(stage_dir, exist_ok=True)
        fd, staged = tempfile.mkstemp(dir=stage_dir, prefix=".incoming-")
        out = os.fdopen(fd, "wb")
    try:
        # Non-blocking open, then a check on what was opened: a path swapped for a FIFO or a
        # device after `expand` looked at it is refused here, before a byte is read.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise BadInput(path, not_regular(path) or "not a regular file: not read")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as fh:
            while chunk := fh.read(CHUNK):
                if not head:
                    head = chunk[: sniff.SNIFF_BYTES]
                sha.update(chunk)
                md5.update(chunk)
                size += len(chunk)
                if out is not None:
                    out.write(chunk)
                if kept is not None:
                    kept.append(chunk)
                    if size > KEEP_IN_MEMORY:
                        kept = None
        if out is not None:
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        if out is not None:
            out.close()
            os.unlink(staged)  # type: ignore[arg-type]
        raise
    if out is not None:
        out.close()
    data = b"".join(kept) if kept is not None else None
    return _Read(sha.hexdigest(), md5.hexdigest(), size, head, data, staged)


def _known(path: str, sha256: str, md5: str, size: int) -> _Read:
    with open(path, "rb") as fh:
        head = fh.read(sniff.SNIFF_BYTES)
        if os.fstat(fh.fileno()).st_size != size:
            raise BadInput(path, "changed since it was hashed: not registered")
    return _Read(sha256, md5, size, head, None, None)


def discard(analysis: Analysis) -> None:
    """Remove a staged copy that will not be kept (known item, error, --no-copy)."""
    if analysis.staged_copy and os.path.exists(analysis.staged_copy):
        os.unlink(analysis.staged_copy)
    analysis.staged_copy = None


def analyse(path: str, requested_kind: str | None = None, stage_dir: str | None = None,
            plan: reading.Plan | None = None, *,
            hashed: tuple[str, str, int] | None = None, defer: bool = False,
            credentials: bool = True) -> Analysis:
    """Identity, kind, metadata and perceptual hashes of one file. Never raises.

    `hashed` is (SHA-256, MD5, size) already computed on the very bytes written to `path` by
    this process (a capture hashes a download as it writes it): the file is then not read a
    second time just to hash it. Never pass hashes of anything but those bytes.
    With `defer`, a video, audio file or document gets its container's facts only (no
    perceptual hashes; `deferred` set): see ingest/deferred.py. Without `credentials`, the
    file's content credential is not read (`prov match`: no answer of matching depends on it,
    and the C2PA library's import and read were 30-60 ms of each query)."""
    shown, raw_hex = display_name(path)
    result = Analysis(path=shown, file_name=os.path.basename(shown), real_path=path)
    if raw_hex is not None:
        result.file_name_hex = os.fsencode(os.path.basename(path)).hex()
        result.warnings.append("file name is not valid UTF-8; recorded escaped, with its raw bytes")
    try:
        read = _read(path, stage_dir) if hashed is None else _known(path, *hashed)
        result.sha256, result.md5, result.size, head = read.sha256, read.md5, read.size, read.head
        result.staged_copy = read.staged
        if result.size == 0:
            raise BadInput(shown, "empty file (0 bytes); nothing to register")
        result.mime = sniff.sniff_mime(head)
        kind, refusal = sniff.decide_kind(os.path.basename(shown), result.mime, requested_kind)
        result.kind = kind
        if refusal:
            raise BadInput(shown, refusal)
        # Decoders (Pillow above all) warn through the warnings module, which would print
        # their own source lines on stderr: each becomes part of this file's one warning.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if defer and kind in extract.DEFERRED_KINDS:
                extracted = extract.facts(path, kind, result.mime)
                result.deferred = True
            else:
                extracted = extract.extract(path, kind, result.mime, data=read.data, plan=plan,
                                            credentials=credentials)
        result.warnings.extend(decoder_warnings(caught))
        result.metadata = extracted.metadata
        result.raw_metadata = extracted.raw_metadata
        result.hashes = extracted.hashes
        result.query_hashes = extracted.query_hashes
        result.features = extracted.features
        result.readings = extracted.readings
        result.ocr_missing = extracted.ocr_missing
        result.warnings.extend(extracted.warnings)
        if extracted.mime:
            result.mime = extracted.mime
        if extracted.kind:
            result.kind = extracted.kind
    except BadInput as exc:
        result.error = exc.reason
    except PermissionError:
        result.error = "permission denied: cannot read the file"
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            # The staged copy could not be written: the file was readable, the store was not.
            result.error = f"not registered: cannot write the evidence store ({exc.strerror})"
        else:
            result.error = f"cannot read the file ({exc.strerror or exc})"
    if result.error:
        discard(result)
    return result


def decoder_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    """What the decoders warned about one file, as one warning (none if they were quiet)."""
    said = dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught)
    return [f"the decoder warned: {'; '.join(said)}"] if said else []


def analyse_all(
    paths: list[str], requested_kind: str | None, workers: int | None = None,
    stage_dir: str | None = None, plan: reading.Plan | None = None,
) -> Iterator[Analysis]:
    """Analyse files in order, in a process pool when there are enough to pay for it."""
    workers = workers or os.cpu_count() or 1
    if len(paths) < POOL_THRESHOLD or workers < 2:
        for path in paths:
            yield analyse(path, requested_kind, stage_dir, plan)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _preload()
    # fork: workers only read files and compute; they never touch the database. Forked
    # after the heavy libraries are loaded, they share them instead of each importing them.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        kinds = [requested_kind] * len(paths)
        stages = [stage_dir] * len(paths)
        plans = [plan] * len(paths)
        yield from pool.map(analyse, paths, kinds, stages, plans, chunksize=1)


def die_with_parent(parent: int) -> None:
    """Make this pool worker end when the `prov add` that forked it ends, however it ends.

    Killed (SIGKILL, SIGTERM), the parent cannot shut its pool down, and workers blocked on
    their queue would otherwise outlive it for good. Linux delivers a signal on the parent's
    death (PR_SET_PDEATHSIG); elsewhere a thread watches for the worker being orphaned.
    """
    import signal
    import sys

    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was arranged
        os._exit(1)
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="prov-orphan-watch", daemon=True).start()


def _preload() -> None:
    """Import what every worker needs once, in the parent, before forking."""
    import cv2  # noqa: F401
    import exifread  # noqa: F401
    import numpy  # noqa: F401
    import pdqhash  # noqa: F401
    from PIL import Image, ImageOps  # noqa: F401

    from provenance.matching import hashing, localmatch  # noqa: F401
    from provenance.media import exif  # noqa: F401


