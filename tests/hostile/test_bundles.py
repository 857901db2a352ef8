"""Forged, hostile and malformed bundles, every one built here in code.

Each is refused whole with one line (exit 1), leaving the receiver's log and store as they
were, or (where the bundle is honest in form) imported without harm to the receiver.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fixtures import media
from provenance.ledger import log
from tests.conftest import Run, invoke, prov_cache

CASE = "dprk"
MiB = 1 << 20


# ------------------------------------------------------------------ the honest sender


@dataclass
class Sender:
    db: Path
    key: Path  # the sender's signing key (public half beside it, .pub)
    mallory: Path  # someone else's key
    signed: Path  # `prov bundle --key`
    unsigned: Path
    shas: list[str]  # the case's items, in registration order
    other: Path  # a photo the receiver already holds, in no case bundled


@pytest.fixture(scope="module")
def sender(tmp_path_factory: pytest.TempPathFactory) -> Sender:
    """A case of two photos with custody, a claim and a refuting review, bundled twice;
    built once, only read by the tests."""
    root = tmp_path_factory.mktemp("sender")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PROV_DB", raising=False)
        mp.delenv("PROV_SIGNING_KEY", raising=False)
        mp.setenv("PROV_CACHE_DIR", str(prov_cache(tmp_path_factory)))
        db = root / "ana" / "evidence.db"
        db.parent.mkdir()
        invoke(db, "init", check=True)
        photos = []
        for i in range(3):
            photo = root / "in" / f"{i}.jpg"
            photo.parent.mkdir(exist_ok=True)
            photo.write_bytes(media.jpeg_with_exif(500 + i, size=(160, 120)))
            photos.append(photo)
        invoke(db, "add", str(photos[0]), str(photos[1]), "--case", CASE, by="ana", check=True)
        shas = [i["sha256"] for i in invoke(db, "list", "--case", CASE, "--json").json()]
        invoke(db, "custody", "add", shas[0], "--action", "shared", "--from", "CSCIS", "--to",
               "CNN", "--at", "2024-10-18", by="ana", check=True)
        invoke(db, "geo", "claim", shas[0], "--coords", "44.3, 132.1", "--by", "CNN",
               by="ana", check=True)
        claim = invoke(db, "show", shas[0], "--json").json()["claims"][0]["id"]
        invoke(db, "geo", "review", str(claim), "--status", "refuted", "--reason", "ridge line",
               by="ana", check=True)
        key, mallory = root / "ana.pem", root / "mallory.pem"
        invoke(None, "keygen", "--out", str(key), check=True)
        invoke(None, "keygen", "--out", str(mallory), check=True)
        signed, unsigned = root / "signed.zip", root / "unsigned.zip"
        invoke(db, "bundle", "--case", CASE, "--out", str(signed), "--key", str(key), by="ana",
               check=True)
        invoke(db, "bundle", "--case", CASE, "--out", str(unsigned), by="ana", check=True)
    return Sender(db, key, mallory, signed, unsigned, shas, photos[2])


@pytest.fixture
def target(tmp_path: Path) -> Path:
    db = tmp_path / "bob" / "evidence.db"
    db.parent.mkdir()
    invoke(db, "init", check=True)
    return db


def store_files(db: Path) -> list[Path]:
    return [p for p in (db.parent / "evidence.store").rglob("*") if not p.is_dir()]


def refused(target: Path, result: Run, *fragments: str, before: int = 0) -> None:
    """One refusal line, exit 1, nothing added to the log or the store."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "refused" in lines[0], lines
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert len(invoke(target, "log", "--json").json()) == before
    assert store_files(target) == []


# ------------------------------------------------------------------ forging


def _sign(doc: dict[str, Any], key: Path) -> dict[str, Any]:
    """An Ed25519 signature over the canonical JSON of the rest of the document."""
    from cryptography.hazmat.primitives import serialization

    private: Any = serialization.load_pem_private_key(key.read_bytes(), password=None)
    body = {k: v for k, v in doc.items() if k != "signature"}
    raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
    value = private.sign(log.canonical(body).encode("utf-8"))
    return {**body, "signature": {"algorithm": "ed25519", "public_key": raw.hex(),
                                  "value": base64.b64encode(value).decode("ascii")}}


