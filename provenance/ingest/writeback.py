"""Starting the disk writes of a file while it is still being written (Linux), so the fsync
that secures it at the end has little left to wait for."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any

# Ask for writeback once this many bytes are waiting: large writes, started early.
STEP = 16 << 20
_SYNC_FILE_RANGE_WRITE = 2


def _libc_call() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        call = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


_SYNC_FILE_RANGE = _libc_call()


class Writeback:
    """Tell the kernel to start writing what was appended to `fd`, every STEP bytes. Only a
    hint (it returns at once and waits for nothing): the caller's fsync still decides."""

    def __init__(self, fd: int) -> None:
        self.fd, self.written, self.started = fd, 0, 0

    def wrote(self, n: int) -> None:
        self.written += n
        if _SYNC_FILE_RANGE is not None and self.written - self.started >= STEP:
            # A failure is harmless (the fsync at the end writes everything): not checked.
            _SYNC_FILE_RANGE(self.fd, self.started, self.written - self.started,
                             _SYNC_FILE_RANGE_WRITE)
            self.started = self.written
