"""Datasette on a prov database: migrations, metadata, every page, view and canned query."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from typer.testing import CliRunner

from provenance.cli import app
from provenance.ledger.db import migrations, open_db, schema_sql, split_sql
from provenance.serve import app as serve_app
from tests.servecase import CNN, TELEGRAM, Case, build

VIEWS = ["item_overview", "custody_timeline", "item_custody", "claim_checks",
         "unverified_claims", "reupload_families", "map_points"]


@pytest.fixture(scope="module")
def case(served_case: Case) -> Case:
    return served_case


@pytest.fixture(scope="module")
def ds(case: Case) -> Any:
    return serve_app.build(case.db)


def get(ds: Any, path: str) -> Any:
    return asyncio.run(ds.client.get(path))


def rows(ds: Any, path: str) -> list[dict[str, Any]]:
    base, _, query = path.partition("?")
    response = get(ds, f"{base}.json?_shape=array&{query}")
    assert response.status_code == 200, response.text
    return list(response.json())


# --- migrations ---------------------------------------------------------------------------


def _fts_objects(conn: Any) -> dict[str, str]:
    return {
        name: re.sub(r"\s+", " ", sql)
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE (name LIKE '%_fts' OR type = 'trigger')"
            " AND name NOT LIKE 'events_%' AND name NOT LIKE 'meta_%'"
            " AND name NOT LIKE 'fixity_checks_%'")
    }


def test_the_fts_migration_is_what_sqlite_utils_enable_fts_writes(tmp_path: Path) -> None:
    ours = open_db(tmp_path / "a.db", create=True)
    theirs = sqlite_utils.Database(tmp_path / "b.db")
    for statement in split_sql(schema_sql()):
        theirs.execute(statement)
    theirs["sightings"].enable_fts(["title", "note"], create_triggers=True)
    theirs["custody"].enable_fts(["note"], create_triggers=True)
    theirs["claims"].enable_fts(["place", "note"], create_triggers=True)
    # Page text (issue 18): its own table, indexed with the tokenizer chosen for Hangul.
    theirs.execute("CREATE TABLE page_text (item_id TEXT, page INTEGER, text TEXT)")
    theirs["page_text"].enable_fts(["text"], create_triggers=True, tokenize="unicode61")
    assert _fts_objects(ours) == _fts_objects(theirs.conn)
    assert theirs["sightings"].detect_fts() == "sightings_fts"


def test_migrations_are_named_and_applied_once(tmp_path: Path) -> None:
    names = [name for name, _ in migrations()]
    assert names[:3] == ["0001_schema", "0002_fts", "0003_views"]
    conn = open_db(tmp_path / "x.db", create=True)
    conn.close()
    conn = open_db(tmp_path / "x.db")
    applied = [r[0] for r in conn.execute("SELECT name FROM _migrations")]
    assert applied.count("0002_fts") == 1 and applied.count("0003_views") == 1
    views = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}
    assert set(VIEWS) <= views


def test_search_tables_follow_the_projections_and_verify_still_passes(case: Case) -> None:
    conn = sqlite3.connect(case.db)
    hits = conn.execute("SELECT rowid FROM sightings_fts WHERE sightings_fts MATCH 'Sergeevka'")
    assert len(hits.fetchall()) == 1
    assert conn.execute("SELECT count(*) FROM claims_fts WHERE claims_fts MATCH 'barracks'"
                        ).fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM custody_fts WHERE custody_fts MATCH 'Telegram'"
                        ).fetchone() == (1,)
    result = CliRunner().invoke(app, ["--db", str(case.db), "verify", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_metadata_describes_every_table_view_and_column(case: Case) -> None:
    tables = serve_app.metadata()["databases"]["evidence"]["tables"]
    conn = sqlite3.connect(case.db)
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
        " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%_fts' AND name NOT LIKE '%_fts_%'")]
    for name in names:
        assert tables.get(name, {}).get("description"), (
            f"{name} has no description: add it to provenance/serve/metadata.json")
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info([{name}])")]
        missing = [c for c in columns if not tables[name].get("columns", {}).get(c)]
        assert not missing, f"{name}: columns {missing} undescribed in metadata.json"


def test_metadata_is_rekeyed_to_the_database_name() -> None:
    doc = serve_app.metadata("dprk-case")
    assert list(doc["databases"]) == ["dprk-case"]
    assert "evidence" in serve_app.metadata()["databases"]


# --- every page --------------------------------------------------------------------------

def test_every_table_and_view_renders_as_html_and_json(ds: Any) -> None:
    tables = serve_app.metadata()["databases"]["evidence"]["tables"]
    for name, meta in tables.items():
        page = get(ds, f"/evidence/{name}")
        assert page.status_code == 200, name
        assert meta["description"].split(":")[0][:30] in page.text.replace("&#39;", "'"), name
        assert get(ds, f"/evidence/{name}.json").status_code == 200, name
    home = get(ds, "/")
    assert home.status_code == 200 and "prov: media evidence provenance" in home.text


def test_facets_and_sort_orders_apply(ds: Any) -> None:
    data = get(ds, "/evidence/items.json?_extra=facet_results").json()
    facets = data["facet_results"]
    facets = facets.get("results", facets)
    assert {"kind", "mime"} <= set(facets)
    events = rows(ds, "/evidence/events")
    assert [e["seq"] for e in events] == sorted((e["seq"] for e in events), reverse=True)


def test_the_items_page_suggests_no_facets_but_any_column_can_still_be_faceted(ds: Any) -> None:
    # Suggesting facets tries every column on each page: 3.4 s of 4.1 s at 258,000 items.
    data = get(ds, "/evidence/items.json?_extra=facet_results&_extra=suggested_facets").json()
    assert data["suggested_facets"] == []
    facets = data["facet_results"]
    assert {"kind", "mime", "make", "model"} <= set(facets.get("results", facets))
    asked = get(ds, "/evidence/items.json?_facet=stored&_extra=facet_results").json()
    facets = asked["facet_results"]
    assert "stored" in facets.get("results", facets)


def test_configured_facets_are_counted_from_an_index(case: Case) -> None:
    conn = open_db(case.db)
    for column in ("kind", "mime", "make", "model"):
        plan = " ".join(str(r[-1]) for r in conn.execute(
            f"EXPLAIN QUERY PLAN SELECT {column}, COUNT(*) FROM items GROUP BY {column}"))
        assert f"items_{column}" in plan, plan
    conn.close()


def test_item_overview_links_items_with_thumbnails(ds: Any, case: Case) -> None:
    page = get(ds, "/evidence/item_overview").text
    assert f'href="/evidence/-/item/{case.arrival}"' in page
    assert f'src="/evidence/-/thumb/{case.arrival}"' in page


def test_views_answer_the_questions(ds: Any, case: Case) -> None:
    overview = {r["item"]: r for r in rows(ds, "/evidence/item_overview")}
    assert overview[case.arrival]["custody_events"] == 2
    assert overview[case.arrival]["claims"] == 2

    chain = {r["item"]: r for r in rows(ds, "/evidence/item_custody")}[case.arrival]["chain"]
    assert chain.splitlines() == [
        "2024-10-17T12:00+10:00 published by @frontline_channel [per ana]",
        "2024-10-18 downloaded to CNN [per ana]",
    ]
    timeline = rows(ds, f"/evidence/custody_timeline?item={case.arrival}")
    assert [t["action"] for t in timeline] == ["published", "downloaded"]
    assert timeline[0]["url"] == TELEGRAM

    checks = {r["claim"]: r for r in rows(ds, "/evidence/claim_checks")}
    assert checks[case.verified_claim]["status"] == "verified"
    assert checks[case.verified_claim]["gps_check"] == "consistent"
    assert checks[case.verified_claim]["source_url"] == CNN
    assert checks[case.caption_claim]["gps_check"] == "contradicts"

    assert [r["claim"] for r in rows(ds, "/evidence/unverified_claims")] == [case.caption_claim]

    points = rows(ds, "/evidence/map_points")
    assert sorted(p["source"] for p in points) == ["claim", "claim", "exif gps"]
    assert all(isinstance(p["latitude"], float) for p in points)


def test_the_map_view_loads_the_cluster_map(ds: Any) -> None:
    page = get(ds, "/evidence/map_points").text
    assert "datasette-cluster-map" in page


def test_reupload_families_name_the_earliest_copy() -> None:
    # The view's SQL alone, on the schema with hand-written rows (no prov log involved).
    conn = sqlite3.connect(":memory:")
    for _, sql in migrations()[:3]:
        for statement in split_sql(sql):
            conn.execute(statement)
    for sha, at in (("a" * 64, "2024-10-19T00:00:00Z"), ("b" * 64, "2024-10-18T00:00:00Z"),
                    ("c" * 64, "2024-10-20T00:00:00Z"), ("d" * 64, "2024-10-01T00:00:00Z")):
        conn.execute("INSERT INTO items (sha256, md5, size, mime, kind, stored, registered_at,"
                     " registered_by, registered_event, metadata_json, raw_metadata_json)"
                     " VALUES (?, '', 1, 'image/jpeg', 'image', 1, ?, 't', 1, '{}', '{}')",
                     (sha, at))
        conn.execute("INSERT INTO sightings (item, recorded_at, recorded_by) VALUES (?, ?, 't')",
                     (sha, at))
    # c was published (custody) before anything else was registered: it is the earliest.
    conn.execute("INSERT INTO custody (item, action, at_text, at_earliest, recorded_at,"
                 " recorded_by) VALUES (?, 'published', '2024-10-17', '2024-10-17T00:00:00+00:00',"
                 " 'x', 't')", ("c" * 64,))
    for n, (x, y, verdict) in enumerate((("a", "b", "re-upload"), ("b", "c", "re-upload"),
                                         ("a", "d", "similar")), 1):
        conn.execute("INSERT INTO near_duplicates VALUES (?, ?, ?, 'pdq', 10, ?, '{}', 'x', 't')",
                     (n, x * 64, y * 64, verdict))
    got = conn.execute("SELECT family, item, first_seen_basis, is_earliest, members"
                       " FROM reupload_families").fetchall()
    assert got == [
        ("c" * 64, "c" * 64, "custody", 1, 3),
        ("c" * 64, "b" * 64, "registered", 0, 3),
        ("c" * 64, "a" * 64, "registered", 0, 3),
    ]


# --- canned queries ----------------------------------------------------------------------

def test_every_canned_query_runs(ds: Any, case: Case) -> None:
    queries = serve_app.metadata()["databases"]["evidence"]["queries"]
    params = {
        "search": "q=Sergeevka",
        "item_events": f"item={case.arrival[:8]}",
        "case_items": "case=DPRK+troops+in+Russia+%28Oct+2024%29",
        "actor_custody": "actor=cnn",
        "earliest_copies": "",
        "points_near": "latitude=43.35&longitude=133.36&km=5",
    }
    assert set(params) == set(queries), "a canned query has no test parameters here"
    for name in queries:
        assert get(ds, f"/evidence/{name}").status_code == 200, name
    found = rows(ds, "/evidence/search?" + params["search"])
    assert {(r["found_in"], r["item"]) for r in found} == {
        ("sighting", case.arrival), ("claim", case.arrival)}
    assert any("[Sergeevka]" in r["match"] for r in found)
    events = rows(ds, "/evidence/item_events?" + params["item_events"])
    assert events and all(e["item"] == case.arrival for e in events)
    assert all(re.fullmatch("[0-9a-f]{64}", e["chain_hash"]) for e in events)
    assert len(rows(ds, "/evidence/case_items?" + params["case_items"])) == 3
    assert [r["action"] for r in rows(ds, "/evidence/actor_custody?" + params["actor_custody"])
            ] == ["downloaded"]
    assert rows(ds, "/evidence/earliest_copies") == []
    near = rows(ds, "/evidence/points_near?" + params["points_near"])
    assert sorted(p["source"] for p in near) == ["claim", "exif gps"]


# --- the plugin: item page and thumbnails ------------------------------------------------

def test_item_page_shows_the_whole_audit_trail(ds: Any, case: Case) -> None:
    page = get(ds, f"/evidence/-/item/{case.arrival[:10]}")
    assert page.status_code == 200
    html = page.text
    assert case.arrival in html
    assert f'src="/evidence/-/thumb/{case.arrival}"' in html
    assert "published by @frontline_channel" in html and "downloaded to CNN" in html
    assert 'class="prov-map"' in html and 'class="point claim"' in html
    assert "Sergeevka" in html and "landmarks match satellite imagery" in html
    assert "claim.reviewed" in html and "item.registered" in html


def test_item_page_refuses_unknown_and_malformed_items(ds: Any) -> None:
    assert get(ds, "/evidence/-/item/0000000000").status_code == 404
    assert get(ds, "/evidence/-/item/xyz").status_code == 400
    assert get(ds, "/nosuchdb/-/item/0000000000").status_code == 404


def test_thumbnails_are_small_jpegs_of_images_and_placeholders_otherwise(
        ds: Any, case: Case) -> None:
    from PIL import Image

    for sha in (case.arrival, case.questionnaire):
        response = get(ds, f"/evidence/-/thumb/{sha}")
        assert response.headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(response.content)) as img:
            assert max(img.size) <= 320
    placeholder = get(ds, f"/evidence/-/thumb/{case.notes}")
    assert placeholder.headers["content-type"] == "image/svg+xml"
    assert b"no preview for text/plain" in placeholder.content


def test_a_modified_stored_original_gets_no_preview(tmp_path: Path) -> None:
    case = build(tmp_path)
    stored = tmp_path / "evidence.store" / "sha256" / case.uniforms[:2] / case.uniforms[2:4]
    target = stored / case.uniforms
    os.chmod(target, 0o600)
    target.write_bytes(target.read_bytes()[:-10] + b"0123456789")
    response = get(serve_app.build(case.db), f"/evidence/-/thumb/{case.uniforms}")
    assert response.headers["content-type"] == "image/svg+xml"
    assert b"run prov verify" in response.content


def test_shipped_metadata_works_with_plain_datasette(case: Case) -> None:
    """`datasette evidence.db -m provenance/serve/metadata.json` (without prov's plugin)."""
    from datasette.app import Datasette

    shipped = Path(serve_app.__file__).with_name("metadata.json")
    plain = Datasette([str(case.db)], metadata=json.loads(shipped.read_text("utf-8")))
    page = get(plain, "/evidence/claim_checks")
    assert page.status_code == 200 and "prov geo check" in page.text
    assert get(plain, "/evidence/search?q=barracks").status_code == 200


def test_serving_is_read_only(ds: Any) -> None:
    db = ds.get_database("evidence")
    assert db.is_mutable  # mode=ro: sees `prov add` writes through the WAL
    response = get(ds, "/evidence.json?sql=insert+into+meta+values+('x','y')")
    assert response.status_code == 400


def test_prov_help_does_not_import_datasette() -> None:
    code = "import sys, provenance.cli; print('datasette' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_serve_refuses_a_missing_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--db", str(tmp_path / "none.db"), "serve"])
    assert result.exit_code == 2
    assert "prov init" in result.stderr


