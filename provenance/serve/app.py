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


def build(db_path: Path, **settings: Any) -> Any:
    """A Datasette instance on the database. Mutable files open with mode=ro: read-only
    for Datasette, while `prov add` can still append (immutable=1 would ignore the WAL)."""
    from datasette.app import Datasette

    return Datasette(
        [str(db_path)],
        metadata=metadata(db_path.stem),
        plugins_dir=str(PLUGINS_DIR),
        # No suggested facets: Datasette tries every column of a table for them on each page,
        # 3.4 s of the items page's 4.1 s at 258,000 items (issue 20). The configured
        # facets stay, and any column can still be faceted (its menu, or ?_facet=COLUMN).
        settings={"truncate_cells_html": 80, "suggest_facets": False, **settings},
    )


def run(db_path: Path, *, host: str = "127.0.0.1", port: int = 8001) -> None:
    import asyncio

    import uvicorn

    ds = build(db_path)
    # Datasette's own `serve` does the same: startup hooks first, then uvicorn.
    asyncio.run(ds.invoke_startup())
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning", lifespan="on")
