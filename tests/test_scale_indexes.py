"""Pages a large archive must serve without sorting a whole table."""

from __future__ import annotations

import json
from pathlib import Path

import provenance.serve
from provenance.ledger.db import open_db


def test_the_items_page_order_is_served_by_an_index(tmp_path):
    """Datasette's items page is sorted by registration time: with 250,000 items and no
    index, sorting took longer than its one-second limit and the page failed."""
    metadata = json.loads((Path(provenance.serve.__file__).parent / "metadata.json").read_text())
    items = metadata["databases"]["evidence"]["tables"]["items"]
    assert items["sort_desc"] == "registered_at"
    conn = open_db(tmp_path / "e.db", create=True)
    plan = " ".join(str(r[3]) for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM items ORDER BY registered_at DESC LIMIT 101"))
    assert "TEMP B-TREE" not in plan, plan
