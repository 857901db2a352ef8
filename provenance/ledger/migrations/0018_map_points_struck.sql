-- map_points (0003) marks a retracted or superseded claim: it stays on the map, never hidden,
-- with a label that says so and the columns the other views carry since 0012.
DROP VIEW IF EXISTS map_points;

CREATE VIEW map_points AS
SELECT
    'claim ' || cl.id AS point,
    cl.item,
    'claim' AS source,
    cl.latitude,
    cl.longitude,
    cl.radius_m,
    CASE
        WHEN EXISTS (SELECT 1 FROM retractions r WHERE r.event = cl.id) THEN '[RETRACTED] '
        WHEN EXISTS (SELECT 1 FROM corrections k WHERE k.event = cl.id
                     AND k.id NOT IN (SELECT event FROM retractions)) THEN '[SUPERSEDED] '
        ELSE ''
    END || COALESCE(cl.place, '') || ' (' || cl.method || ', ' || cl.status || ')' AS label,
    cl.status,
    (SELECT 'retracted by ' || r.recorded_by || ' at ' || r.recorded_at || ' (event ' || r.id
        || '): ' || r.reason FROM retractions r WHERE r.event = cl.id ORDER BY r.id LIMIT 1)
        AS retracted,
    (SELECT k.id FROM corrections k WHERE k.event = cl.id
        AND k.id NOT IN (SELECT event FROM retractions) ORDER BY k.id DESC LIMIT 1)
        AS superseded_by
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
    NULL AS status,
    NULL AS retracted,
    NULL AS superseded_by
FROM items i
WHERE i.gps_latitude IS NOT NULL AND i.gps_longitude IS NOT NULL;
