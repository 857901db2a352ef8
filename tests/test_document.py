"""Tests for provenance.media.document: PDF metadata, page rendering, broken documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures import documents
from provenance.errors import BadInput
from provenance.media.document import (
    ENCRYPTED,
    document_metadata,
    parse_pdf_date,
    render_pages,
)


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return documents.build_all(tmp_path_factory.mktemp("documents"))


def test_questionnaire_metadata(docs: dict[str, Path]) -> None:
    meta = document_metadata(docs["questionnaire"])
    assert meta["page_count"] == 3
    assert meta["title"] == "Анкета размеров обмундирования"
    assert meta["producer"] == meta["creator"] == "Microsoft® Word 2016"
    assert meta["author"] == "в/ч 00000"
    assert meta["created_at"] == "2024-10-17T09:30:00+09:00"
    assert meta["modified_at"] == "2024-10-17T10:15:00+09:00"
    assert meta["encrypted"] is False and meta["needs_password"] is False
    assert meta["repaired"] is False
    assert meta["raw"]["creationDate"] == "D:20241017093000+09'00'"


def test_metadata_from_bytes_matches_path(docs: dict[str, Path]) -> None:
    from_bytes = document_metadata(docs["questionnaire"].read_bytes())
    assert from_bytes == document_metadata(docs["questionnaire"])


def test_questionnaire_text_is_really_russian_and_korean(docs: dict[str, Path]) -> None:
    import pymupdf

    with pymupdf.open(docs["questionnaire"]) as doc:
        text = doc[0].get_text()
    assert documents.QUESTIONNAIRE_TITLE in text
    assert "소형 / 중형 / 대형" in text


def test_render_pages_numbers_from_one_at_fixed_size(docs: dict[str, Path]) -> None:
    pages = list(render_pages(docs["questionnaire"], max_side=400))
    assert [n for n, _ in pages] == [1, 2, 3]
    for _, image in pages:
        assert image.mode == "RGB"
        assert max(image.size) == 400
        assert image.size == (283, 400)  # A4 keeps its shape


def test_pages_differ_from_each_other(docs: dict[str, Path]) -> None:
    import imagehash

    hashes = [imagehash.phash(image) for _, image in render_pages(docs["questionnaire"])]
    assert min(hashes[0] - hashes[1], hashes[1] - hashes[2], hashes[0] - hashes[2]) >= 12


def test_photographed_copy_is_nearest_its_page(docs: dict[str, Path]) -> None:
    """Whole-image hashes only just tell the photo's page apart (PDQ 84 of 256 bits against
    98+ for the other pages): a matcher will need to find and deskew the sheet first."""
    import numpy as np
    import pdqhash
    from PIL import Image

    def pdq(image: Image.Image) -> np.ndarray:
        return pdqhash.compute(np.asarray(image.convert("RGB")))[0]

    pages = [pdq(image) for _, image in render_pages(docs["questionnaire"])]
    photo = pdq(Image.open(docs["photographed"]))
    distances = [int((photo != page).sum()) for page in pages]
    assert distances[0] == min(distances)


def test_encrypted_pdf_registers_but_does_not_render(docs: dict[str, Path]) -> None:
    meta = document_metadata(docs["encrypted"])
    assert meta["encrypted"] is True and meta["needs_password"] is True
    assert meta["page_count"] == 3
    assert meta["title"] is None and meta["raw"] == {}
    with pytest.raises(BadInput) as caught:
        list(render_pages(docs["encrypted"]))
    assert caught.value.reason == ENCRYPTED
    assert str(docs["encrypted"]) in str(caught.value)


def test_encrypted_pdf_with_password(docs: dict[str, Path]) -> None:
    meta = document_metadata(docs["encrypted"], password="secret")
    assert meta["title"] == "Анкета размеров обмундирования"
    assert meta["encrypted"] is True and meta["needs_password"] is False
    assert len(list(render_pages(docs["encrypted"], password="secret"))) == 3
    with pytest.raises(BadInput):
        list(render_pages(docs["encrypted"], password="wrong"))


def test_corrupt_pdf_is_bad_input(docs: dict[str, Path]) -> None:
    for call in (document_metadata, lambda p: list(render_pages(p))):
        with pytest.raises(BadInput) as caught:
            call(docs["corrupt"])
        assert "corrupt" in caught.value.reason


def test_truncated_pdf_is_repaired_and_flagged(docs: dict[str, Path]) -> None:
    meta = document_metadata(docs["truncated"])
    assert meta["repaired"] is True
    assert meta["page_count"] >= 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty file"), (None, "no such file")],
)
def test_missing_or_empty(tmp_path: Path, content: bytes | None, reason: str) -> None:
    path = tmp_path / "x.pdf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BadInput) as caught:
        document_metadata(path)
    assert caught.value.reason == reason


def test_an_image_is_not_a_document(docs: dict[str, Path]) -> None:
    with pytest.raises(BadInput, match="image"):
        document_metadata(docs["photographed"])


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("D:20241017093000+09'00'", "2024-10-17T09:30:00+09:00"),
        ("D:20241017093000+09'00", "2024-10-17T09:30:00+09:00"),
        ("D:20241017093000-05'30'", "2024-10-17T09:30:00-05:30"),
        ("D:20241017093000Z", "2024-10-17T09:30:00+00:00"),
        ("D:20241017093000Z00'00'", "2024-10-17T09:30:00+00:00"),
        ("D:20241017093000", "2024-10-17T09:30:00"),
        ("D:202410170930", "2024-10-17T09:30:00"),
        ("20241017093000+09'00'", "2024-10-17T09:30:00+09:00"),
        ("D:20241017", "2024-10-17"),
        ("D:202410", "2024-10"),
        ("D:2024", "2024"),
        ("D:20241317093000", None),
        ("Thu Oct 17 09:30:00 2024", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_pdf_date(raw: str | None, iso: str | None) -> None:
    assert parse_pdf_date(raw) == iso


def test_pages_render_in_a_process_holding_more_than_1024_files(docs: dict[str, Path]) -> None:
    # A long run (memory-mapped index shards, many databases) holds many descriptors; the
    # renderer's pipe then gets a number select() refuses ("filedescriptor out of range").
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the hard limit on open files is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        pages = list(render_pages(docs["questionnaire"], max_side=400))
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert [n for n, _ in pages] == [1, 2, 3]
