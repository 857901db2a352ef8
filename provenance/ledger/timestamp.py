"""RFC 3161 trusted timestamps on the log's head: request, reply, record, verify offline.

A time-stamping authority (TSA) signs a message imprint and the time it saw it. prov's
imprint is the log's head itself (the chain hash is already a SHA-256 digest), so anyone can
check a token with `openssl ts -verify -digest HEAD -in reply.tsr -CAfile chain.pem`.
rfc3161-client parses and verifies replies; it is imported only by the functions that need it.

Real authorities differ from the strict DER rfc3161-client expects: `openssl ts -reply
-chain` (and some public TSAs) write the token's certificate set unsorted, which the parser
refuses. The certificate set is outside what the TSA signs, so `normalised` re-encodes it in
DER order before parsing; the reply as received is what prov keeps.
"""

from __future__ import annotations

import base64
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from provenance.errors import BadInput, ProvError, UsageProblem
from provenance.ledger import log

SHA256_OID = bytes.fromhex("0609608648016503040201")  # 2.16.840.1.101.3.4.2.1, DER
REQUEST_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
TIMEOUT_S = 30


# --- DER, just enough for a request and for re-sorting a reply's certificate set ---------

def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _len(len(content)) + content


def _read(buf: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end) of the DER element at `pos`."""
    if pos + 2 > len(buf):
        raise ValueError("truncated DER")
    tag, first, pos = buf[pos], buf[pos + 1], pos + 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if not 0 < n <= 4 or pos + n > len(buf):
            raise ValueError("bad DER length")
        length, pos = int.from_bytes(buf[pos:pos + n], "big"), pos + n
    if pos + length > len(buf):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, bytes]]:
    out, pos = [], start
    while pos < end:
        tag, _, stop = _read(buf, pos)
        out.append((tag, buf[pos:stop]))
        pos = stop
    return out


def _content(element: bytes) -> tuple[int, list[tuple[int, bytes]]]:
    tag, start, end = _read(element, 0)
    return tag, _children(element, start, end)


def request(head: str) -> tuple[bytes, int]:
    """A DER TimeStampReq whose imprint is `head` (SHA-256), asking for the TSA's certificate,
    and its nonce."""
    digest = bytes.fromhex(head)
    if len(digest) != 32:
        raise UsageProblem(f"{head!r} is not a SHA-256 log head")
    nonce = secrets.randbits(63) | 1 << 62  # positive, fixed length
    algorithm = _tlv(0x30, SHA256_OID + b"\x05\x00")
    imprint = _tlv(0x30, algorithm + _tlv(0x04, digest))
    body = (_tlv(0x02, b"\x01") + imprint + _tlv(0x02, nonce.to_bytes(8, "big"))
            + _tlv(0x01, b"\xff"))
    return _tlv(0x30, body), nonce


def normalised(reply: bytes) -> bytes:
    """The reply with its token's certificate set in DER (sorted) order; unchanged if it was."""
    tag, parts = _content(reply)
    if tag != 0x30 or len(parts) < 2:
        return reply  # a refusal carries no token: nothing to sort
    status, token = parts[0][1], parts[1][1]
    _, (oid, explicit) = _content(token)
    _, (signed,) = _content(explicit[1])
    _, fields = _content(signed[1])
    changed = False
    rebuilt = []
    for field_tag, raw in fields:
        if field_tag == 0xA0:  # certificates [0] IMPLICIT SET OF
            _, certs = _content(raw)
            ordered = sorted(c for _, c in certs)
            if ordered != [c for _, c in certs]:
                changed, raw = True, _tlv(0xA0, b"".join(ordered))
        rebuilt.append(raw)
    if not changed:
        return reply
    signed_data = _tlv(0x30, b"".join(rebuilt))
    token_der = _tlv(0x30, oid[1] + _tlv(0xA0, signed_data))
    return _tlv(0x30, status + token_der + b"".join(p for _, p in parts[2:]))


# --- replies ------------------------------------------------------------------------------

