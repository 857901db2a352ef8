"""C2PA content credentials: read a file's manifest store and judge it, offline.

The state of a file's credential is one of
  none        no manifest store (most re-uploads strip metadata: never "suspicious")
  valid       every check passed, but the signer is not on the investigator's trust list
  trusted     valid, and the signer chains to an anchor the investigator supplied
  invalid     a check failed; `codes` lists every failure (e.g. assertion.dataHash.mismatch)
  unsupported the C2PA reader cannot read this format (nothing was checked)

c2pa-python (the Content Authenticity Initiative's reader, with its native library) is
imported inside `read` only: `prov --help` and the reading commands never load it. Remote
manifests and OCSP are never fetched; trust is only what the investigator gives.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.errors import UsageProblem

# Formats a C2PA manifest can live in; anything else is not offered to the reader.
MEDIA_PREFIXES = ("image/", "video/", "audio/")
MEDIA_TYPES = ("application/pdf",)

# IPTC digital source types (cv.iptc.org/newscodes/digitalsourcetype) that declare the
# content made by a generative model or an algorithm rather than captured.
AI_SOURCE_TYPES = {
    "trainedAlgorithmicMedia": "declared AI-generated (trainedAlgorithmicMedia)",
    "compositeWithTrainedAlgorithmicMedia":
        "declared partly AI-generated (compositeWithTrainedAlgorithmicMedia)",
    "algorithmicMedia": "declared algorithmically generated (algorithmicMedia)",
    "compositeSynthetic": "declared a composite including synthetic elements (compositeSynthetic)",
}

# The environment variable naming a default trust list (PEM), when --c2pa-trust is not given.
TRUST_ENV = "PROV_C2PA_TRUST"

# The trust list in force for this process's readings (see `trust_list`). A module value,
# not an argument, because files are analysed in forked workers that inherit it.
_trust: TrustList | None = None


@dataclass(frozen=True)
class TrustList:
    """The investigator's trust anchors: PEM certificates, and where they came from."""

    pem: bytes
    source: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.pem).hexdigest()

    @property
    def anchors(self) -> int:
        return self.pem.count(b"-----BEGIN CERTIFICATE-----")

    def to_json(self) -> dict[str, Any]:
        return {"file": self.source, "sha256": self.sha256, "anchors": self.anchors}


def load_trust(given: Path | None) -> TrustList | None:
    """--c2pa-trust FILE, else $PROV_C2PA_TRUST, else no trust list."""
    path = given or (Path(os.environ[TRUST_ENV]) if os.environ.get(TRUST_ENV) else None)
    if path is None:
        return None
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise UsageProblem(f"{path}: cannot read the C2PA trust list ({exc.strerror});"
                           " pass a PEM file of trust anchor certificates") from None
    trust = TrustList(pem, str(path))
    if trust.anchors == 0:
        raise UsageProblem(f"{path}: no PEM certificate in this C2PA trust list; it must hold"
                           " '-----BEGIN CERTIFICATE-----' blocks")
    return trust


@contextmanager
def trust_list(trust: TrustList | None) -> Iterator[None]:
    """Readings inside this block judge trust against `trust` (none: nothing is trusted)."""
    global _trust
    before, _trust = _trust, trust
    try:
        yield
    finally:
        _trust = before


def current_trust() -> TrustList | None:
    return _trust


def applies_to(mime: str) -> bool:
    return mime.startswith(MEDIA_PREFIXES) or mime in MEDIA_TYPES


@dataclass
class Reading:
    summary: dict[str, Any]  # what the item's metadata keeps (see module docstring)
    report: dict[str, Any] = field(default_factory=dict)  # the whole manifest store, as read

    @property
    def failures(self) -> list[dict[str, Any]]:
        return list(self.report.get("validation_status") or [])


# The process whose native C2PA library has read a file. The library is not fork-safe once
# used (after reading a PDF, a forked child's first read never returns): a process forked
# from one that used it reads through a fresh interpreter instead (see `_read_elsewhere`).
_used_by: int | None = None


