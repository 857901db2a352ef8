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

-- The views that show custody events and claims say which were retracted (who, when, why)
-- or superseded by a correction: the same columns as before, plus `retracted` and
-- `superseded_by`. item_custody marks such steps in its chain rather than dropping them;
-- unverified_claims leaves out claims that await no review any more.
DROP VIEW item_custody;
DROP VIEW custody_timeline;
DROP VIEW claim_checks;
DROP VIEW unverified_claims;

CREATE VIEW custody_timeline AS
SELECT
    c.id,
    c.item,
    (SELECT s.file_name FROM sightings s WHERE s.item = c.item ORDER BY s.id LIMIT 1)
        AS file_name,
    c.at_text AS at,
    c.at_precision,
    c.at_approximate,
    c.at_earliest,
    c.action,
    f.name AS from_actor,
    t.name AS to_actor,
    COALESCE(a.name, c.recorded_by) AS according_to,
    c.url,
    c.note,
    c.recorded_at,
    c.recorded_by,
    CASE WHEN c.at_text IS NULL THEN NULL
         ELSE CASE WHEN c.at_approximate THEN '~' ELSE '' END || c.at_text
              || CASE WHEN c.at_precision IN ('minute', 'second')
                           AND substr(c.at_text, -6, 1) NOT IN ('+', '-')
                      THEN ' (local time, zone unknown)' ELSE '' END
    END AS at_shown,
    c.at_latest,
    CASE WHEN c.at_earliest IS NULL THEN NULL
         ELSE EXISTS (SELECT 1 FROM custody o WHERE o.item = c.item AND o.id != c.id
                      AND o.at_earliest IS NOT NULL
                      AND julianday(o.at_earliest) <= julianday(c.at_latest)
                      AND julianday(c.at_earliest) <= julianday(o.at_latest))
    END AS order_uncertain,
    (SELECT 'retracted by ' || r.recorded_by || ' at ' || r.recorded_at || ' (event ' || r.id
        || '): ' || r.reason FROM retractions r WHERE r.event = c.id ORDER BY r.id LIMIT 1) AS retracted,
    (SELECT k.id FROM corrections k WHERE k.event = c.id
        AND k.id NOT IN (SELECT event FROM retractions) ORDER BY k.id DESC LIMIT 1) AS superseded_by
FROM custody c
LEFT JOIN actors f ON f.id = c.from_actor
LEFT JOIN actors t ON t.id = c.to_actor
LEFT JOIN actors a ON a.id = c.asserted_by
ORDER BY c.item, c.at_earliest IS NULL,
    (julianday(c.at_earliest) + julianday(COALESCE(c.at_latest, c.at_earliest))) / 2, c.id;

CREATE VIEW item_custody AS
SELECT
    i.sha256 AS item,
    i.kind,
    (SELECT s.file_name FROM sightings s WHERE s.item = i.sha256 ORDER BY s.id LIMIT 1)
        AS file_name,
    i.captured_at,
    (SELECT COUNT(*) FROM custody c WHERE c.item = i.sha256) AS custody_events,
    (SELECT MIN(c.at_earliest) FROM custody c WHERE c.item = i.sha256) AS first_dated,
    (SELECT group_concat(step, char(10)) FROM (
        SELECT CASE WHEN ct.retracted IS NOT NULL THEN '[RETRACTED: ' || ct.retracted || '] '
                    WHEN ct.superseded_by IS NOT NULL
                    THEN '[SUPERSEDED by correction ' || ct.superseded_by || '] '
                    ELSE '' END
            || COALESCE(ct.at_shown, 'undated') || ' ' || ct.action
            -- the same wording as `prov custody list`: a handover is "from", else "by"
            || COALESCE(CASE WHEN ct.to_actor IS NOT NULL OR ct.action IN
                   ('shared', 'received', 'transferred', 'sent', 'forwarded', 'seized')
                   THEN ' from ' ELSE ' by ' END || ct.from_actor, '')
            || COALESCE(' to ' || ct.to_actor, '')
            || ' [per ' || ct.according_to || ']'
            || CASE WHEN ct.order_uncertain THEN ' (order uncertain)' ELSE '' END AS step
        FROM custody_timeline ct WHERE ct.item = i.sha256
        ORDER BY ct.at_earliest IS NULL,
            (julianday(ct.at_earliest) + julianday(COALESCE(ct.at_latest, ct.at_earliest))) / 2,
            ct.id
    )) AS chain,
    (SELECT ct.at_shown FROM custody_timeline ct
     WHERE ct.item = i.sha256 AND ct.at_earliest IS NOT NULL
     ORDER BY (julianday(ct.at_earliest) + julianday(COALESCE(ct.at_latest, ct.at_earliest))) / 2,
         ct.id
     LIMIT 1) AS first_dated_shown
FROM items i;

