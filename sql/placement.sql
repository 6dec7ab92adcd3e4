-- ring_placement and the checks ring_move makes before it connects anywhere
SET client_min_messages = warning;
SELECT hashring.ring_create('pl', algorithm => 'pg_hash');
SELECT hashring.ring_add_node('pl', 'n' || i) FROM generate_series(1, 4) i;
SELECT version AS v1 FROM hashring.rings WHERE ring = 'pl' \gset

-- typed keys at a version: pg_hash hashes the value, so the integer key and
-- its text form go to different nodes somewhere in 1..200
SELECT count(*) FILTER (WHERE hashring.ring_node('pl', g, :v1) <> hashring.ring_node('pl', g)) AS int_differs_now,
       count(*) FILTER (WHERE hashring.ring_node('pl', g::bigint, :v1) <> hashring.ring_node('pl', g::bigint)) AS bigint_differs_now,
       count(*) FILTER (WHERE hashring.ring_node('pl', g, :v1) <> hashring.ring_node('pl', g::text, :v1)) > 0 AS typed_is_not_text
  FROM generate_series(1, 200) g;
SELECT hashring.ring_node('pl', '00000000-0000-0000-0000-000000000001'::uuid, :v1)
     = hashring.ring_node('pl', '00000000-0000-0000-0000-000000000001'::uuid) AS uuid_at_version;

-- with no move recorded, the placement is the current owner
SELECT bool_and(hashring.ring_placement('pl', 'public.items', g) = ARRAY[hashring.ring_node('pl', g)]) AS int_now,
       bool_and(hashring.ring_placement('pl', 'items', 'k' || g) = ARRAY[hashring.ring_node('pl', 'k' || g)]) AS text_now
  FROM generate_series(1, 200) g;

SELECT hashring.ring_add_node('pl', 'n5');
SELECT version AS v2 FROM hashring.rings WHERE ring = 'pl' \gset

-- settled at v1 (recorded at load time), no move running: the owner at v1,
-- not the current one
SELECT hashring.ring_settle('pl', 'items', 'k', :v1) = :v1 AS settled_at_v1;
SELECT bool_and(hashring.ring_placement('pl', 'items', g) = ARRAY[hashring.ring_node('pl', g, :v1)]) AS settled,
       count(*) FILTER (WHERE hashring.ring_node('pl', g, :v1) <> hashring.ring_node('pl', g)) > 0 AS some_owner_changed
  FROM generate_series(1, 200) g;
-- a move from v1 to v2 running (or interrupted): old owner first, then new
UPDATE hashring.moves SET moving_to = :v2 WHERE ring = 'pl';
SELECT bool_and(hashring.ring_placement('pl', 'items', g) =
                CASE WHEN hashring.ring_node('pl', g, :v1) = hashring.ring_node('pl', g, :v2)
                     THEN ARRAY[hashring.ring_node('pl', g, :v1)]
                     ELSE ARRAY[hashring.ring_node('pl', g, :v1), hashring.ring_node('pl', g, :v2)] END) AS moving,
       count(*) FILTER (WHERE cardinality(hashring.ring_placement('pl', 'items', g)) = 2) > 0 AS some_in_two_places
  FROM generate_series(1, 200) g;
SELECT ring, tbl, from_version = :v1 AS from_ok, to_version = :v2 AS to_ok, running, rows_moved FROM hashring.ring_move_progress;
-- ring_settle refuses while a move is running or interrupted, and bad input
\set VERBOSITY sqlstate
SELECT hashring.ring_settle('pl', 'items', 'k');
SELECT hashring.ring_settle('pl', 'other', 'k', 999);
SELECT hashring.ring_settle('nope', 'other', 'k');
SELECT hashring.ring_settle('pl', NULL, 'k');
\set VERBOSITY default
SELECT hashring.ring_settle('pl', 'public.other', 'k') = :v2 AS other_settled_now;
SELECT hashring.ring_settle('pl', 'public.other', 'id');
SELECT hashring.ring_placement('pl', 'items', NULL::text) IS NULL AS strict_null;

-- ring_move refuses before it connects to any shard
\set VERBOSITY sqlstate
BEGIN;
CALL hashring.ring_move('pl', 'public.items', 'k');
ROLLBACK;
CALL hashring.ring_move(NULL, 'public.items', 'k');
CALL hashring.ring_move('pl', 'public.items', 'k', 0);
CALL hashring.ring_move('pl', 'public.items', 'k', rows_per_second => 0);
CALL hashring.ring_move('pl', 'public.items', 'k', max_retries => -1);
CALL hashring.ring_move('nope', 'public.items', 'k');
CALL hashring.ring_move('pl', 'public.third', 'k');
CALL hashring.ring_move('pl', 'public.other', 'k', from_version => 999);
-- an interrupted move is finished first, and only from where it began
CALL hashring.ring_move('pl', 'public.items', 'k', from_version => :v2);
CALL hashring.ring_move('pl', 'public.items', 'id');
SET hashring.inject_move_fault = 'nonsense';
CALL hashring.ring_move('pl', 'public.items', 'k');
RESET hashring.inject_move_fault;
\set VERBOSITY default
CALL hashring.ring_move('pl', 'public.third', 'k');
-- a node without a target is named before anything moves (no row was recorded)
CALL hashring.ring_move('pl', 'public.other', 'k', from_version => :v1);
SELECT settled_version = :v2 AS other_unchanged, moving_to IS NULL AS other_not_moving FROM hashring.moves WHERE tbl = 'public.other';
SELECT settled_version = :v1 AS unchanged, moving_to = :v2 AS still_moving FROM hashring.moves WHERE tbl = 'public.items';
SELECT hashring.ring_drop('pl');
SELECT count(*) AS moves_left FROM hashring.moves;
