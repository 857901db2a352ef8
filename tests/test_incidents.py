"""Issue 15: incidents, incident exports, and the map and timeline exports."""

from __future__ import annotations

import csv
import io
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import invoke

KML = "{http://www.opengis.net/kml/2.2}"


def _events(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


@pytest.fixture
def located(db, tmp_path):
    """Two photos of case dprk (one with GPS), a claim, dated custody, two related
    incidents, statuses."""
    from fixtures import media

    shas = []
    for n, extra in ((1, {"gps": media.SERGEEVKA, "captured": "2024:10:17 09:31:05",
                          "offset": "+10:00"}), (2, {})):
        path = tmp_path / f"p{n}.jpg"
        path.write_bytes(media.jpeg_with_exif(n, **extra))
        shas.append(invoke(db, "add", str(path), "--case", "dprk", "--json").json()[0]["sha256"])
    a, b = shas
    invoke(db, "geo", "claim", a, "--coords", "43.3491, 133.3597", "--by", "CNN",
           "--method", "geolocated", "--source-url", "https://cnn.example/x", check=True)
    invoke(db, "custody", "add", b, "--action", "published", "--from", "@chan",
           "--at", "2024-10", check=True)
    invoke(db, "incident", "add", "Kit handover", "--at", "~2024-10", check=True)
    invoke(db, "incident", "add", "Arrival at Sergeevka", "--at", "2024-10-17T09:30+10:00",
           "--coords", "43.35, 133.36", "--radius", "2000", "--note", "troops arrive",
           "--related", "kit handover", check=True)
    invoke(db, "incident", "link", "arrival at sergeevka", a, b, check=True)
    invoke(db, "incident", "link", "Kit handover", b, check=True)
    invoke(db, "status", a, "in-progress", "--assign", "Bo Li", check=True)
    return a, b


def test_incident_add_link_show_and_relate(db, located):
    a, b = located
    doc = invoke(db, "incident", "show", "ARRIVAL AT SERGEEVKA", "--json", check=True).json()
    assert doc["name"] == "Arrival at Sergeevka"
    assert doc["when"]["precision"] == "minute" and doc["when"]["text"] == "2024-10-17T09:30+10:00"
    assert (doc["latitude"], doc["longitude"], doc["radius_m"]) == (43.35, 133.36, 2000.0)
    assert [it["sha256"] for it in doc["items"]] == [a, b]
    assert doc["items"][0]["status"] == "in-progress" and doc["items"][0]["assignee"] == "Bo Li"
    assert [r["name"] for r in doc["related"]] == ["Kit handover"]
    # A relation reads both ways.
    kit = invoke(db, "incident", "show", "Kit handover", "--json").json()
    assert kit["when"]["approximate"] and [r["name"] for r in kit["related"]] == [
        "Arrival at Sergeevka"]
    again = invoke(db, "incident", "link", "Arrival at Sergeevka", a, check=True)
    assert "already" in again.stderr and "0 event(s)" in again.stdout
    listed = invoke(db, "incident", "list", "--json", check=True).json()
    assert [(r["name"], r["items"]) for r in listed] == [("Arrival at Sergeevka", 2),
                                                        ("Kit handover", 1)]
    assert invoke(db, "show", a, "--json").json()["workflow"]["incidents"][0]["name"] == (
        "Arrival at Sergeevka")
    assert invoke(db, "verify").exit_code == 0


def test_incident_place_by_gazetteer_name(db):
    invoke(db, "incident", "add", "Camp", "--place", "Sergeevka", "--geonameid", "2016961",
           check=True)
    doc = invoke(db, "incident", "show", "Camp", "--json").json()
    assert doc["place_geonameid"] == 2016961 and doc["latitude"] is not None
    ambiguous = invoke(db, "incident", "add", "Camp 2", "--place", "Sergeevka",
                       "--country", "RU")
    assert ambiguous.exit_code == 2 and "--geonameid" in ambiguous.stderr


def test_incident_bad_input_exit_2_nothing_written(db, located):
    a, _ = located
    before = _events(db)
    cases = [
        (("incident", "add", "X", "--at", "17/10/2024"), "--at"),
        (("incident", "add", "X", "--at", "2024-13"), "month 13"),
        (("incident", "add", "X", "--coords", "200, 5"), "--coords"),
        (("incident", "add", "arrival AT sergeevka"), "already exists"),
        (("incident", "add", "X", "--related", "nowhere"), "no incident 'nowhere'"),
        (("incident", "link", "nowhere", a), "no incident 'nowhere'"),
        (("incident", "link", "Arrival at Sergeevka", "--related", "nowhere"), "no incident"),
        (("incident", "link", "Kit handover", "--related", "kit handover"), "itself"),
        (("export", "--incident", "nowhere"), "no incident"),
    ]
    for args, words in cases:
        run = invoke(db, *args)
        assert run.exit_code == 2, (args, run.output)
        assert words in run.stderr and "Traceback" not in run.output, (args, run.stderr)
    assert _events(db) == before


def test_export_incident_as_json_markdown_and_html(db, located):
    a, b = located
    doc = invoke(db, "export", "--incident", "Arrival at Sergeevka", "--format", "json",
                 check=True).json()
    assert doc["scope"] == {"incident": "Arrival at Sergeevka"}
    assert doc["incident"]["note"] == "troops arrive"
    assert [it["sha256"] for it in doc["items"]] == [a, b]
    assert doc["items"][0]["workflow"]["assignee"] == "Bo Li"
    md = invoke(db, "export", "--incident", "Arrival at Sergeevka", "--format", "md").stdout
    assert "incident 'Arrival at Sergeevka' (2 items)" in md and "### Review and sign-off" in md
    html = invoke(db, "export", "--incident", "Arrival at Sergeevka", "--format", "html").stdout
    assert 'id="incident"' in html and "troops arrive" in html
    both = invoke(db, "export", a, "--incident", "Kit handover")
    assert both.exit_code == 2 and "exactly one" in both.stderr


def test_geojson_export_is_valid_geojson_with_source_and_status(db, located):
    import geojson

    a, _ = located
    text = invoke(db, "export", "--case", "dprk", "--format", "geojson", check=True).stdout
    parsed = geojson.loads(text)
    assert isinstance(parsed, geojson.FeatureCollection) and parsed.is_valid, parsed.errors()
    kinds = {f["properties"]["kind"]: f for f in parsed["features"]}
    assert set(kinds) == {"file-gps", "claim", "incident"}
    claim = kinds["claim"]
    assert claim["geometry"]["coordinates"] == [133.3597, 43.3491]  # [lon, lat], RFC 7946
    assert claim["properties"]["source"] == "CNN (geolocated)"
    assert claim["properties"]["status"] == "unreviewed"
    assert claim["properties"]["item_status"] == "in-progress"
    assert claim["properties"]["url"] == "https://cnn.example/x"
    gps = kinds["file-gps"]["properties"]
    assert gps["item"] == a and "EXIF GPS" in gps["source"]
    inc = kinds["incident"]["properties"]
    assert inc["label"] == "incident: Arrival at Sergeevka" and inc["radius_m"] == 2000.0
    assert inc["status"] == "in-progress: 1, to-do: 1"
    assert inc["when_earliest"] == "2024-10-16T23:30:00+00:00"


def test_kml_export_parses_with_placemarks_and_time_spans(db, located):
    text = invoke(db, "export", "--case", "dprk", "--format", "kml", check=True).stdout
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == f"{KML}kml"
    marks = root.findall(f"{KML}Document/{KML}Placemark")
    names = [m.findtext(f"{KML}name") for m in marks]
    assert "claim" in " ".join(names) and "incident: Arrival at Sergeevka" in names
    for m in marks:
        lon, lat, _ = m.findtext(f"{KML}Point/{KML}coordinates").split(",")
        assert -180 <= float(lon) <= 180 and -90 <= float(lat) <= 90
    incident = marks[names.index("incident: Arrival at Sergeevka")]
    assert incident.findtext(f"{KML}TimeSpan/{KML}begin") == "2024-10-16T23:30:00+00:00"
    assert incident.findtext(f"{KML}TimeSpan/{KML}end") == "2024-10-16T23:30:59.999999+00:00"
    data = {d.get("name"): d.findtext(f"{KML}value")
            for d in incident.findall(f"{KML}ExtendedData/{KML}Data")}
    assert data["source"] == "incident recorded by tester"


def test_csv_export_has_a_row_per_located_point(db, located):
    text = invoke(db, "export", "--case", "dprk", "--format", "csv", check=True).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["kind"] for r in rows) == ["claim", "file-gps", "incident"]
    claim = next(r for r in rows if r["kind"] == "claim")
    assert (claim["latitude"], claim["longitude"]) == ("43.3491", "133.3597")