@dataclass
class Member:
    """One zip member as stored: compressed bytes, CRC and size, however they came about."""

    name: str
    raw: bytes
    crc: int
    size: int
    method: int = 8  # deflate
    flags: int = 0

    @classmethod
    def of(cls, name: str, data: bytes, method: int = 8) -> Member:
        if method == 0:
            return cls(name, data, zlib.crc32(data), len(data), 0)
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        return cls(name, c.compress(data) + c.flush(), zlib.crc32(data), len(data))

    @classmethod
    def repeated(cls, name: str, chunk: bytes, times: int, tail: bytes = b"") -> Member:
        """`chunk` times `times`, then `tail`: deflated once, the stream repeated (each
        piece ends in a full flush, so every piece is the same bytes)."""
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        piece = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
        end = c.compress(tail) + c.flush()
        crc = 0
        for _ in range(times):
            crc = zlib.crc32(chunk, crc)
        return cls(name, piece * times + end, zlib.crc32(tail, crc), len(chunk) * times + len(tail))


def write_zip(out: Path, members: list[Member]) -> Path:
    """A zip written byte by byte, so that it can say what zipfile would never write."""
    body, central = bytearray(), bytearray()
    for m in members:
        name = m.name.encode("utf-8")
        offset = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, m.flags, m.method, 0, 0x21, m.crc,
                            len(m.raw), m.size, len(name), 0) + name + m.raw
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, m.flags, m.method, 0,
                               0x21, m.crc, len(m.raw), m.size, len(name), 0, 0, 0, 0, 0,
                               offset) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                      len(body), 0)
    out.write_bytes(bytes(body + central + end))
    return out


@dataclass
class Parts:
    """A bundle taken apart, to be changed and put together again."""

    manifest: dict[str, Any]
    checkpoint: dict[str, Any]
    events: list[dict[str, Any]]
    chain: list[list[Any]]
    originals: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, bundle: Path) -> Parts:
        with zipfile.ZipFile(bundle) as zf:
            return cls(
                json.loads(zf.read("manifest.json")),
                json.loads(zf.read("checkpoint.json")),
                [json.loads(line) for line in zf.read("events.jsonl").splitlines()],
                [json.loads(line) for line in zf.read("chain.jsonl").splitlines()],
                {n: zf.read(n) for n in zf.namelist() if n.startswith("originals/")},
            )

    def find(self, type: str, item: str | None = None) -> dict[str, Any]:
        return next(e for e in self.events if e["type"] == type
                    and (item is None or e["item"] == item))

    def drop(self, event: dict[str, Any], *, from_manifest: bool = True) -> None:
        self.events.remove(event)
        if from_manifest:
            self.manifest["events"] = [p for p in self.manifest["events"] if p[0] != event["seq"]]

    def add(self, type: str, item: str | None, data: dict[str, Any]) -> dict[str, Any]:
        """A new event at the end of the source log."""
        seq = max(len(self.chain), *(e["seq"] for e in self.events)) + 1
        event = {"format": 1, "seq": seq, "recorded_at": "2024-10-19T10:00:00Z",
                 "recorded_by": "ana", "type": type, "item": item, "data": data}
        self.events.append(event)
        return event

    def item(self, sha: str) -> dict[str, Any]:
        return next(i for i in self.manifest["items"] if i["sha256"] == sha)

    def forge(self, key: Path | None = None) -> Parts:
        """As a forger who controls the whole bundle: leaves, chain, head and listing made to
        agree with the events, signed with `key` (else unsigned)."""
        self.events.sort(key=lambda e: e["seq"])
        leaves = {row[0]: row[1] for row in self.chain}
        for event in self.events:
            leaves[event["seq"]] = log.leaf_hash(log.canonical(event))
        previous = log.genesis(self.manifest["database_id"])
        self.chain = []
        for seq in range(1, max(leaves) + 1):
            previous = log.chain_hash(previous, leaves[seq])
            self.chain.append([seq, leaves[seq], previous])
        for doc in (self.manifest, self.checkpoint):
            doc.pop("signature", None)
        self.manifest.update(head=previous, log_events=len(self.chain),
                             events_included=len(self.events),
                             events=[[e["seq"], leaves[e["seq"]]] for e in self.events])
        self.checkpoint.update(head=previous, events=len(self.chain))
        if key is not None:
            self.manifest = _sign(self.manifest, key)
            self.checkpoint = _sign(self.checkpoint, key)
        return self

    def members(self) -> list[Member]:
        return [
            *(Member.of(name, data, method=0) for name, data in self.originals.items()),
            Member.of("events.jsonl", "".join(log.canonical(e) + "\n"
                                              for e in self.events).encode()),
            Member.of("chain.jsonl", "".join(json.dumps(r) + "\n" for r in self.chain).encode()),
            Member.of("checkpoint.json", json.dumps(self.checkpoint).encode()),
            Member.of("manifest.json", json.dumps(self.manifest).encode()),
        ]

    def write(self, out: Path, *, replace: dict[str, Member] | None = None,
              extra: list[Member] = ()) -> Path:  # type: ignore[assignment]
        members = [(replace or {}).get(m.name, m) for m in self.members()]
        return write_zip(out, [*members, *extra])


