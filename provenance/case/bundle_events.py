"""What each event a bundle carries must be before it may enter the receiver's log."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from provenance.case.actors import ACTOR_KINDS
from provenance.case.bundle_read import HEX64, Bundle, BundledEvent, refuse
from provenance.case.claims import CONFIDENCES, METHODS, STATUSES
from provenance.case.custody import ACTIONS
from provenance.case.when import When
from provenance.errors import BadInput
from provenance.ledger.projection import METADATA_COLUMNS

# Keys in event data that name an actor, and those that name a claim: ids are local to a
# database (the seq of the event that created them), so they are translated on import.
ACTOR_KEYS = ("from_actor", "to_actor", "asserted_by", "claimant")
CLAIM_KEYS = ("claim",)


class _Invalid(Exception):
    """One event is not what its type says; becomes the bundle's refusal."""


def _opt(kind: type | tuple[type, ...]) -> Callable[[Any], bool]:
    return lambda v: v is None or (isinstance(v, kind) and not isinstance(v, bool))


_OPT_STR = _opt(str)
_OPT_INT = _opt(int)


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _hex(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise _Invalid(what)


def _strings(data: dict[str, Any], *keys: str) -> None:
    for key in keys:
        _need(_OPT_STR(data.get(key)), f"{key!r} must be text or null")


class _State:
    """What the events seen so far establish: items registered, actors, claims, and what
    the source says about each item (stored there? sighted in which cases?)."""

    def __init__(self, bundle: Bundle, imported_claims: dict[int, str]) -> None:
        self.bundle = bundle
        self.imported_claims = imported_claims
        self.registered: set[str] = set()
        self.stored: set[str] = set()
        self.cases: dict[str, set[str | None]] = {}
        self.actors: set[int] = set()
        self.claims: dict[int, str] = {}

    def actor(self, data: dict[str, Any], key: str) -> None:
        value = data.get(key)
        _need(value is None or (isinstance(value, int) and not isinstance(value, bool)
                                and value in self.actors),
              f"{key!r} names actor {value!r}, which the bundle does not carry")


def _registered(st: _State, ev: BundledEvent) -> None:
    d, sha = ev.data, ev.item
    item = st.bundle.items[sha]  # type: ignore[index]
    _need(d.get("sha256") == sha, "its 'sha256' is not the event's item")
    _need(sha not in st.registered, "the item is registered twice")
    _need(d.get("size") == item.size and not isinstance(d.get("size"), bool),
          f"its size {d.get('size')!r} is not the manifest's {item.size}")
    _need(d.get("md5") == item.md5, "its MD5 is not the manifest's")
    _need(_text(d.get("mime")) and _text(d.get("kind")), "'mime' and 'kind' must be text")
    _need(isinstance(d.get("stored"), bool), "'stored' must be true or false")
    meta = d.get("metadata")
    _need(meta is None or isinstance(meta, dict), "'metadata' must be an object")
    for column in METADATA_COLUMNS:
        value = (meta or {}).get(column)
        _need(value is None or isinstance(value, (str, int, float)),
              f"metadata {column!r} must be a single value")
    _need(d.get("raw_metadata") is None or isinstance(d.get("raw_metadata"), dict),
          "'raw_metadata' must be an object")
    hashes = d.get("hashes")
    _need(hashes is None or isinstance(hashes, list), "'hashes' must be a list")
    for h in hashes or []:
        _need(isinstance(h, dict) and _text(h.get("algorithm")) and _hex(h.get("value"))
              and _OPT_STR(h.get("region")) and _OPT_INT(h.get("page"))
              and (h.get("frame_seconds") is None or _number(h.get("frame_seconds")))
              and (h.get("quality") is None or _number(h.get("quality"))),
              "a perceptual hash is malformed")
    st.registered.add(sha)  # type: ignore[arg-type]
    if d["stored"]:
        st.stored.add(sha)  # type: ignore[arg-type]


def _sighting(st: _State, ev: BundledEvent) -> None:
    d = ev.data
    _strings(d, "path", "file_name", "source_url", "case", "title", "note")
    _need(d.get("file_name_hex") is None or _hex(d.get("file_name_hex")),
          "'file_name_hex' must be hex or null")
    _need(_OPT_INT(d.get("size")), "'size' must be a byte count or null")
    st.cases.setdefault(ev.item, set()).add(d.get("case"))  # type: ignore[arg-type]


def _stored(st: _State, ev: BundledEvent) -> None:
    _need(ev.data.get("sha256") == ev.item, "its 'sha256' is not the event's item")
    st.stored.add(ev.item)  # type: ignore[arg-type]


def _restored(st: _State, ev: BundledEvent) -> None:
    _need(ev.data.get("sha256") == ev.item, "its 'sha256' is not the event's item")
    _need(_text(ev.data.get("damage")), "'damage' must say what was wrong")


def _credential(st: _State, ev: BundledEvent) -> None:
    _need(isinstance(ev.data.get("c2pa"), dict), "'c2pa' must be the credential's reading")


def _page_text(st: _State, ev: BundledEvent) -> None:
    d = ev.data
    source = "ocr" if ev.type == "ocr.recorded" else "text-layer"
    _need(d.get("source") == source, f"'source' must be {source!r}")
    _need(_text(d.get("engine")), "'engine' must name what read the text")
    _need(isinstance(d.get("languages"), list)
          and all(isinstance(x, str) for x in d["languages"]), "'languages' must be a list")
    pages = d.get("pages")
    _need(isinstance(pages, list) and all(
        isinstance(p, dict) and isinstance(p.get("page"), int) and p["page"] >= 1
        and isinstance(p.get("text"), str) for p in pages),
        "'pages' must be a list of {page, text}")
    assert isinstance(pages, list)
    _need(len({p["page"] for p in pages}) == len(pages), "a page is read twice")


def _actor(st: _State, ev: BundledEvent) -> None:
    d = ev.data
    _need(ev.item is None, "an actor belongs to no item")
    _need(_text(d.get("name")), "'name' must be a name")
    _need(d.get("kind") in ACTOR_KINDS, f"'kind' must be one of {', '.join(ACTOR_KINDS)}")
    _strings(d, "url", "note")
    st.actors.add(ev.seq)


def _custody(st: _State, ev: BundledEvent) -> None:
    d = ev.data
    _need(d.get("action") in ACTIONS, f"unknown custody action {d.get('action')!r}")
    for key in ("from_actor", "to_actor", "asserted_by"):
        st.actor(d, key)
    at = d.get("at")
    if at is not None:
        try:
            When.from_json(at)
        except (BadInput, KeyError, TypeError, ValueError, AttributeError):
            raise _Invalid("'at' is not a date prov can read") from None
    _strings(d, "url", "note")


def _claim(st: _State, ev: BundledEvent) -> None:
    d = ev.data
    lat: Any = d.get("latitude")
    lon: Any = d.get("longitude")
    radius: Any = d.get("radius_m")
    _need(_number(lat) and _number(lon) and -90 <= lat <= 90 and -180 <= lon <= 180,
          "'latitude' and 'longitude' must be coordinates")
    _need(_number(radius) and radius >= 0, "'radius_m' must be a distance")
    _need(d.get("method") in METHODS, f"unknown method {d.get('method')!r}")
    _need(d.get("confidence") is None or d.get("confidence") in CONFIDENCES,
          f"unknown confidence {d.get('confidence')!r}")
    _need(_OPT_INT(d.get("place_geonameid")), "'place_geonameid' must be a number or null")
    _strings(d, "place", "source_url", "note")
    st.actor(d, "claimant")
    st.claims[ev.seq] = ev.item  # type: ignore[assignment]


def _review(st: _State, ev: BundledEvent) -> None:
    d = ev.data
    claim = d.get("claim")
    of = None
    if isinstance(claim, int) and not isinstance(claim, bool):
        of = st.claims.get(claim) or st.imported_claims.get(claim)
    _need(of is not None, f"it reviews claim {claim!r}, which neither the bundle nor an"
          " earlier import of the same source carries")
    _need(of == ev.item, "it reviews a claim about another item")
    _need(d.get("status") in STATUSES, f"unknown review status {d.get('status')!r}")
    _need(_text(d.get("reason")), "a review needs a reason")


def _relation(st: _State, ev: BundledEvent) -> None:
    d = ev.data
    other = d.get("other")
    _need(isinstance(other, str) and bool(HEX64.fullmatch(other))
          and other in st.bundle.items and other != ev.item,
          "'other' must be another item in the bundle")
    _need(_text(d.get("algorithm")) and _text(d.get("verdict")) and _number(d.get("distance")),
          "'algorithm', 'distance' and 'verdict' must be given")
    _need(d.get("detail") is None or isinstance(d.get("detail"), dict),
          "'detail' must be an object")


# The event types a bundle may carry, and the check of each. A type the log gains later is
# refused here until its import (and the translation of any ids it holds) is written.
CHECKS: dict[str, Callable[[_State, BundledEvent], None]] = {
    "item.registered": _registered,
    "sighting.recorded": _sighting,
    "item.stored": _stored,
    "item.restored": _restored,
    "c2pa.read": _credential,
    "actor.created": _actor,
    "custody.recorded": _custody,
    "claim.recorded": _claim,
    "claim.reviewed": _review,
    "near_duplicate.found": _relation,
    "ocr.recorded": _page_text,
    "text_layer.read": _page_text,
}


def check_events(bundle: Bundle, imported_claims: dict[int, str] | None = None) -> None:
    """Refuse the bundle unless every event is of a known type and well formed, and refers
    only to items in its manifest and to actors and claims it carries (or, for a review,
    to a claim an earlier import from the same source brought: `imported_claims`, source
    claim id -> item), each after it exists; every item in the manifest registered, sighted
    in the case bundled, and its original carried when the source stored one."""
    st = _State(bundle, imported_claims or {})
    for ev in bundle.events:
        check = CHECKS.get(ev.type)
        if check is None:
            raise refuse(bundle.subject, f"event {ev.seq} is of type {ev.type!r}, which this"
                         " prov cannot import")
        try:
            if ev.type != "actor.created":
                _need(ev.item in bundle.items,
                      f"it concerns item {str(ev.item)[:64]}, which is not in the manifest")
                _need(ev.type == "item.registered" or ev.item in st.registered,
                      "it comes before its item's registration")
            check(st, ev)
        except _Invalid as exc:
            raise refuse(bundle.subject, f"event {ev.seq} ({ev.type}): {exc}") from None
    case = bundle.manifest["case"]
    for sha, item in bundle.items.items():
        if sha not in st.registered:
            raise refuse(bundle.subject, f"item {sha} is in the manifest, but the bundle does"
                         " not carry its registration")
        if case not in st.cases.get(sha, set()):
            raise refuse(bundle.subject, f"item {sha} has no sighting in case {case!r}, the"
                         " case bundled")
        if sha in st.stored and item.member is None:
            raise refuse(bundle.subject, f"item {sha} was stored at the source, but its"
                         " original is not in the bundle (removed after bundling?)")
