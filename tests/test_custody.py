"""Actors and chain-of-custody events: recording, precision of dates, and the chain's flags."""

from __future__ import annotations

import pytest

from fixtures import media

CSCIS = "Ukrainian Center for Strategic Communication and Information Security"


@pytest.fixture
def item(photo_item) -> str:
    return photo_item(7, gps=media.SERGEEVKA, captured="2024:10:17 09:31:05", offset="+10:00")


def test_custody_add_creates_actors_on_first_use_and_lists_the_chain(prov, item):
    run = prov("custody", "add", item[:8], "--action", "shared", "--from", CSCIS, "--to", "CNN",
               "--at", "2024-10-18", "--url", "https://example.org/share", "--note", "by email")
    assert run.exit_code == 0, run.stderr
    assert run.stderr.count("created actor") == 2
    again = prov("custody", "add", item[:8], "--action", "published", "--from", "cnn",
                 "--at", "2024-10-19T08:00+00:00")
    assert again.exit_code == 0 and "created actor" not in again.stderr  # case-insensitive
    doc = prov("custody", "list", item, "--json").json()
    assert [e["action"] for e in doc["events"]] == ["shared", "published"]
    shared = doc["events"][0]
    assert (shared["from_name"], shared["to_name"]) == (CSCIS, "CNN")
    assert shared["at_text"] == "2024-10-18" and shared["at_precision"] == "day"
    assert shared["recorded_by"] == "tester" and shared["url"] == "https://example.org/share"
    actors = prov("actor", "list", "--json").json()
    assert {a["name"] for a in actors} == {CSCIS, "CNN"}
    assert prov("verify").exit_code == 0


@pytest.mark.parametrize(
    ("at", "precision", "approximate"),
    [
        ("2024", "year", False),
        ("2024-10", "month", False),
        ("2024-10-17", "day", False),
        ("2024-10-17T09:30+09:00", "minute", False),
        ("2024-10-17T09:30:15Z", "second", False),
        ("~2024-10", "month", True),
    ],
)
def test_dates_keep_their_precision(prov, item, at, precision, approximate):
    assert prov("custody", "add", item, "--action", "posted", "--from", "Telegram channel",
                "--at", at).exit_code == 0
    [event] = prov("custody", "list", item, "--json").json()["events"]
    assert event["at_precision"] == precision
    assert event["at_approximate"] is approximate
    assert event["at_text"] == at.lstrip("~").replace("Z", "+00:00")


def test_approximate_flag_marks_the_date(prov, item):
    prov("custody", "add", item, "--action", "obtained", "--to", "CNN", "--at", "2024-10",
         "--approximate")
    [event] = prov("custody", "list", item, "--json").json()["events"]
    assert event["at_approximate"] is True and event["summary"].startswith("~2024-10")


def test_according_to_records_on_whose_account(prov, item):
    prov("custody", "add", item, "--action", "shared", "--from", CSCIS, "--to", "CNN",
         "--according-to", "CNN")
    [event] = prov("custody", "list", item, "--json").json()["events"]
    assert event["asserted_name"] == "CNN" and "per CNN" in event["summary"]


def flags_of(prov, item) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in prov("custody", "list", item, "--json").json()["flags"]:
        out.setdefault(f["flag"], []).append(f["message"])
    return out


def test_flags_gap_before_capture_broken_handover_and_future(prov, item):
    prov("custody", "add", item, "--action", "shared", "--from", CSCIS, "--to", "CNN",
         "--at", "2024-10-15")  # before the 2024-10-17 capture in EXIF
    prov("custody", "add", item, "--action", "published", "--from", "BBC", "--at", "2024-10-19")
    prov("custody", "add", item, "--action", "archived", "--from", "CNN", "--at", "2999-01-01")
    flags = flags_of(prov, item)
    assert "gap" in flags and "first holder is unknown" in flags["gap"][0]
    assert "before-capture" in flags and "2024-10-15" in flags["before-capture"][0]
    assert "broken-handover" in flags and "BBC" in flags["broken-handover"][0]
    assert "future" in flags and "2999" in flags["future"][0]
    show = prov("show", item).stdout
    assert "first holder is unknown" in show and "dated in the future" in show


def test_a_clean_chain_raises_no_flags(prov, item):
    prov("custody", "add", item, "--action", "captured", "--from", "unknown soldier",
         "--at", "2024-10-17T09:31+10:00")
    prov("custody", "add", item, "--action", "shared", "--from", "unknown soldier", "--to", CSCIS,
         "--at", "2024-10-18")
    prov("custody", "add", item, "--action", "shared", "--from", CSCIS, "--to", "CNN",
         "--at", "2024-10-19")
    prov("custody", "add", item, "--action", "published", "--from", "CNN", "--at", "2024-10-20")
    assert flags_of(prov, item) == {}


def test_show_prints_custody_and_sightings_as_one_timeline(prov, item):
    prov("custody", "add", item, "--action", "shared", "--from", CSCIS, "--to", "CNN",
         "--at", "2024-10-18")
    doc = prov("show", item, "--json").json()
    kinds = [e["kind"] for e in doc["custody"]["timeline"]]
    assert kinds == ["capture", "custody", "sighting"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--action", "teleported"], "unknown custody action 'teleported'"),
        (["--action", "shared", "--from", "A", "--at", "2024-13-01"], "month 13"),
        (["--action", "shared", "--from", "A", "--at", "last tuesday"], "not a date"),
        (["--action", "shared"], "needs --from or --to"),
    ],
)
def test_bad_custody_input_is_refused_and_nothing_recorded(prov, item, args, message):
    before = len(prov("log", "--json").json())
    run = prov("custody", "add", item, *args)
    assert run.exit_code == 2 and message in run.stderr
    assert len(prov("log", "--json").json()) == before


def test_unknown_item_is_refused(prov, item):
    run = prov("custody", "add", "0" * 12, "--action", "shared", "--from", "A")
    assert run.exit_code == 2 and "no item" in run.stderr


def test_a_near_miss_actor_name_is_refused_with_candidates(prov, item):
    prov("custody", "add", item, "--action", "shared", "--from", CSCIS, "--to", "CNN")
    run = prov("custody", "add", item, "--action", "shared", "--from",
               "Center for Strategic Communication", "--to", "CNN")
    assert run.exit_code == 2 and CSCIS in run.stderr and "prov actor add" in run.stderr
    created = prov("actor", "add", "Center for Strategic Communication", "--kind", "organisation")
    assert created.exit_code == 0
    assert prov("custody", "add", item, "--action", "shared", "--from",
                "center for strategic communication", "--to", "CNN").exit_code == 0
    dup = prov("actor", "add", "cnn")
    assert dup.exit_code == 2 and "already exists" in dup.stderr
    bad_kind = prov("actor", "add", "Someone", "--kind", "robot")
    assert bad_kind.exit_code == 2 and "organisation" in bad_kind.stderr