def held_item(target: Path, sender: Sender) -> str:
    """The receiver's own, unrelated item."""
    return str(invoke(target, "add", str(sender.other), "--json", by="bob",
                      check=True).json()[0]["sha256"])


# ------------------------------------------------------------------ the signature covers it all


def _drop_custody(p: Parts, s: Sender, target: Path) -> None:
    p.drop(p.find("custody.recorded"))


def _drop_review(p: Parts, s: Sender, target: Path) -> None:
    p.drop(p.find("claim.reviewed"))


def _strip_originals(p: Parts, s: Sender, target: Path) -> None:
    for entry in p.manifest["items"]:
        entry["original"] = None
    p.originals.clear()


def _change_sender(p: Parts, s: Sender, target: Path) -> None:
    p.manifest["created_by"] = "mallory"


def _receivers_item_in_manifest(p: Parts, s: Sender, target: Path) -> None:
    sha = held_item(target, s)
    item = invoke(target, "show", sha, "--json").json()
    p.manifest["items"].append({"sha256": sha, "size": item["size"], "md5": item["md5"],
                                "original": None})


@pytest.mark.parametrize("change", [_drop_custody, _drop_review, _strip_originals,
                                    _change_sender, _receivers_item_in_manifest])
def test_a_signed_bundle_changed_on_the_way_is_refused(sender, target, tmp_path, change):
    parts = Parts.of(sender.signed)
    change(parts, sender, target)
    before = len(invoke(target, "log", "--json").json())
    held = store_files(target)
    forged = parts.write(tmp_path / "forged.zip")
    result = invoke(target, "import", str(forged), "--public-key", f"{sender.key}.pub", by="bob")
    assert result.exit_code == 1, result.output
    assert "signature does not verify" in result.stderr and result.stderr.count("\n") == 1
    assert len(invoke(target, "log", "--json").json()) == before
    assert store_files(target) == held


def test_events_dropped_but_still_listed_are_refused(sender, target, tmp_path):
    parts = Parts.of(sender.signed)
    parts.drop(parts.find("custody.recorded"), from_manifest=False)
    result = invoke(target, "import", str(parts.write(tmp_path / "f.zip")), "--public-key",
                    f"{sender.key}.pub", by="bob")
    refused(target, result, "dropped after bundling")


def test_a_bundle_signed_by_someone_else_is_refused(sender, target, tmp_path):
    parts = Parts.of(sender.signed)
    parts.manifest["created_by"] = "mallory"
    forged = parts.forge(key=sender.mallory).write(tmp_path / "f.zip")
    result = invoke(target, "import", str(forged), "--public-key", f"{sender.key}.pub", by="bob")
    refused(target, result, "signature does not verify")


# ------------------------------------------------------------------ content checked against itself


def _path_as_item(p: Parts, s: Sender, target: Path) -> str:
    entry = p.item(s.shas[1])
    entry["sha256"], entry["original"] = "../../x", None
    p.originals.pop(f"originals/{s.shas[1]}")
    for event in p.events:
        if event["item"] == s.shas[1]:
            event["item"] = "../../x"
    p.find("item.registered", "../../x")["data"]["sha256"] = "../../x"
    return "not a SHA-256"


def _path_in_registration(p: Parts, s: Sender, target: Path) -> str:
    p.find("item.registered", s.shas[1])["data"]["sha256"] = "../../../etc/passwd"
    return "is not the event's item"


def _custody_on_receivers_item(p: Parts, s: Sender, target: Path) -> str:
    p.add("custody.recorded", held_item(target, s), {
        "action": "seized", "from_actor": None, "to_actor": None, "asserted_by": None,
        "at": None, "url": None, "note": "planted"})
    return "not in the manifest"


def _receivers_item_listed(p: Parts, s: Sender, target: Path) -> str:
    _receivers_item_in_manifest(p, s, target)
    return "does not carry its registration"


def _stripped_consistently(p: Parts, s: Sender, target: Path) -> str:
    _strip_originals(p, s, target)
    return "stored at the source, but its original is not in the bundle"


def _unknown_type(p: Parts, s: Sender, target: Path) -> str:
    p.add("item.deleted", s.shas[0], {"reason": "gone"})
    return "'item.deleted', which this prov cannot import"


def _unknown_actor(p: Parts, s: Sender, target: Path) -> str:
    p.find("custody.recorded")["data"]["from_actor"] = 9999
    return "names actor 9999, which the bundle does not carry"


def _review_of_a_claim_not_carried(p: Parts, s: Sender, target: Path) -> str:
    p.find("claim.reviewed")["data"]["claim"] = 7777
    return "reviews claim 7777"


