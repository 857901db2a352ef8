"""`prov serve` counts configured facets only on tables small enough to count on every page."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from provenance.serve import app as serve_app
from provenance.serve import facets
from tests.servecase import Case


def get(ds: Any, path: str) -> Any:
    return asyncio.run(ds.client.get(path))


def facet_names(ds: Any, path: str) -> set[str]:
    response = get(ds, path)
    assert response.status_code == 200, response.text
    found = response.json()["facet_results"]
    return set(found.get("results", found))


def test_a_small_database_keeps_every_configured_facet(served_case: Case) -> None:
    ds = serve_app.build(served_case.db)
    assert facet_names(ds, "/evidence/items.json?_extra=facet_results") == {
        "kind", "mime", "make", "model"}
    assert facet_names(ds, "/evidence/item_overview.json?_extra=facet_results") == {
        "kind", "cases"}
    assert "not counted" not in get(ds, "/evidence/items").text


def test_a_table_too_big_to_count_shows_no_facets_but_any_stays_one_click_away(
        served_case: Case) -> None:
    conn = sqlite3.connect(served_case.db)
    items = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    reviews = conn.execute("SELECT COUNT(*) FROM claim_reviews").fetchone()[0]
    conn.close()
    # The limit between the two tables' sizes: items is "too big", claim_reviews is not.
    assert reviews < items
    ds = serve_app.build(served_case.db, facet_rows_max=reviews)
    assert facet_names(ds, "/evidence/items.json?_extra=facet_results") == set()
    # A view reading a table that big is too big as well.
    assert facet_names(ds, "/evidence/item_overview.json?_extra=facet_results") == set()
    assert facet_names(ds, "/evidence/claim_reviews.json?_extra=facet_results") == {"status"}
    page = get(ds, "/evidence/items")
    assert page.status_code == 200
    assert "Facets (kind, mime, make, model) are not counted" in page.text
    assert "?_facet=kind" in page.text
    # One click away: a facet asked for is counted.
    asked = facet_names(ds, "/evidence/items.json?_facet=make&_extra=facet_results")
    assert asked == {"make"}
    # The rows and their count are still there.
    data = get(ds, "/evidence/items.json").json()
    assert data["filtered_table_rows_count"] == items == len(data["rows"])


def test_a_view_is_as_big_as_the_biggest_table_it_reads_counted_no_further(
        served_case: Case) -> None:
    conn = sqlite3.connect(served_case.db)
    count = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
             for t in ("items", "sightings", "custody", "claims", "events")}
    assert facets.rows_up_to(conn, "items", 1000) == count["items"]
    assert facets.rows_up_to(conn, "events", 1000) == count["events"]
    assert facets.rows_up_to(conn, "events", 3) == 4  # stops counting past the limit
    # item_overview reads items, sightings, custody and claims.
    assert facets.rows_up_to(conn, "item_overview", 1000) == max(
        count["items"], count["sightings"], count["custody"], count["claims"])
    conn.close()


def test_only_tables_are_counted_never_a_view_read(tmp_path) -> None:
    # The authorizer names the views a view reads, and the view itself: counting those runs
    # them (reupload_families, counted up to the limit, took 195 s at a million items).
    # Here running the view fails outright, as abs() of the smallest integer overflows.
    conn = sqlite3.connect(tmp_path / "views.db")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(-(2**63),), (1,), (2,)])
    conn.execute("CREATE VIEW inner_v AS SELECT abs(x) AS a FROM t WHERE abs(x) >= 0")
    conn.execute("CREATE VIEW outer_v AS SELECT a FROM inner_v GROUP BY a")
    assert facets.rows_up_to(conn, "outer_v", 10) == 3
    assert facets.rows_up_to(conn, "outer_v", 1) == 2
    conn.close()