def read(path: str, mime: str, data: bytes | None = None,
         trust: TrustList | None = None) -> Reading:
    """Read and validate the manifest store of one file. Never raises for the file's sake:
    an unreadable store is an `invalid` credential with the reader's reason."""
    global _used_by

    trust = trust if trust is not None else _trust
    if _used_by is not None and _used_by != os.getpid():
        return _read_elsewhere(path, mime, trust)
    _used_by = os.getpid()
    import c2pa

    base: dict[str, Any] = {"reader": f"c2pa-rs {c2pa.sdk_version()}"}
    if trust is not None:
        base["trust_list"] = trust.to_json()
    try:
        context = _context(trust)
        stream: Any = io.BytesIO(data) if data is not None else open(path, "rb")  # noqa: SIM115
        try:
            reader = c2pa.Reader(mime, stream, context=context)
            try:
                state = reader.get_validation_state()
                store = json.loads(reader.json())
            finally:
                reader.close()
        finally:
            stream.close()
    except c2pa.C2paError as exc:
        kind = type(exc).__name__.lstrip("_").removeprefix("C2pa")
        if kind == "ManifestNotFound":
            return Reading({**base, "state": "none"})
        if kind == "NotSupported":
            return Reading({**base, "state": "unsupported", "reason": str(exc)})
        if not _has_jumbf(path, data):
            # The reader failed on the file, not on a manifest: no credential is claimed, so
            # none is called invalid.
            return Reading({**base, "state": "unsupported",
                            "reason": f"the C2PA reader could not read the file ({kind}: {exc})"})
        return Reading({**base, "state": "invalid", "codes": ["manifest.unreadable"],
                        "reason": f"{kind}: {exc}"})
    summary = {**base, **summarise(store, state, trusted_list=trust is not None)}
    return Reading(summary, store)


def _read_elsewhere(path: str, mime: str, trust: TrustList | None) -> Reading:
    """`read` in a new interpreter (`python -m provenance.media.c2pa`), JSON both ways."""
    import base64
    import subprocess
    import sys

    request = {"path": path, "mime": mime,
               "trust": base64.b64encode(trust.pem).decode() if trust else None,
               "source": trust.source if trust else None}
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, "-m", "provenance.media.c2pa"], check=False,
                          input=json.dumps(request), capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"the C2PA reader process failed: {done.stderr.strip()[-500:]}")
    answer = json.loads(done.stdout)
    return Reading(answer["summary"], answer["report"])


def _serve_one() -> None:
    """The other end of `_read_elsewhere`: one request on stdin, one reading on stdout."""
    import base64
    import sys

    request = json.loads(sys.stdin.read())
    trust = (TrustList(base64.b64decode(request["trust"]), request["source"])
             if request["trust"] else None)
    reading = read(request["path"], request["mime"], trust=trust)
    sys.stdout.write(json.dumps({"summary": reading.summary, "report": reading.report}))


def _has_jumbf(path: str, data: bytes | None) -> bool:
    """Whether the bytes hold a JUMBF box ("jumb"), the container of every C2PA manifest."""
    if data is not None:
        return b"jumb" in data
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            if b"jumb" in tail + chunk:
                return True
            tail = chunk[-3:]
    return False


# Reader settings per process and trust list (by its SHA-256): made once, not per file. The
# process id is part of the key: a forked worker makes its own rather than use its parent's
# native handle.
_contexts: dict[tuple[int, str | None], Any] = {}


def _context(trust: TrustList | None) -> Any:
    import c2pa

    key = (os.getpid(), trust.sha256 if trust is not None else None)
    if key not in _contexts:
        settings: dict[str, Any] = {
            # Offline: never fetch a remote manifest or a certificate's revocation status.
            "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
            "core": {"allowed_network_hosts": []},
        }
        if trust is not None:
            # trust_anchors replaces the library's own list: "trusted" means the
            # investigator's.
            settings["trust"] = {"trust_anchors": trust.pem.decode("ascii", "replace")}
        _contexts[key] = c2pa.Context.from_dict(settings)
    return _contexts[key]