def _bad_actor_kind(p: Parts, s: Sender, target: Path) -> str:
    p.find("actor.created")["data"]["kind"] = "robot"
    return "'kind' must be one of"


def _metadata_not_a_value(p: Parts, s: Sender, target: Path) -> str:
    p.find("item.registered", s.shas[1])["data"]["metadata"]["width"] = {"w": 1}
    return "metadata 'width' must be a single value"


def _hash_not_hex(p: Parts, s: Sender, target: Path) -> str:
    # The second item: the first one's original would have been extracted before it.
    p.find("item.registered", s.shas[1])["data"]["hashes"][0]["value"] = "zz"
    return "perceptual hash is malformed"


def _size_differs(p: Parts, s: Sender, target: Path) -> str:
    p.find("item.registered", s.shas[0])["data"]["size"] = 10
    return "is not the manifest's"


def _relation_to_outside(p: Parts, s: Sender, target: Path) -> str:
    p.add("near_duplicate.found", s.shas[0], {"other": held_item(target, s), "algorithm": "pdq",
                                              "distance": 3, "verdict": "re-upload"})
    return "'other' must be another item in the bundle"


def _sighting_outside_the_case(p: Parts, s: Sender, target: Path) -> str:
    for event in p.events:
        if event["type"] == "sighting.recorded" and event["item"] == s.shas[1]:
            event["data"]["case"] = "elsewhere"
    return "has no sighting in case 'dprk'"


def _bad_date(p: Parts, s: Sender, target: Path) -> str:
    p.find("custody.recorded")["data"]["at"] = {"text": "yesterday-ish", "precision": "day"}
    return "'at' is not a date"


def _analysis_of_an_item_analysed_at_registration(p: Parts, s: Sender, target: Path) -> str:
    p.add("item.analysed", s.shas[0], {"sha256": s.shas[0], "hashes": []})
    return "it analyses an item analysed when it was registered"


def _analysed_twice(p: Parts, s: Sender, target: Path) -> str:
    p.find("item.registered", s.shas[1])["data"]["analysis"] = "deferred"
    for _ in range(2):
        p.add("item.analysed", s.shas[1], {"sha256": s.shas[1], "hashes": []})
    return "the item is analysed twice"


def _analysed_hash_not_hex(p: Parts, s: Sender, target: Path) -> str:
    p.find("item.registered", s.shas[1])["data"]["analysis"] = "deferred"
    p.add("item.analysed", s.shas[1], {"sha256": s.shas[1], "hashes": [
        {"algorithm": "pdq", "value": "zz"}]})
    return "perceptual hash is malformed"


@pytest.mark.parametrize("change", [
    _analysis_of_an_item_analysed_at_registration, _analysed_twice, _analysed_hash_not_hex,
    _path_as_item, _path_in_registration, _custody_on_receivers_item, _receivers_item_listed,
    _stripped_consistently, _unknown_type, _unknown_actor, _review_of_a_claim_not_carried,
    _bad_actor_kind, _metadata_not_a_value, _hash_not_hex, _size_differs, _relation_to_outside,
    _sighting_outside_the_case, _bad_date,
])
def test_a_hostile_sender_cannot_write_what_its_bundle_does_not_hold(
        sender, target, tmp_path, change):
    """Forged whole and signed by the forger, whose key the receiver uses: the signature
    proves who wrote it, and every event is still checked against the bundle itself."""
    parts = Parts.of(sender.signed)
    message = change(parts, sender, target)
    before = len(invoke(target, "log", "--json").json())
    held = store_files(target)
    forged = parts.forge(key=sender.mallory).write(tmp_path / "forged.zip")
    result = invoke(target, "import", str(forged), "--public-key", f"{sender.mallory}.pub",
                    by="bob")
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "refused" in lines[0] and message in lines[0], lines
    assert len(invoke(target, "log", "--json").json()) == before
    assert store_files(target) == held  # all or nothing on disk too


def test_a_sighting_path_is_never_followed_on_the_receivers_disk(sender, target, tmp_path):
    """A not-stored item whose sighting names a file of the receiver's: imported, but the
    path is kept as the sender's, and the receiver's verify never reads that file."""
    secret = tmp_path / "bob-notes.txt"
    secret.write_text("the receiver's own file")
    parts = Parts.of(sender.unsigned)
    sha = sender.shas[1]
    parts.item(sha)["original"] = None
    parts.originals.pop(f"originals/{sha}")
    parts.find("item.registered", sha)["data"]["stored"] = False
    parts.find("sighting.recorded", sha)["data"]["path"] = str(secret)
    forged = parts.forge().write(tmp_path / "forged.zip")
    result = invoke(target, "import", str(forged), "--unsigned", by="bob")
    assert result.exit_code == 0, result.output
    verify = invoke(target, "verify", "--json")
    assert verify.exit_code == 0 and verify.json()["ok"], verify.output
    sighting = invoke(target, "show", sha, "--json").json()["sightings"][0]
    assert sighting["path"] is None


