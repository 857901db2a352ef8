"""Which configured facets `prov serve` counts on every page: none on a table too big to count.

Datasette counts each configured facet of a table on every page of it, over every row: at a
million items the four of `items` (kind, mime, make, model) took 205-273 ms each, 660 ms of
a page whose rows took 5 ms (issue 20). On a table (or view) whose rows could number more
than FACET_ROWS_MAX, the configured facets are therefore left off its pages; any column is
still one click away (its menu, "Facet by this", or `?_facet=COLUMN`), and the table's
description says so. The size is found once, when the server starts: each table a table or
view reads is counted up to FACET_ROWS_MAX + 1 rows, no further (a view is taken to be as
big as the biggest table it reads). A server started on a small database and left running
while it grows keeps its facets until restarted.
"""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path
from typing import Any

# Four facets of a table of this many rows are counted in ~100 ms (at ~4 million rows a
# second by an index), within the 300 ms a page may take with its rows and its count.
FACET_ROWS_MAX = 100_000


def rows_up_to(conn: sqlite3.Connection, name: str, limit: int) -> int | None:
    """The rows of the biggest table that table or view `name` reads, counted up to
    limit + 1 (None: it reads no table). Counting stops there, by the table's smallest
    index: 0.3-18 ms a table at a million items, where a table's highest rowid (the event
    that wrote its newest row) says little: 12,035 claim reviews, highest rowid 2,463,211."""
    read: set[str] = set()

    def note(action: int, arg1: str | None, *_: Any) -> int:
        if action == sqlite3.SQLITE_READ and arg1:
            read.add(arg1)
        return sqlite3.SQLITE_OK

    conn.set_authorizer(note)
    try:
        # Compiled, never run (the authorizer is asked while compiling): running even
        # LIMIT 0 of a grouping view materialises it, tens of seconds at a million items.
        conn.execute(f"EXPLAIN SELECT * FROM {_quoted(name)}").fetchall()
    finally:
        conn.set_authorizer(None)
    # The authorizer names the views read (and the view itself) as well: only tables are
    # counted (counting reupload_families up to the limit took 195 s at a million items).
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    counts = [int(conn.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {_quoted(table)} LIMIT ?)",
                               (limit + 1,)).fetchone()[0]) for table in sorted(read & tables)]
    return max(counts, default=None)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def trimmed(metadata: dict[str, Any], db_path: Path, limit: int = FACET_ROWS_MAX
            ) -> dict[str, Any]:
    """`metadata` (Datasette's, keyed by database name) without the configured facets of
    tables and views that may hold more than `limit` rows, each saying so in its description."""
    out = copy.deepcopy(metadata)
    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        for database in out.get("databases", {}).values():
            for name, table in database.get("tables", {}).items():
                facets = table.get("facets")
                if not facets:
                    continue
                try:
                    rows = rows_up_to(conn, name, limit)
                except sqlite3.Error:
                    continue  # not in this database (an older one): Datasette skips it too
                if rows is None or rows <= limit:
                    continue
                del table["facets"]
                columns = [f if isinstance(f, str) else next(iter(f.values())) for f in facets]
                note = (f"Facets ({', '.join(map(str, columns))}) are not counted on each page"
                        f" of a table this size (more than {limit:,} rows when the server"
                        " started): choose a column's menu, Facet by this, or add"
                        f" ?_facet={columns[0]} to the address.")
                table["description"] = f"{table['description']} {note}" \
                    if table.get("description") else note
    finally:
        conn.close()
    return out