@dataclass
class Stamp:
    """What a time-stamp reply says, in the fields prov records and shows."""

    head: str  # the message imprint, hex: the log head stamped
    gen_time: str  # the authority's time, ISO 8601 UTC
    serial: str
    tsa_name: str | None
    policy: str | None
    nonce: int | None
    response: bytes  # the reply as received

    def record(self, *, events: int, tsa: str | None) -> dict[str, Any]:
        return {
            "events": events,
            "head": self.head,
            "gen_time": self.gen_time,
            "tsa": tsa,
            "tsa_name": self.tsa_name,
            "serial": self.serial,
            "policy": self.policy,
            "hash": "sha256",
            "response": base64.b64encode(self.response).decode("ascii"),
        }

    def sentence(self) -> str:
        who = self.tsa_name or "the time-stamping authority"
        return f"log head {self.head[:16]}… existed at {self.gen_time} per {who}"


def _parsed(reply: bytes, subject: str) -> Any:
    from rfc3161_client import decode_timestamp_response

    try:
        return decode_timestamp_response(normalised(reply))
    except (ValueError, IndexError) as exc:
        raise BadInput(subject, f"not an RFC 3161 time-stamp reply ({exc})") from None


def _tsa_name(info: Any) -> str | None:
    """The authority's name as the token gives it: its common name when it is a directory
    name that has one, else the whole name."""
    from cryptography.x509.oid import NameOID

    general = info.name
    if general is None:
        return None
    value = getattr(general, "value", general)
    try:
        common = value.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(common[0].value) if common else str(value.rfc4514_string())
    except AttributeError:
        return str(value)


def parse(reply: bytes, subject: str = "time-stamp reply") -> Stamp:
    """Read a reply: refused unless granted and stamping a SHA-256 imprint."""
    from rfc3161_client import PKIStatus

    resp = _parsed(reply, subject)
    if resp.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        text = "; ".join(resp.status_string) or "no reason given"
        raise BadInput(subject, f"the authority refused the request (status {resp.status}:"
                                f" {text})")
    info = resp.tst_info
    imprint = info.message_imprint
    if imprint.hash_algorithm.dotted_string != "2.16.840.1.101.3.4.2.1":
        raise BadInput(subject, "the token does not stamp a SHA-256 imprint, so not a log head")
    name = _tsa_name(info)
    gen = info.gen_time.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return Stamp(head=imprint.message.hex(), gen_time=gen, serial=str(info.serial_number),
                 tsa_name=name, policy=info.policy.dotted_string if info.policy else None,
                 nonce=info.nonce, response=reply)


def verify(reply: bytes, head: str, chain: Path, subject: str = "time-stamp") -> Stamp:
    """Check a reply offline: it stamps `head`, its signature verifies, and its signer chains
    to a certificate in `chain` (PEM), valid at the stamped time, for time-stamping.
    Raises BadInput with one line saying which check failed."""
    from rfc3161_client import VerificationError, VerifierBuilder

    stamp = parse(reply, subject)
    if stamp.head != head:
        raise BadInput(subject, f"stamps another log head ({stamp.head[:16]}…), not"
                                f" {head[:16]}…")
    roots, others = _load_chain(chain)
    builder = VerifierBuilder()
    for cert in roots:
        builder = builder.add_root_certificate(cert)
    for cert in others:
        builder = builder.add_intermediate_certificate(cert)
    try:
        builder.build().verify(_parsed(reply, subject), bytes.fromhex(head))
    except (VerificationError, ValueError) as exc:
        # OpenSSL's error stack is long; its "Verify error: ..." says what failed.
        found = re.search(r'data: "([^"]+)"', str(exc))
        reason = found.group(1) if found else str(exc)
        raise BadInput(subject, f"signature or certificate chain does not verify with"
                                f" {chain}: {reason}") from None
    return stamp


def _load_chain(path: Path) -> tuple[list[Any], list[Any]]:
    """(anchors, other certificates) of a PEM file: the self-signed ones are the anchors."""
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise UsageProblem(f"{path}: cannot read the TSA certificates ({exc.strerror})") from None
    except ValueError as exc:
        raise UsageProblem(f"{path}: not PEM certificates ({exc})") from None
    roots = [c for c in certs if c.issuer == c.subject]
    if not roots:
        raise UsageProblem(f"{path}: no self-signed root certificate; add the authority's"
                           " root CA certificate (PEM) to the file")
    return roots, [c for c in certs if c.issuer != c.subject]


