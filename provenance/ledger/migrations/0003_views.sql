-- prov migration 0003_views: the questions investigators ask, as SQL views.
--
-- Views hold no data: they read the projections, so `prov verify` checking
-- the projections checks everything these show. A later change to a view is
-- a new migration that drops and recreates it.

-- Each item with its first file name, the cases it appears in, and counts.
CREATE VIEW item_overview AS
SELECT
    i.sha256 AS item,
    i.kind,
    i.mime,
    i.size,
    (SELECT s.file_name FROM sightings s WHERE s.item = i.sha256 ORDER BY s.id LIMIT 1)
        AS file_name,
    (SELECT group_concat(DISTINCT s.case_name) FROM sightings s WHERE s.item = i.sha256)
        AS cases,
    i.captured_at,
    i.gps_latitude,
    i.gps_longitude,
    (SELECT COUNT(*) FROM sightings s WHERE s.item = i.sha256) AS sightings,
    (SELECT COUNT(*) FROM custody c WHERE c.item = i.sha256) AS custody_events,
    (SELECT COUNT(*) FROM claims c WHERE c.item = i.sha256) AS claims,
    i.registered_at,
    i.registered_by
FROM items i;

-- Every custody event with actor names resolved, in chain order per item.
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
    c.recorded_by
FROM custody c
LEFT JOIN actors f ON f.id = c.from_actor
LEFT JOIN actors t ON t.id = c.to_actor
LEFT JOIN actors a ON a.id = c.asserted_by
ORDER BY c.item, COALESCE(c.at_earliest, '9999'), c.id;

-- Each item with its whole custody chain as one readable text, earliest first
-- (undated events last, in the order they were recorded).
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
        SELECT COALESCE(ct.at, 'undated') || ' ' || ct.action
            -- the same wording as `prov custody list`: a handover is "from", else "by"
            || COALESCE(CASE WHEN ct.to_actor IS NOT NULL OR ct.action IN
                   ('shared', 'received', 'transferred', 'sent', 'forwarded', 'seized')
                   THEN ' from ' ELSE ' by ' END || ct.from_actor, '')
            || COALESCE(' to ' || ct.to_actor, '')
            || ' [per ' || ct.according_to || ']' AS step
        FROM custody_timeline ct WHERE ct.item = i.sha256
        ORDER BY COALESCE(ct.at_earliest, '9999'), ct.id
    )) AS chain
FROM items i;

-- Claims with their latest review and a check against the item's own EXIF GPS.
-- gps_check mirrors `prov geo check`: consistent within the sum of the two
-- radii (GPS taken as 50 m), contradicts beyond twice that, inconclusive in
-- between. The distance is equirectangular with a Taylor-series cosine, in
-- plain SQL so the view works without SQLite's math extension; it is for
-- browsing, and `prov geo check` (geodesic) is the one to cite.
CREATE VIEW claim_checks AS
WITH
    base AS (
        SELECT
            cl.*,
            a.name AS claimant_name,
            i.gps_latitude AS gps_lat,
            i.gps_longitude AS gps_lon,
            -- mean latitude in radians, squared, for the cosine below
            ((cl.latitude + COALESCE(i.gps_latitude, cl.latitude)) * 0.008726646259971648)
            * ((cl.latitude + COALESCE(i.gps_latitude, cl.latitude)) * 0.008726646259971648)
                AS x2
        FROM claims cl
        JOIN items i ON i.sha256 = cl.item
        LEFT JOIN actors a ON a.id = cl.claimant
    ),
    scaled AS (
        SELECT base.*,
            -- cos(x) to x^8: within 1e-5 for |x| <= pi/2
            1.0 - x2 / 2.0 + x2 * x2 / 24.0 - x2 * x2 * x2 / 720.0
            + x2 * x2 * x2 * x2 / 40320.0 AS cos_lat
        FROM base
    ),
    measured AS (
        SELECT scaled.*,
            ((latitude - gps_lat) * 111195.0) * ((latitude - gps_lat) * 111195.0)
            + ((longitude - gps_lon) * 111195.0 * cos_lat)
              * ((longitude - gps_lon) * 111195.0 * cos_lat) AS d2_m2
        FROM scaled
    )
