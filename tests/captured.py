"""One capture of the test site's post page, made once per module for the tests that only
read it (each capture is a download, a WACZ and a video's analysis)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures import web

from .conftest import invoke, prov_cache


@dataclass
class Posted:
    db: Path
    r: dict[str, Any]  # `prov capture --json` of the post page
    base: str  # the address of the server it was captured from (stopped since)


def capture_post(site: web.Site, tmp: pytest.TempPathFactory, *args: str) -> Posted:
    db = tmp.mktemp("posted") / "evidence.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PROV_DB", raising=False)
        mp.delenv("PROV_SIGNING_KEY", raising=False)
        mp.setenv("PROV_INVESTIGATOR", "tester")
        mp.setenv("PROV_CHROMIUM", "")
        mp.setenv("PROV_ANALYSE", "later")
        mp.setenv("PROV_CACHE_DIR", str(prov_cache(tmp)))
        site.state.update(version=1, media_gone=0)
        with web.serve(site) as srv:
            invoke(db, "init", check=True)
            run = invoke(db, "capture", f"{srv.base}/post", *args, "--json")
            assert run.exit_code == 0, run.output
    return Posted(db, run.json()[0], srv.base)
