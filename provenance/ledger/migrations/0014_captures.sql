-- Capture from the web (issue 16): the collection record of each `prov capture`, the files
-- it wrote, and where a sighting's copy was seen (a web page, a WARC record) and when.

-- One row per `capture.recorded` event: one URL captured once. Re-capturing adds a row.
CREATE TABLE captures (
    id            INTEGER PRIMARY KEY,       -- the event's seq
    archive       TEXT NOT NULL REFERENCES items (sha256),  -- the WACZ holding the exchange
    url           TEXT NOT NULL,             -- as the investigator gave it
    final_url     TEXT,                      -- after redirects
    status        INTEGER,                   -- the last HTTP status of the chain
    page_sha256   TEXT,                      -- SHA-256 of the final response body
    captured_at   TEXT NOT NULL,             -- the system clock, UTC, when the fetch began
    gone          INTEGER NOT NULL DEFAULT 0,  -- 404/410 where this URL once served content
    changed       TEXT,                      -- what differs from the previous capture, if any
    record_json   TEXT NOT NULL,             -- the whole collection record
    recorded_at   TEXT NOT NULL,
    recorded_by   TEXT NOT NULL
);
CREATE INDEX captures_url ON captures (url);
CREATE INDEX captures_archive ON captures (archive);

-- Every file a capture wrote or found gone: the archive, the media, screenshot and PDF.
CREATE TABLE capture_files (
    id        TEXT PRIMARY KEY,              -- "<capture seq>:<n>"
    capture   INTEGER NOT NULL REFERENCES captures (id),
    item      TEXT,                          -- NULL for media gone at source
    role      TEXT NOT NULL,                 -- archive | media | screenshot | pdf
    url       TEXT,                          -- where it came from
    status    TEXT NOT NULL                  -- collected | gone
);
CREATE INDEX capture_files_item ON capture_files (item);

-- A sighting can say when and where its copy was seen at the source (a capture's clock, a
-- WARC record's date), the page it was on, and what the downloader reported about it.
ALTER TABLE sightings ADD COLUMN seen_at TEXT;
ALTER TABLE sightings ADD COLUMN page_url TEXT;
ALTER TABLE sightings ADD COLUMN origin_json TEXT;