SELECT
    id AS claim,
    item,
    place,
    latitude,
    longitude,
    radius_m,
    claimant_name AS claimant,
    method,
    confidence,
    status,
    (SELECT COUNT(*) FROM claim_reviews r WHERE r.claim = m.id) AS reviews,
    (SELECT r.reason FROM claim_reviews r WHERE r.claim = m.id ORDER BY r.id DESC LIMIT 1)
        AS latest_reason,
    (SELECT r.recorded_by FROM claim_reviews r WHERE r.claim = m.id ORDER BY r.id DESC LIMIT 1)
        AS reviewed_by,
    (SELECT r.recorded_at FROM claim_reviews r WHERE r.claim = m.id ORDER BY r.id DESC LIMIT 1)
        AS reviewed_at,
    gps_lat AS item_gps_latitude,
    gps_lon AS item_gps_longitude,
    CASE
        WHEN gps_lat IS NULL OR gps_lon IS NULL THEN NULL
        WHEN d2_m2 <= (radius_m + 50.0) * (radius_m + 50.0) THEN 'consistent'
        WHEN d2_m2 <= 4.0 * (radius_m + 50.0) * (radius_m + 50.0) THEN 'inconclusive'
        ELSE 'contradicts'
    END AS gps_check,
    source_url,
    note,
    recorded_at,
    recorded_by
FROM measured m
ORDER BY id;

-- Claims nobody has verified or refuted yet: unreviewed or disputed.
CREATE VIEW unverified_claims AS
SELECT
    cl.id AS claim,
    cl.item,
    (SELECT s.file_name FROM sightings s WHERE s.item = cl.item ORDER BY s.id LIMIT 1)
        AS file_name,
    cl.place,
    cl.latitude,
    cl.longitude,
    cl.radius_m,
    a.name AS claimant,
    cl.method,
    cl.confidence,
    cl.status,
    (SELECT COUNT(*) FROM claim_reviews r WHERE r.claim = cl.id) AS reviews,
    cl.source_url,
    cl.recorded_at,
    cl.recorded_by
FROM claims cl
LEFT JOIN actors a ON a.id = cl.claimant
WHERE cl.status NOT IN ('verified', 'refuted')
ORDER BY cl.id;

-- Re-upload families: items joined by 're-upload' near-duplicate relations
-- (not merely 'similar' ones), one row per member, with the family's earliest
-- copy. A copy's first appearance is its earliest dated custody event, else
-- when it was first registered here.
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
    seen(item, family, first_seen, basis) AS (
        SELECT m.item, m.family,
            COALESCE(
                (SELECT MIN(c.at_earliest) FROM custody c WHERE c.item = m.item),
                (SELECT MIN(s.recorded_at) FROM sightings s WHERE s.item = m.item)
            ),
            CASE WHEN EXISTS (SELECT 1 FROM custody c WHERE c.item = m.item
                              AND c.at_earliest IS NOT NULL)
                 THEN 'custody' ELSE 'registered' END
        FROM member m
    ),
    earliest(family, item) AS (
        SELECT family, (SELECT s2.item FROM seen s2 WHERE s2.family = s1.family
                        ORDER BY s2.first_seen, s2.item LIMIT 1)
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
    (SELECT COUNT(*) FROM seen s3 WHERE s3.family = s.family) AS members
FROM seen s
JOIN earliest e ON e.family = s.family
JOIN items i ON i.sha256 = s.item
ORDER BY e.item, s.first_seen, s.item;

-- Every located point, for the map: claims and items' own EXIF GPS.
-- datasette-cluster-map draws any table or view with latitude/longitude columns.
CREATE VIEW map_points AS
SELECT
    'claim ' || cl.id AS point,
    cl.item,
    'claim' AS source,
    cl.latitude,
    cl.longitude,
    cl.radius_m,
    COALESCE(cl.place, '') || ' (' || cl.method || ', ' || cl.status || ')' AS label,
    cl.status
FROM claims cl
UNION ALL
SELECT
    'gps ' || substr(i.sha256, 1, 12) AS point,
    i.sha256 AS item,
    'exif gps' AS source,
    i.gps_latitude AS latitude,
    i.gps_longitude AS longitude,
    NULL AS radius_m,
    COALESCE((SELECT s.file_name FROM sightings s WHERE s.item = i.sha256 ORDER BY s.id LIMIT 1),
             i.sha256) || ' (EXIF GPS)' AS label,
    NULL AS status
FROM items i
WHERE i.gps_latitude IS NOT NULL AND i.gps_longitude IS NOT NULL;
