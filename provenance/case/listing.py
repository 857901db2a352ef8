"""`prov list`, a page at a time: the first N items and how many there are in all."""

from __future__ import annotations

import sqlite3
from typing import Any

from provenance.case import items as registry
from provenance.case import workflow


def list_page(conn: sqlite3.Connection, *, limit: int | None, case: str | None = None,
              kind: str | None = None, tag: str | None = None,
              include_withdrawn: bool = False, status: str | None = None,
              ) -> tuple[list[dict[str, Any]], int]:
    """The first `limit` items `prov list` would show (all when None), and how many it
    would show in all."""
    if limit is None or status is not None:
        # A status is known only once each row has its own: filter every row, then cut.
        every = workflow.with_status(
            registry.list_items(conn, case=case, kind=kind, tag=tag,
                                include_withdrawn=include_withdrawn), conn, status)
        return (every if limit is None else every[:limit]), len(every)
    page = workflow.with_status(
        registry.list_items(conn, case=case, kind=kind, tag=tag,
                            include_withdrawn=include_withdrawn, limit=limit), conn)
    total = len(page) if len(page) < limit else registry.count_items(
        conn, case=case, kind=kind, tag=tag, include_withdrawn=include_withdrawn)
    return page, total
