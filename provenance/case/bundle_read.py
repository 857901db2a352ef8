"""Reading a bundle from outside: members, manifest, signature and chain, checked before use."""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from provenance.errors import BadInput, ProvError, UsageProblem
from provenance.ledger import checkpoint as checkpoints
from provenance.ledger import log
from provenance.ledger.event import FORMAT as EVENT_FORMAT

FORMAT = "prov-bundle/2"
# Signed only the source log's head, not the items and events carried: read, never trusted.
OLD_FORMAT = "prov-bundle/1"
CHUNK = 1 << 20
HEX64 = re.compile(r"[0-9a-f]{64}")
HEX32 = re.compile(r"[0-9a-f]{32}")
ORIGINAL = re.compile(r"originals/[0-9a-f]{64}")
ENVELOPE = {"format", "seq", "recorded_at", "recorded_by", "type", "item", "data"}

# A bundle comes from outside. zipfile never yields more than a member's declared size, so
# capping the declared sizes caps what reading can cost. JSON members are parsed whole, the
# chain line by line; the caps are far above what a case of tens of thousands of items needs.
JSON_MEMBERS = {
    "manifest.json": 64 << 20,
    "checkpoint.json": 1 << 20,
    "events.jsonl": 256 << 20,
    "chain.jsonl": 512 << 20,
}
CHAIN_LINE = 1024  # "[seq, leaf, chain]": under 160 bytes
# RFC 3161 replies carried (a few KB each, with the authority's certificates): caps on how
# many and how large, far above what a log stamped daily for decades has.
MAX_STAMPS = 100_000
MAX_STAMP_B64 = 256 << 10
# prov deflates JSON 3-10x; deflate reaches ~1000x on repeated bytes, which only a crafted
# archive has. Small members may compress as they like.
MAX_RATIO = 100
RATIO_EXEMPT = 1 << 20


@dataclass(frozen=True)
class BundledItem:
    sha256: str
    size: int
    md5: str
    member: str | None  # "originals/<sha256>" when the original is in the bundle


@dataclass(frozen=True)
class BundledEvent:
    seq: int
    recorded_at: str
    recorded_by: str
    type: str
    item: str | None
    data: dict[str, Any]
    leaf_hash: str


@dataclass
class Bundle:
    """A bundle whose structure, signature and chain have been checked; the zip stays open,
    so the originals staged later are read from the very file checked."""

    path: Path
    zf: zipfile.ZipFile
    format: str
    manifest: dict[str, Any]
    items: dict[str, BundledItem]
    events: list[BundledEvent]
    authenticated: bool  # the signature verified with the key the receiver gave
    signer: str | None  # that key, in hex
    warnings: list[str] = field(default_factory=list)
    # RFC 3161 stamps of the source log's heads (the checkpoint's own, then earlier ones the
    # source recorded): each {"events", "head", "response", ...}, its head already checked
    # to be the bundle chain's hash at event "events"; the tokens are checked on import.
    timestamps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return str(self.path)

    def close(self) -> None:
        self.zf.close()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def refuse(subject: str, reason: str) -> BadInput:
    return BadInput(subject, f"refused: {reason}")


@contextmanager
def malformed_as_refusal(subject: str) -> Iterator[None]:
    """Whatever a damaged or crafted archive makes the zip and JSON readers raise becomes
    one refusal line, never an internal error."""
    try:
        yield
    except ProvError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
            RuntimeError, ValueError, KeyError, TypeError, OverflowError) as exc:
        # RuntimeError: an encrypted member; RecursionError: JSON nested past the limit.
        raise refuse(subject, f"malformed bundle ({type(exc).__name__}: {exc})") from None


def read_bundle(path: Path, *, public_key: Path | None = None, unsigned: bool = False
                ) -> Bundle:
    """Open a bundle and check all of it but the originals' bytes (stage_originals reads
    those): member names and sizes, the manifest, the signature, the source log's chain
    from its genesis to its head, and that the events carried are exactly those listed."""
    if public_key is not None and unsigned:
        raise UsageProblem("pass --public-key (to check the signature) or --unsigned, not both")
    subject = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise refuse(subject, f"not a readable bundle ({exc})") from None
    try:
        with malformed_as_refusal(subject):
            return _read(zf, path, subject, public_key, unsigned)
    except BaseException:
        zf.close()
        raise