# ------------------------------------------------------------------ sizes


def test_a_manifest_that_inflates_to_a_gibibyte_is_refused_unread(sender, target, tmp_path):
    parts = Parts.of(sender.unsigned)
    genuine = json.dumps(parts.manifest).encode()
    bomb = Member.repeated("manifest.json", b" " * MiB, 1024, tail=genuine)
    assert bomb.size > 1 << 30 and len(bomb.raw) < 2 * MiB
    forged = parts.write(tmp_path / "bomb.zip", replace={"manifest.json": bomb})
    result = invoke(target, "import", str(forged), "--unsigned", by="bob")
    refused(target, result, "manifest.json declares 1,073,", "over the")


def test_events_that_inflate_past_the_ratio_cap_are_refused(sender, target, tmp_path):
    parts = Parts.of(sender.unsigned)
    lines = "".join(log.canonical(e) + "\n" for e in parts.events).encode()
    bomb = Member.repeated("events.jsonl", b"\n" * MiB, 32, tail=lines)
    forged = parts.write(tmp_path / "bomb.zip", replace={"events.jsonl": bomb})
    result = invoke(target, "import", str(forged), "--unsigned", by="bob")
    refused(target, result, "events.jsonl inflates", "zip bomb")


@pytest.fixture(scope="module")
def gibibyte() -> tuple[Member, str]:
    """A 1 GiB original (zeros, about 1 MB deflated) and its SHA-256."""
    digest = hashlib.sha256()
    zeros = bytes(MiB)
    for _ in range(1024):
        digest.update(zeros)
    return Member.repeated("originals/" + digest.hexdigest(), zeros, 1024), digest.hexdigest()


def test_a_gibibyte_original_declared_as_ten_bytes_is_refused(
        sender, target, tmp_path, gibibyte):
    member, sha = gibibyte
    parts = Parts.of(sender.unsigned)
    old = sender.shas[1]
    parts.originals.pop(f"originals/{old}")
    entry = parts.item(old)
    entry.update(sha256=sha, size=10, original=f"originals/{sha}")
    for event in parts.events:
        if event["item"] == old:
            event["item"] = sha
    parts.find("item.registered", sha)["data"].update(sha256=sha, size=10)
    forged = parts.forge().write(tmp_path / "big.zip", extra=[member])
    result = invoke(target, "import", str(forged), "--unsigned", by="bob")
    refused(target, result, "is 1,073,741,824 bytes in the archive, but the manifest declares 10")


def test_an_original_shorter_than_its_zip_header_says_is_refused(sender, target, tmp_path):
    parts = Parts.of(sender.unsigned)
    name = f"originals/{sender.shas[0]}"
    genuine = parts.originals[name]
    short = Member(name, genuine[:-100], zlib.crc32(genuine), len(genuine), method=0)
    forged = parts.write(tmp_path / "short.zip", replace={name: short})
    result = invoke(target, "import", str(forged), "--unsigned", by="bob")
    refused(target, result)


# ------------------------------------------------------------------ pixels


def _bomb_item(parts: Parts, sender: Sender, *, kind: str, mime: str,
               bomb: bytes | None = None) -> str:
    """The second item replaced by a decompression-bomb PNG (or `bomb`), registered as `kind`."""
    bomb = media.decompression_bomb_png() if bomb is None else bomb
    sha = hashlib.sha256(bomb).hexdigest()
    old = sender.shas[1]
    del parts.originals[f"originals/{old}"]
    parts.originals[f"originals/{sha}"] = bomb
    parts.item(old).update(sha256=sha, size=len(bomb), original=f"originals/{sha}",
                           md5=hashlib.md5(bomb).hexdigest())
    for event in parts.events:
        if event["item"] == old:
            event["item"] = sha
    parts.find("item.registered", sha)["data"].update(
        sha256=sha, size=len(bomb), md5=hashlib.md5(bomb).hexdigest(), kind=kind, mime=mime,
        hashes=[], metadata={})
    return sha


@pytest.mark.parametrize(("kind", "mime"), [("image", "image/png"),
                                            ("other", "application/octet-stream")])