CREATE VIEW claim_checks AS
WITH
    base AS (
        SELECT
            cl.*,
            a.name AS claimant_name,
            i.gps_latitude AS gps_lat,
            i.gps_longitude AS gps_lon,
            -- mean latitude in radians, squared, for the cosine below
            ((cl.latitude + COALESCE(i.gps_latitude, cl.latitude)) * 0.008726646259971648)
            * ((cl.latitude + COALESCE(i.gps_latitude, cl.latitude)) * 0.008726646259971648)
                AS x2
        FROM claims cl
        JOIN items i ON i.sha256 = cl.item
        LEFT JOIN actors a ON a.id = cl.claimant
    ),
    scaled AS (
        SELECT base.*,
            -- cos(x) to x^8: within 1e-5 for |x| <= pi/2
            1.0 - x2 / 2.0 + x2 * x2 / 24.0 - x2 * x2 * x2 / 720.0
            + x2 * x2 * x2 * x2 / 40320.0 AS cos_lat
        FROM base
    ),
    measured AS (
        SELECT scaled.*,
            ((latitude - gps_lat) * 111195.0) * ((latitude - gps_lat) * 111195.0)
            + ((longitude - gps_lon) * 111195.0 * cos_lat)
              * ((longitude - gps_lon) * 111195.0 * cos_lat) AS d2_m2
        FROM scaled
    )
SELECT
    id AS claim,
    item,
    place,
    latitude,
    longitude,
    radius_m,
    claimant_name AS claimant,
    method,
    confidence,
    status,
    (SELECT COUNT(*) FROM claim_reviews r WHERE r.claim = m.id) AS reviews,
    (SELECT r.reason FROM claim_reviews r WHERE r.claim = m.id ORDER BY r.id DESC LIMIT 1)
        AS latest_reason,
    (SELECT r.recorded_by FROM claim_reviews r WHERE r.claim = m.id ORDER BY r.id DESC LIMIT 1)
        AS reviewed_by,
    (SELECT r.recorded_at FROM claim_reviews r WHERE r.claim = m.id ORDER BY r.id DESC LIMIT 1)
        AS reviewed_at,
    gps_lat AS item_gps_latitude,
    gps_lon AS item_gps_longitude,
    CASE
        WHEN gps_lat IS NULL OR gps_lon IS NULL THEN NULL
        WHEN d2_m2 <= (radius_m + 50.0) * (radius_m + 50.0) THEN 'consistent'
        WHEN d2_m2 <= 4.0 * (radius_m + 50.0) * (radius_m + 50.0) THEN 'inconclusive'
        ELSE 'contradicts'
    END AS gps_check,
    source_url,
    note,
    recorded_at,
    recorded_by,
    (SELECT 'retracted by ' || r.recorded_by || ' at ' || r.recorded_at || ' (event ' || r.id
        || '): ' || r.reason FROM retractions r WHERE r.event = m.id ORDER BY r.id LIMIT 1) AS retracted,
    (SELECT k.id FROM corrections k WHERE k.event = m.id
        AND k.id NOT IN (SELECT event FROM retractions) ORDER BY k.id DESC LIMIT 1) AS superseded_by
FROM measured m
ORDER BY id;

CREATE VIEW unverified_claims AS
SELECT
    cl.id AS claim,
    cl.item,
    (SELECT s.file_name FROM sightings s WHERE s.item = cl.item ORDER BY s.id LIMIT 1)
        AS file_name,
    cl.place,
    cl.latitude,
    cl.longitude,
    cl.radius_m,
    a.name AS claimant,
    cl.method,
    cl.confidence,
    cl.status,
    (SELECT COUNT(*) FROM claim_reviews r WHERE r.claim = cl.id) AS reviews,
    cl.source_url,
    cl.recorded_at,
    cl.recorded_by
FROM claims cl
LEFT JOIN actors a ON a.id = cl.claimant
WHERE cl.status NOT IN ('verified', 'refuted')
    -- a retracted or superseded claim awaits no review
    AND cl.id NOT IN (SELECT event FROM retractions)
    AND cl.id NOT IN (SELECT event FROM corrections
                      WHERE id NOT IN (SELECT event FROM retractions))
ORDER BY cl.id;

-- `prov search`: one full-text index over every text source case/textsearch.py lists
-- (titles, notes, names, tags, custody notes, claims' places and notes, review reasons).
-- Derived data, like the *_fts tables: filled by prov as rows arrive (search_state holds
-- the highest row id indexed per source), never compared by verify. The trigram
-- tokenizer indexes every script alike: unicode61 keeps a run of Hangul syllables as one
-- token, so a Korean word with a particle attached ("설문지를") is not found by the word
-- ("설문지"), while trigrams find any substring of three characters or more.
CREATE VIRTUAL TABLE search_fts_index USING fts5 (
    item UNINDEXED, field UNINDEXED, source UNINDEXED, row_id UNINDEXED, text,
    tokenize = 'trigram'
);
CREATE TABLE search_state (
    source  TEXT PRIMARY KEY,               -- table.column
    max_id  INTEGER NOT NULL
);
