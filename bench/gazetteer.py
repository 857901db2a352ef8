"""Gazetteer figures: cold cache build, then warm look-up and nearest-place times.

Run: .venv/bin/python bench/gazetteer.py   (builds a fresh cache in a temporary directory)
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

NAMES = ["Sergeevka", "Сергеевка", "Sergeyevka", "Vladivostok", "London", "Springfield", "Kharkiv"]
POINTS = [(43.35, 133.36), (51.5, -0.12), (0.0, -140.0), (-89.9, 0.0), (65.0, 179.99)]
REPEATS = 25


def median_ms(fn: object, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PROV_CACHE_DIR"] = tmp
        from provenance.geo import gazetteer

        start, cpu = time.perf_counter(), time.process_time()
        path = gazetteer.ensure_cache()
        build, cpu = time.perf_counter() - start, time.process_time() - cpu
        size = Path(path).stat().st_size / 1e6
        print(
            f"machine: {platform.machine()} {platform.processor() or ''} "
            f"{os.cpu_count()} cores, Python {platform.python_version()}"
        )
        print(f"load average at start: {os.getloadavg()[0]:.1f}")
        print(f"cold build: {build:.1f} s wall, {cpu:.1f} s CPU -> {path.name} ({size:.0f} MB)")

        start = time.perf_counter()
        gaz = gazetteer.open_gazetteer()
        gaz.lookup("Sergeevka")
        print(
            f"first look-up in a fresh process (open + query): "
            f"{(time.perf_counter() - start) * 1000:.1f} ms"
        )
        for name in NAMES:
            found = len(gaz.lookup(name))
            print(
                f"lookup {name!r:14} {found:4} candidates, "
                f"median {median_ms(lambda n=name: gaz.lookup(n)):.2f} ms"
            )
        gaz.nearest(0, 0)  # pays the one-off geopy import
        for lat, lon in POINTS:
            hit = gaz.nearest(lat, lon)
            ms = median_ms(lambda a=lat, b=lon: gaz.nearest(a, b))
            print(
                f"nearest ({lat}, {lon}) -> {hit.place.name} ({hit.place.country_code}) "
                f"{hit.distance_km:.1f} km, median {ms:.2f} ms"
            )


if __name__ == "__main__":
    main()
