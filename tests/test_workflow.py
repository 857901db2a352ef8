"""Issue 15: item status and assignees, four-eyes sign-off, flags, bulk selections."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from provenance.ledger import log as event_log

from .conftest import invoke


def _events(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def _two(photo_item, prov) -> tuple[str, str]:
    a = photo_item(seed=1, name="a.jpg")
    b = photo_item(seed=2, name="b.jpg")
    return a, b


def test_status_with_assignee_and_list_by_status(db, prov, photo_item):
    a, b = _two(photo_item, prov)
    run = invoke(db, "status", a[:10], "in-progress", "--assign", "Bo Li", "--note", "geolocating")
    assert run.exit_code == 0, run.output
    assert "created actor 'Bo Li' (person)" in run.stderr
    listed = invoke(db, "list", "--status", "in-progress", "--json", check=True).json()
    assert [it["sha256"] for it in listed] == [a]
    assert listed[0]["status"] == "in-progress"
    # Items never given a status are to-do.
    assert [it["sha256"] for it in invoke(db, "list", "--status", "to-do", "--json").json()] == [b]
    shown = invoke(db, "show", a, "--json", check=True).json()["workflow"]
    assert shown["status"] == "in-progress" and shown["assignee"] == "Bo Li"
    assert shown["status_history"][0]["note"] == "geolocating"
    # The assignee carries over to the next status unless changed.
    invoke(db, "status", a, "help-needed", check=True)
    assert invoke(db, "show", a, "--json").json()["workflow"]["assignee"] == "Bo Li"
    invoke(db, "status", a, "help-needed", "--unassign", check=True)
    assert invoke(db, "show", a, "--json").json()["workflow"]["assignee"] is None
    assert invoke(db, "verify").exit_code == 0


def test_assignees_are_people(db, prov, photo_item):
    a, _ = _two(photo_item, prov)
    invoke(db, "actor", "add", "CNN", "--kind", "organisation", check=True)
    before = _events(db)
    run = invoke(db, "status", a, "in-progress", "--assign", "CNN")
    assert run.exit_code == 2
    assert "kind organisation" in run.stderr and "--kind person" in run.stderr
    assert _events(db) == before


def test_bad_status_or_flag_is_one_line_exit_2_nothing_written(db, prov, photo_item):
    a, _ = _two(photo_item, prov)
    before = _events(db)
    for args, word in ((("status", a, "done"), "unknown status 'done'"),
                       (("flag", a, "gory"), "unknown flag 'gory'"),
                       (("list", "--status", "finished"), "unknown status 'finished'"),
                       (("status", "--status", "nope", "to-do"), "unknown status 'nope'")):
        run = invoke(db, *args)
        assert run.exit_code == 2, (args, run.output)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and word in lines[0] and "use one of" in lines[0]
        assert "Traceback" not in run.output
    assert _events(db) == before


def test_four_eyes_refuses_the_submitter_and_completed_needs_an_approval(db, prov, photo_item):
    a, _ = _two(photo_item, prov)
    invoke(db, "status", a, "ready-for-review", by="ana", check=True)
    before = _events(db)
    own = invoke(db, "review", a, "--approve", "--reason", "looks right", by="Ana")
    assert own.exit_code == 2
    assert "ana moved it to ready-for-review" in own.stderr.lower()
    assert "second investigator" in own.stderr
    assert _events(db) == before
    early = invoke(db, "status", a, "completed", by="ana")
    assert early.exit_code == 2 and "no approval" in early.stderr
    assert _events(db) == before
    # A rejection does not let it be completed either.
    invoke(db, "review", a, "--reject", "--reason", "the shadows disagree", by="bo", check=True)
    assert invoke(db, "status", a, "completed", by="ana").exit_code == 2
    # Back to work, submitted again, approved by a second investigator: now it may complete.
    invoke(db, "status", a, "in-progress", by="ana", check=True)
    not_ready = invoke(db, "review", a, "--approve", "--reason", "ok", by="bo")
    assert not_ready.exit_code == 2 and "not ready-for-review" in not_ready.stderr
    invoke(db, "status", a, "ready-for-review", by="ana", check=True)
    invoke(db, "review", a, "--approve", "--reason", "shadows re-measured", by="bo", check=True)
    invoke(db, "status", a, "completed", by="ana", check=True)
    wf = invoke(db, "show", a, "--json").json()["workflow"]
    assert wf["status"] == "completed" and wf["approved"]
    assert [(r["decision"], r["recorded_by"], r["submitted_by"]) for r in wf["reviews"]] == [
        ("rejected", "bo", "ana"), ("approved", "bo", "ana")]
    text = invoke(db, "show", a).stdout
    assert "bo approved the work ana submitted" in text
    assert "bo rejected the work ana submitted" in text
    assert invoke(db, "verify").exit_code == 0


def test_work_after_the_approval_needs_a_new_sign_off(db, prov, photo_item):
    a, _ = _two(photo_item, prov)
    invoke(db, "status", a, "ready-for-review", by="ana", check=True)
    invoke(db, "review", a, "--approve", "--reason", "ok", by="bo", check=True)
    invoke(db, "status", a, "in-progress", "--note", "one more edit", by="ana", check=True)
    run = invoke(db, "status", a, "completed", by="ana")
    assert run.exit_code == 2 and "after its approval" in run.stderr


def test_a_resubmission_needs_a_fresh_approval(db, prov, photo_item):
    a, _ = _two(photo_item, prov)
    invoke(db, "status", a, "ready-for-review", by="ana", check=True)
    invoke(db, "review", a, "--approve", "--reason", "ok", by="bo", check=True)
    invoke(db, "status", a, "ready-for-review", by="cy", check=True)
    assert invoke(db, "status", a, "completed", by="ana").exit_code == 2
    # cy submitted this time, so ana may review it, and cy may not.
    assert invoke(db, "review", a, "--approve", "--reason", "ok", by="cy").exit_code == 2
    invoke(db, "review", a, "--approve", "--reason", "ok", by="ana", check=True)
    invoke(db, "status", a, "completed", by="cy", check=True)


def _forge(db: Path, type_: str, data: dict, item: str, by: str) -> None:
    """Append an event with correct hashes but without the core's checks or projection, as an
    insider editing the file would."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    seq, previous = event_log.head(conn)
    from provenance.ledger.event import Event

    event = Event(seq + 1, "2026-12-01T00:00:00.000000Z", by, type_, item, data)
    payload = event_log.canonical(event.envelope())
    leaf = event_log.leaf_hash(payload)
    conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (event.seq, event.recorded_at, by, type_, item, payload, leaf,
                  event_log.chain_hash(previous, leaf)))
    conn.commit()
    conn.close()


