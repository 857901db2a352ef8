-- prov migration 0006_interval_order: custody views order dates by interval and show
-- each date as recorded.
--
-- 0003's views sorted custody events by their earliest possible instant, so a vague
-- "~2024-10-17" came before an exact time on the 16th, and showed an approximate date
-- without its "~". These replace them with the same columns, in the same order, plus:
-- at_shown (the date as recorded: "~" when approximate, "(local time, zone unknown)"
-- for a clock time with no offset), at_latest, and order_uncertain (1 when another
-- dated event of the item has an overlapping interval). Rows are ordered by the middle
-- of each interval, as `prov show` orders its timeline; undated events last.

DROP VIEW item_custody;
DROP VIEW custody_timeline;
DROP VIEW reupload_families;

CREATE VIEW custody_timeline AS
SELECT
    c.id,
    c.item,
    (SELECT s.file_name FROM sightings s WHERE s.item = c.item ORDER BY s.id LIMIT 1)
        AS file_name,
    c.at_text AS at,
    c.at_precision,
    c.at_approximate,
    c.at_earliest,
    c.action,
    f.name AS from_actor,
    t.name AS to_actor,
    COALESCE(a.name, c.recorded_by) AS according_to,
    c.url,
    c.note,
    c.recorded_at,
    c.recorded_by,
    CASE WHEN c.at_text IS NULL THEN NULL
         ELSE CASE WHEN c.at_approximate THEN '~' ELSE '' END || c.at_text
              || CASE WHEN c.at_precision IN ('minute', 'second')
                           AND substr(c.at_text, -6, 1) NOT IN ('+', '-')
                      THEN ' (local time, zone unknown)' ELSE '' END
    END AS at_shown,
    c.at_latest,
    CASE WHEN c.at_earliest IS NULL THEN NULL
         ELSE EXISTS (SELECT 1 FROM custody o WHERE o.item = c.item AND o.id != c.id
                      AND o.at_earliest IS NOT NULL
                      AND julianday(o.at_earliest) <= julianday(c.at_latest)
                      AND julianday(c.at_earliest) <= julianday(o.at_latest))
    END AS order_uncertain
FROM custody c
LEFT JOIN actors f ON f.id = c.from_actor
LEFT JOIN actors t ON t.id = c.to_actor
LEFT JOIN actors a ON a.id = c.asserted_by
ORDER BY c.item, c.at_earliest IS NULL,
    (julianday(c.at_earliest) + julianday(COALESCE(c.at_latest, c.at_earliest))) / 2, c.id;

-- Each item with its whole custody chain as one readable text, in interval order
-- (undated events last, in the order they were recorded). first_dated stays the
-- earliest instant any event allows; first_dated_shown is that event's date as recorded.
CREATE VIEW item_custody AS
SELECT
    i.sha256 AS item,
    i.kind,
    (SELECT s.file_name FROM sightings s WHERE s.item = i.sha256 ORDER BY s.id LIMIT 1)
        AS file_name,
    i.captured_at,
    (SELECT COUNT(*) FROM custody c WHERE c.item = i.sha256) AS custody_events,
    (SELECT MIN(c.at_earliest) FROM custody c WHERE c.item = i.sha256) AS first_dated,
    (SELECT group_concat(step, char(10)) FROM (
        SELECT COALESCE(ct.at_shown, 'undated') || ' ' || ct.action
            -- the same wording as `prov custody list`: a handover is "from", else "by"
            || COALESCE(CASE WHEN ct.to_actor IS NOT NULL OR ct.action IN
                   ('shared', 'received', 'transferred', 'sent', 'forwarded', 'seized')
                   THEN ' from ' ELSE ' by ' END || ct.from_actor, '')
            || COALESCE(' to ' || ct.to_actor, '')
            || ' [per ' || ct.according_to || ']'
            || CASE WHEN ct.order_uncertain THEN ' (order uncertain)' ELSE '' END AS step
        FROM custody_timeline ct WHERE ct.item = i.sha256
        ORDER BY ct.at_earliest IS NULL,
            (julianday(ct.at_earliest) + julianday(COALESCE(ct.at_latest, ct.at_earliest))) / 2,
            ct.id
    )) AS chain,
    (SELECT ct.at_shown FROM custody_timeline ct
     WHERE ct.item = i.sha256 AND ct.at_earliest IS NOT NULL
     ORDER BY (julianday(ct.at_earliest) + julianday(COALESCE(ct.at_latest, ct.at_earliest))) / 2,
         ct.id
     LIMIT 1) AS first_dated_shown
FROM items i;

-- Re-upload families, as in 0003, but a copy's first appearance is its custody event
-- with the earliest interval middle (not the earliest instant any vague date allows),
-- shown as recorded in first_seen_shown.
CREATE VIEW reupload_families AS
WITH RECURSIVE
    edges(a, b) AS (
        SELECT item, other FROM near_duplicates WHERE verdict = 're-upload'
        UNION SELECT other, item FROM near_duplicates WHERE verdict = 're-upload'
    ),
    reach(start, node) AS (
        SELECT a, a FROM edges
        UNION SELECT r.start, e.b FROM reach r JOIN edges e ON e.a = r.node
    ),
    member(item, family) AS (SELECT start, MIN(node) FROM reach GROUP BY start),
    dated(item, id, mid) AS (
        SELECT item, id,
            (julianday(at_earliest) + julianday(COALESCE(at_latest, at_earliest))) / 2
        FROM custody WHERE at_earliest IS NOT NULL
    ),
    firstc(item, id) AS (
        SELECT m.item, (SELECT d.id FROM dated d WHERE d.item = m.item ORDER BY d.mid, d.id
                        LIMIT 1)
        FROM member m
    ),
    seen(item, family, first_seen, basis, shown, mid) AS (
        SELECT m.item, m.family,
            COALESCE(c.at_earliest,
                     (SELECT MIN(s.recorded_at) FROM sightings s WHERE s.item = m.item)),
            CASE WHEN c.id IS NOT NULL THEN 'custody' ELSE 'registered' END,
            COALESCE(ct.at_shown,
                     (SELECT MIN(s.recorded_at) FROM sightings s WHERE s.item = m.item)),
            COALESCE((SELECT d.mid FROM dated d WHERE d.id = c.id),
                     julianday((SELECT MIN(s.recorded_at) FROM sightings s
                                WHERE s.item = m.item)))
        FROM member m
        JOIN firstc fc ON fc.item = m.item
        LEFT JOIN custody c ON c.id = fc.id
        LEFT JOIN custody_timeline ct ON ct.id = fc.id
    ),
    earliest(family, item) AS (
        SELECT family, (SELECT s2.item FROM seen s2 WHERE s2.family = s1.family
                        ORDER BY s2.mid, s2.item LIMIT 1)
        FROM seen s1 GROUP BY family
    )
SELECT
    e.item AS family,
    s.item,
    i.kind,
    (SELECT x.file_name FROM sightings x WHERE x.item = s.item ORDER BY x.id LIMIT 1)
        AS file_name,
    s.first_seen,
    s.basis AS first_seen_basis,
    CASE WHEN s.item = e.item THEN 1 ELSE 0 END AS is_earliest,
    (SELECT COUNT(*) FROM seen s3 WHERE s3.family = s.family) AS members,
    s.shown AS first_seen_shown
FROM seen s
JOIN earliest e ON e.family = s.family
JOIN items i ON i.sha256 = s.item
ORDER BY e.item, s.mid, s.item;
