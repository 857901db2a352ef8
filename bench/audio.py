"""Benchmark: is every re-posted copy of a sound found, located within +-1 s, and nothing else?

    .venv/bin/python bench/audio.py [--distractors 50] [--seconds 60]

Four 3-minute recordings (two intercepted-call style, one speech, one field recording of
speech over wind and traffic; real espeak-ng speech replaces the plain speech when
espeak-ng is installed) and N unrelated recordings are registered in a fresh database
through `prov add`'s own code, which checks every new item against those held (the
distractors' pairs are the false-match test). Then each copy a re-poster makes is run
through `prov match`'s code: MP3 64 kbit/s, AAC, 8 kHz telephone band, volume +10 dB
(clipping) and -10 dB, white noise at 20 dB SNR, a 15 s cut, speed +3 % and -3 % (pitch and
tempo together, as sox `speed` does), and 60 s of it laid under a different video.
Media are cached under bench/out/audio/.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures import audio as fa  # noqa: E402

OUT = ROOT / "bench" / "out" / "audio"
RATE = fa.RATE
LENGTH = 180.0
CUT = (97.3, 112.3)
UNDER = (40.0, 100.0)

_TEXT = ("The column moved out at dawn towards the river crossing. Two vehicles are "
         "damaged near the bridge, we need the engineers by noon. Repeat, the engineers by "
         "noon. The checkpoint on the northern road is closed, go round through the village. "
         "Copy that, we will wait for the second group at the school. ")


def base_sounds() -> dict[str, np.ndarray]:
    out = {"call-a": fa.intercepted_call(LENGTH, 101), "call-b": fa.intercepted_call(LENGTH, 202)}
    # Each repetition of the text at another speed and pitch: no stretch repeats exactly.
    parts = [fa.espeak_speech(_TEXT, words_per_minute=130 + 9 * i, pitch=30 + 5 * i)
             for i in range(16)]
    spoken = None if parts[0] is None else np.concatenate(parts)  # type: ignore[arg-type]
    if spoken is not None and len(spoken) >= LENGTH * RATE:
        out["espeak"] = spoken[: int(LENGTH * RATE)] * 0.8
    else:
        out["speech"] = fa.speech(LENGTH, 303)
    out["field"] = fa.speech(LENGTH, 404) * 0.6 + fa.noise(LENGTH, 404, level=0.15)
    return out


def distractor(i: int, seconds: float) -> np.ndarray:
    if i % 5 == 0:  # field recordings: wind and traffic with a voice now and then
        return fa.noise(seconds, 1000 + i, level=0.2) + 0.3 * fa.speech(seconds, 1000 + i)
    if i % 5 == 1:
        return fa.intercepted_call(seconds, 1000 + i)
    return fa.speech(seconds, 1000 + i)


def _telephone_8k(x: np.ndarray) -> tuple[np.ndarray, int]:
    band = fa.telephone(x)
    return np.interp(np.arange(len(band) // 2) * 2, np.arange(len(band)), band
                     ).astype(np.float32), 8000


def _speed(x: np.ndarray, factor: float) -> np.ndarray:
    n = int(len(x) / factor)
    return np.interp(np.arange(n) * factor, np.arange(len(x)), x).astype(np.float32)


def _noise(x: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    power = float(np.mean(x ** 2))
    rng = np.random.default_rng(seed)
    return (x + rng.standard_normal(len(x)) * np.sqrt(power / 10 ** (snr_db / 10))
            ).astype(np.float32)


def copies(name: str, x: np.ndarray, folder: Path) -> dict[str, tuple[Path, tuple[float, float],
                                                                      float]]:
    """transform -> (file, seconds of the original it holds, duration of the copy)."""
    whole = (0.0, LENGTH)
    out: dict[str, tuple[Path, tuple[float, float], float]] = {}

    def put(label: str, file: str, make, span: tuple[float, float], length: float) -> None:
        path = folder / f"{name}-{file}"
        if not path.exists():
            make(path)
        out[label] = (path, span, length)

    put("MP3 64 kbit/s", "mp3.mp3", lambda p: fa.write_audio(p, x, bit_rate=64_000), whole,
        LENGTH)
    put("AAC 64 kbit/s", "aac.m4a", lambda p: fa.write_audio(p, x, bit_rate=64_000), whole,
        LENGTH)
    put("8 kHz telephone band", "tel.wav", lambda p: fa.write_audio(p, *_telephone_8k(x)),
        whole, LENGTH)
    put("volume +10 dB (clipped)", "up.mp3", lambda p: fa.write_audio(
        p, np.clip(x * 10 ** 0.5, -1, 1), bit_rate=96_000), whole, LENGTH)
    put("volume -10 dB", "down.mp3", lambda p: fa.write_audio(p, x * 10 ** -0.5,
                                                               bit_rate=96_000), whole, LENGTH)
    put("noise at 20 dB SNR", "snr20.mp3", lambda p: fa.write_audio(
        p, _noise(x, 20, 7), bit_rate=96_000), whole, LENGTH)
    a, b = int(CUT[0] * RATE), int(CUT[1] * RATE)
    put("15 s cut", "cut.mp3", lambda p: fa.write_audio(p, x[a:b], bit_rate=64_000), CUT,
        CUT[1] - CUT[0])
    put("speed +3 %", "fast.mp3", lambda p: fa.write_audio(p, _speed(x, 1.03), bit_rate=96_000),
        whole, LENGTH / 1.03)
    put("speed -3 %", "slow.mp3", lambda p: fa.write_audio(p, _speed(x, 0.97), bit_rate=96_000),
        whole, LENGTH / 0.97)
    a, b = int(UNDER[0] * RATE), int(UNDER[1] * RATE)
    put("under a different video", "under.mp4", lambda p: fa.write_video_with_sound(
        p, x[a:b], seed=77), UNDER, UNDER[1] - UNDER[0])
    return out


# --- the alternative measured: Chromaprint (Debian's libchromaprint-tools, `fpcalc -raw`) ----

ITEM_SECONDS = 4096 / 3 / 11025  # one Chromaprint sub-fingerprint: 1365.3 samples at 11025 Hz
CHROMAPRINT_MATCH = 0.35  # bit error rate below which two stretches are the same sound


def chromaprint(path: Path) -> np.ndarray:
    import subprocess

    out = subprocess.run(["fpcalc", "-raw", "-length", "0", str(path)], capture_output=True,
                         text=True, timeout=120).stdout
    line = next(x for x in out.splitlines() if x.startswith("FINGERPRINT="))
    return np.array([int(v) for v in line.split("=", 1)[1].split(",") if v], np.uint32)


def chromaprint_align(query: np.ndarray, held: np.ndarray) -> tuple[float, float]:
    """(best bit error rate, held second where the query starts) over every offset with at
    least 10 s of overlap (the alignment AcoustID leaves to the caller)."""
    best = (1.0, 0.0)
    need = int(10 / ITEM_SECONDS)
    for shift in range(-len(query) + need, len(held) - need):
        a0, b0 = max(0, -shift), max(0, shift)
        n = min(len(query) - a0, len(held) - b0)
        if n < need:
            continue
        x = np.bitwise_xor(query[a0:a0 + n], held[b0:b0 + n])
        ber = float(np.unpackbits(x.view(np.uint8)).sum()) / (32 * n)
        if ber < best[0]:
            best = (ber, shift * ITEM_SECONDS)
    return best


def compare_chromaprint(bases: dict[str, tuple[Path, np.ndarray]], others: list[Path]) -> None:
    import shutil

    if shutil.which("fpcalc") is None:
        print("fpcalc not installed (apt-get install libchromaprint-tools): Chromaprint skipped")
        return
    held = {name: chromaprint(path) for name, (path, _) in bases.items()}
    started = time.perf_counter()
    for path, _ in bases.values():
        chromaprint(path)
    per = LENGTH * len(bases) / (time.perf_counter() - started)
    print(f"\nChromaprint (fpcalc {LENGTH:g} s files, wall clock incl. process start):"
          f" {per:.0f}x real time")
    print("| transform | found (of 4) | located +-1 s | best BER of the true pair (median) |")
    print("| --- | --- | --- | --- |")
    rows: dict[str, list[tuple[bool, bool, float]]] = {}
    for name, (_path, x) in bases.items():
        for label, (copy, span, _len) in copies(name, x, OUT).items():
            ber, start = chromaprint_align(chromaprint(copy), held[name])
            found = ber < CHROMAPRINT_MATCH
            rows.setdefault(label, []).append((found, found and abs(start - span[0]) <= 1, ber))
    for label, got in rows.items():
        print(f"| {label} | {sum(g[0] for g in got)} | {sum(g[1] for g in got)} |"
              f" {np.median([g[2] for g in got]):.2f} |")
    false = [chromaprint_align(chromaprint(p), h)[0] for p in others[:10] for h in held.values()]
    print(f"unrelated pairs: lowest BER {min(false):.2f} over {len(false)} pairs"
          f" (a match needs < {CHROMAPRINT_MATCH})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--distractors", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0, help="each distractor's length")
    parser.add_argument("--chromaprint", action="store_true",
                        help="only compare Chromaprint (fpcalc) on the same copies")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    from provenance.ingest import register as ingest
    from provenance.ingest.analysis import analyse
    from provenance.ingest.match import match
    from provenance.ledger.db import open_db

    bases = {}
    for name, x in base_sounds().items():
        path = OUT / f"{name}.wav"
        if not path.exists():
            fa.write_audio(path, x)
        bases[name] = (path, x)
    others = []
    for i in range(args.distractors):
        path = OUT / f"distractor-{i:02d}-{args.seconds:g}s.wav"
        if not path.exists():
            fa.write_audio(path, distractor(i, args.seconds))
        others.append(path)
    if args.chromaprint:
        compare_chromaprint(bases, others)
        return

    # Speed: decoding plus fingerprints (stored and query variants), per second of sound.
    timings = []
    for path, _ in bases.values():
        started = time.process_time()
        analysis = analyse(str(path))
        timings.append(time.process_time() - started)
        assert analysis.error is None, analysis.error
    per = LENGTH / float(np.median(timings))
    print(f"analysis (decode + landmarks + 9 query variants): median {np.median(timings):.2f} s"
          f" CPU per {LENGTH:g} s recording = {per:.0f}x real time;"
          f" load {os.getloadavg()[0]:.1f}")

    with tempfile.TemporaryDirectory() as tmp:
        conn = open_db(Path(tmp) / "bench.db", create=True)
        started = time.perf_counter()
        results = ingest.add_paths(conn, [str(p) for p, _ in bases.values()] +
                                   [str(p) for p in others], ingest.Sighting(), by="bench")
        elapsed = time.perf_counter() - started
        held = {r.path: r.sha256 for r in results}
        assert all(r.status == "new" for r in results), [r.error for r in results]
        false = conn.execute("SELECT COUNT(*) FROM near_duplicates").fetchone()[0]
        total = (len(bases) + len(others)) * (len(bases) + len(others) - 1) // 2
        print(f"registered {len(results)} recordings in {elapsed:.1f} s; relations among"
              f" unrelated recordings: {false} (of {total} pairs)")

        rows = []
        stray_total = 0
        times = []
        for name, (path, x) in bases.items():
            sha = held[str(path)]
            for label, (copy, span, _length) in copies(name, x, OUT).items():
                started = time.process_time()
                doc = match(conn, str(copy))
                times.append(time.process_time() - started)
                found = [m for m in doc["matches"] if m["sha256"] == sha]
                stray = [m for m in doc["matches"] if m["sha256"] != sha]
                stray_total += len(stray)
                m = found[0] if found else None
                covers = m["detail"]["covers_seconds"] if m else None
                ok = (m is not None and m["verdict"] in ("re-upload", "same audio")
                      and abs(covers[0] - span[0]) <= 1 and abs(covers[1] - span[1]) <= 1)
                rows.append((label, name, m, span, ok, len(stray)))
        print(f"prov match (in-process, after the first; CPU, the machine being shared):"
              f" median {np.median(times[1:]) * 1000:.0f} ms, of which analysing the copy is"
              f" most")
        print()
        print("| transform | recording | verdict | covers (s) | truth (s) | shares (copy / held)"
              " | landmarks | within +-1 s | other matches |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for label, name, m, span, ok, stray in rows:
            if m is None:
                print(f"| {label} | {name} | **not found** | - | {span[0]:g}-{span[1]:g} | - | - |"
                      f" no | {stray} |")
                continue
            d = m["detail"]
            print(f"| {label} | {name} | {m['verdict']} | {d['covers_seconds'][0]:g}-"
                  f"{d['covers_seconds'][1]:g} | {span[0]:g}-{span[1]:g} |"
                  f" {d['query_share']:.0%} / {d['candidate_share']:.0%} |"
                  f" {d['landmarks_matched']} | {'yes' if ok else '**no**'} | {stray} |")
        found = sum(1 for r in rows if r[4])
        print(f"\n{found} of {len(rows)} copies found and located within +-1 s;"
              f" {stray_total} matches to other recordings")


if __name__ == "__main__":
    main()
