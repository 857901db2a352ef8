"""Review workflow: each item's status and assignee, four-eyes sign-off, sensitive-media flags."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from provenance.case import actors
from provenance.case import items as registry
from provenance.errors import NotFound, UsageProblem
from provenance.ledger import log

STATUSES = ("to-do", "in-progress", "help-needed", "ready-for-review", "completed", "cancelled")
DECISIONS = ("approved", "rejected")
FLAGS = ("graphic-violence", "personal-information", "deceased-persons", "deleted-by-source",
         "deceptive")
# Flags whose picture is blurred until a viewer asks for it: what a reader must choose to see.
# personal-information is not among them: the picture itself is usually not what is private,
# and blurring would hide what a reviewer must read to redact it.
BLURRED_FLAGS = ("graphic-violence", "deceased-persons")
UNSTATUSED = "to-do"


@dataclass
class Outcome:
    """What a bulk command did: the events recorded, and notices for items left as they were."""

    recorded: list[int] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def choose(value: str, allowed: tuple[str, ...], what: str) -> str:
    wanted = value.strip().lower()
    if wanted not in allowed:
        raise UsageProblem(f"unknown {what} {value!r}; use one of: {', '.join(allowed)}")
    return wanted


def same_person(a: str, b: str) -> bool:
    """Investigator names as recorded compare case- and spacing-insensitively: "Ana" moving an
    item and "ana " approving it are one person as far as the four-eyes rule can tell."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def select(conn: sqlite3.Connection, refs: list[str], *, case: str | None = None,
           status: str | None = None, tag: str | None = None) -> list[str]:
    """The items a bulk command acts on: those named, plus those the selections match, once
    each, in registration order. An empty selection is refused (a typo must not do nothing)."""
    if tag is not None and not tag.strip():
        raise UsageProblem("--tag needs a tag: `prov list --tag TAG` shows its items")
    wanted = status and choose(status, STATUSES, "status")
    shas = [registry.resolve(conn, ref) for ref in refs]
    if case is not None or wanted or tag is not None:
        pool = [it["sha256"] for it in registry.list_items(conn, case=case, tag=tag)]
        if case is not None and not pool:
            raise NotFound(f"no items in case {case!r}: `prov list` shows the cases held")
        if tag is not None and not pool:
            raise NotFound(f"no items tagged {tag!r}: `prov tag ITEM TAG` tags them")
        if wanted:
            current = current_statuses(conn)
            pool = [sha for sha in pool if current.get(sha, UNSTATUSED) == wanted]
        shas += pool
    if not refs and case is None and not wanted and tag is None:
        raise UsageProblem("name the items: ITEM..., or select them with --case, --status or"
                           " --tag")
    out = list(dict.fromkeys(shas))
    if not out:
        raise NotFound("no item matches that selection: `prov list --status S` shows them")
    return out


def current_statuses(conn: sqlite3.Connection) -> dict[str, str]:
    return {r["item"]: r["status"] for r in conn.execute(
        "SELECT s.item, s.status FROM status_changes s WHERE s.id ="
        " (SELECT MAX(t.id) FROM status_changes t WHERE t.item = s.item)")}


def latest_status(conn: sqlite3.Connection, sha256: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM status_changes WHERE item = ? ORDER BY id DESC LIMIT 1",
                        (sha256,)).fetchone()


def submission(conn: sqlite3.Connection, sha256: str) -> sqlite3.Row | None:
    """The item's latest move to ready-for-review: what a sign-off reviews."""
    return conn.execute("SELECT * FROM status_changes WHERE item = ? AND status ="
                        " 'ready-for-review' ORDER BY id DESC LIMIT 1", (sha256,)).fetchone()


def approval(conn: sqlite3.Connection, sha256: str) -> sqlite3.Row | None:
    """The sign-off that stands for the latest submission: its latest review, if approved."""
    sub = submission(conn, sha256)
    if sub is None:
        return None
    row = conn.execute("SELECT * FROM item_reviews WHERE item = ? AND id > ? ORDER BY id DESC"
                       " LIMIT 1", (sha256, sub["id"])).fetchone()
    return row if row is not None and row["decision"] == "approved" else None


def _assignee(conn: sqlite3.Connection, name: str, *, by: str,
              notices: list[str]) -> actors.Actor:
    """An assignee is a person: an existing person actor, or one created now."""
    try:
        actor = actors.find(conn, name)
    except NotFound:
        actor = actors.create(conn, name, by=by, kind="person")
        notices.append(f"created actor {actor.name!r} (person) to assign items to")
        return actor
    if actor.kind != "person":
        raise UsageProblem(f"--assign {actor.name!r} is an actor of kind {actor.kind}; items are"
                           " assigned to people: give a person's name (`prov actor add NAME"
                           " --kind person` creates one)")
    return actor


