-- Attestations (issue 17): RFC 3161 time-stamps on the log's head, and a view of the
-- C2PA content credential each item carries.

-- One row per `checkpoint.timestamped` event: a time-stamping authority signed the chain
-- hash of event `events` (the token's message imprint is that hash itself).
CREATE TABLE timestamps (
    id           INTEGER PRIMARY KEY,      -- the event's seq
    events       INTEGER NOT NULL,         -- the log length whose head was stamped
    head         TEXT NOT NULL,            -- chain hash of event `events`
    gen_time     TEXT NOT NULL,            -- the authority's time, UTC
    tsa          TEXT,                     -- where the token came from (URL or file)
    tsa_name     TEXT,                     -- the authority's name inside the token
    serial       TEXT NOT NULL,            -- the token's serial number (decimal)
    policy       TEXT,                     -- the authority's policy OID
    response     TEXT NOT NULL,            -- the TimeStampResp as received, base64 DER
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);

-- Each item's latest content-credential reading (registration, or `prov c2pa --record`),
-- in columns a facet can count: state none/valid/trusted/invalid/unsupported.
CREATE VIEW item_credentials AS
SELECT
    i.sha256 AS item,
    i.kind,
    i.mime,
    json_extract(i.metadata_json, '$.c2pa.state') AS credential,
    CASE WHEN json_extract(i.metadata_json, '$.c2pa.ai_generated') THEN 'yes' ELSE 'no' END
        AS declared_ai_generated,
    json_extract(i.metadata_json, '$.c2pa.signer') AS signer,
    json_extract(i.metadata_json, '$.c2pa.issuer') AS issuer,
    json_extract(i.metadata_json, '$.c2pa.signed_at') AS signed_at,
    json_extract(i.metadata_json, '$.c2pa.claim_generator') AS claim_generator,
    json_extract(i.metadata_json, '$.c2pa.digital_source_types[0]') AS digital_source_type,
    (SELECT group_concat(c.value, ', ') FROM json_each(i.metadata_json, '$.c2pa.codes') c
      WHERE c.value != 'signingCredential.untrusted') AS failure_codes,
    json_extract(i.metadata_json, '$.c2pa.manifest') AS manifest
FROM items i
WHERE json_extract(i.metadata_json, '$.c2pa.state') IS NOT NULL;
