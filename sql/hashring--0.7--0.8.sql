/* hashring--0.7--0.8.sql -- zone replicas spread over each zone's nodes */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION hashring UPDATE TO '0.8'" to load this file. \quit

/* ==== 0.8: tutorials (issue 26) ==== */

/*
 * ring_move_progress.rows_per_second counts the throttle's waits: the mover
 * records, with each batch, until when the throttle then waits
 * (moves.paused_until), and the rate is rows moved over the time from the
 * start to now for a running move, or to the end of its last batch and the
 * wait after it for an interrupted one; never past the end of a wait the
 * throttle is in.  (0.7 divided by the time up to the last batch only: a
 * move throttled to 2,000 rows/s and cancelled after its first batch read
 * 27,794.)  _move_progress takes the wait as an eleventh argument, so this
 * block drops the ten-argument one and creates it again.
 */
ALTER TABLE hashring.moves ADD COLUMN paused_until timestamptz;
DO $update$
DECLARE
    grantees regrole[];
    r regrole;
BEGIN
    SELECT pg_catalog.array_agg(DISTINCT a.grantee::regrole) INTO grantees
      FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
     WHERE p.pronamespace OPERATOR(pg_catalog.=) 'hashring'::pg_catalog.regnamespace
       AND p.proname OPERATOR(pg_catalog.=) '_move_progress'
       AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
       AND a.grantee OPERATOR(pg_catalog.<>) 0
       AND a.grantee OPERATOR(pg_catalog.<>) p.proowner;
    DROP FUNCTION hashring._move_progress(text, text, text, text, bigint, bigint, bigint, text, bigint, bigint);
-- (the definition unindented: its text is that of a fresh install)
CREATE FUNCTION hashring._move_progress(ring text, tbl text, source text, target text,
                                        rows_moved bigint, rows_scanned bigint, retries bigint, last_error text,
                                        rows_planned bigint, rows_estimated bigint, pause_ms bigint)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
UPDATE hashring.moves AS m
   SET source = $3, target = $4, rows_moved = $5, rows_scanned = $6,
       batches = m.batches OPERATOR(pg_catalog.+) CASE WHEN $8 IS NULL THEN 1 ELSE 0 END,
       retries = $7, last_error = COALESCE($8, m.last_error), rows_planned = $9, rows_estimated = $10,
       updated_at = pg_catalog.clock_timestamp(),
       paused_until = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)
                      pg_catalog.make_interval(secs => $11 OPERATOR(pg_catalog./) 1000.0)
 WHERE m.ring OPERATOR(pg_catalog.=) $1 AND m.tbl OPERATOR(pg_catalog.=) $2
$$;
COMMENT ON FUNCTION hashring._move_progress(text, text, text, text, bigint, bigint, bigint, text, bigint, bigint, bigint) IS 'internal: ring_move''s progress after a batch, with the throttle''s wait that follows it';
    REVOKE ALL ON FUNCTION hashring._move_progress(text, text, text, text, bigint, bigint, bigint, text, bigint, bigint, bigint) FROM PUBLIC;

    FOREACH r IN ARRAY COALESCE(grantees, '{}') LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring._move_progress(text, text, text, text, bigint, bigint, bigint, text, bigint, bigint, bigint) TO %s', r);
    END LOOP;
END
$update$;

CREATE OR REPLACE VIEW hashring.ring_move_progress AS
SELECT m.ring, m.tbl, m.settled_version AS from_version, m.moving_to AS to_version, m.pid,
       st.running,
       m.source, m.target, m.rows_moved, m.rows_planned, m.rows_scanned, m.rows_estimated, m.batches, m.retries,
       CASE WHEN e.upto OPERATOR(pg_catalog.>) m.started_at
            THEN (m.rows_moved::double precision OPERATOR(pg_catalog./)
                  pg_catalog.date_part('epoch', e.upto OPERATOR(pg_catalog.-) m.started_at))::bigint END
           AS rows_per_second,
       m.started_at, m.updated_at, m.last_error
  FROM hashring.moves AS m
 CROSS JOIN LATERAL (
       -- running: that backend still holds the move's advisory lock
       SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks AS l
                WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted
                  AND l.pid OPERATOR(pg_catalog.=) m.pid AND l.objsubid OPERATOR(pg_catalog.=) 1
                  AND l.classid::pg_catalog.int8 OPERATOR(pg_catalog.=) ((m.lock_key OPERATOR(pg_catalog.>>) 32) OPERATOR(pg_catalog.&) 4294967295)
                  AND l.objid::pg_catalog.int8 OPERATOR(pg_catalog.=) (m.lock_key OPERATOR(pg_catalog.&) 4294967295)) AS running) AS st
 CROSS JOIN LATERAL (
       -- the rate's time: up to now while it runs, else up to its last
       -- batch; either way at least to the end of the throttle's wait
       SELECT GREATEST(CASE WHEN st.running THEN pg_catalog.clock_timestamp() ELSE m.updated_at END,
                       m.paused_until) AS upto) AS e
 WHERE m.moving_to IS NOT NULL;
COMMENT ON VIEW hashring.ring_move_progress IS 'moves of sharded tables that are running or were interrupted, with their progress';
/* ==== end ==== */