def test_timeline_keeps_each_date_as_an_interval(db, located):
    text = invoke(db, "export", "--case", "dprk", "--format", "timeline", check=True).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    by_label = {r["label"]: r for r in rows}
    month = next(r for r in rows if r["kind"] == "custody")
    # "2024-10" with no zone: the whole month, widened by the ±14 h any zone could add.
    assert (month["as_recorded"], month["precision"]) == ("2024-10", "month")
    assert month["earliest"] == "2024-09-30T10:00:00+00:00"
    assert month["latest"] == "2024-11-01T13:59:59.999999+00:00"
    assert month["utc_offset_known"] == "false" and month["source"] == "tester"
    assert "published by @chan" in month["detail"]
    capture = by_label["capture time"]
    assert capture["as_recorded"] == "2024-10-17T09:31:05+10:00"
    assert capture["earliest"] == "2024-10-16T23:31:05+00:00"
    kit = by_label["incident: Kit handover"]
    assert kit["as_recorded"] == "~2024-10" and kit["approximate"] == "true"
    assert kit["earliest"] < month["earliest"] and kit["latest"] > month["latest"]
    # Ordered by interval: the earliest start first.
    assert [r["earliest"] for r in rows] == sorted(r["earliest"] for r in rows)


def test_csv_cells_never_run_as_formulas(db, tmp_path):
    from fixtures import media

    path = tmp_path / "p.jpg"
    path.write_bytes(media.jpeg_with_exif(5))
    sha = invoke(db, "add", str(path), "--case", "c", "--json").json()[0]["sha256"]
    invoke(db, "custody", "add", sha, "--action", "posted", "--according-to",
           "=HYPERLINK(\"x\")", "--at", "2024", check=True)
    rows = list(csv.DictReader(io.StringIO(invoke(db, "export", "--case", "c", "--format",
                                                  "timeline").stdout)))
    assert rows[0]["source"] == "'=HYPERLINK(\"x\")"


