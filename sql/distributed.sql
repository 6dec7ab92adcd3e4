-- Distributed tables on loopback shards: two databases of this instance
-- reached through postgres_fdw stand in for the nodes' servers (the TAP
-- tests 035-037 use real shard servers).  What a user relies on: rows on
-- their shard, table_node where the row is, refusals that change nothing,
-- schema changes on every shard, COPY, and undistribute.
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
CREATE DATABASE hashring_shard1;
CREATE DATABASE hashring_shard2;
DO $$
BEGIN
    FOR i IN 1 .. 2 LOOP
        EXECUTE format('CREATE SERVER loop%s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %L, port %L, dbname %L)',
                       i, split_part(current_setting('unix_socket_directories'), ',', 1),
                       current_setting('port'), 'hashring_shard' || i);
        EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER loop%s', i);
    END LOOP;
END
$$;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT hashring.ring_create('d');
SELECT hashring.ring_add_node('d', 'a', target => 'loop1');
SELECT hashring.ring_add_node('d', 'b', target => 'loop2', weight => 3);

-- placement: exact quotas by weight (1:3 of 16 is 4 and 12), every shard once
SELECT node, count(*) FROM hashring.shard_placement('d', 16) GROUP BY node ORDER BY node;
SELECT count(DISTINCT shard) FROM hashring.shard_placement('d', 16);
SELECT pg_temp.err($$SELECT hashring.shard_placement('d', 0)$$);
SELECT pg_temp.err($$SELECT hashring.shard_placement('nope', 4)$$);

CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(10,2) CHECK (amount >= 0),
                     note text DEFAULT 'none', created date DEFAULT '2026-01-01');
CREATE INDEX orders_customer ON orders (customer);
COMMENT ON TABLE orders IS 'orders, sharded';
CREATE ROLE hr_dist_reader;
GRANT SELECT ON orders TO hr_dist_reader;
INSERT INTO orders SELECT g, 'c' || (g % 37), g % 1000, CASE WHEN g % 5 = 0 THEN NULL ELSE 'n' || g END
  FROM generate_series(1, 2000) g;

-- refusals change nothing
SELECT pg_temp.err($$CALL hashring.distribute_table(NULL, 'id', 'd')$$);
SELECT pg_temp.err($$CALL hashring.distribute_table('orders', 'id', 'd', 0)$$);
SELECT pg_temp.err($$CALL hashring.distribute_table('orders', 'id', 'd', 1025)$$);
SELECT pg_temp.err($$CALL hashring.distribute_table('orders', 'nope', 'd')$$);
SELECT pg_temp.err($$CALL hashring.distribute_table('orders', 'id', 'nope')$$);
CREATE TABLE pts (id int, p point);
SELECT pg_temp.err($$CALL hashring.distribute_table('pts', 'p', 'd', 4)$$);
CREATE TABLE uniq (id int, email text UNIQUE);
SELECT pg_temp.err($$CALL hashring.distribute_table('uniq', 'id', 'd', 4)$$);
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent);
SELECT pg_temp.err($$CALL hashring.distribute_table('parent', 'id', 'd', 4)$$);
CREATE TABLE parted (id int) PARTITION BY HASH (id);
SELECT pg_temp.err($$CALL hashring.distribute_table('parted', 'id', 'd', 4)$$);
CREATE TEMP TABLE tmp_t (id int);
SELECT pg_temp.err($$CALL hashring.distribute_table('tmp_t', 'id', 'd', 4)$$);
SELECT hashring.ring_add_node('d', 'c');
SELECT pg_temp.err($$CALL hashring.distribute_table('orders', 'id', 'd', 4)$$);
SELECT hashring.ring_set_state('d', 'c', 'down');
SELECT count(*), sum(amount) FROM orders;
SELECT relkind FROM pg_class WHERE oid = 'orders'::regclass;

-- distributed: every row on its shard, table_node where the row is
CALL hashring.distribute_table('orders', 'id', 'd', 8);
SELECT relkind, obj_description('orders'::regclass, 'pg_class') FROM pg_class WHERE oid = 'orders'::regclass;
SELECT has_table_privilege('hr_dist_reader', 'orders', 'SELECT');
SELECT shard, node, partition, shard_table FROM hashring.table_shards ORDER BY shard;
SELECT count(*), sum(amount), count(note) FROM orders;
SELECT count(*) FILTER (WHERE s.node IS DISTINCT FROM hashring.table_node('orders', o.id)) AS misplaced,
       count(*) FILTER (WHERE s.shard IS DISTINCT FROM hashring.table_shard('orders', o.id)) AS wrong_shard
  FROM orders AS o JOIN hashring.table_shards AS s ON s.partition = o.tableoid;
