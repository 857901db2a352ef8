"""Pairwise consistency of an item's located points: claims, its own GPS, its copies' GPS."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any, Literal

from provenance.errors import BadInput

Kind = Literal["claim", "gps", "near-duplicate gps"]
Verdict = Literal["consistent", "inconclusive", "contradicts"]
KINDS: tuple[Kind, ...] = ("claim", "gps", "near-duplicate gps")

# Default uncertainty radius (metres) by how a position was obtained. Phone GPS in
# EXIF is typically good to tens of metres; an analyst's visual geolocation pins a
# spot but may be off by a street; a place name covers a whole village or town.
DEFAULT_RADIUS_M: dict[str, float] = {
    "gps": 50.0,
    "exif": 50.0,
    "geolocated": 100.0,
    "coords": 500.0,  # coordinates asserted without saying how they were found
    "place": 5_000.0,
    "caption": 5_000.0,
    "reported": 5_000.0,
}

# Radii are rough defaults, not measured error bars: a distance just past their sum
# is not proof of a contradiction. Beyond this multiple of the sum it is.
INCONCLUSIVE_FACTOR = 2.0


@dataclass(frozen=True)
class LocatedPoint:
    label: str  # e.g. "claim #3 (CNN, geolocated)" or "EXIF GPS of 3f9a1c…"
    kind: Kind
    latitude: float
    longitude: float
    radius_m: float


@dataclass(frozen=True)
class PairVerdict:
    a: str
    b: str
    a_kind: Kind
    b_kind: Kind
    distance_m: float  # geodesic on WGS-84
    tolerance_m: float  # a.radius_m + b.radius_m
    verdict: Verdict


@dataclass(frozen=True)
class GeoCheck:
    points: list[LocatedPoint]
    pairs: list[PairVerdict]

    @property
    def verdict(self) -> Verdict | Literal["nothing to compare"]:
        """The worst pair verdict; read the pairs to see which points disagree."""
        if not self.pairs:
            return "nothing to compare"
        found = {pair.verdict for pair in self.pairs}
        if "contradicts" in found:
            return "contradicts"
        return "inconclusive" if "inconclusive" in found else "consistent"

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "inconclusive_factor": INCONCLUSIVE_FACTOR,
            "points": [asdict(p) for p in self.points],
            "pairs": [{**asdict(p), "distance_m": round(p.distance_m, 1)} for p in self.pairs],
        }


def located(
    label: str,
    kind: Kind,
    latitude: float,
    longitude: float,
    *,
    method: str | None = None,
    radius_m: float | None = None,
) -> LocatedPoint:
    """A LocatedPoint whose radius defaults by method (exif, geolocated, place, ...) or kind."""
    if kind not in KINDS:
        raise BadInput(kind, f"not a point kind; use one of {', '.join(KINDS)}")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise BadInput(label, f"position {latitude}, {longitude} is out of range")
    if radius_m is None:
        key = method if method in DEFAULT_RADIUS_M else ("coords" if kind == "claim" else "gps")
        radius_m = DEFAULT_RADIUS_M[key]
    if radius_m < 0:
        raise BadInput(label, f"uncertainty radius {radius_m} m cannot be negative")
    return LocatedPoint(label, kind, float(latitude), float(longitude), float(radius_m))


def judge(distance_m: float, tolerance_m: float) -> Verdict:
    if distance_m <= tolerance_m:
        return "consistent"
    if distance_m <= tolerance_m * INCONCLUSIVE_FACTOR:
        return "inconclusive"
    return "contradicts"


def check_points(points: list[LocatedPoint]) -> GeoCheck:
    """Every pair of points, in input order, with its geodesic distance and verdict."""
    if len(points) < 2:  # nothing to compare: geopy need not load
        return GeoCheck(points=list(points), pairs=[])
    from geopy.distance import geodesic

    pairs = []
    for a, b in combinations(points, 2):
        distance = geodesic((a.latitude, a.longitude), (b.latitude, b.longitude)).meters
        tolerance = a.radius_m + b.radius_m
        pairs.append(
            PairVerdict(
                a.label, b.label, a.kind, b.kind, distance, tolerance, judge(distance, tolerance)
            )
        )
    return GeoCheck(points=list(points), pairs=pairs)
