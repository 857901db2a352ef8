"""HTTP/1.1 chunked transfer coding (RFC 9112 7.1), read strictly.

`prov capture` keeps a chunked response in its WARC record as it came over the wire and
reads the payload out of the framing itself (http.client would hand over the payload alone);
`prov add` of an archive reads such a record's payload the same way (warcio's reader falls
back to the raw bytes at a trailer, or at anything it cannot parse).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

CHUNK = 1 << 20
# A chunk-size line (RFC 9112 7.1): hex digits, then perhaps ";" and extensions. Lines and
# the trailer are bounded as http.client bounds them; a size past 2^60 is nobody's body.
_MAX_LINE = 65536
_MAX_TRAILER = 100
_HEX = frozenset(b"0123456789abcdefABCDEF")
CUT_SHORT = "the connection closed before the last chunk of a chunked body (cut short)"


class ChunkError(Exception):
    """Chunked framing that is malformed or ends before its last chunk (the reason)."""


def dechunk(fp: Any, on_wire: Callable[[bytes], None] | None = None) -> Iterator[bytes]:
    """The payload of a chunked body read from `fp` (a connection, a WARC record's block),
    in pieces of at most CHUNK; every byte read (sizes, extensions, data, line ends,
    trailer) goes to `on_wire` first. Raises ChunkError on framing that is malformed or
    ends before the last chunk: a body cut short must not pass for the file."""

    def line() -> bytes:
        text = fp.readline(_MAX_LINE + 1)
        if len(text) > _MAX_LINE:
            raise ChunkError("malformed chunked body: a line over 64 KiB")
        if not text.endswith(b"\n"):
            raise ChunkError(CUT_SHORT)
        if on_wire:
            on_wire(text)
        return bytes(text)

    while True:
        size_text = line().split(b";", 1)[0].strip(b" \t\r\n")
        if not size_text or len(size_text) > 15 or not set(size_text) <= _HEX:
            raise ChunkError(f"malformed chunked body: chunk size {size_text[:20]!r} is not a"
                             " hexadecimal number")
        left = int(size_text, 16)
        if left == 0:
            break
        while left:
            data = fp.read(min(CHUNK, left))
            if not data:
                raise ChunkError(CUT_SHORT)
            if on_wire:
                on_wire(data)
            left -= len(data)
            yield data
        end = fp.read(2)
        if on_wire:
            on_wire(end)
        if len(end) < 2:
            raise ChunkError(CUT_SHORT)
        if end != b"\r\n":
            raise ChunkError("malformed chunked body: a chunk is longer than its size says")
    for _ in range(_MAX_TRAILER):  # the trailer, up to its empty line
        if line() in (b"\r\n", b"\n"):
            return
    raise ChunkError(f"malformed chunked body: a trailer of over {_MAX_TRAILER} lines")