SELECT hashring.table_shard('orders', 42), hashring.table_shard('orders', 42::bigint), hashring.table_shard('orders', '42'::text);
SELECT pg_temp.err($$CALL hashring.distribute_table('orders', 'id', 'd', 8)$$);
SELECT pg_temp.err($$SELECT hashring.table_node('pts', 1)$$);
EXPLAIN (COSTS OFF) SELECT * FROM orders WHERE id = 42;
EXPLAIN (COSTS OFF) SELECT * FROM orders WHERE id IN (1, 2);
SELECT * FROM orders WHERE id = 42;

-- writes route; constraints hold on the shards
INSERT INTO orders VALUES (5001, 'x', 1.5), (5002, 'y', 2.5);
SELECT pg_temp.err($$INSERT INTO orders VALUES (1, 'dup', 1)$$);
SELECT pg_temp.err($$INSERT INTO orders VALUES (9001, 'neg', -1)$$);
UPDATE orders SET amount = amount + 1 WHERE id = 5001 RETURNING id, amount;
DELETE FROM orders WHERE id = 5002 RETURNING id;
SELECT id, note, created FROM orders WHERE id = 5001;

-- COPY: each shard's rows by COPY, then where they belong
COPY orders (id, customer, amount) FROM STDIN;
6001	cp1	10
6002	cp2	20
6003	cp3	30
\.
SELECT id, customer, amount, note FROM orders WHERE id > 6000 ORDER BY id;
SELECT count(*) FILTER (WHERE s.node IS DISTINCT FROM hashring.table_node('orders', o.id)) AS misplaced
  FROM orders AS o JOIN hashring.table_shards AS s ON s.partition = o.tableoid;

-- schema changes reach every shard
ALTER TABLE orders ADD COLUMN status text DEFAULT 'new' NOT NULL;
ALTER TABLE orders RENAME COLUMN note TO remark;
ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12,2);
CREATE INDEX orders_status ON orders (status);
SELECT pg_temp.err($$CREATE UNIQUE INDEX orders_bad ON orders (customer)$$);
SELECT pg_temp.err($$ALTER TABLE orders ALTER COLUMN amount TYPE numeric USING amount * 2$$);
SELECT pg_temp.err($$ALTER TABLE orders ADD CONSTRAINT big CHECK (amount < 100000)$$);
SELECT pg_temp.err($$DROP TABLE orders$$);
SELECT pg_temp.err($$ALTER FOREIGN TABLE orders_0 ADD COLUMN z int$$);
SELECT name, kind, definition FROM hashring.distributed_indexes ORDER BY name;
INSERT INTO orders (id, customer, amount) VALUES (7001, 'z', 7);
SELECT id, remark, status, amount FROM orders WHERE id IN (1, 7001) ORDER BY id;
DROP INDEX orders_status;
SELECT name FROM hashring.distributed_indexes ORDER BY name;

-- a second table on the same ring and shard count is colocated
CREATE TABLE lines (order_id bigint, line int, qty int, PRIMARY KEY (order_id, line));
INSERT INTO lines SELECT g, l, l FROM generate_series(1, 100) g, generate_series(1, 3) l;
CALL hashring.distribute_table('lines', 'order_id', 'd', 8);
SELECT count(*) FROM hashring.table_shards AS a JOIN hashring.table_shards AS b USING (shard)
 WHERE a.tbl = 'orders'::regclass AND b.tbl = 'lines'::regclass AND a.node = b.node;
SELECT count(*), sum(o.amount * l.qty) FROM orders o JOIN lines l ON l.order_id = o.id;

-- shard 0 moves to the other node with its colocated twin, and back (here
-- the sanitizer runs reach shardmove.c; TAP 038 tests moves on real servers)
SELECT node AS from_node, CASE node WHEN 'a' THEN 'b' ELSE 'a' END AS to_node
  FROM hashring.table_shards WHERE tbl = 'orders'::regclass AND shard = 0 \gset
