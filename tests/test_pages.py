"""Photographed pages (issue 18): a phone photo names its document and page; two filled-in
copies of one blank form are never linked as the same page."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from fixtures import photographed as ph

from .conftest import invoke

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None,
                                reason="Tesseract is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("forms")
    a, b = ph.filled_form(d / "form_a.pdf", 1), ph.filled_form(d / "form_b.pdf", 2)
    db = d / "evidence.db"
    invoke(db, "init", check=True)
    added = invoke(db, "add", str(a), str(b), "--json", check=True).json()
    photos = {}
    for name, pdf, seed in (("a_thumb", a, 11), ("a_shadow", a, 12), ("b_thumb", b, 13)):
        photos[name] = d / f"{name}.jpg"
        photos[name].write_bytes(ph.photograph(ph.page_picture(pdf, 1), seed))
    return {"db": db, "a": added[0], "b": added[1], "photos": photos}


def _links(matches: list[dict[str, Any]]) -> set[tuple[str, Any]]:
    return {(m["sha256"], m.get("page")) for m in matches if m["verdict"] == "re-upload"}


@pytest.mark.parametrize(("photo", "copy"), [("a_thumb", "a"), ("a_shadow", "a"),
                                             ("b_thumb", "b")])
def test_a_phone_photo_of_a_page_names_its_document_and_page(forms, photo, copy) -> None:
    found = invoke(forms["db"], "match", str(forms["photos"][photo]), "--json", check=True)
    links = _links(found.json()["matches"])
    # Its own copy's page 1, and never the other filled-in copy of the same form.
    assert links == {(forms[copy]["sha256"], 1)}, found.json()["matches"]
    [best] = [m for m in found.json()["matches"] if m["verdict"] == "re-upload"]
    assert best["algorithm"] == "page-text" and best["detail"]["text_recall"] >= 0.85


def test_registering_the_photo_records_the_link_and_the_text_it_read(forms, tmp_path) -> None:
    db = tmp_path / "evidence.db"
    invoke(db, "init", check=True)
    a = forms["photos"]["a_thumb"].parent / "form_a.pdf"
    held = invoke(db, "add", str(a), "--json", check=True).json()[0]["sha256"]
    run = invoke(db, "add", str(forms["photos"]["a_thumb"]), "--json", check=True).json()[0]
    assert _links(run["matches"]) == {(held, 1)}
    shown = invoke(db, "show", run["sha256"], "--json", check=True).json()
    [reading] = [e for e in shown["events"] if e["type"] == "ocr.recorded"]
    assert "flattened" in reading["data"]["options"]
    assert any("55107" in p["text"] or "Гван" in p["text"] for p in shown["page_text"])


def test_two_filled_in_copies_of_one_form_are_not_linked_as_the_same_page(forms) -> None:
    shown = invoke(forms["db"], "show", forms["b"]["sha256"], "--json", check=True).json()
    assert all(r["counterpart"] != forms["a"]["sha256"] or r["verdict"] != "re-upload"
               for r in shown["near_duplicates"]), shown["near_duplicates"]
    assert not _links(forms["b"]["matches"])