def _read(zf: zipfile.ZipFile, path: Path, subject: str, public_key: Path | None,
          unsigned: bool) -> Bundle:
    infos = _members(zf, subject)
    manifest = _json_member(zf, infos["manifest.json"], subject)
    fmt, items, listed = _check_manifest(manifest, subject)
    checkpoint = _json_member(zf, infos["checkpoint.json"], subject)
    _check_checkpoint(checkpoint, manifest, subject)
    authenticated, signer, warnings = _authenticate(
        subject, fmt, manifest, checkpoint, public_key, unsigned)
    _check_original_members(infos, items, subject)
    stamps = _stamps(manifest, checkpoint, subject)
    events = _read_events(zf, infos["events.jsonl"], subject)
    heads: dict[int, str] = {}
    leaves = _read_chain(zf, infos["chain.jsonl"], manifest, subject,
                         wanted={e.seq for e in events} | set(listed),
                         heads_at={int(s["events"]) for s in stamps}, heads=heads)
    _match_events(events, listed if fmt == FORMAT else None, leaves, subject)
    for stamp in stamps:
        if heads.get(stamp["events"]) != stamp["head"]:
            raise refuse(subject, f"the time-stamp of event {stamp['events']} stamps head"
                         f" {stamp['head'][:16]}…, which is not the bundle's log at that event")
    return Bundle(path, zf, fmt, manifest, items, events, authenticated, signer, warnings,
                  stamps)


def _stamps(manifest: dict[str, Any], checkpoint: dict[str, Any], subject: str
            ) -> list[dict[str, Any]]:
    """The time-stamps a bundle carries, well-formed: the checkpoint's own ("timestamp",
    which must stamp the bundle's head) and those listed in the manifest's "timestamps"."""
    found: list[dict[str, Any]] = []
    own = checkpoint.get("timestamp")
    if own is not None:
        _check_stamp(own, manifest["log_events"], "checkpoint.json: 'timestamp'", subject)
        if own["events"] != manifest["log_events"] or own["head"] != manifest["head"]:
            raise refuse(subject, "checkpoint.json: its time-stamp is not of the bundle's head")
        found.append(own)
    listed: Any = manifest.get("timestamps", [])
    if not isinstance(listed, list) or len(listed) > MAX_STAMPS:
        raise refuse(subject, f"manifest.json: 'timestamps' must be a list of at most"
                     f" {MAX_STAMPS:,} time-stamps")
    for n, stamp in enumerate(listed, 1):
        _check_stamp(stamp, manifest["log_events"], f"manifest.json: time-stamp {n}", subject)
        if not any(s["response"] == stamp["response"] for s in found):
            found.append(stamp)
    return found


def _check_stamp(stamp: Any, log_events: int, what: str, subject: str) -> None:
    if not (isinstance(stamp, dict) and _is_int(stamp.get("events"))
            and 1 <= stamp["events"] <= log_events
            and isinstance(stamp.get("head"), str) and HEX64.fullmatch(stamp["head"])
            and isinstance(stamp.get("response"), str)
            and 0 < len(stamp["response"]) <= MAX_STAMP_B64):
        raise refuse(subject, f"{what} must be {{events, head, response}} of an event in the"
                     " bundle's log")


def _members(zf: zipfile.ZipFile, subject: str) -> dict[str, zipfile.ZipInfo]:
    """Every member once, under a safe expected name, within its size and ratio caps."""
    infos: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        name = info.filename
        pure = PurePosixPath(name)
        if (name.startswith("/") or "\\" in name or ".." in pure.parts or ":" in name
                or info.is_dir()):
            raise refuse(subject, f"unsafe path {name!r} in the archive")
        if name in infos:
            # Readers disagree on which copy counts (zipfile the last, unzip the first).
            raise refuse(subject, f"member {name!r} appears twice in the archive")
        if name not in JSON_MEMBERS and not ORIGINAL.fullmatch(name):
            raise refuse(subject, f"unexpected member {name!r} in the archive")
        if info.flag_bits & 0x1:
            raise refuse(subject, f"member {name!r} is encrypted")
        cap = JSON_MEMBERS.get(name)
        if cap is not None:
            if info.file_size > cap:
                raise refuse(subject, f"{name} declares {info.file_size:,} bytes, over the"
                             f" {cap:,} a bundle's {name} may have")
            ratio = info.file_size // max(info.compress_size, 1)
            if info.file_size > RATIO_EXEMPT and ratio > MAX_RATIO:
                raise refuse(subject, f"{name} inflates {ratio:,}-fold (over {MAX_RATIO}-fold):"
                             " a zip bomb, not a bundle")
        infos[name] = info
    for name in JSON_MEMBERS:
        if name not in infos:
            raise refuse(subject, f"incomplete bundle: {name} is missing")
    return infos


