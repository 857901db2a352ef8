"""Audio end to end: kinds and metadata, landmark fingerprints, re-uploads and "same audio".

Every sound is generated here (fixtures/audio.py: formant-synthesised speech, noise, tones;
espeak-ng and sox where installed, skipped cleanly where not) and goes through the CLI
in-process against a real database.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fixtures import audio as fa
from fixtures import video as fv
from provenance.matching import audiofp

from .conftest import invoke

RATE = fa.RATE
CALL_SECONDS = 40.0
CUT = (20.0, 32.0)


@pytest.fixture(scope="module")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sounds")
    call = fa.intercepted_call(CALL_SECONDS, 5)
    other = fa.intercepted_call(30.0, 9)
    a, b = int(CUT[0] * RATE), int(CUT[1] * RATE)
    s = {
        "call": fa.write_audio(d / "call.wav", call),
        "cut": fa.write_audio(d / "cut.mp3", call[a:b], bit_rate=64_000),
        "other": fa.write_audio(d / "other.m4a", other),
        # 30 s of the call's sound under a picture that is nowhere else.
        "under": fa.write_video_with_sound(d / "under.mp4", call[5 * RATE:35 * RATE], seed=4),
        "silence": fa.write_audio(d / "silence.wav", np.zeros(10 * RATE, np.float32)),
        "hiss": fa.write_audio(d / "hiss.flac", (np.random.default_rng(3).standard_normal(
            10 * RATE) * 3e-4).astype(np.float32)),
        "hum": fa.write_audio(d / "hum.wav", fa.tone(10, 50.0) + fa.tone(10, 440.0)),
        "silent_video": fa.write_video_with_sound(d / "silent.mp4",
                                                  np.zeros(8 * RATE, np.float32), seed=6),
    }
    return s


def add(db: Path, *paths: Path, kind: str | None = None) -> list[dict]:
    extra = ["--kind", kind] if kind else []
    run = invoke(db, "add", *map(str, paths), *extra, "--json")
    assert run.exit_code == 0, run.output
    return run.json()


def matches(db: Path, path: Path | str) -> list[dict]:
    run = invoke(db, "match", str(path), "--json")
    assert run.exit_code == 0, run.output
    return [m for m in run.json()["matches"] if m["verdict"] != "identical"]


# --- kinds, metadata, fingerprints ----------------------------------------------------------


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".flac",
                                    ".amr"])
def test_each_audio_format_is_kind_audio_with_its_metadata(db, tmp_path, suffix):
    path = fa.write_audio(tmp_path / f"call{suffix}", fa.speech(6.0, 2),
                          metadata={"title": "intercept", "creation_time":
                                    "2024-10-17T09:30:00Z"})
    [added] = add(db, path)
    assert added["kind"] == "audio", added
    shown = invoke(db, "show", added["sha256"], "--json", check=True).json()
    meta = shown["metadata"]
    assert shown["kind"] == "audio" and shown["mime"].startswith("audio/")
    assert abs(meta["duration_seconds"] - 6.0) < 0.3, meta
    assert meta["channels"] == 1 and meta["sample_rate"] in (8000, 16000, 48000)
    assert meta["codec"] and meta["sound_landmarks"] > 20
    if suffix in (".wav", ".mp3", ".m4a", ".flac", ".ogg", ".opus"):
        assert meta.get("title") == "intercept", meta  # containers that keep tags keep it
    assert invoke(db, "verify").exit_code == 0


def test_creation_time_is_the_capture_time(db, tmp_path):
    path = fa.write_audio(tmp_path / "dated.m4a", fa.speech(4.0, 1),
                          metadata={"creation_time": "2024-10-17T09:30:00Z"})
    [added] = add(db, path)
    shown = invoke(db, "show", added["sha256"], "--json", check=True).json()
    assert shown["metadata"]["captured_at"].startswith("2024-10-17T09:30:00")
    assert shown["metadata"]["captured_at_source"] == "creation_time"


def test_silence_hiss_and_hum_have_no_landmarks():
    assert len(audiofp.landmarks(np.zeros(80_000, np.float32))[0]) == 0
    quiet = (np.random.default_rng(1).standard_normal(80_000) * 1e-3).astype(np.float32)
    assert len(audiofp.landmarks(quiet)[0]) == 0  # -60 dBFS hiss: near-silence
    steady = fa.tone(10, 440.0, rate=8000) + fa.tone(10, 1200.0, rate=8000)
    assert len(audiofp.landmarks(steady)[0]) == 0  # a steady tone says nothing about a call


def test_landmarks_do_not_depend_on_volume_or_a_phone_line():
    x = np.interp(np.arange(20 * 8000) * 2, np.arange(20 * RATE), fa.speech(20.0, 3))
    x = x.astype(np.float32)
    base = set(audiofp.landmarks(x)[0].tolist())
    assert len(base) > 200
    # Most hashes survive a volume change; about half a 300-3400 Hz line (enough: a match
    # needs a dozen aligned ones, and unrelated sound shares almost none).
    for copy, share in ((x * 10 ** -0.5, 0.85), (fa.telephone(x, 8000), 0.45)):
        kept = set(audiofp.landmarks(copy.astype(np.float32))[0].tolist())
        assert len(base & kept) / len(base) > share
    other = np.interp(np.arange(20 * 8000) * 2, np.arange(20 * RATE), fa.speech(20.0, 4))
    unrelated = set(audiofp.landmarks(other.astype(np.float32))[0].tolist())
    assert len(base & unrelated) / len(base) < 0.1


# --- verdicts and the seconds covered -------------------------------------------------------


def test_a_cut_of_a_call_is_a_re_upload_naming_the_seconds_it_covers(db, sounds):
    [call] = add(db, sounds["call"])
    [cut] = add(db, sounds["cut"])
    assert [m["sha256"] for m in cut["matches"]] == [call["sha256"]]
    m = cut["matches"][0]
    assert m["verdict"] == "re-upload" and m["algorithm"] == "audio"
    covers = m["detail"]["covers_seconds"]
    assert abs(covers[0] - CUT[0]) <= 1 and abs(covers[1] - CUT[1]) <= 1, covers
    assert m["detail"]["query_share"] >= 0.9  # all of the cut is in the call...
    assert 0.2 <= m["detail"]["candidate_share"] <= 0.45  # ...which is 12 s of 40
    # The other way round: the call, queried, contains the cut.
    [back] = matches(db, sounds["call"])
    assert back["sha256"] == cut["sha256"] and back["verdict"] == "re-upload"
    assert back["detail"]["query_seconds"][0] == pytest.approx(CUT[0], abs=1)
    text = invoke(db, "match", str(sounds["cut"]), check=True).stdout
    assert "sound landmarks agree on one time offset, covering" in text


def test_the_sound_under_another_video_is_same_audio(db, sounds):
    [call] = add(db, sounds["call"])
    [under] = add(db, sounds["under"])
    assert under["kind"] == "video"
    [m] = under["matches"]
    assert m["sha256"] == call["sha256"] and m["verdict"] == "same audio"
    covers = m["detail"]["covers_seconds"]
    assert abs(covers[0] - 5) <= 1 and abs(covers[1] - 35) <= 1, covers
    shown = invoke(db, "show", under["sha256"], check=True).stdout
    assert "same audio as" in shown


def test_a_replaced_picture_with_the_same_sound_is_same_audio_not_a_re_upload(db, tmp_path):
    sound = fa.speech(20.0, 8)
    original = fa.write_video_with_sound(tmp_path / "original.mp4", sound, seed=1)
    replaced = fa.write_video_with_sound(tmp_path / "replaced.mp4", sound, seed=2)
    # The same picture and the same sound, re-encoded: a re-upload by its picture alone.
    reencoded = fv.transcode(original, tmp_path / "reencoded.mp4", options={"crf": "32"})
    [held] = add(db, original)
    [new] = add(db, replaced)
    assert [(m["sha256"], m["verdict"]) for m in new["matches"]] == [
        (held["sha256"], "same audio")]
    [again] = add(db, reencoded)  # (transcode drops the sound: the picture decides)
    assert [(m["sha256"], m["verdict"], m["algorithm"]) for m in again["matches"]] == [
        (held["sha256"], "re-upload", "vpdq")]
    families = invoke(db, "dupes", "--json", check=True).json()
    by_relation = {f["relation"]: {x["sha256"] for x in f["members"]} for f in families}
    assert by_relation == {"re-upload": {held["sha256"], again["sha256"]},
                           "same audio": {held["sha256"], new["sha256"]}}
    text = invoke(db, "dupes", check=True).stdout
    assert "same-audio family of 2" in text


def test_a_video_with_its_picture_and_sound_is_one_picture_relation(db, tmp_path):
    sound = fa.speech(16.0, 12)
    original = fa.write_video_with_sound(tmp_path / "a.mp4", sound, seed=3)
    copy = fa.write_video_with_sound(tmp_path / "b.mp4", sound * 0.5, seed=3, fps=8)
    [held] = add(db, original)
    [new] = add(db, copy)
    assert [(m["sha256"], m["verdict"]) for m in new["matches"]] == [
        (held["sha256"], "re-upload")]
    assert new["matches"][0]["algorithm"] != "audio"


def test_a_short_shared_stretch_is_only_similar(db, tmp_path):
    call = fa.intercepted_call(CALL_SECONDS, 5)
    other = fa.intercepted_call(30.0, 9)
    # 8 s of the call spliced into another recording: less than half of either side.
    spliced = np.concatenate([other[:15 * RATE], call[10 * RATE:18 * RATE], other[15 * RATE:]])
    [held] = add(db, fa.write_audio(tmp_path / "call.wav", call))
    [new] = add(db, fa.write_audio(tmp_path / "spliced.mp3", spliced))
    [m] = new["matches"]
    assert m["sha256"] == held["sha256"] and m["verdict"] == "similar", m
    covers = m["detail"]["covers_seconds"]
    assert abs(covers[0] - 10) <= 1 and abs(covers[1] - 18) <= 1, covers
    assert m["detail"]["query_share"] < 0.5 and m["detail"]["candidate_share"] < 0.5
    assert invoke(db, "dupes", "--json", check=True).json() == []  # never linked


def test_speed_changed_copies_are_found(db, sounds, tmp_path):
    [call] = add(db, sounds["call"])
    x = fa.intercepted_call(CALL_SECONDS, 5)
    for factor in (1.03, 0.97):
        n = int(len(x) / factor)
        faster = np.interp(np.arange(n) * factor, np.arange(len(x)), x).astype(np.float32)
        path = fa.write_audio(tmp_path / f"speed{factor}.mp3", faster)
        [m] = matches(db, path)
        assert m["sha256"] == call["sha256"] and m["verdict"] == "re-upload"
        assert m["detail"]["speed"] == pytest.approx(factor, abs=0.011)
        covers = m["detail"]["covers_seconds"]
        assert covers[0] <= 1 and covers[1] >= CALL_SECONDS - 1


def test_silence_and_unrelated_sound_never_match(db, sounds):
    added = add(db, sounds["silence"], sounds["hiss"], sounds["hum"], sounds["silent_video"],
                sounds["call"])
    for r in added:
        assert r["matches"] == [], r
    for name in ("silence", "hiss", "hum", "silent_video"):
        sha = next(r["sha256"] for r in added if r["path"] == str(sounds[name]))
        meta = invoke(db, "show", sha, "--json", check=True).json()["metadata"]
        assert meta["sound_landmarks"] == 0, name
    assert matches(db, sounds["other"]) == []
    assert invoke(db, "dupes", "--json", check=True).json() == []


# --- bad input ------------------------------------------------------------------------------


def test_bad_audio_gets_one_line_and_the_rest_goes_in(db, sounds, tmp_path):
    truncated = tmp_path / "truncated.m4a"
    truncated.write_bytes(sounds["other"].read_bytes()[:2000])
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(b"ID3" + bytes(range(256)) * 20)
    run = invoke(db, "add", str(truncated), str(garbage), str(sounds["call"]))
    assert run.exit_code == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, run.stderr
    assert all(("truncated.m4a" in e or "garbage.mp3" in e) for e in errors)
    listed = invoke(db, "list", "--json", check=True).json()
    assert [i["file_name"] for i in listed] == ["call.wav"]
    assert invoke(db, "verify").exit_code == 0


def test_a_sound_only_mp4_is_refused_as_video_with_the_fix_and_taken_as_audio(db, tmp_path):
    path = fv.write_audio_only(tmp_path / "voice.mp4", seconds=2)
    refused = invoke(db, "add", str(path))
    assert refused.exit_code == 1 and "pass --kind audio" in refused.stderr
    [taken] = add(db, path, kind="audio")
    assert taken["kind"] == "audio"
    video = fa.write_video_with_sound(tmp_path / "clip.mp4", fa.speech(3.0, 1), seed=1)
    wrong = invoke(db, "add", str(video), "--kind", "audio")
    assert wrong.exit_code == 1 and "has a video stream" in wrong.stderr


# --- real speech (espeak-ng, sox), when installed -------------------------------------------


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_espeak_speech_over_a_phone_line_is_found(db, tmp_path):
    text = ("Column two is at the bridge. We need fuel and the engineers by noon. "
            "Repeat, the engineers by noon, the northern road is closed. ") * 2
    spoken = fa.espeak_speech(text)
    assert spoken is not None
    held = fa.write_audio(tmp_path / "spoken.wav", spoken)
    [h] = add(db, held)
    phone = fa.write_audio(tmp_path / "phone.amr", fa.telephone(spoken) * 0.3)
    [m] = matches(db, phone)
    assert m["sha256"] == h["sha256"] and m["verdict"] == "re-upload"


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
def test_sox_processed_copies_are_found(db, sounds, tmp_path):
    [call] = add(db, sounds["call"])
    for name, effects in (("slow", ["speed", "0.97"]), ("quiet", ["vol", "-10dB", "rate", "8k"]),
                          ("trimmed", ["trim", "10", "15"])):
        copy = fa.sox(sounds["call"], tmp_path / f"{name}.wav", *effects)
        found = matches(db, copy)
        assert [m["sha256"] for m in found] == [call["sha256"]], name
        assert found[0]["verdict"] == "re-upload"
    trimmed = matches(db, tmp_path / "trimmed.wav")[0]["detail"]["covers_seconds"]
    assert abs(trimmed[0] - 10) <= 1 and abs(trimmed[1] - 25) <= 1, trimmed


def test_matches_are_json_with_the_documented_keys(db, sounds):
    add(db, sounds["call"])
    run = invoke(db, "match", str(sounds["under"]), "--json", check=True)
    [m] = run.json()["matches"]
    assert set(m) >= {"sha256", "kind", "distance", "algorithm", "verdict", "detail"}
    assert json.dumps(m["detail"])  # plain JSON
    assert {"query_share", "candidate_share", "covers_seconds", "query_seconds",
            "landmarks_matched", "speed"} <= set(m["detail"])


def test_a_database_rebuilt_at_the_same_path_does_not_see_the_old_ones_sounds(tmp_path, sounds):
    # One process, one path, two databases (as `prov demo` rebuilds): nothing carries over.
    db = tmp_path / "evidence.db"
    invoke(db, "init", check=True)
    add(db, sounds["call"])
    assert matches(db, sounds["cut"])
    for p in tmp_path.iterdir():
        if p.name.startswith("evidence"):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
    invoke(db, "init", check=True)
    add(db, sounds["other"])
    assert matches(db, sounds["cut"]) == []
