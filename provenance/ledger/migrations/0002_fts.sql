-- prov migration 0002_fts: full-text search over titles, notes and places.
--
-- External-content FTS5 tables kept in step by triggers, exactly as
-- sqlite-utils' `enable_fts(..., create_triggers=True)` writes them, so
-- Datasette (and sqlite-utils) recognise them. They are derived data: not
-- projections, and `prov verify` does not compare them.

CREATE VIRTUAL TABLE "sightings_fts" USING FTS5 (
    "title", "note",
    content="sightings"
);
CREATE TRIGGER "sightings_ai" AFTER INSERT ON "sightings" BEGIN
  INSERT INTO "sightings_fts" (rowid, "title", "note") VALUES (new.rowid, new."title", new."note");
END;
CREATE TRIGGER "sightings_ad" AFTER DELETE ON "sightings" BEGIN
  INSERT INTO "sightings_fts" ("sightings_fts", rowid, "title", "note") VALUES('delete', old.rowid, old."title", old."note");
END;
CREATE TRIGGER "sightings_au" AFTER UPDATE ON "sightings" BEGIN
  INSERT INTO "sightings_fts" ("sightings_fts", rowid, "title", "note") VALUES('delete', old.rowid, old."title", old."note");
  INSERT INTO "sightings_fts" (rowid, "title", "note") VALUES (new.rowid, new."title", new."note");
END;
INSERT INTO "sightings_fts" (rowid, "title", "note") SELECT rowid, "title", "note" FROM "sightings";

CREATE VIRTUAL TABLE "custody_fts" USING FTS5 (
    "note",
    content="custody"
);
CREATE TRIGGER "custody_ai" AFTER INSERT ON "custody" BEGIN
  INSERT INTO "custody_fts" (rowid, "note") VALUES (new.rowid, new."note");
END;
CREATE TRIGGER "custody_ad" AFTER DELETE ON "custody" BEGIN
  INSERT INTO "custody_fts" ("custody_fts", rowid, "note") VALUES('delete', old.rowid, old."note");
END;
CREATE TRIGGER "custody_au" AFTER UPDATE ON "custody" BEGIN
  INSERT INTO "custody_fts" ("custody_fts", rowid, "note") VALUES('delete', old.rowid, old."note");
  INSERT INTO "custody_fts" (rowid, "note") VALUES (new.rowid, new."note");
END;
INSERT INTO "custody_fts" (rowid, "note") SELECT rowid, "note" FROM "custody";

CREATE VIRTUAL TABLE "claims_fts" USING FTS5 (
    "place", "note",
    content="claims"
);
CREATE TRIGGER "claims_ai" AFTER INSERT ON "claims" BEGIN
  INSERT INTO "claims_fts" (rowid, "place", "note") VALUES (new.rowid, new."place", new."note");
END;
CREATE TRIGGER "claims_ad" AFTER DELETE ON "claims" BEGIN
  INSERT INTO "claims_fts" ("claims_fts", rowid, "place", "note") VALUES('delete', old.rowid, old."place", old."note");
END;
CREATE TRIGGER "claims_au" AFTER UPDATE ON "claims" BEGIN
  INSERT INTO "claims_fts" ("claims_fts", rowid, "place", "note") VALUES('delete', old.rowid, old."place", old."note");
  INSERT INTO "claims_fts" (rowid, "place", "note") VALUES (new.rowid, new."place", new."note");
END;
INSERT INTO "claims_fts" (rowid, "place", "note") SELECT rowid, "place", "note" FROM "claims";
