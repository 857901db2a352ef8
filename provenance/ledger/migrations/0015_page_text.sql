-- prov migration 0015_page_text: the text read off each page of an item (issue 18).
--
-- One row per page and per means of reading: 'ocr' (Tesseract on the page picture) or
-- 'text-layer' (the text a PDF page carries). A projection of the `ocr.recorded` and
-- `text_layer.read` events: a later reading of the same item by the same means replaces the
-- rows of the earlier one here (both stay in the log).
CREATE TABLE page_text (
    item_id         TEXT NOT NULL REFERENCES items(sha256),
    page            INTEGER NOT NULL,          -- from 1; an image is page 1
    source          TEXT NOT NULL CHECK (source IN ('ocr', 'text-layer')),
    text            TEXT NOT NULL,
    engine          TEXT NOT NULL,             -- 'tesseract' | 'pdfium'
    engine_version  TEXT,
    languages       TEXT,                      -- Tesseract's language codes, 'rus+ukr+kor+eng'
    event_id        INTEGER NOT NULL,          -- the event that recorded it (log seq)
    recorded_at     TEXT NOT NULL,
    recorded_by     TEXT NOT NULL,
    PRIMARY KEY (item_id, source, page)
);

-- Full-text search over page text, exactly as sqlite-utils' `enable_fts(["text"],
-- create_triggers=True, tokenize="unicode61")` writes it (tests/test_serve.py checks), so
-- Datasette offers a search box on page_text. Tokenizer unicode61, not trigram, measured on
-- the questionnaire's text: trigram finds no query shorter than three characters, which is
-- most Korean words (소형, 치수, 모자: 0 hits); unicode61 splits Hangul at spaces like any
-- other letters, so a word is found whole, and with a particle attached (항목을) by a prefix
-- query (항목*), which is how Russian endings are found too (буква*).
CREATE VIRTUAL TABLE "page_text_fts" USING FTS5 (
    "text",
    tokenize='unicode61',
    content="page_text"
);
CREATE TRIGGER "page_text_ai" AFTER INSERT ON "page_text" BEGIN
  INSERT INTO "page_text_fts" (rowid, "text") VALUES (new.rowid, new."text");
END;
CREATE TRIGGER "page_text_ad" AFTER DELETE ON "page_text" BEGIN
  INSERT INTO "page_text_fts" ("page_text_fts", rowid, "text") VALUES('delete', old.rowid, old."text");
END;
CREATE TRIGGER "page_text_au" AFTER UPDATE ON "page_text" BEGIN
  INSERT INTO "page_text_fts" ("page_text_fts", rowid, "text") VALUES('delete', old.rowid, old."text");
  INSERT INTO "page_text_fts" (rowid, "text") VALUES (new.rowid, new."text");
END;
