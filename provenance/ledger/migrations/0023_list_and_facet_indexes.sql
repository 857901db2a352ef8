-- A case is matched whatever its letter case (`case_name = ? COLLATE NOCASE`), which the
-- binary index sightings_case cannot answer: `prov list --case` scanned every sighting, twice
-- (its rows and its count), 0.1 s each at 260,000 sightings (bench/archive.py, issue 20).
CREATE INDEX IF NOT EXISTS sightings_case_nocase ON sightings (case_name COLLATE NOCASE);

-- The browser's items table shows facets on kind, mime, make and model (serve/metadata.json):
-- each counts its values over the whole table, ~0.1 s apiece at 258,000 items without an
-- index to count from (issue 20: the page's goal is 0.3 s).
CREATE INDEX IF NOT EXISTS items_kind ON items (kind);
CREATE INDEX IF NOT EXISTS items_mime ON items (mime);
CREATE INDEX IF NOT EXISTS items_make ON items (make);
CREATE INDEX IF NOT EXISTS items_model ON items (model);
