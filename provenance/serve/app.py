"""Datasette on a prov database: read-only, localhost, with prov's metadata and plugin."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
PLUGINS_DIR = PACKAGE_DIR / "plugins"
# The shipped metadata file describes a database named "evidence" (evidence.db).
SHIPPED_NAME = "evidence"


def metadata(db_name: str = SHIPPED_NAME) -> dict[str, Any]:
    """The shipped metadata.json, keyed to the served database's name."""
    text = resources.files("provenance.serve").joinpath("metadata.json").read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    if db_name != SHIPPED_NAME:
        doc = copy.deepcopy(doc)
        doc["databases"] = {db_name: doc["databases"].pop(SHIPPED_NAME)}
    return doc


def build(db_path: Path, *, facet_rows_max: int | None = None, **settings: Any) -> Any:
    """A Datasette instance on the database. Mutable files open with mode=ro: read-only
    for Datasette, while `prov add` can still append (immutable=1 would ignore the WAL).
    Tables that may hold more than facet_rows_max rows (default facets.FACET_ROWS_MAX)
    are shown without their configured facets (see provenance.serve.facets)."""
    from datasette.app import Datasette

    from provenance.serve import facets

    limit = facets.FACET_ROWS_MAX if facet_rows_max is None else facet_rows_max
    return Datasette(
        [str(db_path)],
        metadata=facets.trimmed(metadata(db_path.stem), db_path, limit),
        plugins_dir=str(PLUGINS_DIR),
        # No suggested facets: Datasette tries every column of a table for them on each page,
        # 3.4 s of the items page's 4.1 s at 258,000 items (issue 20). The configured
        # facets stay on tables small enough to count them on every page, and any column
        # can still be faceted (its menu, or ?_facet=COLUMN). A facet asked for may take up
        # to a second (Datasette's default, 200 ms, timed out on `kind` at a million items,
        # 205-273 ms); only tables too big for facets on every page come near it.
        settings={"truncate_cells_html": 80, "suggest_facets": False,
                  "facet_time_limit_ms": 1000, **settings},
    )


def run(db_path: Path, *, host: str = "127.0.0.1", port: int = 8001) -> None:
    import asyncio

    import uvicorn

    ds = build(db_path)
    # Datasette's own `serve` does the same: startup hooks first, then uvicorn.
    asyncio.run(ds.invoke_startup())
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning", lifespan="on")