def test_a_decompression_bomb_arriving_in_a_bundle_is_taken_in_undecoded_as_add_takes_it(
        sender, target, tmp_path, kind, mime):
    # 30,000 x 30,000 pixels: `prov add` registers such a picture without decoding it (issue
    # 18), so a bundle carrying one is imported too, and nothing decodes it afterwards.
    parts = Parts.of(sender.unsigned)
    sha = _bomb_item(parts, sender, kind=kind, mime=mime)
    forged = parts.forge().write(tmp_path / "bomb.zip")
    result = invoke(target, "import", str(forged), "--unsigned", by="bob")
    assert result.exit_code == 0, result.output
    assert sha in {i["sha256"] for i in invoke(target, "list", "--json").json()}
    matched = invoke(target, "match", sha, "--json")
    assert matched.exit_code == 0, matched.output
    assert "decoding limit" in " ".join(matched.json()["query"]["warnings"])


@pytest.mark.parametrize(("kind", "mime"), [("image", "image/png"),
                                            ("other", "application/octet-stream")])
def test_a_corrupt_picture_arriving_in_a_bundle_is_refused_as_add_refuses_it(
        sender, target, tmp_path, kind, mime):
    png = media.png_with_alpha(3, size=(64, 48))
    corrupt = png[:40] + bytes(range(256)) * 8 + png[-20:]
    parts = Parts.of(sender.unsigned)
    sha = _bomb_item(parts, sender, kind=kind, mime=mime, bomb=corrupt)
    forged = parts.forge().write(tmp_path / "corrupt.zip")
    result = invoke(target, "import", str(forged), "--unsigned", by="bob")
    refused(target, result, f"original {sha}", "corrupt")


def _register_stored(db: Path, data: bytes, kind: str = "image", mime: str = "image/png") -> str:
    """An item whose stored original is `data`, however it got there (an older prov took it
    in): written through the ledger as `prov add` writes one."""
    from provenance.ledger import log as ledger
    from provenance.ledger.db import open_db, transaction
    from provenance.ledger.evidence import EvidenceStore

    sha = hashlib.sha256(data).hexdigest()
    source = db.parent / "held.png"
    source.write_bytes(data)
    conn = open_db(str(db))
    try:
        EvidenceStore.beside(conn).put(str(source), sha)
        with transaction(conn):
            ledger.record(conn, "item.registered", {
                "sha256": sha, "md5": hashlib.md5(data).hexdigest(), "size": len(data),
                "mime": mime, "kind": kind, "stored": True, "metadata": {}, "raw_metadata": {},
                "hashes": []}, by="tester", item=sha)
            ledger.record(conn, "sighting.recorded", {"path": None, "file_name": "held.png",
                                                      "case": CASE}, by="tester", item=sha)
    finally:
        conn.close()
    return sha