def test_the_readme_documents_browsing_and_publishing() -> None:
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text("utf-8")
    for text in ("## Browsing and publishing", "`prov serve`", "`prov export ITEM`",
                 "datasette evidence.db -m provenance/serve/metadata.json", "VACUUM INTO",
                 "docs/item-page.png"):
        assert text in readme
    assert (root / "docs" / "item-page.png").is_file()
    for name in serve_app.metadata()["databases"]["evidence"]["queries"]:
        assert f"`{name}`" in readme, f"README does not mention the {name} query"


# --- errors, searches and odd file names ---------------------------------------------------

def request(ds: Any, method: str, path: str) -> Any:
    return asyncio.run(ds.client.request(method, path))


def test_writes_are_405_and_unmatched_routes_404_with_a_plain_page(ds: Any) -> None:
    queries = serve_app.metadata()["databases"]["evidence"]["queries"]
    for name in queries:  # Datasette answered a POST to a canned query with a 500
        response = request(ds, "POST", f"/evidence/{name}")
        assert response.status_code == 405, name
        assert response.headers["allow"] == "GET, HEAD"
    for method, path in (("POST", "/evidence/sightings/-/insert"), ("PUT", "/evidence/items"),
                         ("DELETE", "/evidence/items/1"), ("POST", "/evidence")):
        response = request(ds, method, path)
        assert response.status_code == 405, (method, path)
        assert "read-only" in response.text and "Traceback" not in response.text
    for path in ("/evidence/items/1/x/y", "/evidence/sightings/-/insert", "/a/b/c/d/e"):
        response = get(ds, path)
        assert response.status_code == 404, path
        assert "Traceback" not in response.text and "Error 500" not in response.text


