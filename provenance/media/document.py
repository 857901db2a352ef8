"""Document extraction (PDF, read through PDFium): metadata, and pages rendered for hashing.

Encrypted PDFs: a file that needs a password still yields metadata (`encrypted` and
`needs_password` true, page count if the structure is readable, other fields None since the
info dictionary is itself encrypted), so it can be registered and preserved; its bytes are
evidence whether or not prov can read them. Only `render_pages` refuses it, so the item gets
no page hashes and the caller can say why. A PDF with only an owner password (printing or
copying restrictions) opens without one and is rendered like any other.

The PDF library (pypdfium2) is behind media/pdfrender.py and imported inside its functions,
so that `prov --help` stays instant.
"""

from __future__ import annotations

import os
import pickle
import re
import select
import signal
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from provenance.errors import BadInput
from provenance.media import pdfrender

if TYPE_CHECKING:
    from PIL.Image import Image


Source = str | Path | bytes

ENCRYPTED = pdfrender.ENCRYPTED

# D:YYYYMMDDHHmmSSOHH'mm' with every part after the year optional (PDF 1.7, 7.9.4).
_PDF_DATE = re.compile(
    r"^(?:D:)?(?P<Y>\d{4})(?P<m>\d{2})?(?P<d>\d{2})?(?P<H>\d{2})?(?P<M>\d{2})?(?P<S>\d{2})?"
    r"(?P<tz>[Zz+-])?(?:(?P<oh>\d{2})'?(?:(?P<om>\d{2})'?)?)?\s*$"
)


def document_metadata(source: Source, *, password: str | None = None) -> dict[str, Any]:
    """Page count, producer, creator, author, title, dates (ISO 8601) and raw metadata.

    Dates keep the precision the file gives: "2024", "2024-10", "2024-10-17", or a full
    timestamp, with its offset when recorded. Raises BadInput for a file that cannot be opened.
    """
    read = pdfrender.metadata(source, password)
    raw = {_INFO_KEYS.get(k, k): v for k, v in read["info"].items()}
    if read["encrypted"] and not read["needs_password"]:
        raw["encryption"] = "standard security handler"
    return {
        "page_count": read["page_count"],
        "format": read["format"],
        "producer": raw.get("producer"),
        "creator": raw.get("creator"),
        "author": raw.get("author"),
        "title": raw.get("title"),
        "subject": raw.get("subject"),
        "created_at": parse_pdf_date(raw.get("creationDate")),
        "modified_at": parse_pdf_date(raw.get("modDate")),
        "encrypted": read["encrypted"],
        "needs_password": read["needs_password"],
        # The cross-reference table was broken and is rebuilt on reading: pages may be
        # missing or partial.
        "repaired": read["repaired"],
        "raw": raw,
    }


# The info dictionary's keys under the names prov's records have always used.
_INFO_KEYS = {"Title": "title", "Author": "author", "Subject": "subject", "Keywords": "keywords",
              "Creator": "creator", "Producer": "producer", "CreationDate": "creationDate",
              "ModDate": "modDate", "Trapped": "trapped"}


# Wall-clock seconds one document's pages may take to render. A page's cost is the drawing
# its content describes, not the file's size: measured on the shared 2-core test machine, a
# 3-page PDF of 4 KB whose pages share one 1 MB stream of 36,000 long strokes took 85-107 s a
# page, so the hostile PDF of issue 13 (110 KB, 200 pages sharing a 30 MB stream) would take
# days. An ordinary page renders at 512 px in about 0.16 s there (the 20-page questionnaire
# fixture: 3.1 s), so 200 fit in the budget.
RENDER_SECONDS = 60.0
# And one page may take this long: a hostile page is given up after seconds, not a minute.
PAGE_SECONDS = 10.0


class RenderBudget(BadInput):
    """Rendering a document's pages took longer than RENDER_SECONDS; the rest were not."""

    def __init__(self, subject: str, reason: str, pages_done: int) -> None:
        super().__init__(subject, reason)
        self.pages_done = pages_done


