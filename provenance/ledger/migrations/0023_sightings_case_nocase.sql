-- A case is matched whatever its letter case (`case_name = ? COLLATE NOCASE`), which the
-- binary index sightings_case cannot answer: `prov list --case` scanned every sighting, twice
-- (its rows and its count), 0.1 s each at 260,000 sightings (bench/archive.py, issue 20).
CREATE INDEX sightings_case_nocase ON sightings (case_name COLLATE NOCASE);
