"""What each event a bundle carries must be before it may enter the receiver's log."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from provenance.case import workflow
from provenance.case.actors import ACTOR_KINDS
from provenance.case.bundle_read import HEX64, Bundle, BundledEvent, refuse
from provenance.case.claims import CONFIDENCES, METHODS, STATUSES
from provenance.case.custody import ACTIONS
from provenance.case.when import When
from provenance.errors import BadInput
from provenance.ledger.projection import METADATA_COLUMNS

# Keys in event data that name an actor, and those that name a claim: ids are local to a
# database (the seq of the event that created them), so they are translated on import.
ACTOR_KEYS = ("from_actor", "to_actor", "asserted_by", "claimant", "assignee")
CLAIM_KEYS = ("claim",)
# Keys naming an incident (by its creating event's seq), per event type: "other" names an
# item in near_duplicate.found, so these are not translated by key alone.
INCIDENT_KEYS: dict[str, tuple[str, ...]] = {
    "incident.linked": ("incident",),
    "incident.related": ("incident", "other"),
}
# Event types that concern no item.
ITEMLESS = ("actor.created", "incident.created", "incident.related")
# Keys that name another event of the bundle (a retraction's or a correction's target),
# translated to the receiver's sequence numbers on import.
EVENT_KEYS = ("event",)
# The kinds an item can be (media.sniff.KINDS, a layer above this one).
ITEM_KINDS = ("image", "video", "audio", "scan", "document", "archive", "other")


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
        # Items registered with their analysis deferred, and those the bundle analyses.
        self.deferred: set[str] = set()
        self.analysed: set[str] = set()
        self.cases: dict[str, set[str | None]] = {}
        self.actors: set[int] = set()
        self.claims: dict[int, str] = {}
        self.incidents: set[int] = set()
        # Per item: who moved it to ready-for-review last, and whether that stands approved.
        self.submitted: dict[str, str] = {}
        self.approved: dict[str, bool] = {}
        # Every event checked so far: seq -> (type, item), for retractions and corrections.
        self.seen: dict[int, tuple[str, str | None]] = {}

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
    _need(d.get("analysis") in (None, "deferred"), "'analysis' must be 'deferred' or absent")
    _fingerprints(d)
    st.registered.add(sha)  # type: ignore[arg-type]
    if d["stored"]:
        st.stored.add(sha)  # type: ignore[arg-type]
    if d.get("analysis") == "deferred":
        st.deferred.add(sha)  # type: ignore[arg-type]


def _fingerprints(d: dict[str, Any]) -> None:
    """Metadata and perceptual hashes as item.registered and item.analysed carry them."""
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


def _analysed(st: _State, ev: BundledEvent) -> None:
    d, sha = ev.data, str(ev.item)
    _need(d.get("sha256") == sha, "its 'sha256' is not the event's item")
    _need(sha in st.deferred, "it analyses an item analysed when it was registered")
    _need(sha not in st.analysed, "the item is analysed twice")
    _need(d.get("error") is None or _text(d.get("error")), "'error' must say why")
    _need(isinstance(d.get("warnings", []), list), "'warnings' must be a list")
    _fingerprints(d)
    st.analysed.add(sha)


def _sighting(st: _State, ev: BundledEvent) -> None:
    d = ev.data
    _strings(d, "path", "file_name", "source_url", "case", "title", "note")
    _need(d.get("file_name_hex") is None or _hex(d.get("file_name_hex")),
          "'file_name_hex' must be hex or null")
    _need(_OPT_INT(d.get("size")), "'size' must be a byte count or null")
    _strings(d, "seen_at", "page_url")  # where a capture or WARC record saw it (issue 16)
    _need(d.get("origin") is None or isinstance(d.get("origin"), dict),
          "'origin' must be an object or null")
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


def _capture(st: _State, ev: BundledEvent) -> None:
    d = ev.data
    _need(_text(d.get("url")) and _text(d.get("captured_at")), "'url' and 'captured_at' must"
          " be given")
    _need(d.get("archive") == ev.item, "'archive' must be the item the event concerns")
    files = d.get("files")
    _need(isinstance(files, list) and all(
        isinstance(f, dict) and f.get("role") in ("archive", "media", "screenshot", "pdf")
        and (f.get("sha256") is None or (isinstance(f["sha256"], str)
                                         and bool(HEX64.fullmatch(f["sha256"]))))
        for f in files), "'files' must list roles and SHA-256s")
    _need(isinstance(d.get("status_chain"), list), "'status_chain' must be a list")
def _recorder(ev: BundledEvent) -> str:
    """Who recorded the event at its origin (an event imported earlier keeps its recorder)."""
    origin = ev.data.get("imported_from")
    if isinstance(origin, dict) and isinstance(origin.get("recorded_by"), str):
        return str(origin["recorded_by"])
    return ev.recorded_by


def _status_set(st: _State, ev: BundledEvent) -> None:
    d, sha = ev.data, str(ev.item)
    _need(d.get("status") in workflow.STATUSES, f"unknown status {d.get('status')!r}")
    st.actor(d, "assignee")
    _strings(d, "note")
    if d["status"] == "completed":
        _need(st.approved.get(sha, False), "it completes an item with no standing approval")
    if d["status"] == "ready-for-review":
        st.submitted[sha] = _recorder(ev)
    # An approval stands only until the item's status next changes.
    st.approved[sha] = False


def _item_review(st: _State, ev: BundledEvent) -> None:
    d, sha = ev.data, str(ev.item)
    _need(d.get("decision") in workflow.DECISIONS, f"unknown decision {d.get('decision')!r}")
    _need(_text(d.get("reason")), "a review needs a reason")
    _need(_text(d.get("submitted_at")), "'submitted_at' must be given")
    _need(sha in st.submitted and d.get("submitted_by") == st.submitted[sha],
          "it reviews a submission the bundle does not carry")
    _need(not workflow.same_person(st.submitted[sha], _recorder(ev)),
          "the reviewer submitted the work (the four-eyes rule)")
    st.approved[sha] = d["decision"] == "approved"


def _flag(st: _State, ev: BundledEvent) -> None:
    _need(ev.data.get("flag") in workflow.FLAGS, f"unknown flag {ev.data.get('flag')!r}")
    _strings(ev.data, "note")


def _incident(st: _State, ev: BundledEvent) -> None:
    d = ev.data
    _need(_text(d.get("name")), "'name' must be a name")
    if d.get("at") is not None:
        try:
            When.from_json(d["at"])
        except (BadInput, KeyError, TypeError, ValueError, AttributeError):
            raise _Invalid("'at' is not a date prov can read") from None
    lat: Any = d.get("latitude")
    lon: Any = d.get("longitude")
    if lat is not None or lon is not None:
        _need(_number(lat) and _number(lon) and -90 <= lat <= 90 and -180 <= lon <= 180,
              "'latitude' and 'longitude' must be coordinates")
        _need(_number(d.get("radius_m")) and d["radius_m"] >= 0, "'radius_m' must be a distance")
    _need(_OPT_INT(d.get("place_geonameid")), "'place_geonameid' must be a number or null")
    _strings(d, "place", "note")
    st.incidents.add(ev.seq)


def _incident_link(st: _State, ev: BundledEvent) -> None:
    _need(ev.data.get("incident") in st.incidents,
          f"it names incident {ev.data.get('incident')!r}, which the bundle does not carry")


def _incident_relation(st: _State, ev: BundledEvent) -> None:
    a, b = ev.data.get("incident"), ev.data.get("other")
    _need(a in st.incidents and b in st.incidents and a != b,
          "it relates incidents the bundle does not carry")
def _target(st: _State, ev: BundledEvent) -> str:
    """The type of the event a retraction or correction names, which the bundle must carry
    before it, about the same item."""
    target = ev.data.get("event")
    _need(isinstance(target, int) and not isinstance(target, bool) and target in st.seen,
          f"it names event {target!r}, which the bundle does not carry before it")
    kind, item = st.seen[target]  # type: ignore[index]
    _need(item == ev.item, "it names an event about another item")
    _need(_text(ev.data.get("reason")), "it needs a reason")
    return kind


def _retracted(st: _State, ev: BundledEvent) -> None:
    from provenance.case.corrections import RETRACTABLE

    kind = _target(st, ev)
    _need(kind in RETRACTABLE and ev.data.get("event_type") == kind,
          f"it retracts a {kind} event, which cannot be retracted")


def _corrected(st: _State, ev: BundledEvent) -> None:
    kind = _target(st, ev)
    corrects = ev.data.get("corrects")
    _need(isinstance(ev.data.get("changed"), list), "'changed' must list the fields")
    if corrects == "custody":
        _need(kind in ("custody.recorded", "event.corrected"), "it corrects no custody event")
        _custody(st, ev)
    else:
        _need(corrects == "claim" and kind in ("claim.recorded", "event.corrected"),
              "it corrects no claim")
        _claim(st, ev)


def _reason_only(st: _State, ev: BundledEvent) -> None:
    _need(_text(ev.data.get("reason")), "it needs a reason")


def _reclassified(st: _State, ev: BundledEvent) -> None:
    _need(ev.data.get("kind") in ITEM_KINDS and ev.data.get("previous_kind") in ITEM_KINDS,
          "'kind' and 'previous_kind' must be kinds")
    _reason_only(st, ev)


def _labelled(key: str) -> Callable[[_State, BundledEvent], None]:
    def check(st: _State, ev: BundledEvent) -> None:
        _need(_text(ev.data.get(key)), f"{key!r} must be text")
    return check


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
    "capture.recorded": _capture,
    "item.status_set": _status_set,
    "item.reviewed": _item_review,
    "item.flagged": _flag,
    "item.unflagged": _flag,
    "incident.created": _incident,
    "incident.linked": _incident_link,
    "incident.related": _incident_relation,
    "event.retracted": _retracted,
    "event.corrected": _corrected,
    "item.withdrawn": _reason_only,
    "item.reclassified": _reclassified,
    "item.named": _labelled("name"),
    "item.noted": _labelled("text"),
    "item.tagged": _labelled("tag"),
    "item.untagged": _labelled("tag"),
    "ocr.recorded": _page_text,
    "text_layer.read": _page_text,
    "item.analysed": _analysed,
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
            if ev.type in ITEMLESS:
                _need(ev.item is None, "it belongs to no item")
            else:
                _need(ev.item in bundle.items,
                      f"it concerns item {str(ev.item)[:64]}, which is not in the manifest")
                _need(ev.type == "item.registered" or ev.item in st.registered,
                      "it comes before its item's registration")
            check(st, ev)
            st.seen[ev.seq] = (ev.type, ev.item)
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
