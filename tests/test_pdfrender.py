"""PDF reading through PDFium (issue 18): the demo's stored questionnaire, mending, page choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures import documents
from provenance.media import document, pdfrender


def test_the_stored_questionnaire_is_what_the_generator_writes(tmp_path: Path) -> None:
    pytest.importorskip("pymupdf")
    written = documents.write_questionnaire(tmp_path / "q.pdf")
    # The same pages and words (the bytes differ between PyMuPDF versions: 1.26 and 2.0 do).
    assert pdfrender.text_layers(written) == pdfrender.text_layers(documents.WRITTEN)
    assert document.document_metadata(written)["title"] == \
        document.document_metadata(documents.WRITTEN)["title"]


def test_a_cut_off_pdf_is_mended_and_its_surviving_pages_read(tmp_path: Path) -> None:
    cut = documents.write_truncated(documents.WRITTEN, tmp_path / "cut.pdf")
    meta = document.document_metadata(cut)
    assert meta["repaired"] is True and meta["page_count"] == 3
    pages = []
    with pytest.raises(Exception):  # noqa: B017 - the third page is gone; BadInput names it
        for number, img in document.render_pages(cut):
            pages.append((number, img.size))
    assert [n for n, _ in pages] == [1, 2]


def test_an_intact_pdf_is_not_flagged_repaired() -> None:
    assert pdfrender.repaired(documents.WRITTEN.read_bytes()) is False


def test_only_the_pages_asked_for_are_rendered() -> None:
    got = [n for n, _ in document.render_pages(documents.WRITTEN, only=frozenset({2, 3}))]
    assert got == [2, 3]


def test_text_layers_are_read_per_page() -> None:
    layers = dict(pdfrender.text_layers(documents.WRITTEN))
    assert documents.QUESTIONNAIRE_TITLE in layers[1] and "소형" in layers[2]
