"""The keypoint cache asks for the pictures registered after it by their registering event."""

from __future__ import annotations

from provenance.ledger.db import open_db
from provenance.matching import kpcache


def test_pictures_after_the_cache_are_read_by_registering_event_not_by_kind(tmp_path):
    """Read by kind, every picture of the archive was read and sorted (1.7 s a command at
    a million items, for the few registered since the cache)."""
    conn = open_db(tmp_path / "evidence.db", create=True)
    plan = " ".join(str(row[3]) for row in conn.execute(
        "EXPLAIN QUERY PLAN " + kpcache.PICTURES_AFTER, (*kpcache.PICTURE_KINDS, 10)))
    assert "items_registered_event (registered_event>?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    assert kpcache.pictures_after(conn, 0) == []