def summarise(store: dict[str, Any], state: str | None, *, trusted_list: bool
              ) -> dict[str, Any]:
    """The facts an examiner reads from a manifest store, flattened."""
    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label) or {}
    codes = list(dict.fromkeys(s.get("code") for s in store.get("validation_status") or []
                               if s.get("code")))
    lowered = (state or "").lower()
    if lowered == "trusted" and trusted_list:
        verdict = "trusted"
    elif lowered in ("valid", "trusted"):
        verdict = "valid"
    else:
        verdict = "invalid"
    sig = manifest.get("signature_info") or {}
    actions = _actions(manifest)
    sources = list(dict.fromkeys(a["digital_source_type"] for a in actions
                                 if a.get("digital_source_type")))
    declared = [AI_SOURCE_TYPES[s] for s in (_short_type(t) for t in sources)
                if s in AI_SOURCE_TYPES]
    out: dict[str, Any] = {
        "state": verdict,
        "codes": codes,
        "manifest": label,
        "manifests": len(store.get("manifests") or {}),
        "title": manifest.get("title"),
        "instance_id": manifest.get("instance_id"),
        "claim_generator": _generator(manifest),
        "signer": sig.get("common_name"),
        "issuer": sig.get("issuer"),
        "signed_at": sig.get("time"),
        "algorithm": sig.get("alg"),
        "actions": actions,
        "ingredients": [_ingredient(i) for i in manifest.get("ingredients") or []],
        "digital_source_types": sources,
        "ai_generated": bool(declared),
    }
    if declared:
        out["ai_declaration"] = declared[0]
    return out


def _short_type(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _generator(manifest: dict[str, Any]) -> str | None:
    if manifest.get("claim_generator"):
        return str(manifest["claim_generator"])
    infos = manifest.get("claim_generator_info") or []
    names = [" ".join(str(i[k]) for k in ("name", "version") if i.get(k))
             for i in infos if isinstance(i, dict)]
    return ", ".join(n for n in names if n) or None


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for a in (assertion.get("data") or {}).get("actions") or []:
            agent = a.get("softwareAgent")
            if isinstance(agent, dict):
                agent = " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k))
            entry = {"action": a.get("action"), "when": a.get("when"),
                     "software_agent": agent, "digital_source_type": a.get("digitalSourceType")}
            out.append({k: v for k, v in entry.items() if v})
    return out


def _ingredient(ing: dict[str, Any]) -> dict[str, Any]:
    entry = {
        "title": ing.get("title"),
        "format": ing.get("format"),
        "relationship": ing.get("relationship"),
        "instance_id": ing.get("instance_id"),
        # The ingredient's own manifest: how a held item is recognised as this ingredient.
        "manifest": ing.get("active_manifest"),
    }
    return {k: v for k, v in entry.items() if v}


def describe(summary: dict[str, Any] | None) -> str:
    """The credential in plain words, one line (`prov show`, exports, the item page)."""
    if not summary:
        return "not checked"
    state = summary.get("state")
    if state == "none":
        return "none (no C2PA manifest in the file; most re-uploads strip it)"
    if state == "unsupported":
        return "not checked (the C2PA reader does not read this format)"
    by = summary.get("signer") or "an unnamed signer"
    if summary.get("issuer"):
        by += f" (issued by {summary['issuer']})"
    when = f" on {summary['signed_at']}" if summary.get("signed_at") else ""
    extra = ""
    if summary.get("claim_generator"):
        extra += f"; made with {summary['claim_generator']}"
    if summary.get("ai_declaration"):
        extra += f"; {summary['ai_declaration']}"
    if state == "trusted":
        return f"credential valid and trusted, signed by {by}{when}{extra}"
    if state == "valid":
        trust = ("not on your trust list" if summary.get("trust_list")
                 else "no trust list given (--c2pa-trust)")
        return f"credential valid, signed by {by}{when}, {trust}{extra}"
    codes = [c for c in summary.get("codes") or [] if c != "signingCredential.untrusted"]
    reason = summary.get("reason")
    why = ", ".join(codes) + (f" ({reason})" if reason else "")
    return f"credential INVALID: {why or 'validation failed'}; claimed signer {by}{when}{extra}"


if __name__ == "__main__":
    _serve_one()