def test_verify_fails_a_log_that_breaks_the_four_eyes_rule(db, prov, photo_item):
    a, _ = _two(photo_item, prov)
    invoke(db, "status", a, "ready-for-review", by="ana", check=True)
    submitted = invoke(db, "show", a, "--json").json()["workflow"]["status_history"][-1]
    _forge(db, "item.reviewed", {"decision": "approved", "reason": "mine", "submitted_by": "ana",
                                 "submitted_at": submitted["recorded_at"]}, a, "ana")
    run = invoke(db, "verify", "--json")
    assert run.exit_code == 1
    assert any("four-eyes" in p for p in run.json()["problems"])


def test_verify_fails_a_log_completing_without_approval(db, prov, photo_item):
    a, _ = _two(photo_item, prov)
    _forge(db, "item.status_set", {"status": "completed", "assignee": None, "note": None}, a,
           "ana")
    run = invoke(db, "verify", "--json")
    assert run.exit_code == 1
    assert any("without an approval" in p for p in run.json()["problems"])


def test_bulk_by_case_and_status(db, tmp_path):
    from fixtures import media

    shas = []
    for n, case in ((1, "dprk"), (2, "dprk"), (3, "other")):
        path = tmp_path / f"p{n}.jpg"
        path.write_bytes(media.jpeg_with_exif(n))
        shas.append(invoke(db, "add", str(path), "--case", case, "--json").json()[0]["sha256"])
    invoke(db, "status", "--case", "dprk", "ready-for-review", by="ana", check=True)
    statuses = {it["sha256"]: it["status"] for it in invoke(db, "list", "--json").json()}
    assert statuses == {shas[0]: "ready-for-review", shas[1]: "ready-for-review",
                        shas[2]: "to-do"}
    # Four eyes in bulk: all or nothing, one line per refused item.
    before = _events(db)
    run = invoke(db, "review", "--status", "ready-for-review", "--approve", "--reason", "x",
                 by="ana")
    assert run.exit_code == 2 and run.stderr.count("cannot review it") == 2
    assert _events(db) == before
    invoke(db, "review", "--status", "ready-for-review", "--approve", "--reason", "checked",
           by="bo", check=True)
    invoke(db, "status", "--status", "ready-for-review", "completed", by="ana", check=True)
    assert {it["sha256"] for it in invoke(db, "list", "--status", "completed", "--json").json()
            } == set(shas[:2])
    invoke(db, "flag", "--case", "other", shas[0], "deceptive", check=True)
    flagged = {s for s in shas if "deceptive" in invoke(db, "show", s, "--json").json()[
        "workflow"]["flags"]}
    assert flagged == {shas[0], shas[2]}
    empty = invoke(db, "status", "--status", "cancelled", "to-do")
    assert empty.exit_code == 2 and "no item matches" in empty.stderr
    nothing = invoke(db, "status", "to-do")
    assert nothing.exit_code == 2 and "--case, --status or --tag" in nothing.stderr
    untagged = invoke(db, "status", "--tag", "x", "to-do")
    assert untagged.exit_code == 2 and "no items tagged 'x'" in untagged.stderr
    # --tag selects by the tags `prov tag` gives (issue 14), case-insensitively.
    invoke(db, "tag", shas[2], "Convoy", check=True)
    invoke(db, "status", "--tag", "convoy", "help-needed", check=True)
    statuses = {it["sha256"]: it["status"] for it in invoke(db, "list", "--json").json()}
    assert statuses[shas[2]] == "help-needed" and statuses[shas[0]] == "completed"


