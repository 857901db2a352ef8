"""Archives in: a WACZ or WARC given to `prov add` yields its media records as items, each
sighted at the URL and time its WARC record gives (not this machine's clock)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from provenance.errors import BadInput
from provenance.ingest.chunked import ChunkError, dechunk
from provenance.media import sniff

SUFFIXES = (".wacz", ".warc", ".warc.gz")
MEDIA_KINDS = ("image", "video", "audio", "document")


def is_archive(path: str) -> bool:
    return path.lower().endswith(SUFFIXES)


def _warcs(path: str) -> Iterator[tuple[str, IO[bytes]]]:
    """(name, stream) of each WARC in the file: itself, or those in a WACZ's archive/."""
    if path.lower().endswith(".wacz"):
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if name.startswith("archive/") and name.lower().endswith((".warc", ".warc.gz")):
                    with zf.open(name) as stream:
                        yield name, stream
    else:
        with open(path, "rb") as stream:
            yield os.path.basename(path), stream


@dataclass
class Record:
    """One media record of an archive, its payload written to a temp file."""

    path: str
    url: str
    date: str | None
    origin: dict[str, Any]
    # The payload's SHA-256 when the record itself claims no digest: a record written as
    # it downloaded (prov capture) has its digests in the metadata record after it.
    unclaimed_sha256: str | None = None


def media_records(path: str, problems: list[str]) -> Iterator[Record]:
    """Each response (200) or resource record whose payload is media, in archive order.

    A WARC that cannot be read past some point adds one line to `problems`; the records
    before it are still yielded. Each temp file is removed once the consumer moves on.
    """
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    work = tempfile.mkdtemp(prefix="warc-in-")
    member = os.path.basename(path)
    try:
        for member, stream in _warcs(path):
            records = iter(ArchiveIterator(stream))
            following: Any = None
            for n in itertools.count():
                record, following = following or next(records, None), None
                if record is None:
                    break
                try:
                    got = _payload(record, n, work, member)
                    if got is not None and got.unclaimed_sha256:
                        # Its payload is copied out: the next record may be read.
                        following = next(records, None)
                        _check_following(got, record, following)
                except _Damaged as exc:
                    problems.append(f"{member}: {exc}")
                    continue
                if got is not None:
                    try:
                        yield got
                    finally:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(got.path)
    except (ArchiveLoadFailed, OSError, ValueError, EOFError, zlib.error,
            zipfile.BadZipFile) as exc:
        # A truncated gzip or zip member raises EOFError or zlib.error; the records before
        # the damage have been yielded (and registered) already.
        problems.append(f"{member}: cannot read the archive past this point ({exc})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _payload(record: Any, n: int, work: str, member: str) -> Record | None:
    if record.rec_type not in ("response", "resource"):
        return None
    if record.rec_type == "response" and (record.http_headers is None
                                          or record.http_headers.get_statuscode() != "200"):
        return None
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    if url.startswith("urn:prov:"):
        return None  # prov's own screenshot/PDF of a capture: registered at capture time
    claimed = record.rec_headers.get_header("WARC-Payload-Digest") or ""
    algorithm, _, value = claimed.partition(":")
    if not claimed:
        algorithm = "sha256"  # taken to check against the digests record that may follow
    known = algorithm.lower() if algorithm.lower() in ("sha1", "sha256") else None
    stream = _content(record, url, known if claimed else None)
    head = stream.read(4096)
    if sniff.kind_of(sniff.sniff_mime(head)) not in MEDIA_KINDS:
        return None
    target = os.path.join(work, f"{n}-{_name(url)}")
    digest = hashlib.new(known) if known else None
    with open(target, "wb") as out:
        out.write(head)
        if digest:
            digest.update(head)
        while chunk := stream.read(1 << 20):
            out.write(chunk)
            if digest:
                digest.update(chunk)
    # A record cut short (a truncated file) reads as a shorter payload without an error:
    # its recorded digest is what tells. Without one, the bytes are taken as they are.
    # Writers differ over a chunked record's payload digest: WARC 1.1 takes it over the
    # entity (de-chunked, as prov capture writes it), warcio's writer and others over the
    # bytes as transferred. Either is accepted: both are digests of this record's bytes.
    wire = stream.wire_digest if isinstance(stream, _Dechunked) else None
    if (claimed and digest is not None
            and value.strip() not in (_b32(digest.digest()), digest.hexdigest())
            and (wire is None or value.strip() not in (_b32(wire.digest()), wire.hexdigest()))):
        os.unlink(target)
        raise _Damaged(f"record for {url} does not match its WARC-Payload-Digest (damaged or"
                       " cut short); not registered")
    # Without a digest of its own, a record cut short still shows: fewer bytes than the
    # Content-Length of its WARC header (warcio's reader counts down what is left).
    missing = getattr(record.raw_stream, "limit", 0)
    if not claimed and isinstance(missing, int) and missing > 0:
        os.unlink(target)
        raise _Damaged(f"record for {url} is cut short ({missing:,} of its bytes missing);"
                       " not registered")
    origin = {"via": "archive", "warc": member,
              "warc_record_id": record.rec_headers.get_header("WARC-Record-ID"),
              "warc_type": record.rec_type}
    return Record(target, url, record.rec_headers.get_header("WARC-Date"), origin,
                  None if claimed or digest is None else digest.hexdigest())


def _check_following(got: Record, record: Any, following: Any) -> None:
    """A record with no digest of its own, checked against the metadata record right after
    it that gives its digests (as prov capture writes a response it streamed), if any."""
    rid = record.rec_headers.get_header("WARC-Record-ID")
    if (following is None or following.rec_type != "metadata" or not rid
            or following.rec_headers.get_header("WARC-Refers-To") != rid):
        return
    try:
        doc = json.loads(following.content_stream().read(1 << 20))
        claimed = str(doc["WARC-Payload-Digest"])
    except (ValueError, KeyError, TypeError):
        return
    algorithm, _, value = claimed.partition(":")
    if algorithm.lower() == "sha256" and got.unclaimed_sha256 and value.strip() not in (
            _b32(bytes.fromhex(got.unclaimed_sha256)), got.unclaimed_sha256):
        os.unlink(got.path)
        raise _Damaged(f"record for {got.url} does not match the WARC-Payload-Digest its"
                       " metadata record gives (damaged or cut short); not registered")
    got.origin["digest_from"] = "metadata record " + str(
        following.rec_headers.get_header("WARC-Record-ID"))


class _Dechunked:
    """A chunked response's payload, read with prov's own de-chunking (capture_net.dechunk):
    warcio's falls back to the raw bytes at a trailer, or anything it cannot parse, and so
    hands over framing as if it were the file."""

    def __init__(self, raw: Any, url: str, algorithm: str | None) -> None:
        # The digest of the bytes as transferred, in the algorithm the record claims.
        self.wire_digest = hashlib.new(algorithm) if algorithm else None
        self._pieces = dechunk(raw, self.wire_digest.update if self.wire_digest else None)
        self._buffer = b""
        self._url = url

    def read(self, size: int) -> bytes:
        try:
            while len(self._buffer) < size:
                piece = next(self._pieces, None)
                if piece is None:
                    break
                self._buffer += piece
        except ChunkError as exc:
            raise _Damaged(f"record for {self._url}: {exc}; not registered") from None
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def _content(record: Any, url: str, algorithm: str | None) -> Any:
    """The record's payload as a reader: de-chunked here when the response came chunked
    (and not also compressed, which warcio decodes), otherwise warcio's content_stream."""
    http = record.http_headers
    if (record.rec_type == "response" and http is not None
            and (http.get_header("Transfer-Encoding") or "").strip().lower() == "chunked"
            and (http.get_header("Content-Encoding") or "identity").strip().lower()
            == "identity"):
        return _Dechunked(record.raw_stream, url, algorithm)
    return record.content_stream()


class _Damaged(Exception):
    """One record's payload is not what its digest says."""


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode()


def _name(url: str) -> str:
    base = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in base)[:100] or "record"