SET client_min_messages = warning;
CALL hashring.move_shard('orders', 0, :'to_node');
RESET client_min_messages;
SELECT s.tbl, s.node = :'to_node' AS moved, m.phase, m.source = :'from_node' AS source_ok,
       m.rows_copied = CASE s.tbl WHEN 'orders'::regclass THEN (SELECT count(*) FROM orders WHERE tableoid = s.partition)
                                  ELSE (SELECT count(*) FROM lines WHERE tableoid = s.partition) END AS rows_ok,
       m.rows_copied > 0 AS some_rows
  FROM hashring.shards AS s JOIN hashring.shard_moves AS m USING (tbl, shard)
 WHERE s.shard = 0 ORDER BY s.tbl::text;
SELECT count(*), sum(o.amount * l.qty) FROM orders o JOIN lines l ON l.order_id = o.id;
SET client_min_messages = warning;
CALL hashring.move_shard('orders', 0, :'from_node');
RESET client_min_messages;
SELECT tbl, node = :'from_node' AS back FROM hashring.shards WHERE shard = 0 ORDER BY tbl::text;
SELECT count(*) FROM hashring.shard_move_progress;
SELECT count(*), sum(o.amount * l.qty) FROM orders o JOIN lines l ON l.order_id = o.id;

-- split: orders and lines from 8 shards to 16, each shard split on its
-- node (here the sanitizer runs reach _ddl_internal; TAP 039 splits on
-- real servers under load)
SET client_min_messages = warning;
CALL hashring.split_shards('lines');
RESET client_min_messages;
SELECT tbl, shard_count, split_to FROM hashring.distributed_tables ORDER BY tbl::text;
SELECT tbl, count(*) AS shards, count(DISTINCT partition) AS partitions,
       count(*) FILTER (WHERE s.shard >= 8 AND s.node = (SELECT t.node FROM hashring.shards t WHERE t.tbl = s.tbl AND t.shard = s.shard - 8)) AS halves_on_their_node
  FROM hashring.shards s GROUP BY tbl ORDER BY tbl::text;
SELECT count(*) FROM orders WHERE hashring.table_shard('orders', id) <> (SELECT shard FROM hashring.shards s WHERE s.partition = orders.tableoid);
SELECT count(*), sum(o.amount * l.qty) FROM orders o JOIN lines l ON l.order_id = o.id;
SELECT count(*) FROM hashring.shard_drops;

-- after a membership change, table_placement says which shards must move
SELECT hashring.ring_set_state('d', 'c', 'active');
SELECT hashring.ring_set_weight('d', 'c', 4);
SELECT count(*) FILTER (WHERE node <> target_node) AS moving, count(*) FILTER (WHERE target_node = 'c') AS to_c
  FROM hashring.table_placement('orders');
SELECT hashring.ring_remove_node('d', 'c');
SELECT count(*) FILTER (WHERE node <> target_node) AS moving FROM hashring.table_placement('orders');

-- back to a local table, every row
BEGIN;
CALL hashring.undistribute_table('lines');
ROLLBACK;
SELECT hashring._node_command('loop2', 'b', 'SELECT count(*) FROM pg_catalog.pg_class WHERE relname LIKE ''orders\_%'' AND relkind = ''r''');
CALL hashring.undistribute_table('lines');
CALL hashring.undistribute_table('orders');
SELECT relkind, obj_description('orders'::regclass, 'pg_class') FROM pg_class WHERE oid = 'orders'::regclass;
SELECT has_table_privilege('hr_dist_reader', 'orders', 'SELECT');
SELECT count(*), sum(amount), count(remark) FROM orders;
SELECT count(*) FROM lines;
SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'orders'::regclass ORDER BY indexrelid::regclass::text;
SELECT count(*) FROM hashring.table_shards;
-- the shard tables are gone from the nodes
SELECT hashring._node_command('loop1', 'a', 'SELECT count(*) FROM pg_catalog.pg_class WHERE relname ~ ''^(orders|lines)_[0-9_]+$''');
SELECT hashring._node_command('loop2', 'b', 'SELECT count(*) FROM pg_catalog.pg_class WHERE relname ~ ''^(orders|lines)_[0-9_]+$''');

DROP TABLE orders, lines, pts, uniq, child, parent, parted;
DROP ROLE hr_dist_reader;
SELECT hashring.ring_drop('d');
DROP USER MAPPING FOR CURRENT_USER SERVER loop1;
DROP USER MAPPING FOR CURRENT_USER SERVER loop2;
DROP SERVER loop1, loop2;
DROP DATABASE hashring_shard1;
DROP DATABASE hashring_shard2;
