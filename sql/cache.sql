-- The cache as one session sees it (cross-session rules are in test/isolation).
SELECT hashring.ring_create('c', vnodes => 10);
SELECT hashring.ring_add_node('c', 'a');
SELECT hashring.ring_add_node('c', 'b');
SELECT count(DISTINCT hashring.ring_node('c', 'k' || i)) FROM generate_series(1, 1000) i;
SELECT ring, version = (SELECT version FROM hashring.rings WHERE ring = 'c') AS current, location, bytes > 0 AS has_bytes, points
  FROM hashring.ring_cache_info() WHERE ring = 'c';

-- read-your-writes: an uncommitted change routes inside its transaction, from a private image
BEGIN;
SELECT hashring.ring_add_node('c', 'x', 5);
SELECT count(*) FILTER (WHERE hashring.ring_node('c', 'k' || i) = 'x') > 0 AS x_routed FROM generate_series(1, 1000) i;
SELECT location, points FROM hashring.ring_cache_info() WHERE ring = 'c';
ROLLBACK;
-- after rollback nothing routes to x and the committed shared image is back
SELECT count(*) FILTER (WHERE hashring.ring_node('c', 'k' || i) = 'x') AS x_after_rollback FROM generate_series(1, 1000) i;
SELECT location, points FROM hashring.ring_cache_info() WHERE ring = 'c';

-- savepoints: two uncommitted changes with the same version number are told apart
BEGIN;
SAVEPOINT s1;
SELECT hashring.ring_add_node('c', 'x', 5);
SELECT count(*) FILTER (WHERE hashring.ring_node('c', 'k' || i) = 'x') > 0 AS x_routed FROM generate_series(1, 1000) i;
ROLLBACK TO SAVEPOINT s1;
SELECT hashring.ring_add_node('c', 'y', 5);
SELECT count(*) FILTER (WHERE hashring.ring_node('c', 'k' || i) = 'x') AS x_routed,
       count(*) FILTER (WHERE hashring.ring_node('c', 'k' || i) = 'y') > 0 AS y_routed
  FROM generate_series(1, 1000) i;
COMMIT;
SELECT count(*) FILTER (WHERE hashring.ring_node('c', 'k' || i) = 'y') > 0 AS y_after_commit FROM generate_series(1, 1000) i;
SELECT location, points FROM hashring.ring_cache_info() WHERE ring = 'c';

-- a change and a lookup in one plpgsql block: each statement sees the one before
DO $$
BEGIN
    PERFORM hashring.ring_set_state('c', 'y', 'down');
    IF EXISTS (SELECT 1 FROM generate_series(1, 1000) i WHERE hashring.ring_node('c', 'k' || i) = 'y') THEN
        RAISE EXCEPTION 'down node still routed';
    END IF;
    PERFORM hashring.ring_set_state('c', 'y', 'active');
    IF NOT EXISTS (SELECT 1 FROM generate_series(1, 1000) i WHERE hashring.ring_node('c', 'k' || i) = 'y') THEN
        RAISE EXCEPTION 'reactivated node not routed';
    END IF;
END
$$;

-- dropping and re-creating a ring with the same name never reuses its image
SELECT version AS old_version FROM hashring.rings WHERE ring = 'c' \gset
SELECT hashring.ring_drop('c');
SELECT hashring.ring_create('c', vnodes => 10);
SELECT hashring.ring_add_node('c', 'n' || i) FROM generate_series(1, :old_version - 1) i;
SELECT version = :old_version AS same_version_number FROM hashring.rings WHERE ring = 'c';
SELECT count(*) FILTER (WHERE hashring.ring_node('c', 'k' || i) IN ('a', 'b', 'y')) AS old_nodes_routed FROM generate_series(1, 1000) i;
SELECT location, points FROM hashring.ring_cache_info() WHERE ring = 'c';
SELECT hashring.ring_drop('c');
-- a dropped ring is an error, not a stale answer
SELECT hashring.ring_node('c', 'k');
