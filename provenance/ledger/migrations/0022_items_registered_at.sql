-- The browser's items table is sorted by registration time, newest first (serve/metadata.json):
-- without an index every page sorts the whole table, which at 250,000 items takes longer than
-- Datasette's one-second limit and the page fails (bench/archive.py, issue 20).
CREATE INDEX items_registered_at ON items (registered_at);
