"""Names, notes and tags after registration; `prov search`, `cases`, `get`, `--version`;
actors renamed, merged and edited."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from fixtures import media

from .conftest import invoke

CSCIS = "Ukrainian Center for Strategic Communication and Information Security"
CENTRE = "Ukrainian Centre for Strategic Communications"


@pytest.fixture
def item(prov, tmp_path) -> str:
    photo = tmp_path / "sergeevka_arrival.jpg"
    photo.write_bytes(media.jpeg_with_exif(7))
    return str(prov("add", str(photo), "--case", "dprk", "--title", "Прибытие в Сергеевку",
                    "--json").json()[0]["sha256"])


def _events(db: Path) -> int:
    return len(invoke(db, "log", "--json").json())


def test_a_name_works_wherever_a_prefix_does_and_keeps_its_history(prov, db, item):
    assert prov("name", item[:8], "arrival-clip").exit_code == 0
    for command in (("show", "arrival-clip", "--json"), ("custody", "list", "ARRIVAL-CLIP",
                                                          "--json")):
        run = prov(*command)
        assert run.exit_code == 0, run.output
    assert prov("show", "arrival-clip", "--json").json()["sha256"] == item
    assert prov("list", "--json").json()[0]["name"] == "arrival-clip"
    assert "arrival-clip" in prov("list").stdout
    assert prov("name", "arrival-clip", "gate-arrival").exit_code == 0
    shown = prov("show", "gate-arrival", "--json").json()
    assert shown["name"] == "gate-arrival"
    assert [n["name"] for n in shown["names"]] == ["arrival-clip", "gate-arrival"]
    assert prov("show", "arrival-clip").exit_code == 2  # the old name is no longer its name
    assert prov("verify").exit_code == 0


@pytest.mark.parametrize(("name", "says"), [
    ("cafe01", "reads as a hash prefix"),
    ("deadbeef", "reads as a hash prefix"),
    ("two words", "cannot be a name"),
    ("", "cannot be a name"),
])
def test_a_bad_name_is_refused_and_writes_nothing(prov, db, item, name, says):
    before = _events(db)
    run = prov("name", item, name)
    assert run.exit_code == 2 and says in run.stderr, run.output
    assert _events(db) == before


def test_a_name_taken_by_another_item_is_refused(prov, db, item, tmp_path):
    other = tmp_path / "other.jpg"
    other.write_bytes(media.jpeg_with_exif(8))
    sha = prov("add", str(other), "--json").json()[0]["sha256"]
    prov("name", item, "arrival-clip")
    before = _events(db)
    run = prov("name", sha, "Arrival-Clip")
    assert run.exit_code == 2 and "taken by item" in run.stderr
    assert _events(db) == before


def test_notes_and_tags_are_events_and_list_filters_by_tag(prov, db, item):
    assert prov("note", item, "군복 지급 장면: the sizing form is in Korean").exit_code == 0
    assert prov("tag", item, "uniforms", "sergeevka").exit_code == 0
    assert prov("tag", item, "Uniforms").stdout.strip().endswith("already carries Uniforms")
    assert [i["sha256"] for i in prov("list", "--tag", "UNIFORMS", "--json").json()] == [item]
    assert prov("untag", item, "sergeevka").exit_code == 0
    assert prov("list", "--tag", "sergeevka", "--json").json() == []
    refused = prov("untag", item, "sergeevka")
    assert refused.exit_code == 2 and "has no tag" in refused.stderr
    shown = prov("show", item, "--json").json()
    assert shown["tags"] == ["uniforms"]
    assert shown["notes"][0]["text"].startswith("군복")
    tagged = [t for t in shown["tag_history"] if t["tag"] == "sergeevka"][0]
    assert tagged["removed_by"] is not None
    # A note is retractable like any other entry: it stays listed, struck through.
    note_id = shown["notes"][0]["id"]
    assert prov("retract", str(note_id), "--reason", "wrong item").exit_code == 0
    assert prov("show", item, "--json").json()["notes"][0]["retracted"]["reason"] == "wrong item"
    assert "[RETRACTED]" in prov("show", item).stdout
    assert prov("verify").exit_code == 0


def test_search_finds_hyphens_cyrillic_and_a_korean_word_in_a_note(prov, db, item):
    prov("custody", "add", item, "--action", "posted", "--from", "Telegram",
         "--note", "a re-post of the T-90 column")
    prov("note", item, "설문지를 보면 군복 치수가 적혀 있다")
    found = prov("search", "T-90", "--json").json()
    assert [(r["item"], r["field"]) for r in found["results"]] == [(item, "custody note")]
    assert "[T-90]" in found["results"][0]["snippet"]
    assert prov("search", "re-post", "--json").json()["count"] == 1
    cyr = prov("search", "сергеевку", "--json").json()  # letter case aside
    assert [r["field"] for r in cyr["results"]] == ["title"]
    prov("geo", "claim", item, "--coords", "44.1, 131.9", "--place", "Сергеевка", "--by", "CNN")
    place = prov("search", "Сергеевка", "--json").json()["results"]
    assert [(r["field"], r["snippet"]) for r in place] == [("claim place", "[Сергеевка]")]
    for word in ("설문지", "군복"):  # a word with a particle attached; a two-syllable word
        hits = prov("search", word, "--json").json()["results"]
        assert [r["field"] for r in hits] == ["note"], word
        assert f"[{word}]" in hits[0]["snippet"]
    prov("note", item, "ЇЖАК біля Сергіївки, підтверджено")  # Ukrainian, capital Ї
    ukr = prov("search", "їжак сергіївки", "--json").json()["results"]
    assert [r["field"] for r in ukr] == ["note"] and "[ЇЖАК]" in ukr[0]["snippet"]
    assert prov("search", '"T-90 column"', "--json").json()["count"] == 1
    assert prov("search", '"column T-90"', "--json").json()["count"] == 0
    assert prov("search", "T-90", "--kind", "video", "--json").json()["count"] == 0
    assert prov("search", "T-90", "--case", "DPRK", "--json").json()["count"] == 1
    odd = prov("search", 'AND OR NOT "unbalanced', "--json")
    assert odd.exit_code == 0 and odd.json()["count"] == 0
    text = prov("search", "T-90").stdout
    assert item[:12] in text and "custody note" in text


def test_search_leaves_out_withdrawn_items_and_marks_retracted_entries(prov, db, item):
    prov("note", item, "T-90 on the platform")
    note = prov("show", item, "--json").json()["notes"][0]["id"]
    prov("retract", str(note), "--reason", "misread")
    hit = prov("search", "platform", "--json").json()["results"][0]
    assert "misread" in hit["struck"]
    prov("retract", item, "--reason", "not evidence")
    assert prov("search", "platform", "--json").json()["count"] == 0
    assert prov("search", "platform", "--include-withdrawn", "--json").json()["count"] == 1


def test_search_reads_a_read_only_database(prov, db, item):
    from provenance.case import textsearch
    from provenance.ledger.db import open_db

    assert prov("search", "Сергеевку", "--json").json()["count"] == 1  # indexed up to here
    prov("note", item, "Т-90 у шлагбаума")
    conn = open_db(db, write=False)  # read-only: the rows since are indexed in memory
    try:
        found = textsearch.search(conn, "шлагбаума")
        assert [r["field"] for r in found["results"]] == ["note"]
        assert textsearch.search(conn, "Сергеевку")["count"] == 1
        indexed = conn.execute("SELECT COUNT(*) FROM main.search_fts_index WHERE text LIKE ?",
                               ("%шлагбаума%",)).fetchone()[0]
        assert indexed == 0  # nothing was written to the database
    finally:
        conn.close()
    assert prov("search", "шлагбаума", "--json").json()["count"] == 1


def test_cases_are_listed_and_matched_whatever_their_letter_case(prov, db, item):
    cases = prov("cases", "--json").json()
    assert cases == [{"case": "dprk", "items": 1, "sightings": 1,
                      "first_recorded": cases[0]["first_recorded"],
                      "last_recorded": cases[0]["last_recorded"]}]
    assert [i["sha256"] for i in prov("list", "--case", "DPRK", "--json").json()] == [item]
    unknown = prov("list", "--case", "dprkk")
    assert unknown.exit_code == 2 and "did you mean 'dprk'" in unknown.stderr
    assert prov("export", "--case", "Dprk", "--format", "json").exit_code == 0


def test_get_writes_the_original_back_out_rehashed(prov, db, item, tmp_path):
    out = tmp_path / "out"
    run = prov("get", item[:8], "--out", str(out))
    assert run.exit_code == 0, run.output
    written = out / "sergeevka_arrival.jpg"
    assert hashlib.sha256(written.read_bytes()).hexdigest() == item
    again = prov("get", item[:8], "--out", str(out))
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_get_refuses_a_damaged_original(prov, db, item, tmp_path):
    # The only copy is a referenced file that changed since: nothing is written.
    photo = tmp_path / "ref.jpg"
    photo.write_bytes(media.jpeg_with_exif(9))
    sha = prov("add", str(photo), "--no-copy", "--json").json()[0]["sha256"]
    photo.write_bytes(media.jpeg_with_exif(10))
    run = prov("get", sha, "--out", str(tmp_path / "out2"))
    assert run.exit_code == 1 and "no copy of the original" in run.stderr
    assert not list((tmp_path / "out2").glob("*")) if (tmp_path / "out2").exists() else True


def test_version():
    run = invoke(None, "--version")
    assert run.exit_code == 0 and run.stdout.startswith("prov ")


def test_actors_are_renamed_merged_and_edited_and_old_names_still_find_them(prov, db, item):
    prov("custody", "add", item, "--action", "shared", "--from", CSCIS, "--to", "CNN")
    created = prov("custody", "add", item, "--action", "shared", "--from", CENTRE, "--to", "CNN")
    assert "prov actor edit" in created.stderr and "actor add" not in created.stderr
    merged = prov("actor", "merge", CENTRE, CSCIS, "--reason", "one organisation, two spellings")
    assert merged.exit_code == 0, merged.output
    events = prov("custody", "list", item, "--json").json()["events"]
    assert {e["from_name"] for e in events} == {CSCIS}
    # The merged name is an alias: a new event naming it names the actor it was merged into.
    prov("custody", "add", item, "--action", "received", "--from", CENTRE, "--to", "BBC")
    assert {e["from_name"] for e in prov("custody", "list", item, "--json").json()["events"]} \
        == {CSCIS}
    renamed = prov("actor", "rename", "CNN", "CNN International")
    assert renamed.exit_code == 0, renamed.output
    assert prov("custody", "list", item, "--json").json()["events"][0]["to_name"] == \
        "CNN International"
    assert prov("actor", "edit", "cnn", "--kind", "organisation").exit_code == 0  # by alias
    actors = {a["name"]: a for a in prov("actor", "list", "--json").json()}
    assert actors["CNN International"]["kind"] == "organisation"
    assert [x["alias"] for x in actors["CNN International"]["aliases"]] == ["CNN"]
    assert [x["alias"] for x in actors[CSCIS]["aliases"]] == [CENTRE]
    assert actors[CENTRE]["merged_into"] == actors[CSCIS]["id"]
    history = [e["type"] for e in prov("log", "--json").json()]
    assert "actor.merged" in history and "actor.renamed" in history
    assert prov("verify").exit_code == 0
    before = _events(db)
    itself = prov("actor", "merge", CSCIS, CENTRE, "--reason", "x")
    assert itself.exit_code == 2 and "same actor" in itself.stderr
    empty = prov("actor", "merge", "BBC", CSCIS, "--reason", " ")
    assert empty.exit_code == 2 and "--reason cannot be empty" in empty.stderr
    assert _events(db) == before


def test_a_hand_edited_tag_or_name_fails_verify(prov, db, item):
    prov("name", item, "arrival-clip")
    prov("tag", item, "uniforms")
    conn = sqlite3.connect(db)
    conn.execute("UPDATE item_names SET name = 'other-clip'")
    conn.execute("UPDATE item_tags SET tag = 'weapons'")
    conn.commit()
    conn.close()
    problems = " ".join(prov("verify", "--json").json()["problems"])
    assert "table item_names" in problems and "table item_tags" in problems


def test_a_name_two_items_carry_after_an_import_is_ambiguous_not_guessed(tmp_path):
    ana, bob = tmp_path / "ana.db", tmp_path / "bob.db"
    shas = []
    for db, seed in ((ana, 41), (bob, 42)):
        invoke(db, "init", check=True)
        photo = tmp_path / f"{seed}.jpg"
        photo.write_bytes(media.jpeg_with_exif(seed))
        shas.append(invoke(db, "add", str(photo), "--case", "dprk", "--json").json()[0]["sha256"])
        invoke(db, "name", shas[-1], "gate", check=True)
    out = tmp_path / "case.zip"
    invoke(ana, "bundle", "--case", "dprk", "--out", str(out), check=True)
    invoke(bob, "import", str(out), "--unsigned", check=True)
    run = invoke(bob, "show", "gate")
    assert run.exit_code == 2 and "carried by 2 items" in run.stderr
    assert all(sha in run.stderr for sha in shas)
    assert invoke(bob, "verify").exit_code == 0
