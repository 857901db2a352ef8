"""The command line as a whole: help, documentation, start-up cost, the demo, errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from provenance.cli import app

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "PIL", "av", "fitz", "pymupdf", "geopy", "datasette", "cv2", "exifread",
         "pdqhash", "imagehash", "sqlite_utils", "cryptography", "pypdfium2", "pytesseract")


def _commands() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    names = []
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        sub = getattr(cmd, "commands", None)
        if sub:
            names.extend(f"{name} {s}" for s in sub)
        else:
            names.append(name)
    return names


def test_every_command_has_help_text():
    for name in _commands():
        result = CliRunner().invoke(app, [*name.split(), "--help"])
        assert result.exit_code == 0, name
        assert len(result.stdout.strip().splitlines()) > 3, name


def test_the_readme_documents_every_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in _commands():
        assert re.search(rf"prov {re.escape(name)}\b", readme), f"README lacks `prov {name}`"


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from provenance.cli import app\n"
        "CliRunner().invoke(app, ['--help'])\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_command_is_built_and_imported_alone():
    # Typer builds every command of a group up front: reading forty signatures and importing
    # every command's module cost each `prov match` and `prov --version` 50-70 ms of CPU.
    # Commands are built when asked for (cli/group.py): --version builds none, a command
    # itself alone, and a sub-app built twice (a second CliRunner) lists its commands once.
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from provenance.cli import app\n"
        "def cli():\n"
        "    return sorted(m for m in sys.modules if m.startswith('provenance.cli.'))\n"
        "assert CliRunner().invoke(app, ['--version']).exit_code == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith('provenance.')))\n"
        "assert CliRunner().invoke(app, ['dupes', '--help']).exit_code == 0\n"
        "print(cli())\n"
        "for _ in range(2):\n"
        "    out = CliRunner().invoke(app, ['custody', '--help']).stdout\n"
        "print([line.split()[0] for line in out.split('Commands:')[1].splitlines()[1:]"
        " if line.strip()])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    version, dupes, custody = out.stdout.splitlines()
    # Nor the report renderers for `printable`, which every command's output goes through.
    assert version == ("['provenance.cli', 'provenance.cli.common', 'provenance.cli.group',"
                       " 'provenance.errors', 'provenance.report', 'provenance.report.printable']")
    assert dupes == "['provenance.cli.common', 'provenance.cli.group', 'provenance.cli.matching']"
    assert custody == "['add', 'list', 'correct']"


def test_openblas_is_given_one_thread_unless_the_user_said_otherwise():
    # Its threads spun at numpy's import: ~40 ms of CPU of each `prov match` and `prov add`.
    code = ("import os\n"
            "import provenance.cli\n"
            "print(os.environ.get('OPENBLAS_NUM_THREADS'))\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    for given, expected in ((None, "1"), ("3", "3")):
        if given is not None:
            env["OPENBLAS_NUM_THREADS"] = given
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env=env)
        assert out.stdout.strip() == expected


def test_match_turns_the_cyclic_collector_back_on(prov, tmp_path):
    # `prov match` runs without the cyclic collector (its passes over numpy's, OpenCV's and
    # Pillow's objects cost 40-50 ms); whatever runs after it in the process has it back.
    import gc

    from fixtures import media

    photo = tmp_path / "a.jpg"
    photo.write_bytes(media.jpeg_with_exif(903, size=(96, 72)))
    assert gc.isenabled()
    assert prov("match", str(photo)).exit_code == 0
    assert prov("match", str(tmp_path / "missing.jpg")).exit_code != 0
    assert gc.isenabled()


def test_reading_commands_do_not_import_heavy_modules(tmp_path):
    # list, show, log, verify and custody list read the database: none of them needs numpy,
    # OpenCV, PyAV or PyMuPDF (only `add`, `match`, previews and the web server do).
    from .conftest import invoke

    db = tmp_path / "evidence.db"
    photo = tmp_path / "a.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))  # registered as kind other/refused
    sample = tmp_path / "note.txt"
    sample.write_text("a statement, registered as an item of kind other")
    invoke(db, "init", check=True)
    sha = invoke(db, "add", str(sample), "--json", check=True).json()[0]["sha256"]
    invoke(db, "custody", "add", sha[:8], "--action", "obtained", "--at", "2024-10", check=True)
    heavy = [m for m in HEAVY if m not in ("cryptography", "sqlite_utils")]
    for args in (["list"], ["show", sha[:8]], ["log", sha[:8]], ["verify"],
                 ["custody", "list", sha[:8]]):
        code = (
            "import sys\n"
            "from typer.testing import CliRunner\n"
            "from provenance.cli import app\n"
            f"r = CliRunner().invoke(app, {['--db', str(db), *args]!r})\n"
            "assert r.exit_code == 0, r.output\n"
            f"print([m for m in {heavy!r} if m in sys.modules])\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        assert out.stdout.strip() == "[]", (args, out.stdout)


def test_usage_errors_exit_2_with_a_hint(prov):
    run = prov("add")
    assert run.exit_code == 2 and "Missing argument" in run.stderr
    run = prov("list", "--kind", "hologram")
    assert run.exit_code == 2 and "image" in run.stderr


def test_demo_builds_the_seed_case_and_shows_it(tmp_path):
    target = tmp_path / "demo" / "evidence.db"
    result = CliRunner().invoke(app, ["demo", "--db", str(target)])
    assert result.exit_code == 0, result.output
    assert "sergeevka_arrival.mp4" in result.stdout
    # The re-posted excerpt is recognised, and the seconds of the arrival clip it covers named.
    assert re.search(r"re-upload of \w{12} \(vpdq, seconds 1[12][.\d]*-(29|3[0-2])[.\d]* of it\)",
                     result.stdout), result.stdout
    # The intercepted call's sound, re-posted under footage that matches nothing (issue 19).
    assert re.search(r"same audio as \w{12} \(audio, seconds (9|10)[.\d]*-(39|40|41)[.\d]* of it\)",
                     result.stdout), result.stdout
    assert "43.3491" in result.stdout
    # The questionnaire's text, read off its pages at registration (issue 18).
    assert "page 1 (text layer): АНКЕТА РАЗМЕРОВ ОБМУНДИРОВАНИЯ" in result.stdout
    assert "Лист 1 из 3 / 페이지 1" in result.stdout
    assert "Sergeevka training camp" in result.stdout and "verified" in result.stdout
    assert "published by CNN" in result.stdout and "refuted" in result.stdout
    # One C2PA-signed photo, trusted on the demo's anchor; one checkpoint stamped (issue 17).
    assert "content credential: credential valid and trusted, signed by prov demo camera" \
        in result.stdout
    assert re.search(r"checkpoint \S+: log head \w{16}… existed at \S+Z per prov demo TSA",
                     result.stdout), result.stdout
    # An incident, the clip's status and a second investigator's sign-off (issue 15).
    assert "incidents: Troops arrive at Sergeevka training camp" in result.stdout
    assert "status: completed" in result.stdout
    assert re.search(r"demo-reviewer approved the work \S+ submitted", result.stdout)
    assert CliRunner().invoke(app, ["--db", str(target), "verify"]).exit_code == 0
    # Running it again rebuilds the demo; it never touches a database that is not one.
    assert CliRunner().invoke(app, ["demo", "--db", str(target)]).exit_code == 0
    other = tmp_path / "real.db"
    CliRunner().invoke(app, ["--db", str(other), "init"])
    refused = CliRunner().invoke(app, ["demo", "--db", str(other)])
    assert refused.exit_code == 2 and "not a prov demo database" in refused.stderr


def test_a_reader_that_stops_early_gets_no_error(prov, db, tmp_path):
    from fixtures import media
    from provenance.case import custody
    from provenance.ledger.db import open_db

    photo = tmp_path / "a.jpg"
    photo.write_bytes(media.jpeg_with_exif(900, size=(96, 72)))
    sha = prov("add", str(photo), "--json").json()[0]["sha256"]
    conn = open_db(db)
    for i in range(1500):  # far more log lines than a pipe buffer holds
        custody.record(conn, sha, custody.CustodyInput("archived", from_actor="CNN",
                                                       note=f"copy {i}"), by="tester")
    prov_bin = str(Path(sys.executable).with_name("prov"))
    out = subprocess.run(f"'{prov_bin}' --db '{db}' log | head -n 1", shell=True,
                         capture_output=True, text=True, check=True)
    assert len(out.stdout.splitlines()) == 1
    assert out.stderr == ""


def test_match_does_not_import_pydantic_or_scipy(prov, db, tmp_path):
    # Typer coerces values through pydantic (~0.1 s to import); plain strings skip it.
    from fixtures import media

    photo = tmp_path / "a.jpg"
    photo.write_bytes(media.jpeg_with_exif(900, size=(96, 72)))
    assert prov("add", str(photo)).exit_code == 0
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from provenance.cli import app\n"
        f"r = CliRunner().invoke(app, ['--db', {str(db)!r}, 'match', {str(photo)!r}, '--json'])\n"
        "print(r.exit_code, '\"identical\"' in r.stdout,"
        " [m for m in ('pydantic', 'scipy') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0 True []"


def test_add_of_plain_file_names_does_not_import_pydantic(db, tmp_path):
    # `prov add FILE...`: a list of strings skips Typer's pydantic coercion (0.3-0.6 s of a
    # one-photo add on a loaded machine), and every name still arrives.
    from fixtures import media

    for n in (0, 1):
        (tmp_path / f"{n}.jpg").write_bytes(media.jpeg_with_exif(910 + n, size=(96, 72)))
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from provenance.cli import app\n"
        f"r = CliRunner().invoke(app, ['--db', {str(db)!r}, 'add', {str(tmp_path / '0.jpg')!r},"
        f" {str(tmp_path / '1.jpg')!r}, '--json'])\n"
        "print(r.exit_code, r.stdout.count('\"new\"'), 'pydantic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0 2 False"


def test_options_that_are_not_plain_strings_are_still_checked(prov, tmp_path):
    photo = tmp_path / "missing.jpg"
    run = prov("match", str(photo), "--max-distance", "many")
    assert run.exit_code == 2 and "--max-distance" in run.stderr and "integer" in run.stderr
    run = prov("match", "--max-distance", "5")
    assert run.exit_code == 2 and "Missing argument" in run.stderr
    run = prov("add", str(photo), "--kind", "hologram")
    assert run.exit_code == 2 and "hologram" in run.stderr


def test_match_as_a_process_prints_everything_and_exits_cleanly(prov, db, tmp_path):
    # `prov match` ends without the interpreter's teardown (cli_common.quick_exit): its
    # output must still arrive whole, with the exit status, through a pipe too.
    import json

    from fixtures import media

    photo = tmp_path / "a.jpg"
    photo.write_bytes(media.jpeg_with_exif(901, size=(96, 72)))
    assert prov("add", str(photo)).exit_code == 0
    prov_bin = str(Path(sys.executable).with_name("prov"))
    out = subprocess.run([prov_bin, "--db", str(db), "match", str(photo), "--json"],
                         capture_output=True, text=True)
    assert (out.returncode, out.stderr) == (0, "")
    assert json.loads(out.stdout)["matches"][0]["verdict"] == "identical"
    piped = subprocess.run(f"'{prov_bin}' --db '{db}' match '{photo}' | head -c 5", shell=True,
                           capture_output=True, text=True)
    assert (piped.stdout, piped.stderr) == ("query", "")
    missing = subprocess.run([prov_bin, "--db", str(db), "match", str(tmp_path / "no.jpg")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "not an item" in missing.stderr


# --- --out (issue 12, defect 4) -------------------------------------------------------------


def _one_case_item(prov, tmp_path: Path) -> None:
    from fixtures import media

    photo = tmp_path / "arrival.jpg"
    photo.write_bytes(media.jpeg_with_exif(902, size=(96, 72)))
    assert prov("add", str(photo), "--case", "dprk").exit_code == 0


def _out_commands(sha_or_case: str) -> dict[str, list[str]]:
    return {"checkpoint": ["checkpoint"],
            "export": ["export", "--case", sha_or_case, "--format", "json"],
            "bundle": ["bundle", "--case", sha_or_case]}


def test_out_into_folders_that_do_not_exist_creates_them_and_says_so(prov, tmp_path,
                                                                     monkeypatch):
    # The README's own `prov checkpoint --out ~/notary/dprk-$(date +%F).json` on a new machine.
    _one_case_item(prov, tmp_path)
    for name, args in _out_commands("dprk").items():
        out = tmp_path / "new" / name / f"dprk.{name}"
        run = prov(*args, "--out", str(out))
        assert run.exit_code == 0, run.output
        assert out.is_file() and out.stat().st_size > 0, name
        assert f"created folder {out.parent} for --out" in run.stderr
        assert "internal error" not in run.stderr
    # `~` is the user's home folder, also when the shell left it alone (`--out=~/…`).
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    run = prov("checkpoint", "--out", "~/notary/dprk.json")
    assert run.exit_code == 0, run.output
    assert (home / "notary" / "dprk.json").is_file()


def test_out_that_is_a_folder_or_cannot_be_written_gets_one_line(prov, tmp_path):
    _one_case_item(prov, tmp_path)
    events = prov("log", "--json").json()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder\n", encoding="utf-8")
    for name, args in _out_commands("dprk").items():
        for out, says in ((tmp_path, "is a folder; name a file in it"),
                          (a_file / "sub" / "x.out", "is a file, not a folder")):
            run = prov(*args, "--out", str(out))
            assert run.exit_code == 2, (name, run.output)
            [line] = run.stderr.splitlines()
            assert line.startswith(f"error: --out {out}") and says in line, line
    assert not (a_file / "sub").exists()
    assert prov("log", "--json").json() == events  # nothing recorded by a refused command


def test_a_failed_command_leaves_no_folder_behind(prov, tmp_path):
    _one_case_item(prov, tmp_path)
    out = tmp_path / "made" / "for" / "nothing.zip"
    run = prov("bundle", "--case", "no such case", "--out", str(out))
    assert run.exit_code == 2 and "no items in case" in run.stderr
    assert not (tmp_path / "made").exists()


def test_out_where_writing_is_not_permitted_gets_one_line(prov, tmp_path):
    import os

    import pytest

    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        for name, args in _out_commands("dprk").items():
            run = prov(*args, "--out", str(locked / "sub" / f"x.{name}"))
            assert run.exit_code == 2, (name, run.output)
            assert "permission denied" in run.stderr and len(run.stderr.splitlines()) == 1
    finally:
        locked.chmod(0o700)


def test_kind_given_for_a_file_already_held_is_not_ignored_silently(prov, tmp_path):
    from fixtures import media

    photo = tmp_path / "page.jpg"
    photo.write_bytes(media.jpeg_with_exif(903, size=(96, 72)))
    assert prov("add", str(photo)).exit_code == 0
    run = prov("add", str(photo), "--kind", "scan")
    assert run.exit_code == 0
    assert (f"notice: {photo}: already held as image; --kind scan does not change a held"
            " item's kind") in run.stderr
    [item] = prov("list", "--json").json()
    assert item["kind"] == "image"
    # The same kind again, or no --kind, needs no notice.
    assert "notice" not in prov("add", str(photo), "--kind", "image").stderr
    assert "notice" not in prov("add", str(photo)).stderr
