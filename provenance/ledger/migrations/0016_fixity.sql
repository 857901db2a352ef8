-- Fixity checks (issue 20): which stored originals a scheduled `prov verify
-- --rehash-older-than` re-hashed, and what it found. Not a projection of the log: one row
-- per original per run would grow the log by a million events per run. Instead each run's
-- rows are sealed by one `fixity.checked` event (its `event`) whose data holds the count and
-- a SHA-256 digest of the rows, so `prov verify` can tell a row added, edited or removed.
CREATE TABLE fixity_checks (
    item    TEXT NOT NULL,           -- the item's SHA-256
    event   INTEGER NOT NULL,        -- seq of the fixity.checked event sealing this run
    result  TEXT NOT NULL,           -- 'ok', or what was wrong ('missing', 'modified', ...)
    PRIMARY KEY (item, event)
) WITHOUT ROWID;
CREATE INDEX fixity_checks_event ON fixity_checks (event);
CREATE TRIGGER fixity_checks_no_update BEFORE UPDATE ON fixity_checks
BEGIN SELECT RAISE(ABORT, 'fixity checks are append-only'); END;
CREATE TRIGGER fixity_checks_no_delete BEFORE DELETE ON fixity_checks
BEGIN SELECT RAISE(ABORT, 'fixity checks are append-only'); END;
