"""`prov search` on a common word: the first page, counted only so far past it."""

from __future__ import annotations

from fixtures import media


def test_a_common_word_is_counted_up_to_a_cap_then_said_to_be_more(prov, tmp_path,
                                                                   monkeypatch):
    from provenance.case import textsearch

    for n in range(6):
        (tmp_path / f"pier-{n}.jpg").write_bytes(media.jpeg_with_exif(1_500 + n, size=(64, 48)))
        prov("add", str(tmp_path / f"pier-{n}.jpg"), "--title", f"the pier, day {n}")
    every = prov("search", "pier", "--json").json()
    assert every["count"] == 12 and every["count_complete"]  # a title and a file name each
    assert not every["truncated"]
    monkeypatch.setattr(textsearch, "COUNT_MAX", 4)
    page = prov("search", "pier", "--limit", "3", "--json").json()
    assert page["results"] == every["results"][:3]  # the same first page, in the same order
    assert page["count"] == 3 + 4 and not page["count_complete"] and page["truncated"]
    assert "... 4+ more (--limit)" in prov("search", "pier", "--limit", "3").stdout
    whole = prov("search", "pier", "--limit", "8", "--json").json()
    assert whole["count"] == 12 and whole["count_complete"]  # 4 past the page: all of them
    assert "... 4 more (--limit)" in prov("search", "pier", "--limit", "8").stdout
