"""Page render speed, PyMuPDF against PDFium (pypdfium2), on the same pages at the same size.

Run once before PyMuPDF was removed (it needs `pip install pymupdf` to run again):
    .venv/bin/python bench/pdfrender.py [PAGES]
Renders the fixture questionnaire (its three page designs repeated) at 512 px, as prov hashes
pages, and at 2,480 px (A4 at 300 dpi), as prov OCRs them; best of three runs.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures.documents import write_questionnaire  # noqa: E402


def mupdf(path: Path, side: int) -> int:
    import pymupdf

    n = 0
    with pymupdf.open(path) as doc:
        for page in doc:
            zoom = side / max(page.rect.width, page.rect.height)
            pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
            n += len(pix.samples)
    return n


def pdfium(path: Path, side: int) -> int:
    import pypdfium2 as pdfium

    n = 0
    doc = pdfium.PdfDocument(path)
    for index in range(len(doc)):
        page = doc[index]
        w, h = page.get_size()
        n += len(page.render(scale=side / max(w, h)).to_pil().convert("RGB").tobytes())
    doc.close()
    return n


def main() -> None:
    pages = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with tempfile.TemporaryDirectory() as tmp:
        pdf = write_questionnaire(Path(tmp) / "q.pdf", pages)
        print("| renderer | side (px) | pages | ms / page (best of 3) |")
        print("|---|---:|---:|---:|")
        for side in (512, 2480):
            for name, fn in (("PyMuPDF", mupdf), ("pypdfium2", pdfium)):
                best = min(_time(fn, pdf, side) for _ in range(3))
                print(f"| {name} | {side} | {pages} | {1000 * best / pages:.1f} |")


def _time(fn, pdf: Path, side: int) -> float:
    start = time.perf_counter()
    fn(pdf, side)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
