"""Geolocation claims through the CLI: notations, the gazetteer, reviews, and the check."""

from __future__ import annotations

import pytest

from fixtures import media

PRIMORSKY_SERGEEVKAS = {2016961, 2020626}


@pytest.fixture
def item(photo_item) -> str:
    return photo_item(9, gps=media.SERGEEVKA)


@pytest.mark.parametrize(
    "notation",
    ["43.3491, 133.3597", "43.3491 133.3597", "43°20′57″N 133°21′35″E",
     "43°20'57\"N 133°21'35\"E", "N43.3491 E133.3597", "+43.3491+133.3597/"],
)
def test_every_common_coordinate_notation(prov, item, notation):
    run = prov("geo", "claim", item, "--coords", notation, "--by", "CNN", "--method", "geolocated")
    assert run.exit_code == 0, run.stderr
    [claim] = prov("show", item, "--json").json()["claims"]
    assert claim["latitude"] == pytest.approx(43.3491, abs=1e-3)
    assert claim["longitude"] == pytest.approx(133.3597, abs=1e-3)
    assert claim["claimant_name"] == "CNN" and claim["method"] == "geolocated"
    assert claim["radius_m"] == 100.0 and claim["status"] == "unreviewed"


def test_lookup_shows_both_primorsky_sergeevkas_in_any_script(prov):
    for name in ("Sergeevka", "Sergeyevka", "Сергеевка", "sergeevka"):
        doc = prov("geo", "lookup", name, "--json").json()
        ids = {p["geonameid"] for p in doc["candidates"]}
        assert PRIMORSKY_SERGEEVKAS <= ids, name
    text = prov("geo", "lookup", "Сергеевка", "--country", "RU").stdout
    assert "2016961" in text and "2020626" in text


def test_an_ambiguous_place_is_refused_with_every_candidate(prov, item):
    before = len(prov("log", "--json").json())
    run = prov("geo", "claim", item, "--place", "Sergeevka", "--country", "RU", "--by", "CNN")
    assert run.exit_code == 2
    assert "2016961" in run.stderr and "2020626" in run.stderr and "--geonameid" in run.stderr
    assert len(prov("log", "--json").json()) == before
    chosen = prov("geo", "claim", item, "--place", "Sergeevka", "--geonameid", "2016961",
                  "--by", "CNN", "--method", "geolocated", "--confidence", "high",
                  "--source-url", "https://edition.cnn.com/")
    assert chosen.exit_code == 0, chosen.stderr
    [claim] = prov("show", item, "--json").json()["claims"]
    assert claim["place_geonameid"] == 2016961 and claim["place"] == "Sergeevka"
    assert claim["radius_m"] == 5000.0 and claim["confidence"] == "high"


def test_check_finds_a_claim_contradicting_the_files_gps(prov, item):
    prov("geo", "claim", item, "--coords", "43.35, 133.36", "--by", "CNN",
         "--method", "geolocated")
    prov("geo", "claim", item, "--place", "Sergeevka", "--geonameid", "2020626",
         "--by", "Telegram channel", "--method", "caption")
    doc = prov("geo", "check", item, "--json").json()
    assert doc["verdict"] == "contradicts"
    against_gps = {p["a"]: p["verdict"] for p in doc["pairs"] if p["b"] == "the file's own GPS"}
    [cnn] = [v for label, v in against_gps.items() if "CNN" in label]
    [telegram] = [v for label, v in against_gps.items() if "Telegram" in label]
    assert (cnn, telegram) == ("consistent", "contradicts")
    far = [p for p in doc["pairs"] if p["verdict"] == "contradicts"]
    assert all(p["distance_m"] > 100_000 for p in far)
    assert doc["gps_nearest_place"]["place"]["geonameid"] == 2016961
    shown = prov("show", item).stdout
    assert "contradicts" in shown and "Telegram channel" in shown


def test_reviews_keep_the_whole_history(prov, item):
    prov("geo", "claim", item, "--coords", "43.35, 133.36", "--by", "CNN")
    claim_id = prov("show", item, "--json").json()["claims"][0]["id"]
    assert prov("geo", "review", str(claim_id), "--status", "disputed",
                "--reason", "shadows suggest another valley").exit_code == 0
    assert prov("geo", "review", str(claim_id), "--status", "verified",
                "--reason", "ridge line matches Sentinel-2 imagery").exit_code == 0
    [claim] = prov("show", item, "--json").json()["claims"]
    assert claim["status"] == "verified"
    assert [r["status"] for r in claim["reviews"]] == ["disputed", "verified"]
    assert all(r["recorded_by"] == "tester" for r in claim["reviews"])
    prov("geo", "review", str(claim_id), "--status", "refuted", "--reason", "wrong camp")
    doc = prov("geo", "check", item, "--json").json()
    assert doc["excluded"] == [f"claim #{claim_id} (refuted)"]
    assert prov("verify").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--coords", "95, 10"], "outside -90..90"),
        (["--coords", "43.35, 190"], "outside"),
        (["--coords", "somewhere"], "--coords"),
        (["--place", "Xyzzyqwertyville"], "unknown place"),
        (["--coords", "43.35, 133.36", "--method", "vibes"], "unknown method"),
        (["--coords", "43.35, 133.36", "--confidence", "total"], "unknown confidence"),
        (["--coords", "43.35, 133.36", "--radius", "-5"], "cannot be negative"),
        ([], "needs --coords"),
    ],
)
def test_bad_claims_are_refused_and_nothing_recorded(prov, item, args, message):
    before = len(prov("log", "--json").json())
    run = prov("geo", "claim", item, *args)
    assert run.exit_code == 2, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr
    assert len(prov("log", "--json").json()) == before