def wacz_signature(path: str) -> dict[str, Any]:
    """Check datapackage-digest.json: the digest of datapackage.json, and its signature."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "datapackage-digest.json" not in names or "datapackage.json" not in names:
                return {"state": "no datapackage digest"}
            package = zf.read("datapackage.json")
            digest = json.loads(zf.read("datapackage-digest.json"))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BadInput(path, f"not a readable WACZ ({exc})") from None
    want = str(digest.get("hash") or "")
    if want != "sha256:" + hashlib.sha256(package).hexdigest():
        return {"state": "INVALID", "detail": "datapackage.json does not match its digest"}
    signed = digest.get("signedData")
    if not isinstance(signed, dict):
        return {"state": "unsigned", "detail": "digest matches; no signature"}
    if signed.get("hash") != want:
        return {"state": "INVALID", "detail": "the signed hash is not the package's digest"}
    return _verify(signed)


def _verify(signed: dict[str, Any]) -> dict[str, Any]:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    try:
        if signed.get("publicKey"):
            key = serialization.load_der_public_key(base64.b64decode(signed["publicKey"]))
            who = "anonymous key sha256 " + hashlib.sha256(
                base64.b64decode(signed["publicKey"])).hexdigest()[:16]
        elif signed.get("domainCert"):
            cert = x509.load_pem_x509_certificates(str(signed["domainCert"]).encode())[0]
            key = cert.public_key()
            who = (f"domain {signed.get('domain')}, certificate {cert.subject.rfc4514_string()}"
                   " (its chain is not checked against trust roots)")
        else:
            return {"state": "INVALID", "detail": "signedData has no key to check with"}
        raw = base64.b64decode(signed.get("signature") or "")
    except (ValueError, TypeError) as exc:
        return {"state": "INVALID", "detail": f"unreadable signature or key ({exc})"}
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return {"state": "INVALID", "detail": "the key is not an ECDSA key"}
    message = str(signed["hash"]).encode()
    # WebCrypto signs as r||s; other signers write DER. Either is accepted.
    forms = [raw]
    if len(raw) == 64:
        forms.append(encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                          int.from_bytes(raw[32:], "big")))
    for sig in forms:
        try:
            key.verify(sig, message, ec.ECDSA(hashes.SHA256()))
            return {"state": "valid", "detail": f"signed by {who}"}
        except InvalidSignature:
            continue
    return {"state": "INVALID", "detail": f"signature does not verify ({who})"}