def test_flags_set_and_clear_as_events(db, prov, photo_item):
    a, _ = _two(photo_item, prov)
    invoke(db, "flag", a, "graphic-violence", "--note", "bodies visible", check=True)
    again = invoke(db, "flag", a, "graphic-violence", check=True)
    assert "already" in again.stderr and "0 event(s)" in again.stdout
    wf = invoke(db, "show", a, "--json").json()["workflow"]
    assert wf["flags"] == ["graphic-violence"] and wf["blurred"] == ["graphic-violence"]
    invoke(db, "flag", a, "graphic-violence", "--remove", check=True)
    assert invoke(db, "show", a, "--json").json()["workflow"]["flags"] == []
    types = [e["type"] for e in invoke(db, "log", a, "--json").json()]
    assert types.count("item.flagged") == 1 and types.count("item.unflagged") == 1
    assert invoke(db, "verify").exit_code == 0


def test_workflow_commands_are_documented():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for phrase in ("prov status", "prov review", "prov flag", "prov incident add",
                   "prov incident link", "--show-sensitive", "--format geojson", "four-eyes"):
        assert phrase in readme, phrase


def test_review_needs_one_decision(db, prov, photo_item):
    a, _ = _two(photo_item, prov)
    for flags in ((), ("--approve", "--reject")):
        run = invoke(db, "review", a, *flags, "--reason", "x")
        assert run.exit_code == 2 and "--approve or --reject" in run.stderr
