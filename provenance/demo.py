"""`prov demo`: the seed case built from fixtures/ into a fresh demo database."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

from . import ingest, registry, report
from .errors import UsageProblem
from .store import open_db, store_dir, transaction


def _is_demo(path: Path) -> bool:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'demo'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False
    return row is not None


def _fresh(path: Path) -> None:
    """Remove an earlier demo at `path`; refuse to touch anything that is not one."""
    if not path.exists():
        return
    if not _is_demo(path):
        raise UsageProblem(
            f"{path} exists and is not a prov demo database; pass --db with another path"
        )
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    store = store_dir(path)
    if store.exists():
        for p in store.rglob("*"):
            p.chmod(0o700 if p.is_dir() else 0o600)
        shutil.rmtree(store)


def build(path: Path, *, by: str) -> tuple[dict[str, Any], list[str]]:
    """Build the seed case; return the arrival clip's report and what was done, line by line."""
    from fixtures.case import CASE, write_seed_case

    _fresh(path)
    conn = open_db(path, create=True)
    with transaction(conn):
        conn.execute("INSERT INTO meta VALUES ('demo', '1')")
    files = write_seed_case(path.parent / "seed-media")
    steps = [f"demo database: {path}"]
    titles = {
        "arrival": "Troops arriving at Sergeevka training camp (social media clip)",
        "uniforms": "North Korean soldiers receiving Russian uniforms (shared by CSCIS)",
        "questionnaire": "Sizing questionnaire (Russian header, Korean size options)",
    }
    shas: dict[str, str] = {}
    for name, file in files.items():
        results = ingest.add_paths(
            conn,
            [str(file)],
            ingest.Sighting(case=CASE, title=titles[name]),
            by=by,
            kind="scan" if name == "questionnaire" else None,
        )
        result = results[0]
        if result.sha256 is None:
            raise UsageProblem(f"demo fixture {file} failed to register: {result.error}")
        shas[name] = result.sha256
        steps.append(f"registered {name:<13} {result.sha256[:12]}  {file.name}")
    sha = registry.resolve(conn, shas["arrival"])
    return report.item_report(conn, sha), steps
