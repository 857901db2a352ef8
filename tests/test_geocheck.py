"""Pairwise verdicts between claims and GPS positions, with their distances and tolerances."""

from __future__ import annotations

import json

import pytest

from provenance.errors import BadInput
from provenance.geo.geocheck import (
    DEFAULT_RADIUS_M,
    INCONCLUSIVE_FACTOR,
    check_points,
    judge,
    located,
)

SERGEEVKA_SOUTH = (43.35032, 133.35815)  # geonameid 2016961, the camp CNN geolocated
SERGEEVKA_NORTH = (44.33749, 131.66142)  # geonameid 2020626, same name, ~150 km away


def test_claim_contradicting_the_files_own_gps():
    gps = located("EXIF GPS", "gps", *SERGEEVKA_SOUTH, method="exif")
    claim = located("claim: Sergeevka (north)", "claim", *SERGEEVKA_NORTH, method="place")
    result = check_points([gps, claim])
    [pair] = result.pairs
    assert pair.verdict == "contradicts"
    assert 140_000 < pair.distance_m < 190_000
    assert pair.tolerance_m == DEFAULT_RADIUS_M["exif"] + DEFAULT_RADIUS_M["place"]
    assert result.verdict == "contradicts"


def test_claim_consistent_with_gps_inside_the_village():
    gps = located("EXIF GPS", "gps", 43.3550, 133.3620)  # ~600 m from the village centre
    claim = located("claim: Sergeevka", "claim", *SERGEEVKA_SOUTH, method="place")
    result = check_points([gps, claim])
    assert result.pairs[0].verdict == "consistent"
    assert result.verdict == "consistent"


def test_near_duplicate_gps_slightly_beyond_tolerance_is_inconclusive():
    a = located("this file", "gps", 43.35, 133.36)
    b = located("re-upload 9c1e…", "near-duplicate gps", 43.3513, 133.36)  # ~145 m north
    pair = check_points([a, b]).pairs[0]
    assert pair.tolerance_m == 100
    assert pair.verdict == "inconclusive"


def test_every_pair_in_input_order():
    points = [
        located("gps", "gps", *SERGEEVKA_SOUTH),
        located("claim A", "claim", *SERGEEVKA_SOUTH, method="geolocated"),
        located("claim B", "claim", *SERGEEVKA_NORTH, method="caption"),
        located("copy", "near-duplicate gps", *SERGEEVKA_SOUTH),
    ]
    result = check_points(points)
    assert [(p.a, p.b) for p in result.pairs] == [
        ("gps", "claim A"),
        ("gps", "claim B"),
        ("gps", "copy"),
        ("claim A", "claim B"),
        ("claim A", "copy"),
        ("claim B", "copy"),
    ]
    verdicts = {(p.a, p.b): p.verdict for p in result.pairs}
    assert verdicts[("gps", "claim A")] == "consistent"
    assert verdicts[("claim A", "claim B")] == "contradicts"


def test_judge_bands():
    assert judge(100, 100) == "consistent"
    assert judge(101, 100) == "inconclusive"
    assert judge(100 * INCONCLUSIVE_FACTOR, 100) == "inconclusive"
    assert judge(100 * INCONCLUSIVE_FACTOR + 1, 100) == "contradicts"


def test_json_shape():
    result = check_points(
        [located("gps", "gps", *SERGEEVKA_SOUTH), located("c", "claim", *SERGEEVKA_NORTH)]
    )
    data = json.loads(json.dumps(result.to_json()))
    assert set(data) == {"verdict", "inconclusive_factor", "points", "pairs"}
    assert set(data["pairs"][0]) == {
        "a",
        "b",
        "a_kind",
        "b_kind",
        "distance_m",
        "tolerance_m",
        "verdict",
    }
    assert set(data["points"][0]) == {"label", "kind", "latitude", "longitude", "radius_m"}


def test_single_point_has_nothing_to_compare():
    assert check_points([located("gps", "gps", 0, 0)]).verdict == "nothing to compare"


def test_radius_defaults_and_overrides():
    assert located("g", "gps", 0, 0).radius_m == 50
    assert located("c", "claim", 0, 0).radius_m == DEFAULT_RADIUS_M["coords"]
    assert located("c", "claim", 0, 0, method="place").radius_m == 5_000
    assert located("c", "claim", 0, 0, radius_m=12).radius_m == 12


@pytest.mark.parametrize(
    ("kind", "lat", "lon", "radius"),
    [("rumour", 0, 0, None), ("gps", 95, 0, None), ("gps", 0, 0, -1)],
)
def test_bad_points(kind, lat, lon, radius):
    with pytest.raises(BadInput):
        located("x", kind, lat, lon, radius_m=radius)
