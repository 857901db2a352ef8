-- prov migration 0013_workflow (issue 15): where each item stands in review, who signed it
-- off, the incidents items belong to, and sensitive-media flags. Every table is a
-- projection of the log (item.status_set, item.reviewed, incident.*, item.flagged,
-- item.unflagged): `prov verify` rebuilds and compares them. Nothing is overwritten: each
-- table keeps the whole history, and the views below read the latest row.

-- One row per status change (item.status_set).
CREATE TABLE status_changes (
    id           INTEGER PRIMARY KEY,      -- seq of the recording event
    item         TEXT NOT NULL REFERENCES items (sha256),
    status       TEXT NOT NULL,            -- to-do | in-progress | help-needed | ready-for-review | completed | cancelled
    assignee     INTEGER REFERENCES actors (id), -- a person; NULL: unassigned
    note         TEXT,
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE INDEX status_changes_item ON status_changes (item);

-- One row per sign-off decision (item.reviewed) on the item's latest ready-for-review.
CREATE TABLE item_reviews (
    id            INTEGER PRIMARY KEY,     -- seq of the recording event
    item          TEXT NOT NULL REFERENCES items (sha256),
    decision      TEXT NOT NULL,           -- approved | rejected
    reason        TEXT NOT NULL,
    submitted_by  TEXT NOT NULL,           -- who moved it to ready-for-review (never the reviewer)
    submitted_at  TEXT NOT NULL,
    recorded_at   TEXT NOT NULL,
    recorded_by   TEXT NOT NULL
);
CREATE INDEX item_reviews_item ON item_reviews (item);

CREATE TABLE incidents (
    id              INTEGER PRIMARY KEY,   -- seq of the creating event
    name            TEXT NOT NULL,
    at_text         TEXT,                  -- as precise as known, as custody dates
    at_precision    TEXT,
    at_approximate  INTEGER NOT NULL DEFAULT 0,
    at_earliest     TEXT,
    at_latest       TEXT,
    latitude        REAL,
    longitude       REAL,
    radius_m        REAL,
    place           TEXT,
    place_geonameid INTEGER,
    note            TEXT,
    recorded_at     TEXT NOT NULL,
    recorded_by     TEXT NOT NULL
);
CREATE UNIQUE INDEX incidents_name ON incidents (name COLLATE NOCASE);

-- An item shown to belong to an incident (incident.linked).
CREATE TABLE incident_items (
    id           INTEGER PRIMARY KEY,      -- seq of the recording event
    incident     INTEGER NOT NULL REFERENCES incidents (id),
    item         TEXT NOT NULL REFERENCES items (sha256),
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE INDEX incident_items_incident ON incident_items (incident);
CREATE INDEX incident_items_item ON incident_items (item);

-- Two incidents related to each other (incident.related); read both ways.
CREATE TABLE incident_relations (
    id           INTEGER PRIMARY KEY,      -- seq of the recording event
    incident     INTEGER NOT NULL REFERENCES incidents (id),
    other        INTEGER NOT NULL REFERENCES incidents (id),
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);

-- Every flag set or cleared (item.flagged, item.unflagged).
CREATE TABLE flag_changes (
    id           INTEGER PRIMARY KEY,      -- seq of the recording event
    item         TEXT NOT NULL REFERENCES items (sha256),
    flag         TEXT NOT NULL,            -- graphic-violence | personal-information | deceased-persons | deleted-by-source | deceptive
    action       TEXT NOT NULL,            -- flagged | unflagged
    note         TEXT,
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE INDEX flag_changes_item ON flag_changes (item);

-- The flags each item carries now: its latest change per flag is `flagged`.
CREATE VIEW item_flags AS
SELECT f.item, f.flag, f.recorded_at AS flagged_at, f.recorded_by AS flagged_by, f.note
FROM flag_changes f
WHERE f.action = 'flagged'
  AND f.id = (SELECT MAX(g.id) FROM flag_changes g WHERE g.item = f.item AND g.flag = f.flag);

-- Each item with where it stands: status, assignee, who submitted it and who signed it
-- off, its flags and incidents. Items never given a status are `to-do`.
CREATE VIEW item_workflow AS
WITH latest AS (
    SELECT s.* FROM status_changes s
    WHERE s.id = (SELECT MAX(t.id) FROM status_changes t WHERE t.item = s.item)
)
SELECT
    i.sha256 AS item,
    i.kind,
    (SELECT s.file_name FROM sightings s WHERE s.item = i.sha256 ORDER BY s.id LIMIT 1)
        AS file_name,
    (SELECT group_concat(DISTINCT s.case_name) FROM sightings s WHERE s.item = i.sha256)
        AS cases,
    COALESCE(l.status, 'to-do') AS status,
    a.name AS assignee,
    l.recorded_at AS status_since,
    l.recorded_by AS status_set_by,
    (SELECT r.decision || ' by ' || r.recorded_by FROM item_reviews r
      WHERE r.item = i.sha256 ORDER BY r.id DESC LIMIT 1) AS latest_review,
    (SELECT group_concat(f.flag, ', ') FROM item_flags f WHERE f.item = i.sha256) AS flags,
    (SELECT group_concat(n.name, ', ') FROM incident_items x JOIN incidents n
      ON n.id = x.incident WHERE x.item = i.sha256) AS incidents
FROM items i
LEFT JOIN latest l ON l.item = i.sha256
LEFT JOIN actors a ON a.id = l.assignee;

-- One row per item in an incident, for faceting by incident.
CREATE VIEW incident_members AS
SELECT
    n.name AS incident,
    n.at_text AS incident_at,
    n.place AS incident_place,
    x.item,
    w.kind,
    w.file_name,
    w.status,
    w.assignee,
    w.flags,
    x.recorded_at AS linked_at,
    x.recorded_by AS linked_by
FROM incident_items x
JOIN incidents n ON n.id = x.incident
JOIN item_workflow w ON w.item = x.item;
