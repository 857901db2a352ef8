-- prov migration 0012_corrections (issue 14): corrections, names, notes and tags.
--
-- Every table here is a projection of its own event types (see ledger/projection.py);
-- `prov verify` rebuilds and compares them like the others. Nothing recorded before is
-- changed: a retraction or a correction is a row of its own that names the entry it
-- retracts or supersedes, and readers strike that entry through.

-- `event.retracted`: an entry (custody event, claim, review, sighting, tag, note, name,
-- correction or withdrawal) withdrawn by a later event, with the reason.
CREATE TABLE retractions (
    id           INTEGER PRIMARY KEY,       -- seq of the event.retracted event
    event        INTEGER NOT NULL,          -- seq of the event retracted
    event_type   TEXT NOT NULL,
    item         TEXT REFERENCES items (sha256),
    reason       TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE INDEX retractions_event ON retractions (event);

-- `event.corrected`: a custody event or claim recorded again with corrected values. The
-- corrected values are a new row of custody or claims whose id is this event's seq; the
-- row corrected stays, superseded.
CREATE TABLE corrections (
    id           INTEGER PRIMARY KEY,       -- seq of the event.corrected event (= the new row)
    event        INTEGER NOT NULL,          -- the custody event or claim corrected
    corrects     TEXT NOT NULL,             -- custody | claim
    item         TEXT NOT NULL REFERENCES items (sha256),
    changed      TEXT NOT NULL,             -- the fields changed, comma-separated
    reason       TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE INDEX corrections_event ON corrections (event);

-- `item.withdrawn`: an item marked withdrawn (kept, hashed, verifiable; left out of
-- list, dupes and matching unless asked for).
CREATE TABLE withdrawals (
    id           INTEGER PRIMARY KEY,
    item         TEXT NOT NULL REFERENCES items (sha256),
    reason       TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE INDEX withdrawals_item ON withdrawals (item);

-- `item.reclassified`: the kind an item was registered as, changed (items.kind follows).
CREATE TABLE reclassifications (
    id            INTEGER PRIMARY KEY,
    item          TEXT NOT NULL REFERENCES items (sha256),
    kind          TEXT NOT NULL,
    previous_kind TEXT NOT NULL,
    reason        TEXT NOT NULL,
    recorded_at   TEXT NOT NULL,
    recorded_by   TEXT NOT NULL
);

-- `item.named`: a short name for an item; the latest (not retracted) is its name.
CREATE TABLE item_names (
    id           INTEGER PRIMARY KEY,
    item         TEXT NOT NULL REFERENCES items (sha256),
    name         TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE INDEX item_names_name ON item_names (name COLLATE NOCASE);
CREATE INDEX item_names_item ON item_names (item);

-- `item.noted`: a note on an item after registration.
CREATE TABLE item_notes (
    id           INTEGER PRIMARY KEY,
    item         TEXT NOT NULL REFERENCES items (sha256),
    text         TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE INDEX item_notes_item ON item_notes (item);

-- `item.tagged` (one event per tag) and `item.untagged`, which sets removed_by.
CREATE TABLE item_tags (
    id           INTEGER PRIMARY KEY,
    item         TEXT NOT NULL REFERENCES items (sha256),
    tag          TEXT NOT NULL,
    removed_by   INTEGER,                   -- seq of the item.untagged event
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE INDEX item_tags_item ON item_tags (item);
CREATE INDEX item_tags_tag ON item_tags (tag COLLATE NOCASE);

-- `actor.renamed` and `actor.merged` leave the old name here: it still finds the actor.
CREATE TABLE actor_aliases (
    id           INTEGER PRIMARY KEY,
    actor        INTEGER NOT NULL REFERENCES actors (id),
    alias        TEXT NOT NULL,
    how          TEXT NOT NULL,             -- renamed | merged
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE INDEX actor_aliases_alias ON actor_aliases (alias COLLATE NOCASE);

-- `actor.merged`: actor `actor` is the same as `into`; custody and claims that named it
-- name `into` from then on.
CREATE TABLE actor_merges (
    id           INTEGER PRIMARY KEY,
    actor        INTEGER NOT NULL REFERENCES actors (id),
    into_actor   INTEGER NOT NULL REFERENCES actors (id),
    reason       TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);

-- Every retraction and correction, with what it concerns, who, when and why.
CREATE VIEW corrections_log AS
SELECT r.id, 'retracted' AS what, r.event, r.event_type AS entry, r.item, r.reason,
       NULL AS changed, r.recorded_at, r.recorded_by
FROM retractions r
UNION ALL
SELECT k.id, 'corrected', k.event, k.corrects, k.item, k.reason, k.changed, k.recorded_at,
       k.recorded_by
FROM corrections k
UNION ALL
SELECT w.id, 'withdrawn', NULL, 'item', w.item, w.reason, NULL, w.recorded_at, w.recorded_by
FROM withdrawals w
ORDER BY 1;

-- Each item's current name, tags (facet on them) and whether it is withdrawn.
CREATE VIEW item_labels AS
SELECT
    i.sha256 AS item,
    i.kind,
    (SELECT n.name FROM item_names n WHERE n.item = i.sha256
     AND n.id NOT IN (SELECT event FROM retractions) ORDER BY n.id DESC LIMIT 1) AS name,
    (SELECT group_concat(t.tag, ', ') FROM item_tags t WHERE t.item = i.sha256
     AND t.removed_by IS NULL AND t.id NOT IN (SELECT event FROM retractions)) AS tags,
    EXISTS (SELECT 1 FROM withdrawals w WHERE w.item = i.sha256
            AND w.id NOT IN (SELECT event FROM retractions)) AS withdrawn
FROM items i;

-- Current tags, one row per item and tag, for Datasette's facets.
CREATE VIEW current_tags AS
SELECT t.item, t.tag, t.recorded_at, t.recorded_by
FROM item_tags t
WHERE t.removed_by IS NULL AND t.id NOT IN (SELECT event FROM retractions)
ORDER BY t.tag, t.item;

-- `prov search`: one full-text index over every text source case/textsearch.py lists
-- (titles, notes, names, tags, custody notes, claims' places and notes, review reasons).
-- Derived data, like the *_fts tables: filled by prov as rows arrive (search_state holds
-- the highest row id indexed per source), never compared by verify. The trigram
-- tokenizer indexes every script alike: unicode61 keeps a run of Hangul syllables as one
-- token, so a Korean word with a particle attached ("설문지를") is not found by the word
-- ("설문지"), while trigrams find any substring of three characters or more.
CREATE VIRTUAL TABLE search_index USING fts5 (
    item UNINDEXED, field UNINDEXED, source UNINDEXED, row_id UNINDEXED, text,
    tokenize = 'trigram'
);
CREATE TABLE search_state (
    source  TEXT PRIMARY KEY,               -- table.column
    max_id  INTEGER NOT NULL
);