def _json_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, subject: str) -> Any:
    data = zf.read(info)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise refuse(subject, f"{info.filename} is not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:
        raise refuse(subject, f"{info.filename} is not JSON ({type(exc).__name__})") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_manifest(manifest: Any, subject: str
                    ) -> tuple[str, dict[str, BundledItem], dict[int, str]]:
    """(format, items by SHA-256, listed events seq -> leaf hash) of a well-formed manifest."""
    if not isinstance(manifest, dict):
        raise refuse(subject, "manifest.json is not a JSON object")
    fmt = manifest.get("format")
    if fmt not in (FORMAT, OLD_FORMAT):
        raise refuse(subject, f"unknown bundle format {fmt!r} (this prov reads {FORMAT},"
                     f" and {OLD_FORMAT} as unsigned)")

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise refuse(subject, f"manifest.json: {what}")

    need(_text(manifest.get("case")), "'case' must be a case name")
    db_id: Any = manifest.get("database_id")
    need(_text(db_id) and len(db_id) <= 200, "'database_id' must be the source database's id")
    need(_text(manifest.get("created_by")), "'created_by' must name who wrote the bundle")
    need(isinstance(manifest.get("created_at"), str), "'created_at' must be a time")
    need(isinstance(manifest.get("head"), str) and bool(HEX64.fullmatch(manifest["head"])),
         "'head' must be a SHA-256 in hex")
    need(_is_int(manifest.get("log_events")) and manifest["log_events"] >= 1,
         "'log_events' must be a positive count")
    raw_items: Any = manifest.get("items")
    need(isinstance(raw_items, list) and bool(raw_items), "'items' must be a non-empty list")
    items: dict[str, BundledItem] = {}
    for entry in raw_items:
        need(isinstance(entry, dict), "every entry of 'items' must be an object")
        sha = entry.get("sha256")
        need(isinstance(sha, str) and bool(HEX64.fullmatch(sha)),
             f"item {str(sha)[:80]!r} is not a SHA-256 in hex")
        need(sha not in items, f"item {sha} is listed twice")
        size: Any = entry.get("size")
        md5: Any = entry.get("md5")
        member: Any = entry.get("original")
        need(_is_int(size) and size >= 0, f"item {sha}: 'size' must be a byte count")
        need(isinstance(md5, str) and bool(HEX32.fullmatch(md5)),
             f"item {sha}: 'md5' must be an MD5 in hex")
        need(member is None or member == f"originals/{sha}",
             f"item {sha}: 'original' must be null or originals/{sha}")
        items[sha] = BundledItem(sha, size, md5, member)
    listed: dict[int, str] = {}
    if fmt == FORMAT:
        raw_events: Any = manifest.get("events")
        need(isinstance(raw_events, list) and bool(raw_events),
             "'events' must list the events included")
        for pair in raw_events:
            need(isinstance(pair, list) and len(pair) == 2 and _is_int(pair[0])
                 and 1 <= pair[0] <= manifest["log_events"] and isinstance(pair[1], str)
                 and bool(HEX64.fullmatch(pair[1])),
                 "every entry of 'events' must be [sequence number, leaf hash]")
            need(pair[0] not in listed, f"event {pair[0]} is listed twice")
            listed[pair[0]] = pair[1]
    return fmt, items, listed


def _check_checkpoint(checkpoint: Any, manifest: dict[str, Any], subject: str) -> None:
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != checkpoints.FORMAT:
        raise refuse(subject, f"checkpoint.json is not a {checkpoints.FORMAT} document")
    if checkpoint.get("database_id") != manifest["database_id"]:
        raise refuse(subject, "checkpoint and manifest name different databases")
    if checkpoint.get("head") != manifest["head"] or checkpoint.get("events") != \
            manifest["log_events"]:
        raise refuse(subject, "checkpoint and manifest disagree on the source log's head")


def _authenticate(subject: str, fmt: str, manifest: dict[str, Any], checkpoint: dict[str, Any],
                  public_key: Path | None, unsigned: bool) -> tuple[bool, str | None, list[str]]:
    """(authenticated, signer's key in hex, warnings); refuse what the options do not allow."""
    if fmt == OLD_FORMAT:
        why = (f"bundle format {OLD_FORMAT} signs only the source log's head, not the items"
               " and events it carries")
        if public_key is not None:
            raise refuse(subject, f"{why}, so no key can vouch for them; import it with"
                         " --unsigned, or ask the sender for a bundle from this prov")
        if not unsigned:
            raise UsageProblem(f"{subject}: refused: {why}; pass --unsigned to import it"
                               " unauthenticated, or ask the sender for a new bundle")
        return False, None, [f"old bundle format {OLD_FORMAT}: nothing in it is authenticated"
                             " (imported as --unsigned)"]
    signed = bool(manifest.get("signature"))
    if public_key is None:
        if not unsigned:
            state = ("is signed; pass --public-key FILE (the sender's key) to check it"
                     if signed else "is not signed; ask the sender for a signed bundle and"
                     " pass --public-key FILE")
            raise UsageProblem(f"{subject}: refused: the bundle {state}, or pass --unsigned to"
                               " import it unauthenticated")
        return False, None, [
            "the bundle's signature was not checked (--unsigned): nothing proves who wrote it"
            if signed else
            "the bundle is not signed (--unsigned): nothing proves who wrote it or that it"
            " was not altered on the way"]
    valid = checkpoints.verify_signature(manifest, public_key)
    if valid is None:
        raise refuse(subject, "the bundle is not signed, but a public key was given")
    if not valid:
        raise refuse(subject, f"the bundle's signature does not verify with {public_key}: its"
                     " manifest differs from what was signed, or another key signed it")
    if checkpoint.get("signature") and not checkpoints.verify_signature(checkpoint, public_key):
        raise refuse(subject, f"the checkpoint's signature does not verify with {public_key}")
    return True, _key_hex(public_key), []


def _key_hex(public_key: Path) -> str:
    from cryptography.hazmat.primitives import serialization

    key = checkpoints.load_public_key(public_key)
    return bytes(key.public_bytes(serialization.Encoding.Raw,
                                  serialization.PublicFormat.Raw)).hex()


def _check_original_members(infos: dict[str, zipfile.ZipInfo], items: dict[str, BundledItem],
                            subject: str) -> None:
    """Each original member named by one item, of the size the manifest declares."""
    named = {it.member: it for it in items.values() if it.member}
    for name in sorted(n for n in infos if n.startswith("originals/")):
        if name not in named:
            raise refuse(subject, f"member {name} is not named by the manifest")
    for name, item in sorted(named.items()):
        if name not in infos:
            raise refuse(subject, f"original {name} named by the manifest is not in the archive")
        if infos[name].file_size != item.size:
            raise refuse(subject, f"original {item.sha256} is {infos[name].file_size:,} bytes in"
                         f" the archive, but the manifest declares {item.size:,}")


def _lines(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, subject: str
           ) -> Iterator[tuple[int, str]]:
    """(line number, text without its newline) of a member, read a line at a time."""
    with zf.open(info) as fh:
        number = 0
        while raw := fh.readline(limit + 1):
            number += 1
            if len(raw) > limit:
                raise refuse(subject, f"{info.filename} line {number} is over {limit:,} bytes")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise refuse(subject, f"{info.filename} line {number} is not UTF-8") from None
            text = text[:-1] if text.endswith("\n") else text
            if text:
                yield number, text


def _read_events(zf: zipfile.ZipFile, info: zipfile.ZipInfo, subject: str
                 ) -> list[BundledEvent]:
    """Each line one event exactly as the source log holds it (canonical JSON, whole
    envelope), in sequence order, none twice."""
    events: dict[int, BundledEvent] = {}
    for number, payload in _lines(zf, info, JSON_MEMBERS["events.jsonl"], subject):
        where = f"events.jsonl line {number}"
        try:
            body = json.loads(payload)
            canonical = log.canonical(body) if isinstance(body, dict) else None
        except (ValueError, RecursionError, TypeError) as exc:
            raise refuse(subject, f"{where} is not an event ({type(exc).__name__})") from None
        if canonical != payload:
            raise refuse(subject, f"{where} is not an event as prov records one (an object in"
                         " RFC 8785 canonical JSON)")
        assert isinstance(body, dict)
        seq: Any = body.get("seq")
        item: Any = body.get("item")
        data: Any = body.get("data")
        if (set(body) != ENVELOPE or body["format"] != EVENT_FORMAT or not _is_int(seq)
                or seq < 1 or not all(isinstance(body[k], str)
                                      for k in ("recorded_at", "recorded_by", "type"))
                or not isinstance(data, dict)
                or not (item is None or (isinstance(item, str) and HEX64.fullmatch(item)))):
            raise refuse(subject, f"{where} is not a well-formed event envelope (format,"
                         " seq, recorded_at, recorded_by, type, item as a SHA-256 or null,"
                         " data as an object)")
        if seq in events:
            raise refuse(subject, f"event {seq} appears twice in events.jsonl")
        events[seq] = BundledEvent(seq, body["recorded_at"], body["recorded_by"], body["type"],
                                   item, data, log.leaf_hash(payload))
    if not events:
        raise refuse(subject, "events.jsonl holds no events")
    return [events[s] for s in sorted(events)]


def _read_chain(zf: zipfile.ZipFile, info: zipfile.ZipInfo, manifest: dict[str, Any],
                subject: str, wanted: set[int], heads_at: frozenset[int] | set[int] = frozenset(),
                heads: dict[int, str] | None = None) -> dict[int, str]:
    """Recompute the source log's chain from its genesis to the recorded head; return the
    leaf hashes of the wanted events (and put the chain hashes at `heads_at` in `heads`)."""
    previous = log.genesis(manifest["database_id"])
    leaves: dict[int, str] = {}
    count = 0
    for number, text in _lines(zf, info, CHAIN_LINE, subject):
        try:
            row = json.loads(text)
        except ValueError:
            row = None
        if not (isinstance(row, list) and len(row) == 3 and _is_int(row[0])
                and all(isinstance(h, str) and HEX64.fullmatch(h) for h in row[1:])):
            raise refuse(subject, f"chain.jsonl line {number} is not [seq, leaf, chain hash]")
        seq, leaf, chain = row
        count += 1
        if seq != count or log.chain_hash(previous, leaf) != chain:
            raise refuse(subject, f"the bundle's log does not verify at event {seq}")
        if seq in wanted:
            leaves[seq] = leaf
        if heads is not None and seq in heads_at:
            heads[seq] = chain
        previous = chain
    if count != manifest["log_events"] or previous != manifest["head"]:
        raise refuse(subject, "the bundle's log does not end at its recorded head")
    return leaves


def _match_events(events: list[BundledEvent], listed: dict[int, str] | None,
                  leaves: dict[int, str], subject: str) -> None:
    """Every event carried is in the source log; with a listing, exactly those listed."""
    for ev in events:
        if ev.seq not in leaves:
            raise refuse(subject, f"event {ev.seq} in the bundle is beyond its log's head")
        if leaves[ev.seq] != ev.leaf_hash:
            raise refuse(subject, f"event {ev.seq} in the bundle does not match its log"
                         " (edited after bundling)")
    if listed is None:
        return
    carried = {ev.seq: ev.leaf_hash for ev in events}
    missing = sorted(set(listed) - set(carried))
    if missing:
        raise refuse(subject, f"event(s) {_few(missing)} listed in the manifest are not in"
                     " events.jsonl (dropped after bundling)")
    extra = sorted(set(carried) - set(listed))
    if extra:
        raise refuse(subject, f"event(s) {_few(extra)} in events.jsonl are not listed in the"
                     " manifest (added after bundling)")
    for seq, leaf in listed.items():
        if carried[seq] != leaf:
            raise refuse(subject, f"event {seq} differs from the one the manifest lists")


def _few(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:5]))
    return shown + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")
