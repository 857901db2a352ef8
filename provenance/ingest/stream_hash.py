"""Digests of a stream of chunks, each computed by its own thread beside the writer."""

from __future__ import annotations

import hashlib
import mmap
import os
import queue
import threading
from collections.abc import Iterator
from typing import Any

BLOCK = 1 << 20


class StreamHasher:
    """SHA-256, MD5 … of the chunks fed, in the order fed, one thread per digest.

    hashlib lets go of the GIL on large buffers, so the digests are taken while the
    caller goes on reading and writing, on another core; the bytes are never read back
    to hash them. MD5 is the slowest (~300 MB/s here): inline it would set the pace."""

    def __init__(self, *names: str) -> None:
        self._digests = [hashlib.new(n, usedforsecurity=n != "md5") for n in names]
        self._queues: list[queue.Queue[bytes | memoryview | None]] = []
        self._threads: list[threading.Thread] = []
        self._finished: list[str] | None = None
        for digest in self._digests:
            q: queue.Queue[bytes | memoryview | None] = queue.Queue(maxsize=64)
            t = threading.Thread(target=self._run, args=(q, digest), name="stream-hash",
                                 daemon=True)
            t.start()
            self._queues.append(q)
            self._threads.append(t)

    @staticmethod
    def _run(q: queue.Queue[bytes | memoryview | None], digest: Any) -> None:
        while (chunk := q.get()) is not None:
            digest.update(chunk)

    def feed(self, chunk: bytes | memoryview) -> None:
        """`chunk` must not change afterwards (bytes or a read-only view, not a reused
        bytearray)."""
        if self._finished is not None:
            raise RuntimeError("StreamHasher fed after finish()")
        for q in self._queues:
            q.put(chunk)

    def finish(self) -> list[str]:
        """The hex digests, in the order named; the threads end. Safe to call twice."""
        if self._finished is None:
            for q in self._queues:
                q.put(None)
            for t in self._threads:
                t.join()
            self._finished = [d.hexdigest() for d in self._digests]
        return self._finished


def file_views(path: str) -> Iterator[memoryview]:
    """A file this process wrote and will not change again, as read-only views of its pages,
    BLOCK bytes each: read without a copy, and immutable, so hashing threads may hold them
    (the mapping goes when the last view is released)."""
    if os.path.getsize(path) == 0:
        return
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    whole = memoryview(mapped)
    for at in range(0, len(whole), BLOCK):
        yield whole[at:at + BLOCK]


def hash_file(path: str, *names: str) -> tuple[list[str], int]:
    """The named digests of a file (one thread each) and its size."""
    hasher, size = StreamHasher(*names), 0
    try:
        for view in file_views(path):
            hasher.feed(view)
            size += len(view)
    finally:
        digests = hasher.finish()
    return digests, size