@pytest.mark.parametrize("size", [(30_000, 30_000), (10_000, 10_000)])
def test_previews_of_a_held_bomb_are_placeholders_and_export_does_not_crash(
        target, tmp_path, size):
    from provenance.ledger.db import open_db
    from provenance.report import thumbnail

    sha = _register_stored(target, media.decompression_bomb_png(*size))
    conn = open_db(str(target))
    try:
        thumb = thumbnail.for_item(conn, sha)
    finally:
        conn.close()
    assert thumb.mime == "image/svg+xml" and "pixel limit" in str(thumb.reason)
    out = tmp_path / "report.html"
    result = invoke(target, "export", sha, "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "image/svg+xml" in out.read_text()


def test_a_preview_that_fails_to_decode_in_any_way_is_a_placeholder(target, tmp_path):
    from provenance.ledger.db import open_db
    from provenance.report import thumbnail

    # The length of the chunk after the header broken: Pillow raises SyntaxError decoding it.
    broken = bytearray(media.png_with_alpha(3, size=(64, 48)))
    broken[35] = 0
    sha = _register_stored(target, bytes(broken))
    conn = open_db(str(target))
    try:
        thumb = thumbnail.for_item(conn, sha)
    finally:
        conn.close()
    assert thumb.mime == "image/svg+xml" and thumb.reason == "preview failed (SyntaxError)"
    out = tmp_path / "report.html"
    assert invoke(target, "export", sha, "--format", "html", "--out", str(out)).exit_code == 0


# ------------------------------------------------------------------ malformed archives


def _members_of(bundle: Path) -> list[Member]:
    with zipfile.ZipFile(bundle) as zf:
        return [Member.of(i.filename, zf.read(i)) for i in zf.infolist()]


def _replaced(name: str, data: bytes) -> Callable[[list[Member]], list[Member]]:
    return lambda ms: [Member.of(name, data) if m.name == name else m for m in ms]


def _without(name: str) -> Callable[[list[Member]], list[Member]]:
    return lambda ms: [m for m in ms if m.name != name]


def _added(member: Member) -> Callable[[list[Member]], list[Member]]:
    return lambda ms: [*ms, member]


def _manifest_edit(edit: Callable[[dict[str, Any]], Any]) -> Callable[[list[Member]], list[Member]]:
    def change(ms: list[Member]) -> list[Member]:
        m = next(m for m in ms if m.name == "manifest.json")
        manifest = json.loads(zlib.decompress(m.raw, -15))
        manifest = edit(manifest) or manifest
        return _replaced("manifest.json", json.dumps(manifest).encode())(ms)
    return change


def _first_event_edit(edit: Callable[[str], str]) -> Callable[[list[Member]], list[Member]]:
    def change(ms: list[Member]) -> list[Member]:
        m = next(m for m in ms if m.name == "events.jsonl")
        lines = zlib.decompress(m.raw, -15).decode().splitlines()
        lines[0] = edit(lines[0])
        return _replaced("events.jsonl", ("\n".join(lines) + "\n").encode())(ms)
    return change


def _crc_broken(ms: list[Member]) -> list[Member]:
    m = next(m for m in ms if m.name == "manifest.json")
    return [Member(m.name, m.raw, m.crc ^ 1, m.size) if m is m2 else m2 for m2 in ms]


def _deflate_broken(ms: list[Member]) -> list[Member]:
    m = next(m for m in ms if m.name == "events.jsonl")
    raw = bytearray(m.raw)
    raw[len(raw) // 2:] = bytes(len(raw) - len(raw) // 2)
    return [Member(m.name, bytes(raw), m.crc, m.size) if m is m2 else m2 for m2 in ms]


def _encrypted(ms: list[Member]) -> list[Member]:
    m = next(m for m in ms if m.name == "chain.jsonl")
    return [Member(m.name, m.raw, m.crc, m.size, flags=1) if m is m2 else m2 for m2 in ms]


def _unknown_method(ms: list[Member]) -> list[Member]:
    m = next(m for m in ms if m.name == "checkpoint.json")
    return [Member(m.name, m.raw, m.crc, m.size, method=99) if m is m2 else m2 for m2 in ms]


def _tampered_original(ms: list[Member]) -> list[Member]:
    out = []
    for m in ms:
        if m.name.startswith("originals/"):
            data = zlib.decompress(m.raw, -15)
            m = Member.of(m.name, data[:-1] + b"\x00")
        out.append(m)
    return out


def _sections(ms: list[Member]) -> dict[str, Member]:
    return {m.name: m for m in ms}


def _a_second_manifest(ms: list[Member]) -> list[Member]:
    manifest = json.loads(zlib.decompress(_sections(ms)["manifest.json"].raw, -15))
    manifest["created_by"] = "mallory"
    return [*ms, Member.of("manifest.json", json.dumps(manifest).encode())]


def _truncated_chain(ms: list[Member]) -> list[Member]:
    chain = zlib.decompress(_sections(ms)["chain.jsonl"].raw, -15).splitlines()
    return _replaced("chain.jsonl", b"\n".join(chain[:-1]) + b"\n")(ms)


MALFORMED: dict[str, tuple[Callable[[list[Member]], list[Member]], str]] = {
    "manifest missing": (_without("manifest.json"), "manifest.json is missing"),
    "events missing": (_without("events.jsonl"), "events.jsonl is missing"),
    "manifest not JSON": (_replaced("manifest.json", b"{not json"), "is not JSON"),
    "manifest not UTF-8": (_replaced("manifest.json", b"\xff\xfe{}"), "not UTF-8"),
    "manifest a list": (_replaced("manifest.json", b"[1, 2]"), "not a JSON object"),
    "manifest nested deep": (_replaced("manifest.json", b"[" * 200_000 + b"]" * 200_000),
                             "manifest.json is not JSON"),
    "unknown format": (_manifest_edit(lambda m: m.update(format="prov-bundle/9")),
                       "unknown bundle format"),
    "items not a list": (_manifest_edit(lambda m: m.update(items={"a": 1})),
                         "'items' must be a non-empty list"),
    "item size text": (_manifest_edit(lambda m: m["items"][0].update(size="12")),
                       "'size' must be a byte count"),
    "item entry a string": (_manifest_edit(lambda m: m.update(items=["abc"])),
                            "every entry of 'items' must be an object"),
    "head not hex": (_manifest_edit(lambda m: m.update(head=None)), "'head' must be"),
    "log_events text": (_manifest_edit(lambda m: m.update(log_events="9")), "'log_events'"),
    "database_id a number": (_manifest_edit(lambda m: m.update(database_id=7)),
                             "'database_id'"),
    "events not JSON": (_first_event_edit(lambda line: line[:-3]), "not an event"),
    "event a list": (_first_event_edit(lambda line: "[1, 2]"), "not an event"),
    "event not canonical": (_first_event_edit(lambda line: json.dumps(json.loads(line),
                                                                      indent=1)),
                            "not an event"),
    "event with NaN": (_first_event_edit(lambda line: line.replace('"data":{',
                                                                   '"data":{"x":NaN,', 1)),
                       "not an event"),
    "event envelope odd": (_first_event_edit(
        lambda line: log.canonical({**json.loads(line), "extra": 1})), "well-formed event"),
    "event seq text": (_first_event_edit(
        lambda line: log.canonical({**json.loads(line), "seq": "1"})), "well-formed event"),
    "events not UTF-8": (_replaced("events.jsonl", b"\xff\xff\n"), "not UTF-8"),
    "chain row odd": (_replaced("chain.jsonl", b"[1, 2]\n"), "chain.jsonl line 1"),
    "chain line huge": (_replaced("chain.jsonl", b"[" + b" " * 5000 + b"]\n"), "line 1 is over"),
    "chain truncated": (_truncated_chain, "does not end at its recorded head"),
    "checkpoint not JSON": (_replaced("checkpoint.json", b"nope"), "checkpoint.json is not"),
    "checkpoint a string": (_replaced("checkpoint.json", b'"x"'), "checkpoint.json is not"),
    "bad CRC": (_crc_broken, "malformed bundle"),
    "broken deflate": (_deflate_broken, "events.jsonl"),
    "encrypted member": (_encrypted, "encrypted"),
    "unknown compression": (_unknown_method, "malformed bundle"),
    "duplicate manifest": (_a_second_manifest, "appears twice"),
    "directory member": (_added(Member.of("originals/", b"")), "unsafe path"),
    "traversal member": (_added(Member.of("../../evil.sh", b"rm -rf /")), "unsafe path"),
    "absolute member": (_added(Member.of("/etc/cron.d/evil", b"x")), "unsafe path"),
    "unexpected member": (_added(Member.of("notes.txt", b"x")), "unexpected member"),
    "original not named": (_added(Member.of("originals/" + "ab" * 32, b"x")),
                           "is not named by the manifest"),
    "original altered": (_tampered_original, "hash mismatch"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_bundle_is_one_refusal_line(sender, target, tmp_path, name):
    change, message = MALFORMED[name]
    bad = write_zip(tmp_path / "bad.zip", change(_members_of(sender.unsigned)))
    result = invoke(target, "import", str(bad), "--unsigned", by="bob")
    refused(target, result, message)


@pytest.mark.parametrize(("name", "data"), [
    ("not a zip", b"not a zip at all"),
    ("empty file", b""),
])
def test_what_is_not_a_zip_is_one_refusal_line(target, tmp_path, name, data):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(data)
    refused(target, invoke(target, "import", str(junk), "--unsigned"), "not a readable bundle")


def test_a_truncated_bundle_is_one_refusal_line(sender, target, tmp_path):
    whole = sender.unsigned.read_bytes()
    for cut in (len(whole) // 2, len(whole) - 30):
        junk = tmp_path / "cut.zip"
        junk.write_bytes(whole[:cut])
        refused(target, invoke(target, "import", str(junk), "--unsigned"))


def test_an_edited_event_is_refused(sender, target, tmp_path):
    parts = Parts.of(sender.unsigned)
    parts.find("custody.recorded")["recorded_by"] = "mallory"
    result = invoke(target, "import", str(parts.write(tmp_path / "e.zip")), "--unsigned")
    refused(target, result, "does not match its log")


def test_copy_of_ready_made_parts_is_importable(sender, target, tmp_path):
    """The forging kit itself is honest: untouched parts, put together again, import."""
    parts = Parts.of(sender.signed)
    again = copy.deepcopy(parts).write(tmp_path / "same.zip")
    result = invoke(target, "import", str(again), "--public-key", f"{sender.key}.pub", by="bob")
    assert result.exit_code == 0, result.output
    assert invoke(target, "verify").exit_code == 0


def test_a_fault_during_the_merge_leaves_no_original_behind(sender, target, tmp_path):
    """All or nothing on disk too: the originals placed for an import go if its transaction
    fails (here the receiver's database fails the first custody row the merge writes)."""
    import sqlite3

    conn = sqlite3.connect(target)
    conn.execute("CREATE TRIGGER fault BEFORE INSERT ON custody BEGIN SELECT no_such(); END")
    conn.close()
    result = invoke(target, "import", str(sender.signed), "--public-key", f"{sender.key}.pub",
                    by="bob")
    assert result.exit_code == 1 and "no such function" in result.stderr, result.output
    assert invoke(target, "log", "--json").json() == []
    assert store_files(target) == []
