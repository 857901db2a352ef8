"""A small case built through the CLI, shared by the serve, export and browser tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fixtures import media
from fixtures.case import CASE, write_seed_case
from tests.conftest import invoke

TELEGRAM = "https://t.me/example_channel/1234"
CNN = "https://edition.cnn.com/example/dprk-troops"


@dataclass
class Case:
    db: Path
    arrival: str
    uniforms: str
    questionnaire: str
    notes: str
    verified_claim: int
    caption_claim: int


def prov(db: Path, *args: str) -> str:
    return invoke(db, *args, by="ana", check=True).stdout


def build(folder: Path) -> Case:
    """Three seed photos, a text file, custody, two claims (one verified) — all via `prov`."""
    db = folder / "evidence.db"
    files = write_seed_case(folder / "media")
    # A still of the arrival clip: the pages under test show an image's preview and GPS.
    files["arrival"] = folder / "media" / "sergeevka_arrival.jpg"
    files["arrival"].write_bytes(media.jpeg_with_exif(
        2024, gps=media.SERGEEVKA, altitude=112.0, captured="2024:10:17 09:31:05",
        offset="+10:00", make="Samsung", model="SM-A525F"))
    notes = folder / "media" / "interview-notes.txt"
    notes.write_text("Desk notes on the arrival clip.\n", encoding="utf-8")
    prov(db, "init")
    shas = {}
    for name, extra in (("arrival", ["--source-url", TELEGRAM,
                                     "--title", "Troops arriving at Sergeevka camp",
                                     "--note", "caption names the Sergeevka training camp"]),
                        ("uniforms", ["--title", "Soldiers receiving Russian uniforms"]),
                        ("questionnaire", ["--kind", "scan", "--title", "Sizing questionnaire"])):
        out = prov(db, "add", str(files[name]), "--case", CASE, "--json", *extra)
        shas[name] = _sha(out)
    shas["notes"] = _sha(prov(db, "add", str(notes), "--case", "other case", "--json"))
    arrival = shas["arrival"]
    prov(db, "custody", "add", arrival, "--action", "published", "--from", "@frontline_channel",
         "--at", "2024-10-17T12:00+10:00", "--url", TELEGRAM, "--note", "first seen on Telegram")
    prov(db, "custody", "add", arrival, "--action", "downloaded", "--to", "CNN",
         "--at", "2024-10-18", "--note", "archived by the verification desk")
    verified = _claim_id(prov(db, "geo", "claim", arrival, "--coords", "43.3491, 133.3597",
                              "--place", "Sergeevka", "--by", "CNN", "--method", "geolocated",
                              "--confidence", "high", "--source-url", CNN,
                              "--note", "matched barracks roofs and the tree line"))
    caption = _claim_id(prov(db, "geo", "claim", arrival, "--coords", "44.0, 131.9",
                             "--by", "@frontline_channel", "--method", "caption",
                             "--note", "caption says near Ussuriysk"))
    prov(db, "geo", "review", str(verified), "--status", "verified", "--reason",
         "landmarks match satellite imagery")
    return Case(db, arrival, shas["uniforms"], shas["questionnaire"], shas["notes"],
                verified, caption)


def _sha(out: str) -> str:
    import json

    return str(json.loads(out)[0]["sha256"])


def _claim_id(out: str) -> int:
    # "claim 11 recorded for …"
    return int(out.split()[1])
