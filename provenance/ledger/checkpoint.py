"""Checkpoints: the log's head and length, optionally signed, kept outside the database."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.errors import BadInput, UsageProblem
from provenance.ledger import log
from provenance.ledger.db import database_id, now_utc

FORMAT = "prov-checkpoint/1"


# Not covered by the Ed25519 signature: the signature itself, and the RFC 3161 time-stamp,
# which authenticates itself (its imprint is the head) and may be added to a signed
# checkpoint later (`prov timestamp import --checkpoint`).
UNSIGNED_KEYS = ("signature", "timestamp")


def _unsigned(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in UNSIGNED_KEYS}


def make(conn: sqlite3.Connection, *, by: str, key_file: Path | None = None) -> dict[str, Any]:
    """The checkpoint document for the log as it stands now."""
    count, head = log.head(conn)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "database_id": database_id(conn),
        "events": count,
        "head": head,
        "created_at": now_utc(),
        "created_by": by,
    }
    if key_file is not None:
        doc = sign(doc, key_file)
    return doc


def sign(doc: dict[str, Any], key_file: Path) -> dict[str, Any]:
    """`doc` with an Ed25519 signature over its canonical JSON (any earlier one left out);
    verify_signature checks it. Bundles sign their manifest this way too."""
    private = load_private_key(key_file)
    unsigned = _unsigned(doc)
    message = log.canonical(unsigned).encode("utf-8")
    return {**unsigned, "signature": {
        "algorithm": "ed25519",
        "public_key": _public_hex(private),
        "value": base64.b64encode(private.sign(message)).decode("ascii"),
    }}


def generate_key(out: Path) -> str:
    """Write a new Ed25519 private key (PEM, owner-only) and return its public key in hex."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if out.exists():
        raise UsageProblem(
            f"{out} already exists; choose another path (keys are never overwritten)"
        )
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public = _public_hex(private)
    out.with_name(out.name + ".pub").write_text(public + "\n", encoding="ascii")
    return public


def load_private_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise BadInput(str(path), f"not a readable Ed25519 private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInput(str(path), "not an Ed25519 private key; make one with `prov keygen`")
    return key


def _public_hex(private: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return bytes(raw).hex()


def load_public_key(spec: Path) -> Any:
    """A verifying key from a file holding hex (as `prov keygen` writes) or PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        data = spec.read_bytes()
    except OSError as exc:
        raise BadInput(str(spec), f"cannot read the public key ({exc.strerror})") from None
    text = data.decode("ascii", "replace").strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(data)
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not Ed25519")
            return key
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except ValueError as exc:
        raise BadInput(str(spec), f"not an Ed25519 public key ({exc})") from None


def verify_signature(doc: dict[str, Any], key_path: Path) -> bool | None:
    """Whether `doc`'s Ed25519 signature (over its canonical JSON without the signature)
    verifies with the key in `key_path`; None when `doc` carries no signature."""
    from cryptography.exceptions import InvalidSignature

    signature = doc.get("signature")
    if not signature:
        return None
    key = load_public_key(key_path)
    message = log.canonical(_unsigned(doc)).encode("utf-8")
    try:
        key.verify(base64.b64decode(signature["value"]), message)
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False
    return True


def load_for(conn: sqlite3.Connection, path: Path) -> dict[str, Any]:
    """A checkpoint of this database to start an incremental verify from; any other refused
    (nothing after its head could be trusted to follow from it)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        events, head = int(doc["events"]), str(doc["head"])
        bytes.fromhex(head)
        if events < 0 or len(head) != 64:
            raise ValueError("its events or head are out of range")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageProblem(f"--since {path}: not a prov checkpoint ({exc})") from None
    if doc.get("database_id") != database_id(conn):
        raise UsageProblem(
            f"--since {path}: this checkpoint belongs to another database"
            f" ({doc.get('database_id')!r}); pass a checkpoint made by `prov checkpoint` on"
            " this one, or run `prov verify` without --since")
    return doc


@dataclass
class CheckpointResult:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    info: dict[str, Any] | None = None


def check(conn: sqlite3.Connection, path: Path, public_key: Path | None,
          tsa_cert: Path | None = None) -> CheckpointResult:
    """Compare the log with a checkpoint taken earlier: truncation, rewrites, signature, and
    the RFC 3161 time-stamp it carries (checked against `tsa_cert`)."""
    result = CheckpointResult()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        events, head = int(doc["events"]), str(doc["head"])
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(str(path), f"not a prov checkpoint ({exc})") from None
    result.info = {"file": str(path), "events": events, "head": head, "signed": "signature" in doc}

    if doc.get("database_id") != database_id(conn):
        result.problems.append(f"checkpoint {path} belongs to another database")
    count = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    if count < events:
        result.problems.append(
            f"log truncated: checkpoint {path} recorded {events} events, the log now has {count}"
        )
    elif events > 0:
        row = conn.execute("SELECT chain_hash FROM events WHERE seq = ?", (events,)).fetchone()
        if row is None or row[0] != head:
            result.problems.append(
                f"history rewritten: event {events}'s chain hash differs from checkpoint {path}"
            )

    signature = doc.get("signature")
    if public_key is not None:
        valid = verify_signature(doc, public_key)
        if valid is None:
            result.problems.append(f"checkpoint {path} is not signed, but a public key was given")
        elif valid:
            result.info["signature"] = "valid"
        else:
            result.problems.append(
                f"checkpoint {path}: signature does not verify with {public_key}"
            )
    elif signature:
        result.warnings.append(
            f"checkpoint {path} is signed, but its signature was not checked: pass --public-key"
        )
    _check_timestamp(doc, path, tsa_cert, result)
    return result


def _check_timestamp(doc: dict[str, Any], path: Path, tsa_cert: Path | None,
                     result: CheckpointResult) -> None:
    stamp = doc.get("timestamp")
    if tsa_cert is None:
        if stamp:
            result.warnings.append(f"checkpoint {path} carries a time-stamp, not checked:"
                                   " pass --tsa-cert CHAIN.pem")
        return
    if not isinstance(stamp, dict) or not stamp.get("response"):
        result.problems.append(f"checkpoint {path} carries no time-stamp, but --tsa-cert was"
                               " given")
        return
    from provenance.ledger import timestamp

    try:
        reply = base64.b64decode(stamp["response"], validate=True)
        confirmed = timestamp.verify(reply, str(doc["head"]), tsa_cert,
                                     f"checkpoint {path}: time-stamp")
    except (ValueError, TypeError):
        result.problems.append(f"checkpoint {path}: time-stamp is not base64")
        return
    except BadInput as exc:
        result.problems.append(str(exc))
        return
    assert result.info is not None
    result.info["timestamp"] = {"gen_time": confirmed.gen_time, "tsa_name": confirmed.tsa_name,
                                "tsa": stamp.get("tsa"), "statement": confirmed.sentence()}