def ask(url: str, req: bytes) -> bytes:
    """POST a request to a TSA over HTTP(S) and return its reply (only when asked: --tsa)."""
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise UsageProblem(f"--tsa {url!r}: give the authority's http:// or https:// URL")
    http = urllib.request.Request(url, data=req, method="POST",
                                  headers={"Content-Type": REQUEST_TYPE, "Accept": REPLY_TYPE})
    try:
        with urllib.request.urlopen(http, timeout=TIMEOUT_S) as answer:  # noqa: S310
            return bytes(answer.read())
    except urllib.error.HTTPError as exc:
        raise ProvError(f"time-stamping authority {url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProvError(f"time-stamping authority {url} unreachable ({reason});"
                        " offline, use --tsq FILE and `prov timestamp import`") from None


def stamp_head(url: str, head: str) -> Stamp:
    """Ask `url` to stamp `head`; the reply must answer this request (imprint, nonce)."""
    req, nonce = request(head)
    stamp = parse(ask(url, req), f"reply from {url}")
    if stamp.head != head:
        raise BadInput(f"reply from {url}", "stamps another imprint than the one asked for")
    if stamp.nonce is not None and stamp.nonce != nonce:
        raise BadInput(f"reply from {url}", "the nonce differs from the request's (a replay?)")
    return stamp


def record(conn: sqlite3.Connection, stamp: Stamp, *, tsa: str | None, by: str) -> int:
    """Log the stamp as a `checkpoint.timestamped` event; its head must be one the log holds.
    Returns the log length the stamp closes."""
    row = conn.execute("SELECT seq FROM events WHERE chain_hash = ?", (stamp.head,)).fetchone()
    if row is None:
        raise BadInput("time-stamp", f"stamps a head this log does not hold"
                                     f" ({stamp.head[:16]}…); was it made for another database?")
    events = int(row[0])
    response = base64.b64encode(stamp.response).decode("ascii")
    if conn.execute("SELECT 1 FROM timestamps WHERE response = ?", (response,)).fetchone():
        return events  # this very token is already recorded: nothing new to say
    from provenance.ledger.db import transaction

    with transaction(conn):
        log.record(conn, "checkpoint.timestamped", stamp.record(events=events, tsa=tsa), by=by)
    return events


def recorded(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute("SELECT * FROM timestamps ORDER BY id")]


def check_recorded(conn: sqlite3.Connection, chain: Path) -> tuple[list[str], list[str]]:
    """(problems, confirmations) for every stamp in the log: each token must verify and its
    head must still be the chain hash of the event it closed (else the log was rewritten)."""
    problems, lines = [], []
    for row in recorded(conn):
        subject = f"time-stamp {row['id']}"
        try:
            stamp = verify(base64.b64decode(row["response"]), row["head"], chain, subject)
        except BadInput as exc:
            problems.append(str(exc))
            continue
        now = conn.execute("SELECT chain_hash FROM events WHERE seq = ?",
                           (row["events"],)).fetchone()
        if now is None or now[0] != stamp.head:
            problems.append(f"{subject}: the log was edited: event {row['events']}'s chain hash"
                            f" is not the head the authority stamped at {stamp.gen_time}")
        else:
            lines.append(stamp.sentence())
    return problems, lines


def attach(conn: sqlite3.Connection, doc: dict[str, Any], stamp: Stamp, *, tsa: str | None,
           by: str) -> None:
    """Record a stamp of checkpoint `doc`'s head in the log and put it in the checkpoint."""
    if stamp.head != doc["head"]:
        raise BadInput(tsa or "time-stamp", f"stamps head {stamp.head[:16]}…, not the"
                                            f" checkpoint's {str(doc['head'])[:16]}…")
    events = record(conn, stamp, tsa=tsa, by=by)
    doc["timestamp"] = stamp.record(events=events, tsa=tsa)