def render_pages(
    source: Source, *, max_side: int = 512, password: str | None = None,
    seconds: float | None = None, only: frozenset[int] | None = None,
) -> Iterator[tuple[int, Image]]:
    """Yield (page number from 1, RGB image) for every page, longer side `max_side` px.

    Rendering to a fixed pixel size, not a DPI, makes an A4 scan and a letter-size original
    of the same page comparable. Raises BadInput if the document is encrypted or a page
    cannot be rendered, and RenderBudget (after the pages done in time) when rendering takes
    longer than `seconds` (RENDER_SECONDS) in all or PAGE_SECONDS for one page: PDFium cannot
    be interrupted inside a page, so pages are rendered in a child process, killed at the
    deadline.
    """
    from PIL import Image as PILImage

    budget = RENDER_SECONDS if seconds is None else seconds
    if not hasattr(os, "fork"):
        for number, width, height, samples in _render(source, max_side, password, only):
            yield number, PILImage.frombytes("RGB", (width, height), samples)
        return
    subject = _subject(source)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: render, send each page, never return into the caller's code
        os.close(read_fd)
        _child(source, max_side, password, write_fd, only)
    os.close(write_fd)
    deadline = time.monotonic() + budget
    done = 0
    try:
        while True:
            page_deadline = time.monotonic() + PAGE_SECONDS
            message = _receive(read_fd, min(deadline, page_deadline))
            if message is None:
                what = (f"page {done + 1} took longer than {PAGE_SECONDS:g} s"
                        if page_deadline < deadline else
                        f"its pages took longer than {budget:g} s")
                raise RenderBudget(
                    subject, f"{what} to render (drawing too complex); {done} page(s) hashed",
                    done)
            if message[0] == "end":
                return
            if message[0] == "error":
                raise BadInput(subject, message[1])
            _, number, width, height, samples = message
            done = number
            yield number, PILImage.frombytes("RGB", (width, height), samples)
    finally:
        os.close(read_fd)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)


def _render(
    source: Source, max_side: int, password: str | None, only: frozenset[int] | None = None
) -> Iterator[tuple[int, int, int, bytes]]:
    return pdfrender.render(source, max_side, password, only=only)


def _child(source: Source, max_side: int, password: str | None, fd: int,
           only: frozenset[int] | None = None) -> NoReturn:
    """Render in the forked child and send each page down the pipe; end without cleanup."""
    code = 0
    try:
        if sys.platform.startswith("linux"):  # die with the parent, as pool workers do
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        try:
            for page in _render(source, max_side, password, only):
                _send(fd, ("page", *page))
            _send(fd, ("end",))
        except BadInput as exc:
            _send(fd, ("error", exc.reason))
        except Exception as exc:  # noqa: BLE001 - reported to the parent as this file's reason
            _send(fd, ("error", f"cannot be rendered: {type(exc).__name__}: {exc}"))
    except BaseException:  # noqa: BLE001 - the parent went away; nothing to tell
        code = 1
    finally:
        os._exit(code)


def _send(fd: int, message: tuple[Any, ...]) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(struct.pack("<Q", len(body)) + body)
    while view:
        view = view[os.write(fd, view):]


def _receive(fd: int, deadline: float) -> tuple[Any, ...] | None:
    """The child's next message, or None if the deadline passes first."""
    head = _read_exact(fd, 8, deadline)
    if head is None:
        return None
    if len(head) < 8:
        return ("error", "the page renderer stopped unexpectedly")
    body = _read_exact(fd, struct.unpack("<Q", head)[0], deadline)
    if body is None:
        return None
    return tuple(pickle.loads(body))


def readable(fd: int, seconds: float) -> bool:
    """Whether `fd` has something to read within `seconds`. poll, not select: select refuses
    a descriptor numbered 1024 or more, which a process holding many files (memory-mapped
    index shards, a long test run) reaches."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(max(0, int(seconds * 1000) + 1)))


def _read_exact(fd: int, size: int, deadline: float) -> bytes | None:
    chunks: list[bytes] = []
    left = size
    while left:
        wait = deadline - time.monotonic()
        if wait <= 0 or not readable(fd, wait):
            return None
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def parse_pdf_date(text: str | None) -> str | None:
    """A PDF date ("D:20241017093000+09'00'") as ISO 8601 at the precision given, else None."""
    if not text:
        return None
    m = _PDF_DATE.match(text.strip())
    if not m:
        return None
    parts = [m["Y"], m["m"], m["d"]]
    date = "-".join(p for p in parts if p)
    if not (m["m"] and m["d"] and m["H"]):
        if m["d"] is None and m["H"]:
            return None  # an hour without a day is not a date
        return date
    stamp = f"{date}T{m['H']}:{m['M'] or '00'}:{m['S'] or '00'}"
    if m["tz"] in ("Z", "z"):
        stamp += "+00:00"
    elif m["tz"] in ("+", "-"):
        stamp += f"{m['tz']}{m['oh'] or '00'}:{m['om'] or '00'}"
    from datetime import datetime

    try:
        datetime.fromisoformat(stamp)  # rejects month 13, hour 25 and the like
    except ValueError:
        return None
    return stamp


def _subject(source: Source) -> str:
    return pdfrender.subject(source)