def test_bad_reviews_and_unknown_items_are_refused(prov, item):
    assert "no claim 999" in prov("geo", "review", "999", "--status", "verified",
                                  "--reason", "x").stderr
    prov("geo", "claim", item, "--coords", "43.35, 133.36")
    claim_id = str(prov("show", item, "--json").json()["claims"][0]["id"])
    run = prov("geo", "review", claim_id, "--status", "maybe", "--reason", "x")
    assert run.exit_code == 2 and "verified, disputed, refuted" in run.stderr
    run = prov("geo", "claim", "abcdef123456", "--coords", "43.35, 133.36")
    assert run.exit_code == 2 and "no item" in run.stderr


# --- slips that used to pass silently (issue 12, defect 11) ---------------------------------


def test_the_claimants_by_before_the_command_is_refused_not_recorded(prov, item, db):
    from tests.conftest import invoke

    assert prov("actor", "add", "CNN", "--kind", "organisation").exit_code == 0
    events = prov("log", "--json").json()
    # `--by` before `geo claim` names the investigator: CNN would record an unattributed claim.
    run = invoke(db, "geo", "claim", item, "--coords", "43.3491, 133.3597", by="CNN")
    assert run.exit_code == 2
    [line] = run.stderr.splitlines()
    assert "names who records the claim" in line and "organisation actor 'CNN'" in line
    assert "put --by after the command" in line
    assert prov("log", "--json").json() == events  # nothing recorded
    # With a claimant after the command it goes in, but the odd recorder is pointed out.
    run = invoke(db, "geo", "claim", item, "--coords", "43.3491, 133.3597", "--by", "CNN",
                 by="CNN")
    assert run.exit_code == 0, run.stderr
    assert "warning: the investigator recording this claim is the organisation actor 'CNN'" \
        in run.stderr
    # An actor who makes claims is as unlikely a recorder, whatever its kind.
    assert prov("geo", "claim", item, "--coords", "43.35, 133.36", "--by",
                "@frontline_channel").exit_code == 0
    run = invoke(db, "geo", "claim", item, "--coords", "43.3491, 133.3597",
                 by="@frontline_channel")
    assert run.exit_code == 2 and "who makes claims" in run.stderr
    # A person (or anyone not an actor) records claims as before, without a word.
    assert prov("actor", "add", "Ana Petrova", "--kind", "person").exit_code == 0
    run = invoke(db, "geo", "claim", item, "--coords", "43.3491, 133.3597", "--by", "CNN",
                 by="Ana Petrova")
    assert run.exit_code == 0 and "warning" not in run.stderr


def test_a_claim_without_a_claimant_says_it_is_unattributed(prov, item):
    run = prov("geo", "claim", item, "--coords", "43.3491, 133.3597")
    assert run.exit_code == 0
    assert "notice: no claimant given: the claim is recorded as unattributed" in run.stderr
    [claim] = prov("show", item, "--json").json()["claims"]
    assert claim["claimant"] is None and "unattributed says" in claim["summary"]
    run = prov("geo", "claim", item, "--coords", "43.3491, 133.3597", "--by", "CNN")
    assert "unattributed" not in run.stderr


def test_places_name_their_region_and_a_region_narrows_a_place(prov, item):
    run = prov("geo", "lookup", "Sergeevka, Primorsky Krai")
    assert run.exit_code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "2 place(s) called 'Sergeevka, Primorsky Krai':"
    assert all("(Primorskiy kray, Russia)" in line for line in lines[1:]) and len(lines) == 3
    # One region, so each also names its nearest town: what tells the two villages apart.
    landmarks = {line.split(", pop. ")[1].split(" [")[0].split(", ", 1)[1] for line in lines[1:]}
    assert len(landmarks) == 2 and all(" km " in t and " of " in t for t in landmarks)
    assert "region 59" not in prov("geo", "lookup", "Sergeevka").stdout
    # The region is accepted by `geo claim --place` too; the two villages still need a pick.
    run = prov("geo", "claim", item, "--place", "Sergeevka, Primorsky Krai", "--by", "CNN")
    assert run.exit_code == 2 and "could mean 2 places" in run.stderr
    assert run.stderr.count("(Primorskiy kray, Russia)") == 2
    run = prov("geo", "claim", item, "--place", "Сергеевка, Приморский край", "--geonameid",
               "2016961", "--by", "CNN")
    assert run.exit_code == 0, run.stderr
    [claim] = prov("show", item, "--json").json()["claims"]
    assert claim["place"] == "Сергеевка, Приморский край"
    assert claim["latitude"] == pytest.approx(43.3503, abs=1e-3)
    run = prov("geo", "claim", item, "--place", "Sergeevka, Atlantis", "--by", "CNN")
    assert run.exit_code == 2 and "'Atlantis'" not in run.stdout
    assert "Atlantis: not a country or first-level region" in run.stderr
