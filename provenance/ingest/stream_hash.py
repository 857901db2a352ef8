"""Digests of a stream of chunks, each computed by its own thread beside the writer."""

from __future__ import annotations

import hashlib
import queue
import threading
from typing import Any


class StreamHasher:
    """SHA-256, MD5 … of the chunks fed, in the order fed, one thread per digest.

    hashlib lets go of the GIL on large buffers, so the digests are taken while the
    caller goes on reading and writing, on another core; the bytes are never read back
    to hash them. MD5 is the slowest (~300 MB/s here): inline it would set the pace."""

    def __init__(self, *names: str) -> None:
        self._digests = [hashlib.new(n, usedforsecurity=n != "md5") for n in names]
        self._queues: list[queue.Queue[bytes | None]] = []
        self._threads: list[threading.Thread] = []
        self._finished: list[str] | None = None
        for digest in self._digests:
            q: queue.Queue[bytes | None] = queue.Queue(maxsize=64)
            t = threading.Thread(target=self._run, args=(q, digest), name="stream-hash",
                                 daemon=True)
            t.start()
            self._queues.append(q)
            self._threads.append(t)

    @staticmethod
    def _run(q: queue.Queue[bytes | None], digest: Any) -> None:
        while (chunk := q.get()) is not None:
            digest.update(chunk)

    def feed(self, chunk: bytes) -> None:
        """`chunk` must not change afterwards (bytes, not a reused bytearray)."""
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
