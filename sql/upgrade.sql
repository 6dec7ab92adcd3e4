-- ALTER EXTENSION hashring UPDATE from 0.1 keeps membership and routing,
-- and the library routes by a 0.1 catalog until the update.  (A fresh
-- CREATE EXTENSION runs the same scripts: 0.1, then 0.1--0.2.)
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
DROP EXTENSION hashring;
CREATE EXTENSION hashring VERSION '0.1';
SELECT extversion FROM pg_extension WHERE extname = 'hashring';
SELECT hashring.ring_create('u', vnodes => 32);
SELECT hashring.ring_add_node('u', 'n' || i, i) FROM generate_series(1, 5) i \g /dev/null
CREATE TEMP TABLE u_before AS
SELECT 'k' || i AS k, hashring.ring_node('u', 'k' || i) AS owner, hashring.ring_nodes('u', 'k' || i, 3) AS three
  FROM generate_series(1, 5000) i;
SELECT pg_temp.err($q$SELECT hashring.ring_create('j', 'jump')$q$);
ALTER EXTENSION hashring UPDATE TO '0.2';
SELECT extversion FROM pg_extension WHERE extname = 'hashring';
SELECT count(*) FILTER (WHERE hashring.ring_node('u', k) <> owner) AS moved,
       count(*) FILTER (WHERE hashring.ring_nodes('u', k, 3) <> three) AS replicas_changed
  FROM u_before;
-- the update records each existing ring's current membership as its history
SELECT version = (SELECT version FROM hashring.rings WHERE ring = 'u') AS history_is_current, nodes
  FROM hashring.ring_versions('u');
SELECT count(*) FILTER (WHERE hashring.ring_node('u', k, (SELECT version FROM hashring.rings WHERE ring = 'u')) <> owner) AS moved_at_recorded_version
  FROM u_before;
SELECT hashring.ring_create('j', 'jump');
SELECT hashring.ring_add_node('j', 'a');
SELECT hashring.ring_node('j', 'k');
SELECT unnest(extconfig)::regclass FROM pg_extension WHERE extname = 'hashring' ORDER BY 1::text;
SELECT hashring.ring_drop('u');
SELECT hashring.ring_drop('j');
