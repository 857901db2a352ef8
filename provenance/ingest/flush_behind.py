"""A file written in one pass, sent to disk behind the writer rather than all at the end."""

from __future__ import annotations

import contextlib
import os
import threading

STEP = 32 << 20


class FlushBehind:
    """fdatasync of a growing file every STEP bytes, in a thread of its own.

    Linux starts writing dirty pages back only past a share of memory (gigabytes here), so
    a 200 MB download would otherwise still be all in memory when it ends, and the fsync
    that must come before the capture is recorded would wait for all of it (~0.12 s per
    200 MB on this disk, twice: the stored copy and the WACZ). Synced as it grows, the
    last fsync finds at most STEP bytes left. The writer is never made to wait."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._unsynced = 0
        self._thread: threading.Thread | None = None

    def wrote(self, n: int) -> None:
        self._unsynced += n
        if self._unsynced >= STEP and (self._thread is None or not self._thread.is_alive()):
            self._unsynced = 0
            self._thread = threading.Thread(target=self._sync, name="flush-behind",
                                            daemon=True)
            self._thread.start()

    def _sync(self) -> None:
        with contextlib.suppress(OSError):  # the final fsync, by the owner, reports errors
            os.fdatasync(self.fd)

    def wait(self) -> None:
        """Before the file is closed: no sync may run on a descriptor closed (or reused)."""
        if self._thread is not None:
            self._thread.join()