def test_a_bundle_carries_statuses_sign_offs_flags_and_incidents(db, tmp_path):
    from fixtures import media

    shas = []
    for n in (1, 2):
        path = tmp_path / f"b{n}.jpg"
        path.write_bytes(media.jpeg_with_exif(40 + n))
        shas.append(invoke(db, "add", str(path), "--case", "dprk", "--json").json()[0]["sha256"])
    a, b = shas
    invoke(db, "status", a, "ready-for-review", "--assign", "Bo Li", by="ana", check=True)
    invoke(db, "review", a, "--approve", "--reason", "checked", by="cy", check=True)
    invoke(db, "status", a, "completed", by="ana", check=True)
    invoke(db, "flag", b, "graphic-violence", check=True)
    invoke(db, "incident", "add", "Arrival", "--at", "2024-10-17", "--coords", "43.35, 133.36",
           check=True)
    invoke(db, "incident", "add", "Kit", "--at", "~2024-10", "--related", "Arrival", check=True)
    invoke(db, "incident", "add", "Elsewhere", "--related", "Arrival", check=True)
    invoke(db, "incident", "link", "Arrival", a, b, check=True)
    invoke(db, "incident", "link", "Kit", b, check=True)
    out = tmp_path / "case.zip"
    invoke(db, "bundle", "--case", "dprk", "--out", str(out), by="ana", check=True)
    target = tmp_path / "target" / "evidence.db"
    invoke(target, "init", check=True)
    invoke(target, "incident", "add", "kit", "--note", "held here already", by="bob", check=True)
    taken = invoke(target, "import", str(out), "--unsigned", by="bob")
    assert taken.exit_code == 0, taken.output
    assert "incident 'Kit' is held already" in taken.stderr
    wf = invoke(target, "show", a, "--json").json()["workflow"]
    assert wf["status"] == "completed" and wf["assignee"] == "Bo Li" and wf["approved"]
    assert [(r["recorded_by"], r["submitted_by"]) for r in wf["reviews"]] == [("cy", "ana")]
    assert invoke(target, "show", b, "--json").json()["workflow"]["blurred"] == [
        "graphic-violence"]
    arrival = invoke(target, "incident", "show", "Arrival", "--json").json()
    assert {it["sha256"] for it in arrival["items"]} == {a, b}
    # Related within the case: kept; to an incident the case does not show: left behind.
    assert [r["name"] for r in arrival["related"]] == ["kit"]
    assert "Elsewhere" not in invoke(target, "incident", "list").stdout
    assert invoke(target, "verify").exit_code == 0


def test_datasette_facets_and_incident_page(db, located):
    import asyncio

    from provenance.serve import app as serve_app

    a, b = located
    invoke(db, "flag", b, "deceased-persons", check=True)
    ds = serve_app.build(db)

    def get(path):
        return asyncio.run(ds.client.get(path))

    doc = get("/evidence/item_workflow.json?_shape=objects&_extra=facet_results").json()
    facets = doc["facet_results"]
    facets = facets.get("results", facets)  # Datasette 0.65 and 1.0 place them differently
    assert {f["value"]: f["count"] for f in facets["status"]["results"]} == {
        "in-progress": 1, "to-do": 1}
    assert [f["value"] for f in facets["assignee"]["results"]] == ["Bo Li"]
    assert [f["value"] for f in facets["flags"]["results"]] == ["deceased-persons"]
    members = get("/evidence/incident_members.json?_shape=array&incident=Kit+handover").json()
    assert [m["item"] for m in members] == [b]
    page = get("/evidence/-/incident/Arrival%20at%20Sergeevka")
    assert page.status_code == 200
    for text in ("Incident: Arrival at Sergeevka", "troops arrive", "in-progress", "Bo Li",
                 f"/evidence/-/item/{a}", "/evidence/-/incident/Kit%20handover",
                 "deceased-persons", "2024-10-17T09:30+10:00"):
        assert text in page.text, text
    assert get("/evidence/-/incident/nowhere").status_code == 404
    # Incident names link to their page from the tables.
    assert 'href="/evidence/-/incident/Kit%20handover"' in get("/evidence/incidents").text
