-- prov schema, migration 0001.
--
-- Two kinds of table live here:
--   * the log (`events`) and the database's identity (`meta`): the evidence
--     itself, append-only, guarded by triggers;
--   * projections (everything else): what users browse, rebuilt by
--     `prov verify` from the log and compared row by row. Their ids are the
--     sequence number of the event that created the row, so a replay yields
--     the same ids.

-- Identity of this database; the log's genesis hash is bound to database_id.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta
BEGIN SELECT RAISE(ABORT, 'meta is append-only'); END;
CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta
BEGIN SELECT RAISE(ABORT, 'meta is append-only'); END;

-- The append-only, hash-chained event log. `payload` is the whole event as
-- canonical JSON (RFC 8785); the other columns repeat parts of it for
-- querying and are checked against it by `prov verify`.
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY,
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL,
    type         TEXT NOT NULL,
    item         TEXT,
    payload      TEXT NOT NULL,
    leaf_hash    TEXT NOT NULL,
    chain_hash   TEXT NOT NULL
);
CREATE INDEX events_item ON events (item);
CREATE INDEX events_type ON events (type);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only: record a correction as a new event'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only: events cannot be deleted'); END;
-- Also stops INSERT OR REPLACE, which would otherwise delete a row first.
CREATE TRIGGER events_next_seq BEFORE INSERT ON events
WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM events)
BEGIN SELECT RAISE(ABORT, 'event sequence numbers must be consecutive'); END;

-- One row per distinct content (SHA-256). Metadata columns are normalised
-- across images (EXIF), videos (container tags) and documents (PDF info).
CREATE TABLE items (
    sha256            TEXT PRIMARY KEY,
    md5               TEXT NOT NULL,
    size              INTEGER NOT NULL,
    mime              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    stored            INTEGER NOT NULL,      -- 1: copy in the evidence store; 0: referenced only
    registered_at     TEXT NOT NULL,
    registered_by     TEXT NOT NULL,
    registered_event  INTEGER NOT NULL REFERENCES events (seq),
    width             INTEGER,
    height            INTEGER,
    captured_at       TEXT,                  -- ISO 8601, with offset when the file has one
    captured_offset   TEXT,                  -- '+09:00', or NULL when the file does not say
    make              TEXT,
    model             TEXT,
    software          TEXT,
    orientation       INTEGER,
    gps_latitude      REAL,
    gps_longitude     REAL,
    gps_altitude      REAL,
    duration_seconds  REAL,
    frame_rate        REAL,
    codec             TEXT,
    page_count        INTEGER,
    metadata_json     TEXT NOT NULL,         -- every normalised field, as JSON
    raw_metadata_json TEXT NOT NULL          -- every raw tag (EXIF, container, PDF info), as JSON
);
CREATE INDEX items_kind ON items (kind);

-- Every place and time a copy of an item's bytes turned up.
CREATE TABLE sightings (
    id            INTEGER PRIMARY KEY,       -- seq of the recording event
    item          TEXT NOT NULL REFERENCES items (sha256),
    path          TEXT,
    file_name     TEXT,
    file_name_hex TEXT,                      -- raw bytes when the name is not valid UTF-8
    source_url    TEXT,
    case_name     TEXT,
    title         TEXT,
    note          TEXT,
    recorded_at   TEXT NOT NULL,
    recorded_by   TEXT NOT NULL
);
CREATE INDEX sightings_item ON sightings (item);
CREATE INDEX sightings_case ON sightings (case_name);

-- Perceptual hashes: of a whole image, a region, a video frame or a page.
CREATE TABLE hashes (
    id            INTEGER PRIMARY KEY,
    item          TEXT NOT NULL REFERENCES items (sha256),
    algorithm     TEXT NOT NULL,             -- 'pdq', 'phash', ...
    region        TEXT NOT NULL DEFAULT 'full',
    frame_seconds REAL,                      -- video frames
    page          INTEGER,                   -- document pages
    value         BLOB NOT NULL,             -- raw hash bytes
    quality       INTEGER
);
CREATE INDEX hashes_item ON hashes (item);
CREATE INDEX hashes_algorithm ON hashes (algorithm);

-- Near-duplicate relations found between items (recorded as events).
CREATE TABLE near_duplicates (
    id                 INTEGER PRIMARY KEY,  -- seq of the recording event
    item               TEXT NOT NULL REFERENCES items (sha256),
    other              TEXT NOT NULL REFERENCES items (sha256),
    algorithm          TEXT NOT NULL,
    distance           REAL NOT NULL,
    verdict            TEXT NOT NULL,        -- 're-upload' | 'similar'
    detail_json        TEXT NOT NULL,        -- frame seconds, pages, shares matched
    recorded_at        TEXT NOT NULL,
    recorded_by        TEXT NOT NULL
);
CREATE INDEX near_duplicates_item ON near_duplicates (item);
CREATE INDEX near_duplicates_other ON near_duplicates (other);

-- Organisations, people, accounts and platforms named in custody and claims.
CREATE TABLE actors (
    id           INTEGER PRIMARY KEY,        -- seq of the creating event
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,              -- organisation | person | account | platform | unknown
    url          TEXT,
    note         TEXT,
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE UNIQUE INDEX actors_name ON actors (name COLLATE NOCASE);

-- Chain-of-custody events: who held, sent or published a copy, and when.
CREATE TABLE custody (
    id             INTEGER PRIMARY KEY,      -- seq of the recording event
    item           TEXT NOT NULL REFERENCES items (sha256),
    action         TEXT NOT NULL,
    from_actor     INTEGER REFERENCES actors (id),
    to_actor       INTEGER REFERENCES actors (id),
    at_text        TEXT,                     -- as precise as known: '2024', '2024-10-17T09:30+09:00'
    at_precision   TEXT,                     -- year | month | day | minute | second
    at_approximate INTEGER NOT NULL DEFAULT 0,
    at_earliest    TEXT,                     -- UTC bounds, for ordering and checks
    at_latest      TEXT,
    url            TEXT,
    note           TEXT,
    asserted_by    INTEGER REFERENCES actors (id), -- on whose account (NULL: the recorder's own)
    recorded_at    TEXT NOT NULL,
    recorded_by    TEXT NOT NULL
);
CREATE INDEX custody_item ON custody (item);

-- Geolocation claims: who says where an item was filmed, and on what basis.
CREATE TABLE claims (
    id              INTEGER PRIMARY KEY,     -- seq of the recording event
    item            TEXT NOT NULL REFERENCES items (sha256),
    latitude        REAL NOT NULL,
    longitude       REAL NOT NULL,
    radius_m        REAL NOT NULL,
    place           TEXT,
    place_geonameid INTEGER,
    claimant        INTEGER REFERENCES actors (id),
    method          TEXT NOT NULL,           -- exif | geolocated | caption | reported | investigator
    confidence      TEXT,                    -- low | medium | high
    source_url      TEXT,
    note            TEXT,
    status          TEXT NOT NULL DEFAULT 'unreviewed', -- latest review's status
    recorded_at     TEXT NOT NULL,
    recorded_by     TEXT NOT NULL
);
CREATE INDEX claims_item ON claims (item);

-- Reviews of claims; the whole history stays, the claim shows the latest.
CREATE TABLE claim_reviews (
    id           INTEGER PRIMARY KEY,        -- seq of the recording event
    claim        INTEGER NOT NULL REFERENCES claims (id),
    status       TEXT NOT NULL,              -- verified | disputed | refuted
    reason       TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE INDEX claim_reviews_claim ON claim_reviews (claim);
