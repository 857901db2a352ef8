-- Analysis deferred at capture (issue 16): a captured video, sound or document is registered
-- (SHA-256, MD5, stored copy, container metadata) before its perceptual analysis, which an
-- item.analysed event records later. One row per item registered that way; items analysed
-- at registration (every `prov add`) have none.
CREATE TABLE item_analyses (
    item              TEXT PRIMARY KEY REFERENCES items (sha256),
    state             TEXT NOT NULL,     -- pending | analysed | failed
    registered_event  INTEGER NOT NULL,  -- the item.registered event that deferred it
    event             INTEGER,           -- the item.analysed event's seq, once analysed
    hashes            INTEGER,           -- perceptual hash rows the analysis added
    error             TEXT,              -- why the bytes could not be analysed (failed)
    recorded_at       TEXT,
    recorded_by       TEXT
);
CREATE INDEX item_analyses_state ON item_analyses (state);
