"""`prov list` a page at a time: the first N items, and a line saying how many more."""

from __future__ import annotations

import json

from fixtures import media


def _five(prov, tmp_path) -> list[str]:
    for n in range(5):
        (tmp_path / f"{n}.jpg").write_bytes(media.jpeg_with_exif(1_300 + n, size=(64, 48)))
        prov("add", str(tmp_path / f"{n}.jpg"), "--case", "Paging")
    (tmp_path / "other.jpg").write_bytes(media.jpeg_with_exif(1_399, size=(64, 48)))
    prov("add", str(tmp_path / "other.jpg"), "--case", "elsewhere")
    return [it["sha256"] for it in json.loads(prov("list", "--case", "paging", "--json").stdout)]


def test_limit_shows_the_first_items_and_says_how_many_more(prov, tmp_path):
    every = _five(prov, tmp_path)
    assert len(every) == 5  # --json keeps every item unless --limit is given
    run = prov("list", "--case", "paging", "--limit", "2")
    assert run.exit_code == 0
    lines = run.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [sha[:12] for sha in every[:2]]
    assert "3 more (5 in all)" in run.stderr and "--limit 0" in run.stderr
    whole = prov("list", "--case", "paging", "--limit", "0")
    assert len(whole.stdout.splitlines()) == 5 and whole.stderr == ""
    exact = prov("list", "--case", "paging", "--limit", "5")
    assert len(exact.stdout.splitlines()) == 5 and "more" not in exact.stderr
    page = json.loads(prov("list", "--case", "paging", "--limit", "3", "--json").stdout)
    assert [it["sha256"] for it in page] == every[:3]


def test_limit_counts_only_items_with_the_status_asked_for(prov, tmp_path):
    every = _five(prov, tmp_path)
    for sha in every[1:4]:
        assert prov("status", sha[:12], "in-progress").exit_code == 0
    run = prov("list", "--case", "paging", "--status", "in-progress", "--limit", "2")
    assert [line.split()[0] for line in run.stdout.splitlines()] == [s[:12] for s in every[1:3]]
    assert "1 more (3 in all)" in run.stderr


def test_a_negative_limit_is_refused(prov, tmp_path):
    run = prov("list", "--limit", "-1")
    assert run.exit_code == 2 and "--limit" in run.stderr
