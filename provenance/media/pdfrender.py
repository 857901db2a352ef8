"""PDF reading through PDFium (pypdfium2, BSD/Apache): open, metadata, page pictures, text layers.

PDFium replaced PyMuPDF (AGPL, which prov's Apache-2.0 licence cannot carry; PyMuPDF 2.0 also
pulled onnxruntime and networkx into the venv). Page render speed was measured on the same
pages before the switch (bench/pdfrender.py, figures in the README).

pypdfium2 is imported inside the functions so that `prov --help` stays instant.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from provenance.errors import BadInput

Source = str | Path | bytes

ENCRYPTED = "encrypted; prov cannot render it without the password"
ENGINE = "pdfium"

# PDFium's error for a document that needs a password (FPDF_ERR_PASSWORD = 4).
_PASSWORD_ERROR = 4


class Locked(Exception):
    """The document needs a password prov was not given."""


def subject(source: Source) -> str:
    return "<document bytes>" if isinstance(source, bytes) else str(source)


def _data(source: Source) -> bytes:
    if isinstance(source, bytes):
        return source
    path = Path(source)
    if not path.is_file():
        raise BadInput(str(source), "no such file")
    return path.read_bytes()


@contextmanager
def opened(source: Source, password: str | None = None) -> Iterator[Any]:
    """The open PdfDocument; raises Locked (needs a password) or BadInput (unreadable)."""
    import pypdfium2 as pdfium

    data = _data(source)
    if not data:
        raise BadInput(subject(source), "empty file")
    if b"%PDF" not in data[:1024]:
        if data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n":
            raise BadInput(subject(source), "an image, not a document: register it as an image")
        raise BadInput(subject(source), "not a PDF: prov reads documents in PDF only")
    try:
        doc = pdfium.PdfDocument(data, password=password)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == _PASSWORD_ERROR:
            raise Locked() from None
        mended = mend(data)
        try:
            if mended is None:
                raise exc from None
            doc = pdfium.PdfDocument(mended, password=password)
        except pdfium.PdfiumError as again:
            if getattr(again, "err_code", None) == _PASSWORD_ERROR:
                raise Locked() from None
            raise BadInput(subject(source), f"corrupt or unsupported document: {exc}") from None
    try:
        yield doc
    finally:
        doc.close()


def metadata(source: Source, password: str | None = None) -> dict[str, Any]:
    """Page count, version, info dictionary, encryption and repair state of a PDF."""
    import pypdfium2.raw as raw_api

    data = _data(source)
    try:
        with opened(data, password) as doc:
            info = {k: v for k, v in doc.get_metadata_dict().items() if v}
            version = doc.get_version()
            encrypted = raw_api.FPDF_GetSecurityHandlerRevision(doc.raw) != -1
            return {
                "page_count": len(doc),
                "format": f"PDF {version // 10}.{version % 10}" if version else "PDF",
                "info": info,
                "encrypted": encrypted,
                "needs_password": False,
                "repaired": repaired(data),
            }
    except Locked:
        return {"page_count": _declared_pages(data), "format": "PDF", "info": {},
                "encrypted": True, "needs_password": True, "repaired": repaired(data)}
    except BadInput as exc:
        raise BadInput(subject(source), exc.reason) from None


_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")


def repaired(data: bytes) -> bool:
    """Whether the file's cross-reference table is broken, so a reader rebuilds it.

    PDFium repairs silently; the evidence is the file's tail: the last `startxref` must point
    at an `xref` table or an XRef stream object (what MuPDF reported as "repaired").
    """
    tail = data[-1024:]
    m = _STARTXREF.search(tail)
    if not m:
        return True
    offset = int(m.group(1))
    if offset >= len(data):
        return True
    at = data[offset:offset + 64].lstrip()
    return not (at.startswith(b"xref") or re.match(rb"\d+\s+\d+\s+obj", at) is not None)


_OBJ = re.compile(rb"(\d+)\s+0\s+obj\b")
_CATALOG = re.compile(rb"(\d+)\s+0\s+obj\s*<<[^>]*?/Type\s*/Catalog\b")


def mend(data: bytes) -> bytes | None:
    """A cut-off PDF made readable: its last whole object, then a trailer naming its catalog.

    PDFium rebuilds a broken cross-reference table by scanning, but gives up on a file that
    ends inside an object and has no trailer (a download cut short); MuPDF, used before,
    recovered the pages that survived, and so does this. None when there is nothing to mend.
    """
    end = data.rfind(b"endobj")
    catalogs = _CATALOG.findall(data[:end])
    if end < 0 or not catalogs:
        return None
    body = data[:end + len(b"endobj")]
    size = max(int(n) for n in _OBJ.findall(body)) + 1
    return body + (b"\ntrailer\n<< /Root " + catalogs[-1] + b" 0 R /Size " + str(size).encode()
                   + b" >>\nstartxref\n0\n%%EOF\n")


_COUNT = re.compile(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)|/Count\s+(\d+)[^>]*?/Type\s*/Pages\b")


def _declared_pages(data: bytes) -> int | None:
    """The page count an encrypted PDF declares (integers are not encrypted), if visible."""
    counts = [int(a or b) for a, b in _COUNT.findall(data)]
    return max(counts) if counts else None


def render(
    source: Source, max_side: int, password: str | None, *, only: frozenset[int] | None = None,
) -> Iterator[tuple[int, int, int, bytes]]:
    """(page from 1, width, height, RGB bytes) per page (or the pages in `only`), longer side
    `max_side` px."""
    sub = subject(source)
    try:
        with opened(source, password) as doc:
            if len(doc) == 0:
                raise BadInput(sub, "the document has no pages")
            for index in range(len(doc)):
                if only is not None and index + 1 not in only:
                    continue
                try:
                    page = doc[index]
                    w, h = page.get_size()
                    scale = max_side / max(w, h, 1.0)
                    img = page.render(scale=scale).to_pil().convert("RGB")
                    page.close()
                except Exception as exc:  # noqa: BLE001 - PDFium raises plain errors per page
                    raise BadInput(sub, f"page {index + 1} cannot be rendered: {exc}") from None
                yield index + 1, img.width, img.height, img.tobytes()
    except Locked:
        raise BadInput(sub, ENCRYPTED) from None


def text_layers(source: Source, password: str | None = None, max_pages: int | None = None
                ) -> list[tuple[int, str]]:
    """(page from 1, the page's text layer) for each page; "" for a page with none."""
    out: list[tuple[int, str]] = []
    try:
        with opened(source, password) as doc:
            for index in range(min(len(doc), max_pages or len(doc))):
                page = doc[index]
                textpage = page.get_textpage()
                text = textpage.get_text_bounded()
                textpage.close()
                page.close()
                out.append((index + 1, text.replace("\r\n", "\n").replace("\r", "\n")))
    except Locked:
        raise BadInput(subject(source), ENCRYPTED) from None
    return out


def version() -> str:
    """PDFium's build, for the record of what read a text layer."""
    import pypdfium2 as pdfium

    return str(getattr(pdfium, "PDFIUM_INFO", "") or pdfium.V_PDFIUM)
