"""Output that could carry an attack: exports, CSV, the terminal, decoder warnings."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from fixtures import media
from provenance.serve import app as serve_app
from tests.conftest import invoke
from tests.hostile import hostilecase as hc
from tests.hostile.hostilecase import Hostile

PAYLOADS = [hc.SCRIPT, hc.IMG, hc.JS_LINK, hc.REMOTE_IMG, hc.AUTOLINK, hc.STRIKE]
FORMULAS = [hc.HYPERLINK, hc.DDE, hc.PLUS, hc.AT, hc.MINUS]
# Terminal controls, line breaks and bidi controls: none may reach a terminal raw.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                         "\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROV_INVESTIGATOR", "tester")
        return hc.build(tmp_path_factory.mktemp("hostile"))


# --- the Markdown export -----------------------------------------------------------------

class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _render(markdown: str) -> _Tags:
    """The export as a permissive renderer shows it: CommonMark with raw HTML allowed, GFM
    tables and strike-through."""
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(
        markdown)
    parsed = _Tags()
    parsed.feed(html)
    return parsed


def test_markdown_export_renders_every_hostile_field_as_text(hostile: Hostile) -> None:
    run = invoke(hostile.db, "export", hostile.photo, "--format", "md", check=True)
    raw = run.stdout
    # The raw text: no tag, no link or image syntax, no autolink survives unescaped.
    assert "<script" not in raw and "<img" not in raw and "<javascript:" not in raw
    assert "](" not in raw.replace("\\](", ""), "an unescaped ](: a link or an image"
    assert "~~" not in raw
    rendered = _render(raw)
    structure = {"h1", "h2", "h3", "p", "ul", "ol", "li", "table", "thead", "tbody", "tr",
                 "th", "td", "code", "strong", "hr"}
    assert {tag for tag, _ in rendered.tags} <= structure
    assert all(not attrs for tag, attrs in rendered.tags if tag != "td" and tag != "th")
    # ...and every field still reads exactly as it was recorded.
    text = "".join(rendered.text)
    for value in [*PAYLOADS, *FORMULAS, hc.FILE_NAME, "javascript:document.title='PWNED'"]:
        assert value in text, value


def test_markdown_export_escapes_line_breaks_and_bidi_controls(hostile: Hostile) -> None:
    raw = invoke(hostile.db, "export", hostile.forged, "--format", "md", check=True).stdout
    assert not RAW_CONTROL.search(raw)
    assert "ok.jpg\\nnew    ffffffffffff" in raw and "\\x1b[31m\\u202egpj.exe" in raw.replace(
        "\\[", "[")


# --- CSV from prov serve ------------------------------------------------------------------

def _csv(ds: Any, path: str) -> list[list[str]]:
    response = asyncio.run(ds.client.get(path))
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.text, newline="")))


@pytest.mark.parametrize("path", [
    "/evidence/actors.csv", "/evidence/sightings.csv?_stream=1", "/evidence/custody_timeline.csv",
    "/evidence/item_overview.csv?_dl=1", "/evidence/claim_checks.csv",
    "/evidence/map_points.csv", "/evidence.csv?sql=select+name+from+actors",
    "/evidence/search.csv?q=calc", "/evidence/claims.csv?_labels=on",
])
def test_csv_cells_never_start_a_formula(hostile: Hostile, path: str) -> None:
    rows = _csv(serve_app.build(hostile.db), path)
    cells = [cell for row in rows for cell in row]
    assert len(rows) > 1
    live = [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")
            or (c.startswith("-") and not re.fullmatch(r"-[0-9.]+", c))]
    assert not live, live


def test_csv_defuses_exactly_and_leaves_numbers_and_other_text_alone(hostile: Hostile) -> None:
    ds = serve_app.build(hostile.db)
    names = [r[0] for r in _csv(ds, "/evidence.csv?sql=select+name+from+actors+order+by+id")[1:]]
    assert set(names) >= {"'" + f for f in (hc.HYPERLINK, hc.IMG, hc.PLUS, hc.AT, hc.DDE)} - {
        "'" + hc.IMG}
    assert hc.IMG in names  # nothing to defuse: unchanged
    points = _csv(ds, "/evidence/map_points.csv?_sort=latitude")
    header = points[0]
    assert points[1][header.index("latitude")] == "-33.8688"
    assert points[1][header.index("longitude")] == "-70.1"


def test_csv_defuser_cuts_records_across_any_chunking() -> None:
    from provenance.serve.guard import CsvDefuser, defuse

    rows = [["a", "=1+1", 'say "hi",\r\nthen -x'], ["-5", "@x", "plain"], ["+", "", "-1e3"]]
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    body = buffer.getvalue().encode()
    expected = [["a", "'=1+1", 'say "hi",\r\nthen -x'], ["-5", "'@x", "plain"],
                ["'+", "", "-1e3"]]

    async def run(chunks: list[bytes]) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        defuser = CsvDefuser(send)
        await defuser({"type": "http.response.start", "status": 200,
                       "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                   (b"content-length", b"99")]})
        for n, chunk in enumerate(chunks):
            await defuser({"type": "http.response.body", "body": chunk,
                           "more_body": n < len(chunks) - 1})
        return sent

    for size in (1, 2, 3, 7, len(body)):
        sent = asyncio.run(run([body[i:i + size] for i in range(0, len(body), size)]))
        assert all(k != b"content-length" for k, _ in sent[0]["headers"])
        text = b"".join(m.get("body", b"") for m in sent[1:]).decode()
        assert list(csv.reader(io.StringIO(text, newline=""))) == expected, size
    assert defuse("-2+3") == "'-2+3" and defuse("-2.5") == "-2.5" and defuse("x=1") == "x=1"


# --- the terminal -----------------------------------------------------------------------

def test_a_file_name_cannot_forge_or_recolour_output_lines(hostile: Hostile) -> None:
    added = invoke(hostile.db, "add", str(hostile.forged_path))
    assert added.exit_code == 0
    assert added.stdout.count("\n") == 1 and not RAW_CONTROL.search(added.output)
    assert "ok.jpg\\nnew    ffffffffffff  image    forged.jpg\\x1b[31m\\u202egpj.exe" in (
        added.stdout)
    listed = invoke(hostile.db, "list").stdout
    assert listed.count("\n") == 2 and not RAW_CONTROL.search(listed)
    shown = invoke(hostile.db, "show", hostile.forged).stdout
    assert not RAW_CONTROL.search(shown)
    assert "forged.jpg" not in "".join(line for line in shown.splitlines()
                                       if line.startswith("new "))
    for args in (["log"], ["show", hostile.photo], ["custody", "list", hostile.photo],
                 ["geo", "check", hostile.photo], ["actor", "list"], ["verify"]):
        run = invoke(hostile.db, *args)
        assert not RAW_CONTROL.search(run.output), args


def test_errors_and_warnings_naming_a_file_are_escaped_too(tmp_path: Path, db: Path) -> None:
    missing = str(tmp_path / "gone\nerror: forged\x1b[2K.jpg")
    run = invoke(db, "add", missing)
    assert run.exit_code == 1
    assert run.stderr.count("\n") == 1 and not RAW_CONTROL.search(run.stderr)
    empty = tmp_path / "empty\r\u202efdp.jpg"
    empty.write_bytes(b"")
    run = invoke(db, "add", str(empty))
    assert run.stderr.count("\n") == 1 and "empty\\r\\u202efdp.jpg" in run.stderr


def test_json_output_stays_exact(hostile: Hostile) -> None:
    run = invoke(hostile.db, "show", hostile.forged, "--json", check=True)
    assert not RAW_CONTROL.search(run.stdout)  # as JSON escapes: \n, \u001b, \u202e
    doc = json.loads(run.stdout)
    assert doc["sightings"][0]["file_name"] == hc.FORGED
    assert doc["sightings"][0]["title"] == hc.FORGED


# --- decoder warnings --------------------------------------------------------------------

def _corrupt_exif(seed: int) -> bytes:
    """A JPEG whose EXIF Make tag claims 32 KiB of data: Pillow warns while decoding it."""
    data = bytearray(media.jpeg_with_exif(seed))
    tiff = data.find(b"Exif\0\0") + 6
    order = "<" if data[tiff:tiff + 2] == b"II" else ">"
    ifd = tiff + struct.unpack(order + "I", data[tiff + 4:tiff + 8])[0]
    for k in range(struct.unpack(order + "H", data[ifd:ifd + 2])[0]):
        entry = ifd + 2 + 12 * k
        if struct.unpack(order + "H", data[entry:entry + 2])[0] == 0x010F:
            data[entry + 4:entry + 8] = struct.pack(order + "I", 0x7FFF)
    return bytes(data)


def test_decoder_warnings_are_one_line_per_file(tmp_path: Path, db: Path) -> None:
    # Four files: analysed in a process pool, as a real batch is.
    folder = tmp_path / "batch"
    folder.mkdir()
    for n in range(4):
        (folder / f"bad-exif-{n}.jpg").write_bytes(_corrupt_exif(40 + n))
    env = {**os.environ, "PROV_INVESTIGATOR": "tester"}
    run = subprocess.run([sys.executable, "-m", "provenance", "--db", str(db), "add",
                          str(folder)], capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 4, run.stderr
    for n, line in enumerate(sorted(lines)):
        assert line.startswith(f"warning: {folder / f'bad-exif-{n}.jpg'}: the decoder warned:")
        assert "Tag data larger than file" in line
    assert "warnings.warn" not in run.stderr and "PIL/" not in run.stderr


def test_prov_match_says_what_the_decoder_warned_in_one_line(tmp_path: Path, db: Path) -> None:
    query = tmp_path / "query.jpg"
    query.write_bytes(_corrupt_exif(50))
    env = {**os.environ, "PROV_INVESTIGATOR": "tester"}
    run = subprocess.run([sys.executable, "-m", "provenance", "--db", str(db), "match",
                          str(query), "--json"], capture_output=True, text=True, env=env,
                         check=False)
    assert run.returncode == 0, run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith(f"warning: {query}: the decoder warned: UserWarning: Tag data")
    assert json.loads(run.stdout)["query"]["warnings"] == [line.split(": ", 2)[2]]