def set_status(conn: sqlite3.Connection, shas: list[str], status: str, *, by: str,
               note: str | None = None, assign: str | None = None,
               unassign: bool = False) -> Outcome:
    """Move items to `status`, all or none: `completed` needs the latest submission approved
    by a second investigator. The assignee carries over unless --assign/--unassign."""
    from provenance.ledger.db import transaction

    wanted = choose(status, STATUSES, "status")
    if assign is not None and unassign:
        raise UsageProblem("give --assign NAME or --unassign, not both")
    out = Outcome()
    with transaction(conn):
        person = _assignee(conn, assign, by=by, notices=out.notices) if assign else None
        refusals = []
        for sha in shas:
            if wanted != "completed":
                continue
            current = latest_status(conn, sha)
            if approval(conn, sha) is None:
                refusals.append(f"{sha[:12]} cannot be completed: it has no approval of its"
                                " latest ready-for-review (`prov review ITEM --approve` by a"
                                " second investigator)")
            elif current is None or current["status"] != "ready-for-review":
                # Work done after the sign-off was not signed off.
                refusals.append(f"{sha[:12]} cannot be completed: it was moved to"
                                f" {current['status'] if current else UNSTATUSED} after its"
                                " approval; submit it again (`prov status ITEM"
                                " ready-for-review`) for a new sign-off")
        if refusals:
            raise UsageProblem("\n".join(refusals) + "\nnothing was changed")
        for sha in shas:
            before = latest_status(conn, sha)
            keep = before["assignee"] if before is not None else None
            assignee = None if unassign else (person.id if person else keep)
            out.recorded.append(log.record(conn, "item.status_set", {
                "status": wanted, "assignee": assignee, "note": note}, by=by, item=sha).seq)
    return out


def review(conn: sqlite3.Connection, shas: list[str], decision: str, reason: str, *,
           by: str) -> Outcome:
    """Sign off (or send back) each item's latest ready-for-review, all or none. Refused where
    the reviewer is the investigator who moved it to ready-for-review: four eyes, not two."""
    from provenance.ledger.db import transaction

    wanted = choose(decision, DECISIONS, "decision")
    if not reason.strip():
        raise UsageProblem("a review needs --reason: say what was checked")
    out = Outcome()
    with transaction(conn):
        refusals: list[str] = []
        subs: dict[str, sqlite3.Row] = {}
        for sha in shas:
            current = latest_status(conn, sha)
            sub = submission(conn, sha)
            if current is None or current["status"] != "ready-for-review" or sub is None:
                now = current["status"] if current is not None else UNSTATUSED
                refusals.append(f"{sha[:12]} is {now}, not ready-for-review: move it there"
                                " first (`prov status ITEM ready-for-review`)")
            elif same_person(sub["recorded_by"], by):
                refusals.append(
                    f"{sha[:12]}: {by} moved it to ready-for-review (event {sub['id']}), so"
                    f" {by} cannot review it: a second investigator must (prov --by NAME"
                    " review ...)")
            else:
                subs[sha] = sub
        if refusals:
            raise UsageProblem("\n".join(refusals) + "\nnothing was recorded")
        for sha in shas:
            sub = subs[sha]
            out.recorded.append(log.record(conn, "item.reviewed", {
                "decision": wanted, "reason": reason.strip(), "submitted_by": sub["recorded_by"],
                "submitted_at": sub["recorded_at"]}, by=by, item=sha).seq)
    return out


def current_flags(conn: sqlite3.Connection, sha256: str) -> list[str]:
    return [str(r[0]) for r in conn.execute(
        "SELECT flag FROM item_flags WHERE item = ? ORDER BY flag", (sha256,))]


def blurred(conn: sqlite3.Connection, sha256: str) -> list[str]:
    """The flags that hide this item's picture until a viewer asks for it."""
    return [f for f in current_flags(conn, sha256) if f in BLURRED_FLAGS]


def set_flag(conn: sqlite3.Connection, shas: list[str], flag: str, *, by: str,
             note: str | None = None, remove: bool = False) -> Outcome:
    """Flag (or unflag) items; an item already so is left alone, with a notice."""
    from provenance.ledger.db import transaction

    wanted = choose(flag, FLAGS, "flag")
    kind = "item.unflagged" if remove else "item.flagged"
    out = Outcome()
    with transaction(conn):
        for sha in shas:
            has = wanted in current_flags(conn, sha)
            if has != remove:
                out.notices.append(f"{sha[:12]} is {'not ' if remove else ''}flagged {wanted}"
                                   " already: nothing recorded for it")
                continue
            out.recorded.append(log.record(conn, kind, {"flag": wanted, "note": note},
                                           by=by, item=sha).seq)
    return out


def for_item(conn: sqlite3.Connection, sha256: str) -> dict[str, Any]:
    """An item's place in the workflow, for `prov show` and the reports: current status and
    assignee, every status change, every sign-off, its flags and incidents."""
    changes = [dict(r) for r in conn.execute(
        "SELECT s.*, a.name AS assignee_name FROM status_changes s LEFT JOIN actors a"
        " ON a.id = s.assignee WHERE s.item = ? ORDER BY s.id", (sha256,))]
    reviews = [dict(r) for r in conn.execute(
        "SELECT * FROM item_reviews WHERE item = ? ORDER BY id", (sha256,))]
    incidents = [dict(r) for r in conn.execute(
        "SELECT n.id, n.name, n.at_text, n.place FROM incident_items x JOIN incidents n"
        " ON n.id = x.incident WHERE x.item = ? ORDER BY n.name COLLATE NOCASE", (sha256,))]
    flags = current_flags(conn, sha256)
    last = changes[-1] if changes else None
    return {
        "status": last["status"] if last else UNSTATUSED,
        "assignee": last["assignee_name"] if last else None,
        "status_history": changes,
        "reviews": reviews,
        "approved": approval(conn, sha256) is not None,
        "flags": flags,
        "blurred": [f for f in flags if f in BLURRED_FLAGS],
        "incidents": incidents,
    }


def with_status(items: list[dict[str, Any]], conn: sqlite3.Connection,
                status: str | None = None) -> list[dict[str, Any]]:
    """`prov list`'s rows with each item's current status (`to-do` when never given one),
    only those with `status` when it is given."""
    wanted = status and choose(status, STATUSES, "status")
    current = current_statuses(conn)
    for it in items:
        it["status"] = current.get(it["sha256"], UNSTATUSED)
    return [it for it in items if not wanted or it["status"] == wanted]