def test_a_preview_of_an_unknown_item_is_404(ds: Any, case: Case) -> None:
    unknown = "0" * 64
    assert unknown != case.arrival
    response = get(ds, f"/evidence/-/thumb/{unknown}")
    assert response.status_code == 404
    assert "no item" in response.text


def _small_case(db: Path, *args: str) -> str:
    """A database holding one photo, at any path; its SHA-256."""
    from fixtures import media

    db.parent.mkdir(parents=True, exist_ok=True)
    runner = CliRunner()
    assert runner.invoke(app, ["--db", str(db), "init"]).exit_code == 0
    photo = db.parent / "photo.jpg"
    photo.write_bytes(media.jpeg_with_exif(5))
    result = runner.invoke(app, ["--db", str(db), "add", str(photo), "--json", *args])
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)[0]["sha256"])


def test_search_takes_ordinary_words(tmp_path: Path) -> None:
    db = tmp_path / "evidence.db"
    sha = _small_case(db, "--title", "T-90 tank on a flatcar", "--note", "a re-post of the clip")
    result = CliRunner().invoke(app, ["--db", str(db), "custody", "add", sha, "--action",
                                      "shared", "--to", "desk", "--note", "re-post seen on X"])
    assert result.exit_code == 0, result.output
    served = serve_app.build(db)
    found = rows(served, "/evidence/search?q=re-post")
    assert {r["found_in"] for r in found} == {"sighting", "custody"}
    assert [r["found_in"] for r in rows(served, "/evidence/search?q=T-90")] == ["sighting"]
    assert [r["found_in"] for r in rows(served, "/evidence/search?q=flatc*")] == ["sighting"]
    assert rows(served, "/evidence/search?q=%22tank+on%22") != []
    for odd in ("(", "col:x", "NEAR(", "*", "\"", "a OR", "-"):
        assert get(served, f"/evidence/search.json?q={odd}").status_code == 200, odd
    assert len(rows(served, "/evidence/sightings?_search=re-post")) == 1
    assert len(rows(served, "/evidence/custody?_search=re-post")) == 1


@pytest.mark.parametrize("name", ["my case.db", "Сергеевка.db", "what?.db", "a#b?c/ev#1?x.db",
                                  "p%41/q%20.db"])
def test_odd_database_file_names_serve_everything(tmp_path: Path, name: str) -> None:
    db = tmp_path / name
    sha = _small_case(db)
    before = {p.name for p in db.parent.iterdir()}
    served = serve_app.build(db)
    [route] = [n for n in served.databases if n != "_internal"]
    base = served.urls.database(route)
    page = get(served, f"{base}/-/item/{sha}")
    assert page.status_code == 200 and sha in page.text
    assert f'src="{base}/-/thumb/{sha}"' in page.text
    thumb = get(served, f"{base}/-/thumb/{sha}")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert [r["sha256"] for r in rows(served, f"{base}/items")] == [sha]
    # Nothing opened by a mangled name: no stray (empty) database beside the real one.
    after = {p.name for p in db.parent.iterdir()}
    assert {n for n in after - before if not n.endswith(("-wal", "-shm"))} == set()
    # Datasette's own URI would have opened (and created) "a" and "what" here.
    assert not (tmp_path / "a").exists() and not (tmp_path / "what").exists()
