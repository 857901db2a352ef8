"""A small offline map: an item's located points plotted as inline SVG, no tiles, no network."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 520, 300, 36
# Never zoom in further than this span (degrees): a lone point still shows its surroundings.
MIN_SPAN = 0.02
STATUS_COLOURS = {
    "verified": "#2f7d32",
    "disputed": "#c77700",
    "refuted": "#b3261e",
    "unreviewed": "#3b5b92",
}
GPS_COLOUR = "#222222"


@dataclass(frozen=True)
class Point:
    label: str
    latitude: float
    longitude: float
    source: str  # 'claim' | 'exif gps'
    status: str | None = None
    radius_m: float | None = None


def points_of(report: dict[str, Any]) -> list[Point]:
    """The item's own GPS and every geolocation claim about it."""
    out: list[Point] = []
    meta = report.get("metadata") or {}
    lat, lon = meta.get("gps_latitude"), meta.get("gps_longitude")
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        out.append(Point("EXIF GPS", float(lat), float(lon), "exif gps", None, 50.0))
    for c in report.get("claims") or []:
        if not isinstance(c, dict):
            continue
        clat, clon = c.get("latitude"), c.get("longitude")
        if not (isinstance(clat, int | float) and isinstance(clon, int | float)):
            continue
        label = f"claim {c.get('id', '?')}" + (f": {c['place']}" if c.get("place") else "")
        radius = c.get("radius_m")
        out.append(Point(label, float(clat), float(clon), "claim", c.get("status"),
                         float(radius) if isinstance(radius, int | float) else None))
    return out


def render(points: list[Point]) -> str:
    """An <svg> element (no xmlns: it is meant to sit inside an HTML page)."""
    if not points:
        return ('<p class="empty">No located points: no EXIF GPS and no geolocation'
                " claims.</p>")
    lats = [p.latitude for p in points]
    lons = [p.longitude for p in points]
    mid_lat = (min(lats) + max(lats)) / 2
    k = max(math.cos(math.radians(mid_lat)), 0.05)  # equirectangular: shrink longitude
    span_y = max(max(lats) - min(lats), MIN_SPAN) * 1.3
    span_x = max((max(lons) - min(lons)) * k, MIN_SPAN) * 1.3
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    scale = min(inner_w / span_x, inner_h / span_y)  # pixels per degree of latitude
    cx, cy = (min(lons) + max(lons)) / 2, mid_lat

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return WIDTH / 2 + (lon - cx) * k * scale, HEIGHT / 2 - (lat - cy) * scale

    parts = [
        f'<svg class="prov-map" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}"'
        ' role="img" aria-label="Located points: EXIF GPS and geolocation claims">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#f7f6f2" stroke="#c9c4b6"/>',
    ]
    parts.extend(_graticule(xy, cx, cy, inner_w / (k * scale), inner_h / scale))
    labels: list[tuple[float, float]] = []
    # Claims last, so a claim at the file's own GPS position sits inside its hollow square.
    for p in sorted(points, key=lambda p: p.source != "exif gps"):
        x, y = xy(p.latitude, p.longitude)
        colour = GPS_COLOUR if p.source == "exif gps" else STATUS_COLOURS.get(
            p.status or "", "#3b5b92")
        if p.radius_m:
            r = p.radius_m / 111_195.0 * scale
            if 3 < r < WIDTH:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}"'
                             ' fill-opacity="0.12" stroke="none"/>')
        tip = escape(f"{p.label} ({p.latitude:.5f}, {p.longitude:.5f})"
                     + (f", {p.status}" if p.status else ""))
        if p.source == "exif gps":
            parts.append(f'<rect class="point gps" x="{x - 8:.1f}" y="{y - 8:.1f}" width="16"'
                         f' height="16" fill="none" stroke="{colour}" stroke-width="2.5">'
                         f"<title>{tip}</title></rect>")
        else:
            parts.append(f'<circle class="point claim" cx="{x:.1f}" cy="{y:.1f}" r="6"'
                         f' fill="{colour}" stroke="white"><title>{tip}</title></circle>')
        # Points at (nearly) one spot get their labels stacked, not overprinted.
        ly = y + 4
        while any(abs(ly - oy) < 13 and abs(x - ox) < 120 for ox, oy in labels):
            ly += 13
        labels.append((x, ly))
        parts.append(f'<text x="{x + 11:.1f}" y="{ly:.1f}" font-size="11"'
                     f' font-family="sans-serif" fill="#222">{escape(p.label[:40])}</text>')
    parts.append(f'<text x="{WIDTH - 6}" y="{HEIGHT - 6}" font-size="9" font-family="sans-serif"'
                 ' fill="#777" text-anchor="end">equirectangular plot, WGS-84 degrees; '
                 "hollow square: the file's GPS; disc: a claim</text>")
    parts.append("</svg>")
    return "".join(parts)


def _graticule(xy: Any, cx: float, cy: float, span_lon: float, span_lat: float) -> list[str]:
    step = _nice_step(max(span_lon, span_lat) / 4)
    out: list[str] = []
    lon = math.floor((cx - span_lon / 2 - step) / step) * step
    while lon <= cx + span_lon / 2 + step:
        x, _ = xy(cy, lon)
        if PAD / 2 <= x <= WIDTH - PAD / 2:
            out.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{HEIGHT}" stroke="#ddd8cb"/>'
                       f'<text x="{x + 2:.1f}" y="{HEIGHT - 18}" font-size="9" fill="#8a8475"'
                       f' font-family="sans-serif">{_deg(lon, "E", "W")}</text>')
        lon += step
    lat = math.floor((cy - span_lat / 2 - step) / step) * step
    while lat <= cy + span_lat / 2 + step:
        _, y = xy(lat, cx)
        if PAD / 2 <= y <= HEIGHT - PAD / 2:
            out.append(f'<line x1="0" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}" stroke="#ddd8cb"/>'
                       f'<text x="3" y="{y - 2:.1f}" font-size="9" fill="#8a8475"'
                       f' font-family="sans-serif">{_deg(lat, "N", "S")}</text>')
        lat += step
    return out


def _nice_step(raw: float) -> float:
    exponent = math.floor(math.log10(raw)) if raw > 0 else 0
    for m in (1, 2, 5, 10):
        if m * 10**exponent >= raw:
            return float(m * 10**exponent)
    return float(10 ** (exponent + 1))


def _deg(value: float, pos: str, neg: str) -> str:
    return f"{abs(value):.4g}°{pos if value >= 0 else neg}"
