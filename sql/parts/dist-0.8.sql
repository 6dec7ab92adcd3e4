/* ============ 0.8: distributed tables ============ */

/*
 * A distributed table: on this server (the coordinator) a table
 * partitioned by HASH (key_column) into shard_count partitions, each a
 * postgres_fdw foreign table for the shard's table on the server of the
 * node that holds it.  PostgreSQL routes every row; hashring places the
 * shards (docs/distributed.md).  Tables on one ring with one shard count
 * are colocated: shard s of each is on the same node.
 */
CREATE TABLE hashring.distributed_tables (
    tbl            regclass    PRIMARY KEY,
    ring           text        NOT NULL REFERENCES hashring.rings (ring),
    key_column     name        NOT NULL,
    shard_count    integer     NOT NULL CHECK (shard_count BETWEEN 1 AND 1024),
    distributed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- split_shards under way: the shard count it splits to
    split_to       integer     CHECK (split_to BETWEEN 2 AND 1024 AND split_to OPERATOR(pg_catalog.%) shard_count OPERATOR(pg_catalog.=) 0)
);
COMMENT ON TABLE hashring.distributed_tables IS 'distributed tables: their ring, distribution key and shard count';

CREATE TABLE hashring.shards (
    tbl         regclass NOT NULL REFERENCES hashring.distributed_tables (tbl) ON DELETE CASCADE,
    shard       integer  NOT NULL,
    node        text     NOT NULL,
    partition   regclass NOT NULL UNIQUE,
    shard_table text     NOT NULL,
    PRIMARY KEY (tbl, shard)
);
COMMENT ON TABLE hashring.shards IS 'where each shard of every distributed table is: its node, its partition here and its table there';

/*
 * The unique constraints and indexes of a distributed table: they exist on
 * every shard's table (a partitioned table whose partitions are foreign
 * tables cannot have indexes here).  kind: p primary key, u unique
 * constraint (definition: pg_get_constraintdef), i index, x unique index
 * (definition: what follows USING in pg_get_indexdef).
 */
CREATE TABLE hashring.distributed_indexes (
    tbl        regclass NOT NULL REFERENCES hashring.distributed_tables (tbl) ON DELETE CASCADE,
    name       name     NOT NULL,
    kind       "char"   NOT NULL CHECK (kind IN ('p', 'u', 'i', 'x')),
    definition text     NOT NULL,
    PRIMARY KEY (tbl, name)
);
COMMENT ON TABLE hashring.distributed_indexes IS 'the constraints and indexes every shard table of a distributed table has';

SELECT pg_catalog.pg_extension_config_dump('hashring.distributed_tables', '');
SELECT pg_catalog.pg_extension_config_dump('hashring.shards', '');
SELECT pg_catalog.pg_extension_config_dump('hashring.distributed_indexes', '');

CREATE VIEW hashring.table_shards AS
SELECT s.tbl, s.shard, s.node, s.partition, s.shard_table
  FROM hashring.shards AS s;
COMMENT ON VIEW hashring.table_shards IS 'one row per shard of every distributed table: its node, its partition (a foreign table) and its table on the node';

/* --- C helpers (src/dist.c, src/copy.c) --- */

CREATE FUNCTION hashring._shard_exec(server text, node text, sql text, channel text DEFAULT '')
RETURNS text
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'hashring_shard_exec';
COMMENT ON FUNCTION hashring._shard_exec(text, text, text, text) IS 'internal: runs a statement on a node in the remote transaction bound to this one (one per channel)';

CREATE FUNCTION hashring._node_command(server text, node text, sql text)
RETURNS text
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'hashring_node_command';
COMMENT ON FUNCTION hashring._node_command(text, text, text) IS 'internal: runs a statement on a node, committed at once';

CREATE FUNCTION hashring._shard_copy(src regclass, dst regclass)
RETURNS bigint
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'hashring_shard_copy';
COMMENT ON FUNCTION hashring._shard_copy(regclass, regclass) IS 'internal: copies every row of a local table to its shard of a distributed table';

CREATE FUNCTION hashring._table_partition(tbl regclass, key anyelement)
RETURNS regclass
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'hashring_table_partition';
COMMENT ON FUNCTION hashring._table_partition(regclass, anyelement) IS 'internal: the partition PostgreSQL routes a row with this key to';

CREATE FUNCTION hashring._inject(step text)
RETURNS void
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'hashring_inject_point';
COMMENT ON FUNCTION hashring._inject(text) IS 'internal: the fault-injection point of a step (hashring.inject_fault)';

CREATE FUNCTION hashring._prevent_transaction_block(what text)
RETURNS void
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'hashring_prevent_transaction_block';
COMMENT ON FUNCTION hashring._prevent_transaction_block(text) IS 'internal: refuses to run inside a transaction block';

/*
 * Writes PostgreSQL would put on the wrong shard.  A foreign partition has
 * no partition constraint that anyone checks: an UPDATE that changes the
 * key of a row leaves the row on its old shard (PostgreSQL moves rows out
 * of local partitions only), and an INSERT into a partition itself stores
 * whatever key it is given.  distribute_table puts this statement-level
 * trigger on the table (BEFORE UPDATE OF the key) and on every partition
 * (BEFORE INSERT OR UPDATE OF the key): an UPDATE that does not name the
 * key, and every write routed through the table, never fire it, so
 * postgres_fdw still sends them whole to the shard servers.  It needs no
 * catalog of hashring's and no loaded library.
 */
CREATE FUNCTION hashring._shard_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parent regclass;
    keycol name;
BEGIN
    SELECT COALESCE((SELECT i.inhparent FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid OPERATOR(pg_catalog.=) TG_RELID),
                    TG_RELID)::pg_catalog.regclass INTO parent;
    SELECT a.attname INTO keycol
      FROM pg_catalog.pg_partitioned_table AS p
      JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) p.partrelid AND a.attnum OPERATOR(pg_catalog.=) p.partattrs[0]
     WHERE p.partrelid OPERATOR(pg_catalog.=) parent;
    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        RAISE EXCEPTION 'cannot update the distribution key "%" of distributed table %', keycol, parent
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'A row whose key changes would stay on the shard of its old key: PostgreSQL moves rows out of local partitions only.',
                  HINT = 'Delete the rows and insert them with the new key, in one statement: WITH d AS (DELETE ... RETURNING ...) INSERT ...';
    END IF;
    RAISE EXCEPTION 'cannot insert into shard partition %.% of distributed table % directly', TG_TABLE_SCHEMA, TG_TABLE_NAME, parent
        USING ERRCODE = 'feature_not_supported',
              DETAIL = 'A shard''s partition does not check that a row''s key belongs to it.',
              HINT = pg_catalog.format('Insert into %s: PostgreSQL routes each row to its shard.', parent);
END
$$;
COMMENT ON FUNCTION hashring._shard_guard() IS 'internal: refuses updates of a distributed table''s key and inserts into its partitions (statement trigger)';

/*
 * tbl's row of distributed_tables, or 42809 when tbl is not distributed
 * (what every function and procedure on a distributed table checks first).
 */
CREATE FUNCTION hashring._distributed(tbl regclass)
RETURNS hashring.distributed_tables
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d hashring.distributed_tables;
BEGIN
    SELECT t.* INTO d FROM hashring.distributed_tables AS t WHERE t.tbl OPERATOR(pg_catalog.=) _distributed.tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % is not distributed', tbl
            USING ERRCODE = 'wrong_object_type', HINT = 'CALL hashring.distribute_table(...) distributes it.';
    END IF;
    RETURN d;
END
$$;
COMMENT ON FUNCTION hashring._distributed(regclass) IS 'internal: the catalog row of a distributed table, or 42809';

/* --- placement --- */

/*
 * Where shards go: every active node gets its weight's share of the
 * shards, rounded by largest remainder (ties by node name), so that each
 * holds its exact quota within one shard.  Which node a shard prefers is
 * the ring's answer: the preference list of the key 'shard S of N'
 * (ring_nodes over every active node).  With current (a node per shard,
 * index 1 = shard 0), a shard stays where it is while its node is active
 * and within its quota (a node over quota keeps the shards that prefer it
 * most); the others go, in shard order, to their most preferred node with
 * room.  Only the shards that must move, move.
 */
CREATE FUNCTION hashring._place(ring text, shard_count integer, current text[])
RETURNS TABLE (shard integer, node text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    names  text[];
    w      double precision[];
    total  double precision;
    n      integer;
    quota  integer[];
    load   integer[];
    owner  integer[];
    pref   integer[];
    i      integer;
    r      integer;
    s      integer;
    rec    record;
BEGIN
    IF ring IS NULL OR shard_count IS NULL THEN
        RAISE EXCEPTION 'ring and shard count must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF shard_count OPERATOR(pg_catalog.<) 1 OR shard_count OPERATOR(pg_catalog.>) 1024 THEN
        RAISE EXCEPTION 'shard count must be between 1 and 1024'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = pg_catalog.format('The value given was %s.', shard_count);
    END IF;
    IF NOT EXISTS (SELECT FROM hashring.rings AS g WHERE g.ring OPERATOR(pg_catalog.=) _place.ring) THEN
        RAISE EXCEPTION 'ring "%" does not exist', ring USING ERRCODE = 'undefined_object';
    END IF;
    SELECT pg_catalog.array_agg(m.node ORDER BY m.node), pg_catalog.array_agg(m.weight::double precision ORDER BY m.node)
      INTO names, w
      FROM hashring.nodes AS m
     WHERE m.ring OPERATOR(pg_catalog.=) _place.ring AND m.state OPERATOR(pg_catalog.=) 'active';
    IF names IS NULL THEN
        RAISE EXCEPTION 'ring "%" has no active node', ring
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Shards are placed on active nodes: add one with hashring.ring_add_node().';
    END IF;
    n := pg_catalog.cardinality(names);
    SELECT pg_catalog.sum(x) INTO total FROM pg_catalog.unnest(w) AS x;
    -- quotas: the floor of each exact share, then one more for the largest remainders
    quota := pg_catalog.array_fill(0, ARRAY[n]);
    load := pg_catalog.array_fill(0, ARRAY[n]);
    FOR i IN 1 .. n LOOP
        quota[i] := pg_catalog.floor(shard_count::double precision OPERATOR(pg_catalog.*) w[i] OPERATOR(pg_catalog./) total)::integer;
    END LOOP;
    FOR rec IN
        SELECT k.i FROM pg_catalog.generate_subscripts(names, 1) AS k(i)
         ORDER BY (shard_count::double precision OPERATOR(pg_catalog.*) w[k.i] OPERATOR(pg_catalog./) total
                   OPERATOR(pg_catalog.-) quota[k.i]) DESC, names[k.i]
         LIMIT shard_count OPERATOR(pg_catalog.-) (SELECT pg_catalog.sum(q) FROM pg_catalog.unnest(quota) AS q)
    LOOP
        quota[rec.i] := quota[rec.i] OPERATOR(pg_catalog.+) 1;
    END LOOP;
    -- each shard's preference: node indexes, most preferred first
    pref := pg_catalog.array_fill(0, ARRAY[shard_count, n]);
    FOR s IN 0 .. shard_count OPERATOR(pg_catalog.-) 1 LOOP
        r := 0;
        FOR rec IN
            SELECT pg_catalog.array_position(names, p.node) AS i
              FROM pg_catalog.unnest(hashring.ring_nodes(_place.ring, pg_catalog.format('shard %s of %s', s, shard_count), n))
                   WITH ORDINALITY AS p(node, o)
             ORDER BY p.o
        LOOP
            r := r OPERATOR(pg_catalog.+) 1;
            pref[s OPERATOR(pg_catalog.+) 1][r] := rec.i;
        END LOOP;
        -- ring_nodes gives every live node; should it give fewer, the rest in name order
        FOR i IN 1 .. n LOOP
            IF r OPERATOR(pg_catalog.<) n AND NOT i OPERATOR(pg_catalog.=) ANY (pref[s OPERATOR(pg_catalog.+) 1:s OPERATOR(pg_catalog.+) 1][1:r]) THEN
                r := r OPERATOR(pg_catalog.+) 1;
                pref[s OPERATOR(pg_catalog.+) 1][r] := i;
            END IF;
        END LOOP;
    END LOOP;
    owner := pg_catalog.array_fill(NULL::integer, ARRAY[shard_count]);
    -- shards stay where they are, within quota, those that prefer their node most first
    IF current IS NOT NULL THEN
        FOR rec IN
            SELECT c.s, c.i FROM (
                SELECT (k.o OPERATOR(pg_catalog.-) 1)::integer AS s, pg_catalog.array_position(names, k.node) AS i
                  FROM pg_catalog.unnest(current) WITH ORDINALITY AS k(node, o)
                 WHERE k.o OPERATOR(pg_catalog.<=) shard_count) AS c
             WHERE c.i IS NOT NULL
             ORDER BY (SELECT j FROM pg_catalog.generate_series(1, n) AS j
                        WHERE pref[c.s OPERATOR(pg_catalog.+) 1][j] OPERATOR(pg_catalog.=) c.i), c.s
        LOOP
            IF load[rec.i] OPERATOR(pg_catalog.<) quota[rec.i] THEN
                owner[rec.s OPERATOR(pg_catalog.+) 1] := rec.i;
                load[rec.i] := load[rec.i] OPERATOR(pg_catalog.+) 1;
            END IF;
        END LOOP;
    END IF;
    -- the rest: round by round, each to its next preferred node with room
    FOR r IN 1 .. n LOOP
        FOR s IN 1 .. shard_count LOOP
            IF owner[s] IS NULL AND load[pref[s][r]] OPERATOR(pg_catalog.<) quota[pref[s][r]] THEN
                owner[s] := pref[s][r];
                load[pref[s][r]] := load[pref[s][r]] OPERATOR(pg_catalog.+) 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN QUERY SELECT (k.s OPERATOR(pg_catalog.-) 1)::integer, names[owner[k.s]]
                   FROM pg_catalog.generate_series(1, shard_count) AS k(s);
END
$$;
COMMENT ON FUNCTION hashring._place(text, integer, text[]) IS 'internal: shard placement by exact quotas, keeping the current placement where it may stay';

CREATE FUNCTION hashring.shard_placement(ring text, shard_count integer)
RETURNS TABLE (shard integer, node text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT p.shard, p.node FROM hashring._place($1, $2, NULL) AS p $$;
COMMENT ON FUNCTION hashring.shard_placement(text, integer) IS 'where the ring''s membership places shard_count shards: each active node its weight''s share, within one shard';

/*
 * Where each shard of a distributed table is, and where the ring's
 * membership now places it; only shards whose nodes differ must move.
 */
CREATE FUNCTION hashring.table_placement(tbl regclass)
RETURNS TABLE (shard integer, node text, target_node text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d record;
    cur text[];
BEGIN
    d := hashring._distributed($1);
    SELECT pg_catalog.array_agg(s.node ORDER BY s.shard) INTO cur FROM hashring.shards AS s WHERE s.tbl OPERATOR(pg_catalog.=) $1;
    RETURN QUERY SELECT p.shard, cur[p.shard OPERATOR(pg_catalog.+) 1], p.node
                   FROM hashring._place(d.ring, d.shard_count, cur) AS p ORDER BY p.shard;
END
$$;
COMMENT ON FUNCTION hashring.table_placement(regclass) IS 'each shard of a distributed table: where it is and where the ring''s membership places it now';

/* --- routing --- */

CREATE FUNCTION hashring.table_shard(tbl regclass, key anyelement)
RETURNS integer
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result integer;
BEGIN
    IF tbl IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM hashring._distributed($1);
    SELECT s.shard INTO result FROM hashring.shards AS s
     WHERE s.tbl OPERATOR(pg_catalog.=) $1 AND s.partition OPERATOR(pg_catalog.=) hashring._table_partition($1, $2);
    RETURN result;
END
$$;
COMMENT ON FUNCTION hashring.table_shard(regclass, anyelement) IS 'the shard of a distributed table that holds the rows of this key';

CREATE FUNCTION hashring.table_node(tbl regclass, key anyelement)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT s.node FROM hashring.shards AS s
 WHERE s.tbl OPERATOR(pg_catalog.=) $1 AND s.shard OPERATOR(pg_catalog.=) hashring.table_shard($1, $2)
$$;
COMMENT ON FUNCTION hashring.table_node(regclass, anyelement) IS 'the node that holds the rows of this key of a distributed table';

/* --- creating and removing distributed tables --- */

/*
 * Records tbl (just made a distributed table by distribute_table) in the
 * catalog from what exists: its partitions, their servers and the ring's
 * node whose target each server is.
 */
CREATE FUNCTION hashring._dist_register(tbl regclass, ring text, key_column name, shard_count integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing text;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS hashring_dist_parts (shard integer, node text, partition regclass, shard_table text);
    TRUNCATE hashring_dist_parts;
    INSERT INTO hashring_dist_parts
    SELECT b.remainder, m.node, i.inhrelid::pg_catalog.regclass, pg_catalog.format('%I.%I', o.schema_name, o.table_name)
      FROM pg_catalog.pg_inherits AS i
      JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
      JOIN pg_catalog.pg_foreign_table AS f ON f.ftrelid OPERATOR(pg_catalog.=) i.inhrelid
      JOIN pg_catalog.pg_foreign_server AS v ON v.oid OPERATOR(pg_catalog.=) f.ftserver
      CROSS JOIN LATERAL (
            SELECT (pg_catalog.regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid), 'remainder (\d+)', 'i'))[1]::integer AS remainder) AS b
      CROSS JOIN LATERAL (
            SELECT pg_catalog.max(x.option_value) FILTER (WHERE x.option_name OPERATOR(pg_catalog.=) 'schema_name') AS schema_name,
                   pg_catalog.max(x.option_value) FILTER (WHERE x.option_name OPERATOR(pg_catalog.=) 'table_name') AS table_name
              FROM pg_catalog.pg_options_to_table(f.ftoptions) AS x) AS o
      LEFT JOIN hashring.nodes AS m ON m.ring OPERATOR(pg_catalog.=) $2 AND m.target OPERATOR(pg_catalog.=) v.srvname
     WHERE i.inhparent OPERATOR(pg_catalog.=) $1;
    SELECT pg_catalog.string_agg(p.partition::text, ', ') INTO missing FROM hashring_dist_parts AS p WHERE p.node IS NULL;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'partitions % of % are on no node of ring "%"', missing, $1, $2 USING ERRCODE = 'internal_error';
    END IF;
    INSERT INTO hashring.distributed_tables (tbl, ring, key_column, shard_count) VALUES ($1, $2, $3, $4);
    INSERT INTO hashring.shards (tbl, shard, node, partition, shard_table)
    SELECT $1, p.shard, p.node, p.partition, p.shard_table FROM hashring_dist_parts AS p;
    DROP TABLE hashring_dist_parts;
END
$$;
COMMENT ON FUNCTION hashring._dist_register(regclass, text, name, integer) IS 'internal: records a table distribute_table has just distributed';

/*
 * What the table new takes over from old when it replaces it: the owner
 * (of new and of its partitions), the privileges on the table and on its
 * columns, the table's comment, and the sequences owned by its columns.
 */
CREATE FUNCTION hashring._dist_adopt(old regclass, new regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o record;
    a record;
    p regclass;
BEGIN
    SELECT c.relowner::pg_catalog.regrole AS owner, c.relacl INTO o FROM pg_catalog.pg_class AS c WHERE c.oid OPERATOR(pg_catalog.=) old;
    EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO %s', new, o.owner);
    FOR p IN SELECT i.inhrelid FROM pg_catalog.pg_inherits AS i WHERE i.inhparent OPERATOR(pg_catalog.=) new LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO %s', p, o.owner);
    END LOOP;
    FOR a IN SELECT x.privilege_type, x.grantee, x.is_grantable
               FROM pg_catalog.aclexplode(o.relacl) AS x
              WHERE x.grantee OPERATOR(pg_catalog.<>) o.owner::pg_catalog.oid LOOP
        EXECUTE pg_catalog.format('GRANT %s ON TABLE %s TO %s%s', a.privilege_type, new,
                                  CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC' ELSE a.grantee::pg_catalog.regrole::text END,
                                  CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    FOR a IN SELECT t.attname, x.privilege_type, x.grantee, x.is_grantable
               FROM pg_catalog.pg_attribute AS t CROSS JOIN LATERAL pg_catalog.aclexplode(t.attacl) AS x
              WHERE t.attrelid OPERATOR(pg_catalog.=) old AND t.attacl IS NOT NULL AND NOT t.attisdropped LOOP
        EXECUTE pg_catalog.format('GRANT %s (%I) ON TABLE %s TO %s%s', a.privilege_type, a.attname, new,
                                  CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC' ELSE a.grantee::pg_catalog.regrole::text END,
                                  CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    EXECUTE pg_catalog.format('COMMENT ON TABLE %s IS %L', new, pg_catalog.obj_description(old, 'pg_class'));
    FOR a IN SELECT d.objid::pg_catalog.regclass AS seq, t.attname
               FROM pg_catalog.pg_depend AS d
               JOIN pg_catalog.pg_attribute AS t ON t.attrelid OPERATOR(pg_catalog.=) d.refobjid AND t.attnum OPERATOR(pg_catalog.=) d.refobjsubid
              WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                AND d.refobjid OPERATOR(pg_catalog.=) old AND d.deptype OPERATOR(pg_catalog.=) 'a'
                AND (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid OPERATOR(pg_catalog.=) d.objid) OPERATOR(pg_catalog.=) 'S' LOOP
        EXECUTE pg_catalog.format('ALTER SEQUENCE %s OWNED BY %s.%I', a.seq, new, a.attname);
    END LOOP;
END
$$;
COMMENT ON FUNCTION hashring._dist_adopt(regclass, regclass) IS 'internal: gives a replacing table the owner, privileges, comment and owned sequences of the one it replaces';

/* The name of shard s's table: the table's name, cut to fit, and _s. */
CREATE FUNCTION hashring._shard_name(relname name, shard integer)
RETURNS name
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT (pg_catalog.left($1::text, 62 OPERATOR(pg_catalog.-) pg_catalog.length($2::text)) OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||) $2::text)::name $$;
COMMENT ON FUNCTION hashring._shard_name(name, integer) IS 'internal: the name of a shard''s partition and table';

/*
 * distribute_table: turns the local table tbl into a distributed table,
 * in one transaction.  Locks: EXCLUSIVE on tbl from the start (reads go
 * on, writes wait), ACCESS EXCLUSIVE when it is dropped and replaced.
 * Order: every check; the new partitioned table and its foreign
 * partitions (here, uncommitted); on each node, in the remote transaction
 * bound to this one (conn.c), the schema, the shard tables and their
 * indexes, then the rows by COPY; the old table dropped and the new one
 * renamed into its place; the catalog rows.  At commit every node's
 * transaction commits first, then this one: a fault before leaves the
 * local table as it was (shard tables committed by then are copies,
 * marked by their comment, which a rerun replaces); after it, every row
 * is on its shard.
 */
/*
 * The inside of CREATE TABLE for the shard tables of tbl: its columns
 * (types, collations, NOT NULL, the defaults that need nothing of this
 * database: a nextval() stays on the coordinator) and CHECK constraints.
 * tbl is the local table distribute_table distributes, or a distributed
 * table whose shard move_shard creates anew.
 */
CREATE FUNCTION hashring._shard_columns(tbl regclass)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT (SELECT pg_catalog.string_agg(pg_catalog.format('%I %s%s%s%s', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attcollation OPERATOR(pg_catalog.<>) t.typcollation
                       THEN pg_catalog.format(' COLLATE %I.%I', cn.nspname, co.collname) ELSE '' END,
                  CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                  CASE WHEN ad.oid IS NOT NULL AND NOT EXISTS (
                           SELECT FROM pg_catalog.pg_depend AS dp
                            WHERE dp.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND dp.objid OPERATOR(pg_catalog.=) ad.oid
                              AND NOT (dp.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND dp.refobjid OPERATOR(pg_catalog.=) $1))
                       THEN ' DEFAULT ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) ELSE '' END),
                  ', ' ORDER BY a.attnum)
          FROM pg_catalog.pg_attribute AS a
          JOIN pg_catalog.pg_type AS t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
          LEFT JOIN pg_catalog.pg_collation AS co ON co.oid OPERATOR(pg_catalog.=) a.attcollation
          LEFT JOIN pg_catalog.pg_namespace AS cn ON cn.oid OPERATOR(pg_catalog.=) co.collnamespace
          LEFT JOIN pg_catalog.pg_attrdef AS ad ON ad.adrelid OPERATOR(pg_catalog.=) a.attrelid AND ad.adnum OPERATOR(pg_catalog.=) a.attnum
         WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped)
       OPERATOR(pg_catalog.||)
       COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format(', CONSTRAINT %I %s', c.conname, pg_catalog.pg_get_constraintdef(c.oid)), '' ORDER BY c.conname)
                   FROM pg_catalog.pg_constraint AS c
                  WHERE c.conrelid OPERATOR(pg_catalog.=) $1 AND c.contype OPERATOR(pg_catalog.=) 'c'), '')
$$;
COMMENT ON FUNCTION hashring._shard_columns(regclass) IS 'internal: the columns and CHECK constraints of a table''s shard tables';

/*
 * Creates shard table nspname.relname_<shard> on its node, with its
 * constraints and indexes (name, kind, definition as in
 * distributed_indexes), in the remote transaction bound to this one on the
 * channel of the shard table.  It bears a marker comment: a table left by
 * an earlier run that did not commit here is replaced; any other table of
 * that name is an error.
 */
CREATE FUNCTION hashring._shard_create(server text, node text, nspname name, relname name, shard integer,
                                       unlogged boolean, body text, inames name[], ikinds "char"[], idefs text[],
                                       tname name DEFAULT NULL, channel text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- the table's name: <relname>_<shard> unless tname says otherwise (split_shards)
    stbl     name := COALESCE(tname, hashring._shard_name(relname, shard));
    chan     text := pg_catalog.format('%I.%I', nspname, COALESCE(tname, hashring._shard_name(relname, shard)));
    ch       text := COALESCE(channel, chan);
    marker   text := pg_catalog.format('hashring: shard %s of %I.%I in database %I', shard, nspname, relname, pg_catalog.current_database());
    existing text;
    ix       integer;
BEGIN
    existing := hashring._shard_exec(server, node,
        pg_catalog.format('SELECT COALESCE(pg_catalog.obj_description(c.oid, %L), %L) FROM pg_catalog.pg_class AS c '
                          'WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(%L)', 'pg_class', '', chan), ch);
    IF existing OPERATOR(pg_catalog.=) marker THEN
        -- left by an earlier run that did not commit here: a copy, replaced
        PERFORM hashring._shard_exec(server, node, pg_catalog.format('DROP TABLE %s', chan), ch);
    ELSIF existing IS NOT NULL THEN
        RAISE EXCEPTION 'table "%.%" already exists on node "%"', nspname, stbl, node
            USING ERRCODE = 'duplicate_table',
                  HINT = 'It is not a shard of this table: rename or drop it on the node, then try again.';
    END IF;
    PERFORM hashring._shard_exec(server, node,
        pg_catalog.format('CREATE %sTABLE %s (%s); COMMENT ON TABLE %s IS %L',
                          CASE WHEN unlogged THEN 'UNLOGGED ' ELSE '' END, chan, body, chan, marker), ch);
    FOR ix IN 1 .. COALESCE(pg_catalog.cardinality(inames), 0) LOOP
        PERFORM hashring._shard_exec(server, node, hashring._shard_index_sql(chan, shard, inames[ix], ikinds[ix], idefs[ix]), ch);
    END LOOP;
END
$$;
COMMENT ON FUNCTION hashring._shard_create(text, text, name, name, integer, boolean, text, name[], "char"[], text[], name, text) IS 'internal: creates one shard table on its node';

CREATE PROCEDURE hashring.distribute_table(tbl regclass, key_column name, ring text, shard_count integer DEFAULT 32)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel      record;
    keyatt   record;
    bad      text;
    peer     regclass;
    nodes    text[];
    servers  text[];
    tmp      name;
    newtbl   regclass;
    part     name;
    body     text;
    inames   name[];
    ikinds   "char"[];
    idefs    text[];
    ix       integer;
    sh       integer;
    srv      record;
    nd       record;
BEGIN
    IF tbl IS NULL OR key_column IS NULL OR ring IS NULL OR shard_count IS NULL THEN
        RAISE EXCEPTION 'table, key column, ring and shard count must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF shard_count OPERATOR(pg_catalog.<) 1 OR shard_count OPERATOR(pg_catalog.>) 1024 THEN
        RAISE EXCEPTION 'shard count must be between 1 and 1024'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = pg_catalog.format('The value given was %s.', shard_count);
    END IF;
    SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.relispartition, c.relowner, c.relrowsecurity, n.nspname
      INTO rel
      FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE c.oid OPERATOR(pg_catalog.=) tbl;
    IF EXISTS (SELECT FROM hashring.distributed_tables AS t WHERE t.tbl OPERATOR(pg_catalog.=) distribute_table.tbl) THEN
        RAISE EXCEPTION 'table % is already distributed', tbl
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'hashring.table_shards shows its shards.';
    END IF;
    IF rel.relkind OPERATOR(pg_catalog.=) 'p' THEN
        RAISE EXCEPTION 'table % is partitioned', tbl
            USING ERRCODE = 'wrong_object_type', HINT = 'distribute_table takes a plain table: it makes the partitions.';
    ELSIF rel.relkind OPERATOR(pg_catalog.<>) 'r' THEN
        RAISE EXCEPTION '% is not a table', tbl USING ERRCODE = 'wrong_object_type';
    ELSIF rel.relpersistence OPERATOR(pg_catalog.=) 't' THEN
        RAISE EXCEPTION 'cannot distribute temporary table %', tbl USING ERRCODE = 'feature_not_supported';
    ELSIF rel.relispartition OR EXISTS (SELECT FROM pg_catalog.pg_inherits AS i
                                         WHERE i.inhrelid OPERATOR(pg_catalog.=) tbl OR i.inhparent OPERATOR(pg_catalog.=) tbl) THEN
        RAISE EXCEPTION 'cannot distribute table %: it has inheritance parents or children', tbl USING ERRCODE = 'feature_not_supported';
    END IF;
    IF NOT pg_catalog.pg_has_role(rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.format('%s on %s', c.conname, c.conrelid::pg_catalog.regclass), ', ') INTO bad
      FROM pg_catalog.pg_constraint AS c
     WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND (c.confrelid OPERATOR(pg_catalog.=) tbl OR c.conrelid OPERATOR(pg_catalog.=) tbl);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'cannot distribute table %: foreign keys refer to it or from it', tbl
            USING ERRCODE = 'feature_not_supported', DETAIL = pg_catalog.format('Foreign keys: %s.', bad),
                  HINT = 'A shard cannot enforce a foreign key across servers: drop the constraints first.';
    END IF;
    SELECT pg_catalog.string_agg(DISTINCT r.ev_class::pg_catalog.regclass::text, ', ') INTO bad
      FROM pg_catalog.pg_depend AS d JOIN pg_catalog.pg_rewrite AS r ON r.oid OPERATOR(pg_catalog.=) d.objid
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.=) tbl AND r.ev_class OPERATOR(pg_catalog.<>) tbl;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'cannot distribute table %: views depend on it', tbl
            USING ERRCODE = 'dependent_objects_still_exist', DETAIL = pg_catalog.format('Views: %s.', bad),
                  HINT = 'Drop the views, distribute the table, and create them again.';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_trigger AS t WHERE t.tgrelid OPERATOR(pg_catalog.=) tbl AND NOT t.tgisinternal)
       OR rel.relrowsecurity THEN
        RAISE EXCEPTION 'cannot distribute table %: it has triggers or row-level security', tbl
            USING ERRCODE = 'feature_not_supported', HINT = 'Drop the triggers and policies first (docs/distributed.md, "Limits").';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_attribute AS a WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attnum OPERATOR(pg_catalog.>) 0
                 AND NOT a.attisdropped AND (a.attidentity OPERATOR(pg_catalog.<>) '' OR a.attgenerated OPERATOR(pg_catalog.<>) '')) THEN
        RAISE EXCEPTION 'cannot distribute table %: it has identity or generated columns', tbl
            USING ERRCODE = 'feature_not_supported', HINT = 'Use a column with a DEFAULT nextval(...) (serial) instead of an identity column.';
    END IF;
    SELECT a.attnum, a.atttypid INTO keyatt FROM pg_catalog.pg_attribute AS a
     WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) key_column AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of table % does not exist', key_column, tbl USING ERRCODE = 'undefined_column';
    END IF;
    SELECT pg_catalog.string_agg(i.indexrelid::pg_catalog.regclass::text, ', ') INTO bad
      FROM pg_catalog.pg_index AS i
     WHERE i.indrelid OPERATOR(pg_catalog.=) tbl AND (i.indisunique OR i.indisexclusion)
       AND NOT keyatt.attnum OPERATOR(pg_catalog.=) ANY (i.indkey::pg_catalog.int2[]);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'cannot distribute table %: unique or exclusion indexes do not include the key column "%"', tbl, key_column
            USING ERRCODE = 'feature_not_supported', DETAIL = pg_catalog.format('Indexes: %s.', bad),
                  HINT = 'Each shard enforces its own constraints: one that includes the key holds over the whole table, one that does not cannot be enforced.';
    END IF;
    IF NOT EXISTS (SELECT FROM hashring.rings AS g WHERE g.ring OPERATOR(pg_catalog.=) distribute_table.ring) THEN
        RAISE EXCEPTION 'ring "%" does not exist', ring USING ERRCODE = 'undefined_object';
    END IF;
    FOR nd IN SELECT m.node, m.target, v.srvname, w.fdwname
               FROM hashring.nodes AS m
               LEFT JOIN pg_catalog.pg_foreign_server AS v ON v.srvname OPERATOR(pg_catalog.=) m.target
               LEFT JOIN pg_catalog.pg_foreign_data_wrapper AS w ON w.oid OPERATOR(pg_catalog.=) v.srvfdw
              WHERE m.ring OPERATOR(pg_catalog.=) distribute_table.ring AND m.state OPERATOR(pg_catalog.=) 'active'
              ORDER BY m.node LOOP
        IF nd.target IS NULL THEN
            RAISE EXCEPTION 'node "%" of ring "%" has no target', nd.node, ring
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'A node that holds shards names a postgres_fdw server: hashring.ring_add_node(ring, node, target => ''server'').';
        ELSIF nd.srvname IS NULL THEN
            RAISE EXCEPTION 'foreign server "%" (target of node "%") does not exist', nd.target, nd.node
                USING ERRCODE = 'undefined_object', HINT = 'CREATE SERVER ... FOREIGN DATA WRAPPER postgres_fdw, with a user mapping.';
        ELSIF nd.fdwname OPERATOR(pg_catalog.<>) 'postgres_fdw' THEN
            RAISE EXCEPTION 'foreign server "%" (target of node "%") does not use postgres_fdw', nd.target, nd.node
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END LOOP;

    EXECUTE pg_catalog.format('LOCK TABLE %s IN EXCLUSIVE MODE', tbl);

    -- placement: the colocation group's, else the ring's
    SELECT t.tbl INTO peer FROM hashring.distributed_tables AS t
     WHERE t.ring OPERATOR(pg_catalog.=) distribute_table.ring AND t.shard_count OPERATOR(pg_catalog.=) distribute_table.shard_count
     ORDER BY t.distributed_at, t.tbl::pg_catalog.oid LIMIT 1;
    IF peer IS NOT NULL THEN
        -- a shard move of the group (move_shard) holds this lock too: the placement read here stays true
        EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN SHARE UPDATE EXCLUSIVE MODE', peer);
        SELECT pg_catalog.array_agg(s.node ORDER BY s.shard) INTO nodes FROM hashring.shards AS s WHERE s.tbl OPERATOR(pg_catalog.=) peer;
    ELSE
        SELECT pg_catalog.array_agg(p.node ORDER BY p.shard) INTO nodes FROM hashring._place(ring, shard_count, NULL) AS p;
    END IF;
    SELECT pg_catalog.array_agg(m.target ORDER BY k.o) INTO servers
      FROM pg_catalog.unnest(nodes) WITH ORDINALITY AS k(node, o)
      LEFT JOIN hashring.nodes AS m ON m.ring OPERATOR(pg_catalog.=) distribute_table.ring AND m.node OPERATOR(pg_catalog.=) k.node;
    IF pg_catalog.array_position(servers, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'node "%" of colocated table % is no longer in ring "%" or has no target', nodes[pg_catalog.array_position(servers, NULL)], peer, ring
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Move that table''s shards first (docs/distributed.md).';
    END IF;

    -- the new table here: every error up to the commit leaves tbl as it was
    tmp := pg_catalog.format('hashring_new_%s', tbl::pg_catalog.oid)::name;
    EXECUTE pg_catalog.format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS INCLUDING STORAGE INCLUDING COMPRESSION) PARTITION BY HASH (%I)',
                              rel.nspname, tmp, tbl, key_column);
    newtbl := pg_catalog.format('%I.%I', rel.nspname, tmp)::pg_catalog.regclass;
    FOR sh IN 0 .. shard_count OPERATOR(pg_catalog.-) 1 LOOP
        part := hashring._shard_name(rel.relname, sh);
        IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', rel.nspname, part)) IS NOT NULL THEN
            RAISE EXCEPTION 'relation "%.%" already exists', rel.nspname, part
                USING ERRCODE = 'duplicate_table', HINT = 'distribute_table names the partitions <table>_<shard>: rename that relation.';
        END IF;
        EXECUTE pg_catalog.format('CREATE FOREIGN TABLE %I.%I PARTITION OF %s FOR VALUES WITH (MODULUS %s, REMAINDER %s) SERVER %I '
                                  'OPTIONS (schema_name %L, table_name %L, async_capable ''true'', batch_size ''1000'', fetch_size ''1000'')',
                                  rel.nspname, part, newtbl, shard_count, sh, servers[sh OPERATOR(pg_catalog.+) 1], rel.nspname, part);
    END LOOP;

    EXECUTE pg_catalog.format('CREATE TRIGGER hashring_shard_guard BEFORE UPDATE OF %I ON %s FOR EACH STATEMENT EXECUTE FUNCTION hashring._shard_guard()',
                              key_column, newtbl);
    FOR sh IN 0 .. shard_count OPERATOR(pg_catalog.-) 1 LOOP
        EXECUTE pg_catalog.format('CREATE TRIGGER hashring_shard_guard BEFORE INSERT OR UPDATE OF %I ON %I.%I FOR EACH STATEMENT EXECUTE FUNCTION hashring._shard_guard()',
                                  key_column, rel.nspname, hashring._shard_name(rel.relname, sh));
    END LOOP;

    -- the shard tables: columns, NOT NULL, defaults, CHECK (_shard_columns), PRIMARY KEY, UNIQUE, indexes
    body := hashring._shard_columns(tbl);
    SELECT pg_catalog.array_agg(x.name ORDER BY x.name), pg_catalog.array_agg(x.kind ORDER BY x.name), pg_catalog.array_agg(x.def ORDER BY x.name)
      INTO inames, ikinds, idefs
      FROM (SELECT c.conname AS name, c.contype AS kind, pg_catalog.pg_get_constraintdef(c.oid) AS def
              FROM pg_catalog.pg_constraint AS c
             WHERE c.conrelid OPERATOR(pg_catalog.=) tbl AND c.contype OPERATOR(pg_catalog.=) ANY (ARRAY['p', 'u']::"char"[])
            UNION ALL
            SELECT ic.relname, CASE WHEN i.indisunique THEN 'x' ELSE 'i' END::"char",
                   pg_catalog.substring(pg_catalog.pg_get_indexdef(i.indexrelid), ' USING (.*)$')
              FROM pg_catalog.pg_index AS i JOIN pg_catalog.pg_class AS ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
             WHERE i.indrelid OPERATOR(pg_catalog.=) tbl
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint AS c WHERE c.conindid OPERATOR(pg_catalog.=) i.indexrelid
                                  AND c.conrelid OPERATOR(pg_catalog.=) tbl)) AS x;

    FOR srv IN SELECT DISTINCT k.server, k.node FROM ROWS FROM (pg_catalog.unnest(servers), pg_catalog.unnest(nodes)) AS k(server, node) ORDER BY 1 LOOP
        PERFORM hashring._node_command(srv.server, srv.node, pg_catalog.format('CREATE SCHEMA IF NOT EXISTS %I', rel.nspname));
    END LOOP;
    FOR sh IN 0 .. shard_count OPERATOR(pg_catalog.-) 1 LOOP
        PERFORM hashring._shard_create(servers[sh OPERATOR(pg_catalog.+) 1], nodes[sh OPERATOR(pg_catalog.+) 1], rel.nspname, rel.relname, sh,
                                       rel.relpersistence OPERATOR(pg_catalog.=) 'u', body, inames, ikinds, idefs);
    END LOOP;
    PERFORM hashring._inject('distribute:after_shards_created');

    PERFORM hashring._shard_copy(tbl, newtbl);
    PERFORM hashring._inject('distribute:after_copy');

    -- the new table takes the old one's place
    PERFORM hashring._dist_adopt(tbl, newtbl);
    EXECUTE pg_catalog.format('DROP TABLE %s', tbl);
    EXECUTE pg_catalog.format('ALTER TABLE %s RENAME TO %I', newtbl, rel.relname);
    PERFORM hashring._dist_register(newtbl, ring, key_column, shard_count);
    FOR ix IN 1 .. COALESCE(pg_catalog.cardinality(inames), 0) LOOP
        INSERT INTO hashring.distributed_indexes (tbl, name, kind, definition) VALUES (newtbl, inames[ix], ikinds[ix], idefs[ix]);
    END LOOP;
    PERFORM hashring._inject('distribute:before_commit');
END
$$;
COMMENT ON PROCEDURE hashring.distribute_table(regclass, name, text, integer) IS 'turns a table into a distributed table: partitioned by the hash of key_column, each shard a foreign table on the node that holds it';

/*
 * The statement that makes one constraint or index of a distributed table
 * on shard s's table (qualified name): named <name>_<s>, as index names
 * are unique in a schema.
 */
CREATE FUNCTION hashring._shard_index_sql(shard_table text, shard integer, name name, kind "char", definition text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT CASE WHEN $4 OPERATOR(pg_catalog.=) ANY (ARRAY['p', 'u']::"char"[])
            THEN pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s', $1, hashring._shard_name($3, $2), $5)
            ELSE pg_catalog.format('CREATE %sINDEX %I ON %s USING %s', CASE WHEN $4 OPERATOR(pg_catalog.=) 'x' THEN 'UNIQUE ' ELSE '' END,
                                   hashring._shard_name($3, $2), $1, $5) END
$$;
COMMENT ON FUNCTION hashring._shard_index_sql(text, integer, name, "char", text) IS 'internal: the statement that makes a distributed table''s constraint or index on one shard';

/*
 * undistribute_table: brings every row back into one local table, which
 * takes the distributed table's place, then drops the shard tables.
 * CALL it outside a transaction block: the local table commits before any
 * shard table is dropped.  Locks: EXCLUSIVE on tbl while rows are read
 * (through postgres_fdw), ACCESS EXCLUSIVE when it is dropped.  A shard
 * table that cannot be dropped afterwards is reported in a WARNING with
 * its node (the rows are already local): drop it there by hand.
 */
CREATE PROCEDURE hashring.undistribute_table(tbl regclass)
LANGUAGE plpgsql
AS $$
DECLARE
    d      record;
    rel    record;
    tmp    name;
    newtbl regclass;
    x      record;
    drops  text[];
    dnodes text[];
    dsrv   text[];
    i      integer;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM hashring._prevent_transaction_block('CALL hashring.undistribute_table()');
    d := hashring._distributed(tbl);
    SELECT c.relname, c.relowner, n.nspname INTO rel
      FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE c.oid OPERATOR(pg_catalog.=) tbl;
    IF NOT pg_catalog.pg_has_role(rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE pg_catalog.format('LOCK TABLE %s IN EXCLUSIVE MODE', tbl);
    -- old shard tables of an interrupted split_shards
    PERFORM hashring._shard_drops_run(ARRAY[tbl]);
    -- what interrupted moves left: old shard tables of moves interrupted
    -- after their commit, a logical move's replication (shard_moves goes with the table)
    PERFORM hashring._shard_move_cleanup(ARRAY[tbl], pending.shard)
       FROM (SELECT DISTINCT sm.shard FROM hashring.shard_moves AS sm
              WHERE sm.tbl OPERATOR(pg_catalog.=) undistribute_table.tbl
                AND (sm.phase OPERATOR(pg_catalog.=) 'dropping source' OR sm.repl IS NOT NULL)) AS pending;
    SELECT pg_catalog.array_agg(s.shard_table ORDER BY s.shard), pg_catalog.array_agg(s.node ORDER BY s.shard),
           pg_catalog.array_agg(v.srvname::text ORDER BY s.shard)
      INTO drops, dnodes, dsrv
      FROM hashring.shards AS s
      JOIN pg_catalog.pg_foreign_table AS f ON f.ftrelid OPERATOR(pg_catalog.=) s.partition
      JOIN pg_catalog.pg_foreign_server AS v ON v.oid OPERATOR(pg_catalog.=) f.ftserver
     WHERE s.tbl OPERATOR(pg_catalog.=) undistribute_table.tbl;

    tmp := pg_catalog.format('hashring_new_%s', tbl::pg_catalog.oid)::name;
    EXECUTE pg_catalog.format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS INCLUDING STORAGE INCLUDING COMPRESSION)',
                              rel.nspname, tmp, tbl);
    newtbl := pg_catalog.format('%I.%I', rel.nspname, tmp)::pg_catalog.regclass;
    EXECUTE pg_catalog.format('INSERT INTO %s SELECT * FROM %s', newtbl, tbl);
    FOR x IN SELECT * FROM hashring.distributed_indexes AS t WHERE t.tbl OPERATOR(pg_catalog.=) undistribute_table.tbl ORDER BY t.name LOOP
        IF x.kind OPERATOR(pg_catalog.=) ANY (ARRAY['p', 'u']::"char"[]) THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s', newtbl, x.name, x.definition);
        ELSE
            EXECUTE pg_catalog.format('CREATE %sINDEX %I ON %s USING %s', CASE WHEN x.kind OPERATOR(pg_catalog.=) 'x' THEN 'UNIQUE ' ELSE '' END,
                                      x.name, newtbl, x.definition);
        END IF;
    END LOOP;
    PERFORM hashring._dist_adopt(tbl, newtbl);
    DELETE FROM hashring.distributed_tables AS t WHERE t.tbl OPERATOR(pg_catalog.=) undistribute_table.tbl;
    EXECUTE pg_catalog.format('DROP TABLE %s', tbl);
    EXECUTE pg_catalog.format('ALTER TABLE %s RENAME TO %I', newtbl, rel.relname);
    PERFORM hashring._inject('undistribute:before_commit');
    COMMIT;

    -- every row is local and committed: the shard tables go
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    FOR i IN 1 .. COALESCE(pg_catalog.cardinality(drops), 0) LOOP
        BEGIN
            PERFORM hashring._shard_exec(dsrv[i], dnodes[i], pg_catalog.format('DROP TABLE IF EXISTS %s', drops[i]));
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'could not drop shard table % on node "%": %', drops[i], dnodes[i], SQLERRM
                USING HINT = 'Its rows are in the local table already: drop it on the node by hand.';
        END;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE hashring.undistribute_table(regclass) IS 'brings every row of a distributed table back into one local table and drops the shard tables';

/*
 * Schema changes of distributed tables go through hashring's utility hook
 * (src/ddl.c), which exists once the library is loaded.  A session that
 * has not loaded it yet loads it when this trigger fires, too late for the
 * statement under way: the trigger refuses that statement if it concerns a
 * distributed table, rather than let it change the coordinator alone.
 */
CREATE FUNCTION hashring._ddl_guard()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'hashring_ddl_guard';
COMMENT ON FUNCTION hashring._ddl_guard() IS 'internal: refuses a schema change of a distributed table that bypassed hashring''s hook';
CREATE EVENT TRIGGER hashring_ddl_guard ON ddl_command_start EXECUTE FUNCTION hashring._ddl_guard();
COMMENT ON EVENT TRIGGER hashring_ddl_guard IS 'refuses schema changes of distributed tables made before hashring was loaded in the session';


/* ------------------------------------------------------------------------
 * shard moves (issue 28): move_shard, rebalance_table, shard_move_progress
 * ---------------------------------------------------------------------- */

/*
 * One row per shard of a distributed table that moved or is moving: the
 * last move of that shard.  'copying' while the move's transaction runs
 * (or after it failed: last_error), 'catching up' while a logical move's
 * subscription streams the changes made since its copy, 'dropping source'
 * once the shard is on its new node and the old shard table is still to
 * be dropped, 'done'.  repl: the name of a logical move's publication,
 * subscription and slot while they may exist.  Written by move_shard in
 * transactions of their own, so that other sessions see them.
 */
CREATE TABLE hashring.shard_moves (
    tbl            regclass         NOT NULL REFERENCES hashring.distributed_tables (tbl) ON DELETE CASCADE,
    shard          integer          NOT NULL,
    source         text             NOT NULL,
    target         text             NOT NULL,
    phase          text             NOT NULL CHECK (phase IN ('copying', 'catching up', 'dropping source', 'done')),
    mode           text             NOT NULL DEFAULT 'block_writes' CHECK (mode IN ('block_writes', 'logical')),
    pid            integer,
    lock_key       bigint           NOT NULL,
    repl           text,
    rows_copied    bigint,
    copy_ms        double precision,
    lag_bytes      bigint,
    write_block_ms double precision,
    started_at     timestamptz      NOT NULL,
    updated_at     timestamptz      NOT NULL,
    last_error     text,
    PRIMARY KEY (tbl, shard)
);
COMMENT ON TABLE hashring.shard_moves IS 'the last move of each shard of a distributed table that moved: phase, rows, how long writes waited';

CREATE VIEW hashring.shard_move_progress AS
SELECT m.tbl, m.shard, m.source, m.target, m.phase, m.mode,
       -- running: that backend holds the move's advisory lock (in each of its transactions)
       EXISTS (SELECT 1 FROM pg_catalog.pg_locks AS l
                WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted
                  AND l.pid OPERATOR(pg_catalog.=) m.pid AND l.objsubid OPERATOR(pg_catalog.=) 1
                  AND l.classid::pg_catalog.int8 OPERATOR(pg_catalog.=) ((m.lock_key OPERATOR(pg_catalog.>>) 32) OPERATOR(pg_catalog.&) 4294967295)
                  AND l.objid::pg_catalog.int8 OPERATOR(pg_catalog.=) (m.lock_key OPERATOR(pg_catalog.&) 4294967295)) AS running,
       m.pid,
       -- while the copy runs, what pg_stat_progress_copy says has reached the new node
       COALESCE(m.rows_copied, p.tuples_processed) AS rows_copied, p.bytes_processed AS bytes_copied,
       -- logical: the WAL the subscription had yet to confirm, when last polled
       m.lag_bytes, m.write_block_ms, m.started_at, m.updated_at, m.last_error
  FROM hashring.shard_moves AS m
  LEFT JOIN hashring.shards AS s ON s.tbl OPERATOR(pg_catalog.=) m.tbl AND s.shard OPERATOR(pg_catalog.=) m.shard
  LEFT JOIN pg_catalog.pg_stat_progress_copy AS p
         ON m.phase OPERATOR(pg_catalog.=) 'copying' AND p.pid OPERATOR(pg_catalog.=) m.pid AND p.relid OPERATOR(pg_catalog.=) s.partition
 WHERE m.phase OPERATOR(pg_catalog.<>) 'done';
COMMENT ON VIEW hashring.shard_move_progress IS 'shard moves running or interrupted: phase, mode, rows and bytes copied (live during the copy), replication lag, how long writes waited, the last error';

CREATE FUNCTION hashring._shard_transfer(src_server text, src_node text, dst_server text, dst_node text,
                                         shard_table text, channel text, part regclass)
RETURNS bigint
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'hashring_shard_transfer';
COMMENT ON FUNCTION hashring._shard_transfer(text, text, text, text, text, text, regclass) IS 'internal: streams a shard table from its node to another (COPY out, COPY in), in pg_stat_progress_copy under the partition';

CREATE FUNCTION hashring._node_conninfo(server text, node text)
RETURNS text
LANGUAGE C STRICT STABLE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'hashring_node_conninfo';
COMMENT ON FUNCTION hashring._node_conninfo(text, text) IS 'internal: the libpq connection string of a node''s server for the current user (a logical move''s subscription)';

/*
 * Copies shard `shard` of each table of the group from node src to node
 * dst (_shard_transfer: stables[i] there into nsps[i].tnames[i] here, in
 * pg_stat_progress_copy under parts[i]), records each table's rows and
 * copy time in shard_moves, and returns the rows: the copy of a
 * block_writes move and of a logical move's copy step.
 */
CREATE FUNCTION hashring._shard_move_copy(src_server text, src text, dst_server text, dst text, grp regclass[], shard integer,
                                          stables text[], nsps name[], tnames name[], parts regclass[])
RETURNS bigint[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rows bigint[] := ARRAY[]::bigint[];
    t0   timestamptz;
BEGIN
    FOR i IN 1 .. pg_catalog.array_length(grp, 1) LOOP
        t0 := pg_catalog.clock_timestamp();
        rows := rows OPERATOR(pg_catalog.||) hashring._shard_transfer(src_server, src, dst_server, dst, stables[i],
                                                                      pg_catalog.format('%I.%I', nsps[i], tnames[i]), parts[i]);
        UPDATE hashring.shard_moves AS x
           SET rows_copied = rows[i], updated_at = pg_catalog.clock_timestamp(),
               copy_ms = pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0) OPERATOR(pg_catalog.*) 1000
         WHERE x.tbl OPERATOR(pg_catalog.=) grp[i] AND x.shard OPERATOR(pg_catalog.=) _shard_move_copy.shard;
    END LOOP;
    RETURN rows;
END
$$;
COMMENT ON FUNCTION hashring._shard_move_copy(text, text, text, text, regclass[], integer, text[], name[], name[], regclass[]) IS 'internal: copies a shard of a colocated group''s tables from one node to another and records rows and copy time in shard_moves';

/*
 * The columns, constraints and indexes of each table of a colocated group,
 * as one string: a logical move compares it at its switch with what it was
 * when the move made the new shard tables.
 */
CREATE FUNCTION hashring._group_shape(grp regclass[])
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT pg_catalog.string_agg(hashring._shard_columns(k.g) OPERATOR(pg_catalog.||) COALESCE(
           (SELECT pg_catalog.string_agg(x.name::text OPERATOR(pg_catalog.||) x.kind::text OPERATOR(pg_catalog.||) x.definition, ',' ORDER BY x.name)
              FROM hashring.distributed_indexes AS x WHERE x.tbl OPERATOR(pg_catalog.=) k.g), ''), ';' ORDER BY k.o)
  FROM pg_catalog.unnest(grp) WITH ORDINALITY AS k(g, o)
$$;
COMMENT ON FUNCTION hashring._group_shape(regclass[]) IS 'internal: the columns and indexes of a colocated group''s tables, as one string';

CREATE FUNCTION hashring._shard_move_slot(src_server text, src_node text, slot text)
RETURNS text
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'hashring_shard_move_slot';
COMMENT ON FUNCTION hashring._shard_move_slot(text, text, text) IS 'internal: creates a logical move''s replication slot on the old node and begins the copy''s remote transaction on its exported snapshot';

CREATE FUNCTION hashring._partition_block_writes(part regclass)
RETURNS void
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'hashring_partition_block_writes';
COMMENT ON FUNCTION hashring._partition_block_writes(regclass) IS 'internal: makes writes to a foreign partition wait until the end of the transaction (EXCLUSIVE lock)';

CREATE FUNCTION hashring._partition_set_server(part regclass, server text)
RETURNS void
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'hashring_partition_set_server';
COMMENT ON FUNCTION hashring._partition_set_server(regclass, text) IS 'internal: points a foreign partition at another foreign server';

/*
 * Drops what a logical move made for its replication (all named repl): the
 * subscription on the new node dst (with its slot on the old node src; when
 * src cannot be reached, the subscription alone), then the publication and
 * a slot left on src.  A NULL server is a node no longer in the ring:
 * skipped.  Autocommit on the nodes; a warning for each thing that could
 * not be dropped; returns whether everything is gone.
 */
CREATE FUNCTION hashring._shard_move_unsubscribe(src_server text, src text, dst_server text, dst text, repl text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gone boolean := src_server IS NOT NULL AND dst_server IS NOT NULL;
BEGIN
    IF dst_server IS NOT NULL THEN
        BEGIN
            IF hashring._node_command(dst_server, dst, pg_catalog.format(
                   'SELECT pg_catalog.count(*) FROM pg_catalog.pg_subscription AS s JOIN pg_catalog.pg_database AS d ON d.oid OPERATOR(pg_catalog.=) s.subdbid '
                   'WHERE s.subname OPERATOR(pg_catalog.=) %L AND d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()', repl)) OPERATOR(pg_catalog.<>) '0' THEN
                BEGIN
                    PERFORM hashring._node_command(dst_server, dst, pg_catalog.format('DROP SUBSCRIPTION %I', repl));
                EXCEPTION WHEN OTHERS THEN
                    -- the old node cannot drop its slot now: the subscription goes without it
                    PERFORM hashring._node_command(dst_server, dst, pg_catalog.format('ALTER SUBSCRIPTION %I DISABLE', repl));
                    PERFORM hashring._node_command(dst_server, dst, pg_catalog.format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', repl));
                    PERFORM hashring._node_command(dst_server, dst, pg_catalog.format('DROP SUBSCRIPTION %I', repl));
                END;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'could not drop subscription "%" on node "%": %', repl, dst, SQLERRM
                USING HINT = 'It belongs to an interrupted shard move: call move_shard again, or drop it on that server.';
            gone := false;
        END;
    END IF;
    IF src_server IS NOT NULL THEN
        BEGIN
            PERFORM hashring._node_command(src_server, src, pg_catalog.format('DROP PUBLICATION IF EXISTS %I', repl));
            IF hashring._node_command(src_server, src, pg_catalog.format(
                   'SELECT pg_catalog.count(pg_catalog.pg_drop_replication_slot(slot_name)) FROM pg_catalog.pg_replication_slots '
                   'WHERE slot_name OPERATOR(pg_catalog.=) %L AND NOT active', repl)) OPERATOR(pg_catalog.=) '0'
               AND hashring._node_command(src_server, src, pg_catalog.format(
                   'SELECT pg_catalog.count(*) FROM pg_catalog.pg_replication_slots WHERE slot_name OPERATOR(pg_catalog.=) %L', repl)) OPERATOR(pg_catalog.<>) '0' THEN
                RAISE EXCEPTION 'replication slot "%" is in use', repl;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'could not drop publication and replication slot "%" on node "%": %', repl, src, SQLERRM
                USING HINT = 'A slot keeps the server''s WAL: call move_shard again, or drop it on that server (pg_drop_replication_slot).';
            gone := false;
        END;
    END IF;
    RETURN gone;
END
$$;
COMMENT ON FUNCTION hashring._shard_move_unsubscribe(text, text, text, text, text) IS 'internal: drops a logical shard move''s subscription, publication and replication slot';

/*
 * Finishes what earlier moves of the group's shard `shard` left:
 *   - a move that committed but did not drop its old shard tables: its
 *     replication (a logical move's) and the old tables go, unless the
 *     shard is back on that node;
 *   - a logical move that failed or was killed before its commit (and is
 *     not running: its lock is free): its subscription, publication and
 *     slot, and the new shard tables it made on the target.
 * Autocommit on the nodes; returns how many tables remain to be dropped.
 */
CREATE FUNCTION hashring._shard_move_cleanup(grp regclass[], shard integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m     record;
    remaining integer := 0;
    unsub text[] := ARRAY[]::text[];
BEGIN
    FOR m IN SELECT x.tbl, x.source, x.target, x.phase, x.repl, x.lock_key, s.node, s.shard_table,
                    v.srvname::text AS server, w.srvname::text AS dst_server
               FROM hashring.shard_moves AS x
               JOIN hashring.shards AS s ON s.tbl OPERATOR(pg_catalog.=) x.tbl AND s.shard OPERATOR(pg_catalog.=) x.shard
               JOIN hashring.distributed_tables AS d ON d.tbl OPERATOR(pg_catalog.=) x.tbl
               LEFT JOIN hashring.nodes AS n ON n.ring OPERATOR(pg_catalog.=) d.ring AND n.node OPERATOR(pg_catalog.=) x.source
               LEFT JOIN pg_catalog.pg_foreign_server AS v ON v.srvname OPERATOR(pg_catalog.=) n.target
               LEFT JOIN hashring.nodes AS nt ON nt.ring OPERATOR(pg_catalog.=) d.ring AND nt.node OPERATOR(pg_catalog.=) x.target
               LEFT JOIN pg_catalog.pg_foreign_server AS w ON w.srvname OPERATOR(pg_catalog.=) nt.target
              WHERE x.tbl OPERATOR(pg_catalog.=) ANY (grp) AND x.shard OPERATOR(pg_catalog.=) _shard_move_cleanup.shard
                AND (x.phase OPERATOR(pg_catalog.=) 'dropping source'
                     OR (x.repl IS NOT NULL AND pg_catalog.pg_try_advisory_xact_lock(x.lock_key)))
              ORDER BY x.tbl::pg_catalog.oid LOOP
        IF m.repl IS NOT NULL AND NOT m.repl OPERATOR(pg_catalog.=) ANY (unsub) THEN
            IF NOT hashring._shard_move_unsubscribe(m.server, m.source, m.dst_server, m.target, m.repl) THEN
                remaining := remaining OPERATOR(pg_catalog.+) 1;
                CONTINUE;
            END IF;
            unsub := unsub OPERATOR(pg_catalog.||) m.repl;
        END IF;
        IF m.phase OPERATOR(pg_catalog.<>) 'dropping source' THEN
            -- an interrupted logical move: the new table on its target goes
            IF m.node OPERATOR(pg_catalog.<>) m.target AND m.dst_server IS NOT NULL THEN
                BEGIN
                    PERFORM hashring._node_command(m.dst_server, m.target, pg_catalog.format('DROP TABLE IF EXISTS %s', m.shard_table));
                EXCEPTION WHEN OTHERS THEN
                    RAISE WARNING 'could not drop the half-moved shard table % on node "%": %', m.shard_table, m.target, SQLERRM
                        USING HINT = 'Call move_shard again to retry, or drop it by hand: the shard''s rows are on node "' || m.node || '".';
                    remaining := remaining OPERATOR(pg_catalog.+) 1;
                    CONTINUE;
                END;
            END IF;
            UPDATE hashring.shard_moves AS x SET repl = NULL, updated_at = pg_catalog.clock_timestamp()
             WHERE x.tbl OPERATOR(pg_catalog.=) m.tbl AND x.shard OPERATOR(pg_catalog.=) _shard_move_cleanup.shard;
            CONTINUE;
        END IF;
        IF m.node OPERATOR(pg_catalog.<>) m.source THEN
            IF m.server IS NULL THEN
                RAISE WARNING 'cannot drop the old shard table % on node "%": the node is no longer in the ring', m.shard_table, m.source
                    USING HINT = 'Drop it on that server by hand; its rows are on the shard''s new node.';
                remaining := remaining OPERATOR(pg_catalog.+) 1;
                CONTINUE;
            END IF;
            BEGIN
                PERFORM hashring._node_command(m.server, m.source, pg_catalog.format('DROP TABLE IF EXISTS %s', m.shard_table));
            EXCEPTION WHEN OTHERS THEN
                RAISE WARNING 'could not drop the old shard table % on node "%": %', m.shard_table, m.source, SQLERRM
                    USING HINT = 'Call move_shard again to retry, or drop it by hand: its rows are on the shard''s new node.';
                UPDATE hashring.shard_moves AS x SET last_error = SQLERRM, updated_at = pg_catalog.clock_timestamp()
                 WHERE x.tbl OPERATOR(pg_catalog.=) m.tbl AND x.shard OPERATOR(pg_catalog.=) _shard_move_cleanup.shard;
                remaining := remaining OPERATOR(pg_catalog.+) 1;
                CONTINUE;
            END;
        END IF;
        UPDATE hashring.shard_moves AS x SET phase = 'done', repl = NULL, updated_at = pg_catalog.clock_timestamp()
         WHERE x.tbl OPERATOR(pg_catalog.=) m.tbl AND x.shard OPERATOR(pg_catalog.=) _shard_move_cleanup.shard;
    END LOOP;
    RETURN remaining;
END
$$;
COMMENT ON FUNCTION hashring._shard_move_cleanup(regclass[], integer) IS 'internal: drops the old shard tables of committed moves, and what interrupted logical moves left on the nodes';

/*
 * Creates the shard tables of shard `shard` of the group's tables on node,
 * named tnames (as on the node that holds them: a subscription matches
 * tables by name, and a split shard's table has a name of its own), their
 * schemas first, committed at once, in the remote transactions bound to
 * this one: they commit with it.
 */
CREATE FUNCTION hashring._shard_move_create(server text, node text, grp regclass[], nsps name[], rels name[], persist "char"[], shard integer, tnames name[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    i      integer;
    inames name[];
    ikinds "char"[];
    idefs  text[];
BEGIN
    PERFORM hashring._node_command(server, node, pg_catalog.format('CREATE SCHEMA IF NOT EXISTS %I', x)) FROM pg_catalog.unnest(nsps) AS x GROUP BY x;
    FOR i IN 1 .. pg_catalog.cardinality(grp) LOOP
        SELECT pg_catalog.array_agg(x.name ORDER BY x.name), pg_catalog.array_agg(x.kind ORDER BY x.name), pg_catalog.array_agg(x.definition ORDER BY x.name)
          INTO inames, ikinds, idefs
          FROM hashring.distributed_indexes AS x WHERE x.tbl OPERATOR(pg_catalog.=) grp[i];
        PERFORM hashring._shard_create(server, node, nsps[i], rels[i], shard, persist[i] OPERATOR(pg_catalog.=) 'u',
                                       hashring._shard_columns(grp[i]), inames, ikinds, idefs, tnames[i]);
    END LOOP;
END
$$;
COMMENT ON FUNCTION hashring._shard_move_create(text, text, regclass[], name[], name[], "char"[], integer, name[]) IS 'internal: creates the shard tables of a moving shard on its new node';

/*
 * Raises the error of a logical move whose subscription on node is gone or
 * whose workers failed (a row the new table refuses, a missing privilege,
 * a full disk...).  Asks the node in the remote transaction bound to this
 * one (channel move_shard:target), with fresh statistics each time.
 */
CREATE FUNCTION hashring._shard_move_sub_check(server text, node text, repl text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    failed text;
BEGIN
    failed := hashring._shard_exec(server, node, pg_catalog.format(
        'SELECT pg_catalog.pg_stat_clear_snapshot(); '
        'SELECT (SELECT COALESCE(pg_catalog.sum(t.apply_error_count OPERATOR(pg_catalog.+) t.sync_error_count), 0) '
        '          FROM pg_catalog.pg_stat_subscription_stats AS t WHERE t.subid OPERATOR(pg_catalog.=) s.oid) '
        '  FROM pg_catalog.pg_subscription AS s JOIN pg_catalog.pg_database AS d ON d.oid OPERATOR(pg_catalog.=) s.subdbid '
        ' WHERE s.subname OPERATOR(pg_catalog.=) %L AND d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()', repl), 'move_shard:target');
    IF failed IS NULL THEN
        RAISE EXCEPTION 'the subscription "%" of the move is gone from node "%"', repl, node USING ERRCODE = 'object_not_in_prerequisite_state';
    ELSIF failed OPERATOR(pg_catalog.<>) '0' THEN
        RAISE EXCEPTION 'the subscription "%" of the move failed on node "%"', repl, node
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Its workers failed %s time(s); the server log of node "%s" says why.', failed, node),
                  HINT = 'Remove the cause (a row the new table refuses, a missing privilege, a full disk), then call move_shard again; mode => ''block_writes'' copies without replication.';
    END IF;
END
$$;
COMMENT ON FUNCTION hashring._shard_move_sub_check(text, text, text) IS 'internal: raises the error of a logical shard move whose subscription failed or is gone';

/*
 * The transaction-level advisory lock of one shard's move (move_shard takes
 * it in the transaction that records the move and again in the one that
 * moves it): held by another session, that session is moving the shard.
 */
CREATE FUNCTION hashring._shard_move_lock(lock_key bigint, shard integer, tname text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_catalog.pg_try_advisory_xact_lock(lock_key) THEN
        RAISE EXCEPTION 'shard % of % is being moved by another session', shard, tname
            USING ERRCODE = 'lock_not_available', HINT = 'hashring.shard_move_progress shows the move.';
    END IF;
END
$$;
COMMENT ON FUNCTION hashring._shard_move_lock(bigint, integer, text) IS 'internal: the advisory lock of a shard''s move, or 55P03';

/*
 * Moves shard `shard` of tbl, and of every table colocated with it, to
 * node, then the coordinator's partitions read and write the new node's
 * tables (docs/distributed.md, "Moving shards").  Two ways:
 *   block_writes: writes to that shard wait while it is copied (reads go
 *     on); the move is one transaction (the new shard tables are created
 *     and filled in remote transactions that commit just before it);
 *   logical: the new shard tables are created (committed on the new node),
 *     a publication on the old node and a subscription on the new one copy
 *     the shard and stream every later change, polled in transactions of
 *     their own; writes to the shard wait only in the last transaction,
 *     while the subscription confirms the old node's last WAL position and
 *     the partitions are switched.
 *   auto (the default): logical when the old node's wal_level is logical
 *     and every table of the group is logged and has a primary key.
 * A first transaction records the move (shard_moves); after the switch the
 * old shard tables (and a logical move's replication) are dropped.  A
 * logical move that fails drops what it made on the nodes; one that was
 * killed or cancelled leaves it to the next move of the shard
 * (_shard_move_cleanup).
 */
CREATE PROCEDURE hashring.move_shard(tbl regclass, shard integer, node text, mode text DEFAULT 'auto')
LANGUAGE plpgsql
AS $$
DECLARE
    tname    text := tbl::text;  -- as the caller's search_path names it
    d        record;
    dst      record;
    grp      regclass[];
    parts    regclass[];
    stables  text[];
    tnames   name[];  -- the shard tables' names (without schema), the same on the new node
    rels     name[];
    nsps     name[];
    persist  "char"[];
    srcs     text[];
    src      text;
    srcsrv   text;
    srcstate text;
    lockkey  bigint;
    n        integer;
    i        integer;
    rows     bigint[];
    total    bigint := 0;
    t0       timestamptz;
    blocked  double precision;
    e_state  text;
    e_msg    text;
    e_detail text;
    e_hint   text;
    how      text;  -- block_writes or logical
    why      text;  -- why not logical
    repl     text;  -- a logical move's publication, subscription and slot
    shape    text;  -- the group's columns and indexes when the logical move began
    step     text;
    st       text;
    lsn      text;
    lag      bigint;
    slot_st  text;  -- a logical move's slot: its lag and whether it streams
    tsub     timestamptz;  -- when the logical move's subscription was created
    timeout  interval := COALESCE(pg_catalog.current_setting('hashring.move_catchup_timeout', true), '30s')::pg_catalog.interval;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF tbl IS NULL OR shard IS NULL OR node IS NULL OR mode IS NULL THEN
        RAISE EXCEPTION 'table, shard, node and mode must not be null' USING ERRCODE = 'null_value_not_allowed';
    ELSIF mode OPERATOR(pg_catalog.<>) ALL (ARRAY['auto', 'logical', 'block_writes']) THEN
        RAISE EXCEPTION 'unknown shard move mode "%"', mode
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The modes are auto, logical and block_writes.';
    END IF;
    PERFORM hashring._prevent_transaction_block('CALL hashring.move_shard()');
    d := hashring._distributed(tbl);
    IF d.split_to IS NOT NULL THEN
        RAISE EXCEPTION 'the shards of % are being split into %', tname, d.split_to
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = pg_catalog.format('CALL hashring.split_shards(%L, %s) to finish the split first.', tname, d.split_to OPERATOR(pg_catalog./) d.shard_count);
    END IF;
    IF shard OPERATOR(pg_catalog.<) 0 OR shard OPERATOR(pg_catalog.>=) d.shard_count THEN
        RAISE EXCEPTION 'table % has no shard %', tname, shard
            USING ERRCODE = 'invalid_parameter_value', DETAIL = pg_catalog.format('Its shards are 0 to %s.', d.shard_count OPERATOR(pg_catalog.-) 1);
    END IF;
    SELECT m.node, m.state, m.target, v.srvname, w.fdwname INTO dst
      FROM hashring.nodes AS m
      LEFT JOIN pg_catalog.pg_foreign_server AS v ON v.srvname OPERATOR(pg_catalog.=) m.target
      LEFT JOIN pg_catalog.pg_foreign_data_wrapper AS w ON w.oid OPERATOR(pg_catalog.=) v.srvfdw
     WHERE m.ring OPERATOR(pg_catalog.=) d.ring AND m.node OPERATOR(pg_catalog.=) move_shard.node;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'node "%" is not in ring "%"', node, d.ring USING ERRCODE = 'undefined_object';
    ELSIF dst.target IS NULL THEN
        RAISE EXCEPTION 'node "%" of ring "%" has no target', node, d.ring
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'A node that holds shards names a postgres_fdw server: hashring.ring_add_node(ring, node, target => ''server'').';
    ELSIF dst.srvname IS NULL THEN
        RAISE EXCEPTION 'foreign server "%" (target of node "%") does not exist', dst.target, node USING ERRCODE = 'undefined_object';
    ELSIF dst.fdwname OPERATOR(pg_catalog.<>) 'postgres_fdw' THEN
        RAISE EXCEPTION 'foreign server "%" (target of node "%") does not use postgres_fdw', dst.target, node
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    -- the colocation group moves together: shard s of each of its tables is on one node
    SELECT pg_catalog.array_agg(t.tbl ORDER BY t.distributed_at, t.tbl::pg_catalog.oid) INTO grp
      FROM hashring.distributed_tables AS t
     WHERE t.ring OPERATOR(pg_catalog.=) d.ring AND t.shard_count OPERATOR(pg_catalog.=) d.shard_count;
    n := pg_catalog.cardinality(grp);
    SELECT pg_catalog.array_agg(s.partition ORDER BY k.o), pg_catalog.array_agg(s.shard_table ORDER BY k.o),
           pg_catalog.array_agg(c.relname ORDER BY k.o), pg_catalog.array_agg(ns.nspname ORDER BY k.o),
           pg_catalog.array_agg(c.relpersistence ORDER BY k.o), pg_catalog.array_agg(s.node ORDER BY k.o)
      INTO parts, stables, rels, nsps, persist, srcs
      FROM pg_catalog.unnest(grp) WITH ORDINALITY AS k(tbl, o)
      JOIN hashring.shards AS s ON s.tbl OPERATOR(pg_catalog.=) k.tbl AND s.shard OPERATOR(pg_catalog.=) move_shard.shard
      JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) k.tbl
      JOIN pg_catalog.pg_namespace AS ns ON ns.oid OPERATOR(pg_catalog.=) c.relnamespace;
    SELECT pg_catalog.array_agg((pg_catalog.parse_ident(x))[2]::name ORDER BY o) INTO tnames
      FROM pg_catalog.unnest(stables) WITH ORDINALITY AS k(x, o);
    FOR i IN 1 .. n LOOP
        IF NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid OPERATOR(pg_catalog.=) grp[i]), 'USAGE') THEN
            IF grp[i] OPERATOR(pg_catalog.=) tbl THEN
                RAISE EXCEPTION 'must be owner of table %', tname USING ERRCODE = 'insufficient_privilege';
            END IF;
            RAISE EXCEPTION 'must be owner of table %', grp[i] USING ERRCODE = 'insufficient_privilege',
                DETAIL = pg_catalog.format('It is colocated with %s: its shard %s moves too.', tname, shard);
        END IF;
    END LOOP;

    -- an earlier move of this shard that committed but did not drop its old tables
    PERFORM hashring._shard_move_cleanup(grp, shard);
    COMMIT;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);

    SELECT pg_catalog.array_agg(DISTINCT x) INTO srcs FROM pg_catalog.unnest(srcs) AS x;
    IF pg_catalog.cardinality(srcs) OPERATOR(pg_catalog.<>) 1 THEN
        RAISE EXCEPTION 'shard % of the tables colocated with % is on several nodes: %', shard, tname, pg_catalog.array_to_string(srcs, ', ')
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Move each table''s shard to one node first.';
    END IF;
    src := srcs[1];
    IF src OPERATOR(pg_catalog.=) node THEN
        RAISE NOTICE 'shard % of % is on node "%" already', shard, tname, node;
        RETURN;
    END IF;
    SELECT m.state INTO srcstate FROM hashring.nodes AS m WHERE m.ring OPERATOR(pg_catalog.=) d.ring AND m.node OPERATOR(pg_catalog.=) src;
    IF srcstate OPERATOR(pg_catalog.=) 'down' THEN
        RAISE EXCEPTION 'node "%" is down: shard % of % cannot be copied from it', src, shard, tname
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'A shard is copied from the node that holds it. Bring the node back, or promote its streaming standby and point the node''s target at it (docs/distributed.md, "Moving shards").';
    END IF;
    SELECT v.srvname INTO srcsrv FROM pg_catalog.pg_foreign_table AS f JOIN pg_catalog.pg_foreign_server AS v ON v.oid OPERATOR(pg_catalog.=) f.ftserver
     WHERE f.ftrelid OPERATOR(pg_catalog.=) parts[1];

    -- logical where the old node can publish every table of the group
    how := mode;
    IF mode OPERATOR(pg_catalog.<>) 'block_writes' THEN
        -- wal_level, max_wal_senders, max_replication_slots of the old node's server
        st := hashring._node_command(srcsrv, src, 'SELECT pg_catalog.current_setting(''wal_level'') || '' '' || pg_catalog.current_setting(''max_wal_senders'') '
                                                  '|| '' '' || pg_catalog.current_setting(''max_replication_slots'')');
        why := CASE
            WHEN pg_catalog.split_part(st, ' ', 1) OPERATOR(pg_catalog.<>) 'logical' OR pg_catalog.split_part(st, ' ', 2) OPERATOR(pg_catalog.=) '0'
                 OR pg_catalog.split_part(st, ' ', 3) OPERATOR(pg_catalog.=) '0'
                THEN pg_catalog.format('the server of node "%s" has wal_level = %s, max_wal_senders = %s, max_replication_slots = %s',
                                       src, pg_catalog.split_part(st, ' ', 1), pg_catalog.split_part(st, ' ', 2), pg_catalog.split_part(st, ' ', 3))
            WHEN 'u' OPERATOR(pg_catalog.=) ANY (persist) THEN 'an unlogged table is not replicated'
            ELSE (SELECT pg_catalog.format('table %s has no primary key', g) FROM pg_catalog.unnest(grp) AS g
                   WHERE NOT EXISTS (SELECT FROM hashring.distributed_indexes AS x
                                      WHERE x.tbl OPERATOR(pg_catalog.=) g AND x.kind OPERATOR(pg_catalog.=) 'p') LIMIT 1)
        END;
        IF why IS NULL THEN
            how := 'logical';
        ELSIF mode OPERATOR(pg_catalog.=) 'logical' THEN
            RAISE EXCEPTION 'shard % of % cannot be moved logically: %', shard, tname, why
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'A logical move needs wal_level = logical and free WAL senders and replication slots on the old node''s server, and a primary key on every table of the group, none unlogged; mode => ''block_writes'' moves it with writes waiting.';
        ELSE
            how := 'block_writes';
        END IF;
    END IF;

    -- recorded, and visible to other sessions, before the move starts
    lockkey := (pg_catalog.hashtext('hashring.move_shard')::bigint OPERATOR(pg_catalog.<<) 32)
               OPERATOR(pg_catalog.|) (pg_catalog.hashtext(pg_catalog.format('%s/%s', grp[1]::pg_catalog.oid, shard))::bigint OPERATOR(pg_catalog.&) 4294967295);
    -- a move of this shard under way holds the lock in its main transaction
    -- (below): refused before its rows are touched
    PERFORM hashring._shard_move_lock(lockkey, shard, tname);
    IF how OPERATOR(pg_catalog.=) 'logical' THEN
        repl := pg_catalog.format('hashring_move_%s_%s', grp[1]::pg_catalog.oid, shard);
    END IF;
    INSERT INTO hashring.shard_moves AS x (tbl, shard, source, target, phase, mode, pid, lock_key, repl, started_at, updated_at)
    SELECT g, move_shard.shard, src, move_shard.node, 'copying', how, pg_catalog.pg_backend_pid(), lockkey, repl,
           pg_catalog.clock_timestamp(), pg_catalog.clock_timestamp()
      FROM pg_catalog.unnest(grp) AS g
    ON CONFLICT ON CONSTRAINT shard_moves_pkey DO UPDATE
       SET source = excluded.source, target = excluded.target, phase = 'copying', mode = excluded.mode, pid = excluded.pid,
           lock_key = excluded.lock_key, repl = excluded.repl, rows_copied = NULL, copy_ms = NULL, lag_bytes = NULL, write_block_ms = NULL,
           started_at = excluded.started_at, updated_at = excluded.updated_at, last_error = NULL;
    COMMIT;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);

    -- block_writes: one step; logical: prepare, subscribe, sync (repeated
    -- until the subscription has the shard and little WAL to catch up),
    -- switch.  Each step is a transaction.
    step := CASE how WHEN 'logical' THEN 'prepare' ELSE 'switch' END;
    LOOP
        -- outside the block below: the loser of a race for the same shard
        -- leaves the winner's rows alone
        PERFORM hashring._shard_move_lock(lockkey, shard, tname);
        BEGIN
            -- no schema change of the group meanwhile (DML goes on)
            FOR i IN 1 .. n LOOP
                EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN SHARE UPDATE EXCLUSIVE MODE', grp[i]);
            END LOOP;
            IF step OPERATOR(pg_catalog.=) 'prepare' THEN
                shape := hashring._group_shape(grp);
                PERFORM hashring._shard_move_create(dst.target, node, grp, nsps, rels, persist, shard, tnames);
                PERFORM hashring._node_command(srcsrv, src, pg_catalog.format('DROP PUBLICATION IF EXISTS %1$I; CREATE PUBLICATION %1$I FOR TABLE %2$s',
                                                                              repl, pg_catalog.array_to_string(stables, ', ')));
                PERFORM hashring._inject('move:after_create');
                step := 'copy';  -- once the new tables are committed
            ELSIF step OPERATOR(pg_catalog.=) 'copy' THEN
                -- the slot, and the rows committed before its first change, through
                -- this backend as a block_writes move copies them (writes go on: the
                -- slot keeps them for the subscription)
                PERFORM hashring._shard_move_slot(srcsrv, src, repl);
                rows := hashring._shard_move_copy(srcsrv, src, dst.target, node, grp, shard, stables, nsps, tnames, parts);
                step := 'subscribe';
            ELSIF step OPERATOR(pg_catalog.=) 'subscribe' THEN
                -- on the slot, which the copy began at: no copy of its own.
                -- synchronous_commit: what it applied is confirmed at once, not when
                -- the new node's WAL writer next flushes (the last catch-up waits for it)
                PERFORM hashring._node_command(dst.target, node, pg_catalog.format(
                    'CREATE SUBSCRIPTION %1$I CONNECTION %2$L PUBLICATION %1$I '
                    'WITH (create_slot = false, slot_name = %1$L, copy_data = false, synchronous_commit = on)',
                    repl, hashring._node_conninfo(srcsrv, src)));
                tsub := pg_catalog.clock_timestamp();
                step := 'sync';
            ELSIF step OPERATOR(pg_catalog.=) 'sync' THEN
                -- on the new node: tables not yet copied, all tables
                PERFORM hashring._shard_move_sub_check(dst.target, node, repl);
                st := hashring._shard_exec(dst.target, node, pg_catalog.format(
                    'SELECT pg_catalog.count(*) FILTER (WHERE r.srsubstate OPERATOR(pg_catalog.<>) ''r'') || '' '' || pg_catalog.count(*) '
                    '  FROM pg_catalog.pg_subscription AS s JOIN pg_catalog.pg_database AS d ON d.oid OPERATOR(pg_catalog.=) s.subdbid '
                    '  JOIN pg_catalog.pg_subscription_rel AS r ON r.srsubid OPERATOR(pg_catalog.=) s.oid '
                    ' WHERE s.subname OPERATOR(pg_catalog.=) %L AND d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()', repl), 'move_shard:target');
                -- on the old node: the WAL the subscription has yet to confirm, and
                -- whether its worker streams (the switch waits for it with writes blocked)
                slot_st := hashring._node_command(srcsrv, src, pg_catalog.format(
                    'SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn)::pg_catalog.int8 || '' '' || active '
                    '  FROM pg_catalog.pg_replication_slots WHERE slot_name OPERATOR(pg_catalog.=) %L', repl));
                lag := pg_catalog.split_part(slot_st, ' ', 1)::bigint;
                IF pg_catalog.split_part(st, ' ', 1) OPERATOR(pg_catalog.=) '0' AND pg_catalog.split_part(st, ' ', 2) OPERATOR(pg_catalog.=) n::text THEN
                    UPDATE hashring.shard_moves AS x SET phase = 'catching up', lag_bytes = lag, updated_at = pg_catalog.clock_timestamp()
                     WHERE x.tbl OPERATOR(pg_catalog.=) ANY (grp) AND x.shard OPERATOR(pg_catalog.=) move_shard.shard;
                    -- a little left, and the worker streams: the rest is caught up
                    -- with writes blocked
                    IF lag OPERATOR(pg_catalog.<) 16777216 AND pg_catalog.split_part(slot_st, ' ', 2) OPERATOR(pg_catalog.=) 'true' THEN
                        step := 'switch';
                    END IF;
                ELSE
                    UPDATE hashring.shard_moves AS x SET lag_bytes = lag, updated_at = pg_catalog.clock_timestamp()
                     WHERE x.tbl OPERATOR(pg_catalog.=) ANY (grp) AND x.shard OPERATOR(pg_catalog.=) move_shard.shard;
                END IF;
                IF pg_catalog.split_part(slot_st, ' ', 2) OPERATOR(pg_catalog.<>) 'true'
                   AND pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) tsub OPERATOR(pg_catalog.>) timeout THEN
                    RAISE EXCEPTION 'the subscription "%" of the move on node "%" has not streamed from node "%" in %', repl, node, src, timeout
                        USING ERRCODE = 'object_not_in_prerequisite_state',
                              HINT = 'Its worker did not start or connect: see max_logical_replication_workers and max_worker_processes on the new node''s server, and its log (hashring.move_catchup_timeout sets the wait). Writes to the shard did not wait.';
                END IF;
                IF step OPERATOR(pg_catalog.=) 'sync' THEN
                    PERFORM pg_catalog.pg_sleep(0.1);
                END IF;
            ELSE
                IF how OPERATOR(pg_catalog.=) 'logical' THEN
                    PERFORM hashring._inject('move:catching_up');
                END IF;
                -- switch: no write to this shard from here to the commit
                FOR i IN 1 .. n LOOP
                    PERFORM hashring._partition_block_writes(parts[i]);
                END LOOP;
                t0 := pg_catalog.clock_timestamp();
                IF EXISTS (SELECT FROM hashring.shards AS s WHERE s.tbl OPERATOR(pg_catalog.=) ANY (grp)
                             AND s.shard OPERATOR(pg_catalog.=) move_shard.shard AND s.node OPERATOR(pg_catalog.<>) src) THEN
                    RAISE EXCEPTION 'shard % of % moved while this move waited for its locks', shard, tname
                        USING ERRCODE = 'serialization_failure', HINT = 'Call move_shard again.';
                END IF;
                PERFORM hashring._inject('move:after_lock');
                IF how OPERATOR(pg_catalog.=) 'block_writes' THEN
                    PERFORM hashring._shard_move_create(dst.target, node, grp, nsps, rels, persist, shard, tnames);
                    PERFORM hashring._inject('move:after_create');
                    rows := hashring._shard_move_copy(srcsrv, src, dst.target, node, grp, shard, stables, nsps, tnames, parts);
                ELSE
                    IF shape IS DISTINCT FROM hashring._group_shape(grp) THEN
                        RAISE EXCEPTION 'the columns or indexes of % or a table colocated with it changed during the move of shard %', tname, shard
                            USING ERRCODE = 'serialization_failure', HINT = 'Call move_shard again: it copies the shard as it is now.';
                    END IF;
                    -- the new node answers (its tables are what the partitions switch to)
                    PERFORM hashring._shard_move_sub_check(dst.target, node, repl);
                    -- every write the old node committed (none comes now) reaches the new
                    -- one: a message committed (and flushed, with all WAL before it) after them
                    lsn := hashring._node_command(srcsrv, src, 'SET synchronous_commit = on; '
                                                  'SELECT pg_catalog.pg_logical_emit_message(true, ''hashring'', ''shard move'')::text');
                    LOOP
                        st := hashring._shard_exec(srcsrv, src, pg_catalog.format(
                            'SELECT confirmed_flush_lsn OPERATOR(pg_catalog.>=) %L::pg_catalog.pg_lsn FROM pg_catalog.pg_replication_slots '
                            'WHERE slot_name OPERATOR(pg_catalog.=) %L', lsn, repl), 'move_shard:source');
                        EXIT WHEN st OPERATOR(pg_catalog.=) 't';
                        PERFORM hashring._shard_move_sub_check(dst.target, node, repl);
                        IF st IS NULL THEN
                            RAISE EXCEPTION 'the replication slot "%" of the move is gone from node "%"', repl, src USING ERRCODE = 'object_not_in_prerequisite_state';
                        ELSIF pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0 OPERATOR(pg_catalog.>) timeout THEN
                            RAISE EXCEPTION 'the subscription of the move on node "%" did not catch up with node "%" in %', node, src, timeout
                                USING ERRCODE = 'object_not_in_prerequisite_state',
                                      HINT = 'Writes to the shard waited for it and go on now. See the server log of the new node; call move_shard again, or use mode => ''block_writes''.';
                        END IF;
                        PERFORM pg_catalog.pg_sleep(0.002);
                    END LOOP;
                END IF;
                PERFORM hashring._inject('move:after_copy');

                FOR i IN 1 .. n LOOP
                    PERFORM hashring._partition_set_server(parts[i], dst.target);
                    UPDATE hashring.shards AS s SET node = move_shard.node
                     WHERE s.tbl OPERATOR(pg_catalog.=) grp[i] AND s.shard OPERATOR(pg_catalog.=) move_shard.shard;
                    UPDATE hashring.shard_moves AS x SET phase = 'dropping source', pid = pg_catalog.pg_backend_pid(), rows_copied = rows[i],
                           lag_bytes = CASE how WHEN 'logical' THEN 0 END, updated_at = pg_catalog.clock_timestamp()
                     WHERE x.tbl OPERATOR(pg_catalog.=) grp[i] AND x.shard OPERATOR(pg_catalog.=) move_shard.shard;
                END LOOP;
                PERFORM hashring._inject('move:before_commit');
                step := NULL;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT, e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
        END;
        EXIT WHEN e_state IS NOT NULL;
        COMMIT;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        EXIT WHEN step IS NULL;
    END LOOP;
    IF e_state IS NOT NULL THEN
        -- nothing moved (the step rolled back, the nodes' transactions with it): say why, where others can see it
        UPDATE hashring.shard_moves AS x SET last_error = e_msg, updated_at = pg_catalog.clock_timestamp()
         WHERE x.tbl OPERATOR(pg_catalog.=) ANY (grp) AND x.shard OPERATOR(pg_catalog.=) move_shard.shard
           AND x.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
        COMMIT;
        IF how OPERATOR(pg_catalog.=) 'logical' THEN
            -- what the logical move made on the nodes goes (what cannot now, the next move of the shard drops)
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            PERFORM hashring._shard_move_cleanup(grp, shard);
            COMMIT;
        END IF;
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_msg, DETAIL = COALESCE(NULLIF(e_detail, ''), 'Nothing moved: the shard is still on node "' || src || '".'),
                              HINT = COALESCE(NULLIF(e_hint, ''), 'Call move_shard again once the cause is gone.');
    END IF;
    COMMIT;
    blocked := pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0) OPERATOR(pg_catalog.*) 1000;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    UPDATE hashring.shard_moves AS x SET write_block_ms = blocked, updated_at = pg_catalog.clock_timestamp()
     WHERE x.tbl OPERATOR(pg_catalog.=) ANY (grp) AND x.shard OPERATOR(pg_catalog.=) move_shard.shard;
    COMMIT;

    -- the shard reads and writes on its new node: the old tables go
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    PERFORM hashring._inject('move:before_drop');
    PERFORM hashring._shard_move_cleanup(grp, shard);
    COMMIT;
    SELECT pg_catalog.sum(r) INTO total FROM pg_catalog.unnest(rows) AS r;
    RAISE NOTICE 'shard % of % moved from node "%" to node "%": % rows in % table(s), writes to the shard waited % ms (%)',
        shard, tname, src, node, total, n, pg_catalog.round(blocked::numeric, 1), how;
END
$$;
COMMENT ON PROCEDURE hashring.move_shard(regclass, integer, text, text) IS 'moves one shard of a distributed table, and of the tables colocated with it, to a node: logically (writes wait only for the last catch-up) or with writes to the shard waiting while it is copied; reads go on';

/*
 * Moves every shard of tbl (and of the tables colocated with it) that
 * table_placement places on another node than the one that holds it, one
 * shard at a time (move_shard).
 */
CREATE PROCEDURE hashring.rebalance_table(tbl regclass, mode text DEFAULT 'auto')
LANGUAGE plpgsql
AS $$
DECLARE
    tname text := tbl::text;
    todo  integer[];
    dests text[];
    i     integer;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF tbl IS NULL OR mode IS NULL THEN
        RAISE EXCEPTION 'table and mode must not be null' USING ERRCODE = 'null_value_not_allowed';
    ELSIF mode OPERATOR(pg_catalog.<>) ALL (ARRAY['auto', 'logical', 'block_writes']) THEN
        RAISE EXCEPTION 'unknown shard move mode "%"', mode
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The modes are auto, logical and block_writes.';
    END IF;
    PERFORM hashring._prevent_transaction_block('CALL hashring.rebalance_table()');
    PERFORM hashring._distributed(tbl);
    -- what interrupted moves left (old shard tables of moves interrupted
    -- after their commit, a logical move's replication), in the whole colocation group
    PERFORM hashring._shard_move_cleanup(ARRAY[sm.tbl], sm.shard)
       FROM hashring.shard_moves AS sm
       JOIN hashring.distributed_tables AS g ON g.tbl OPERATOR(pg_catalog.=) sm.tbl
       JOIN hashring.distributed_tables AS t ON t.tbl OPERATOR(pg_catalog.=) rebalance_table.tbl
      WHERE g.ring OPERATOR(pg_catalog.=) t.ring AND g.shard_count OPERATOR(pg_catalog.=) t.shard_count
        AND (sm.phase OPERATOR(pg_catalog.=) 'dropping source' OR sm.repl IS NOT NULL);
    COMMIT;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    SELECT pg_catalog.array_agg(p.shard ORDER BY p.shard), pg_catalog.array_agg(p.target_node ORDER BY p.shard) INTO todo, dests
      FROM hashring.table_placement(tbl) AS p WHERE p.node IS DISTINCT FROM p.target_node;
    IF todo IS NULL THEN
        RAISE NOTICE 'every shard of % is where the ring places it', tname;
        RETURN;
    END IF;
    RAISE NOTICE '% shard(s) of % to move: %', pg_catalog.cardinality(todo), tname, pg_catalog.array_to_string(todo, ', ');
    COMMIT;
    FOR i IN 1 .. pg_catalog.cardinality(todo) LOOP
        CALL hashring.move_shard(tbl, todo[i], dests[i], mode);
    END LOOP;
END
$$;
COMMENT ON PROCEDURE hashring.rebalance_table(regclass, text) IS 'moves the shards of a distributed table (and its colocated tables) to where the ring''s membership now places them, one shard at a time';


-- nothing for PUBLIC: the capabilities give these (ring_grant)
/* ------------------------------------------------------------------------
 * split_shards (issue 28): more shards for a table and its colocated ones
 * ---------------------------------------------------------------------- */

/*
 * Old shard tables that split_shards replaced and that are still to be
 * dropped on their node (a split interrupted after a shard's commit).
 */
CREATE TABLE hashring.shard_drops (
    tbl         regclass NOT NULL REFERENCES hashring.distributed_tables (tbl) ON DELETE CASCADE,
    node        text     NOT NULL,
    shard_table text     NOT NULL,
    PRIMARY KEY (tbl, node, shard_table)
);
COMMENT ON TABLE hashring.shard_drops IS 'old shard tables a split replaced, still to be dropped on their nodes';

CREATE FUNCTION hashring._ddl_internal(sql text)
RETURNS void
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'hashring_ddl_internal';
COMMENT ON FUNCTION hashring._ddl_internal(text) IS 'internal: runs partition DDL of a distributed table that hashring makes itself';

/*
 * Drops the old shard tables of the tables grp that a split replaced
 * (autocommit on the nodes); a warning for each that cannot be dropped now.
 */
CREATE FUNCTION hashring._shard_drops_run(grp regclass[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    x    record;
    remaining integer := 0;
BEGIN
    FOR x IN SELECT o.tbl, o.node, o.shard_table, v.srvname::text AS server
               FROM hashring.shard_drops AS o
               JOIN hashring.distributed_tables AS d ON d.tbl OPERATOR(pg_catalog.=) o.tbl
               LEFT JOIN hashring.nodes AS n ON n.ring OPERATOR(pg_catalog.=) d.ring AND n.node OPERATOR(pg_catalog.=) o.node
               LEFT JOIN pg_catalog.pg_foreign_server AS v ON v.srvname OPERATOR(pg_catalog.=) n.target
              WHERE o.tbl OPERATOR(pg_catalog.=) ANY (grp) ORDER BY o.tbl::pg_catalog.oid, o.shard_table LOOP
        BEGIN
            IF x.server IS NULL THEN
                RAISE EXCEPTION 'the node is no longer in the ring';
            END IF;
            PERFORM hashring._node_command(x.server, x.node, pg_catalog.format('DROP TABLE IF EXISTS %s', x.shard_table));
            DELETE FROM hashring.shard_drops AS o
             WHERE o.tbl OPERATOR(pg_catalog.=) x.tbl AND o.node OPERATOR(pg_catalog.=) x.node AND o.shard_table OPERATOR(pg_catalog.=) x.shard_table;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'could not drop the old shard table % on node "%": %', x.shard_table, x.node, SQLERRM
                USING HINT = 'Its rows are in the split shards'' tables; call split_shards again, or drop it by hand.';
            remaining := remaining OPERATOR(pg_catalog.+) 1;
        END;
    END LOOP;
    RETURN remaining;
END
$$;
COMMENT ON FUNCTION hashring._shard_drops_run(regclass[]) IS 'internal: drops the old shard tables a split replaced';

/*
 * Splits every shard of tbl, and of the tables colocated with it, into
 * `factor` shards: shard r of modulus m becomes shards r, r + m, ...,
 * r + (factor - 1) m of modulus m * factor, on the same node (PostgreSQL's
 * hash partitions split by modulus; a table may hold both moduli while it
 * splits).  One transaction per old shard: the group's tables are locked
 * ACCESS EXCLUSIVE (DETACH PARTITION needs it, and taking it first means
 * no writer holds a table while it waits for a partition), the node makes
 * the new shard tables from the old one in its own transaction (rows sorted
 * by PostgreSQL's own hash: satisfies_hash_partition), the coordinator's
 * partition is replaced by the new ones; the node commits, then the
 * coordinator; the old table is dropped after.  Interrupted, the shards
 * already split stay split and the rest whole: the same CALL finishes it.
 */
CREATE PROCEDURE hashring.split_shards(tbl regclass, factor integer DEFAULT 2)
LANGUAGE plpgsql
AS $$
DECLARE
    tname   text := tbl::text;
    d       record;
    grp     regclass[];
    n       integer;
    m       integer;
    newm    integer;
    r       integer;
    k       integer;
    i       integer;
    t       record;
    chan    text;
    newt    name;
    newts   name[];  -- the new shard tables of the old shard, in the order of k
    body    text;
    inames  name[];
    ikinds  "char"[];
    idefs   text[];
    newp    name;
    opts    text;
    cols    text;
    rows_in bigint;
    rows_out bigint;
    t0      timestamptz;
    blocks  double precision[] := ARRAY[]::double precision[];
    e_state text;
    e_msg   text;
    e_detail text;
    e_hint  text;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF tbl IS NULL OR factor IS NULL THEN
        RAISE EXCEPTION 'table and factor must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM hashring._prevent_transaction_block('CALL hashring.split_shards()');
    d := hashring._distributed(tbl);
    m := d.shard_count;
    IF d.split_to IS NOT NULL AND d.split_to OPERATOR(pg_catalog.<>) (m::bigint OPERATOR(pg_catalog.*) factor) THEN
        RAISE EXCEPTION 'a split of % into % shards is under way', tname, d.split_to
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = pg_catalog.format('CALL hashring.split_shards(%L, %s) to finish it.', tname, d.split_to OPERATOR(pg_catalog./) m);
    ELSIF factor OPERATOR(pg_catalog.<) 2 OR (m::bigint OPERATOR(pg_catalog.*) factor) OPERATOR(pg_catalog.>) 1024 THEN
        RAISE EXCEPTION 'cannot split the % shards of % by %', m, tname, factor
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'The factor is at least 2, and a table has at most 1024 shards.';
    END IF;
    newm := m OPERATOR(pg_catalog.*) factor;
    SELECT pg_catalog.array_agg(g.tbl ORDER BY g.distributed_at, g.tbl::pg_catalog.oid) INTO grp
      FROM hashring.distributed_tables AS g
     WHERE g.ring OPERATOR(pg_catalog.=) d.ring AND g.shard_count OPERATOR(pg_catalog.=) m;
    n := pg_catalog.cardinality(grp);
    FOR i IN 1 .. n LOOP
        IF NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid OPERATOR(pg_catalog.=) grp[i]), 'USAGE') THEN
            RAISE EXCEPTION 'must be owner of table %', grp[i] USING ERRCODE = 'insufficient_privilege',
                DETAIL = CASE WHEN grp[i] OPERATOR(pg_catalog.<>) tbl THEN pg_catalog.format('It is colocated with %s: its shards split too.', tname) END;
        END IF;
    END LOOP;
    IF EXISTS (SELECT FROM hashring.distributed_tables AS g WHERE g.ring OPERATOR(pg_catalog.=) d.ring AND g.shard_count OPERATOR(pg_catalog.=) newm) THEN
        RAISE EXCEPTION 'ring "%" has tables of % shards already', d.ring, newm
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Split, %s would be colocated with them without its shards on their nodes.', tname),
                  HINT = 'Split by another factor, or undistribute those tables first.';
    END IF;

    -- what interrupted moves left; no move of the group meanwhile
    PERFORM hashring._shard_move_cleanup(grp, sm.shard)
       FROM (SELECT DISTINCT mv.shard FROM hashring.shard_moves AS mv
              WHERE mv.tbl OPERATOR(pg_catalog.=) ANY (grp) AND (mv.phase OPERATOR(pg_catalog.=) 'dropping source' OR mv.repl IS NOT NULL)) AS sm;
    IF EXISTS (SELECT FROM hashring.shard_move_progress AS p WHERE p.tbl OPERATOR(pg_catalog.=) ANY (grp) AND p.running) THEN
        RAISE EXCEPTION 'a shard of % or of a table colocated with it is being moved', tname
            USING ERRCODE = 'lock_not_available', HINT = 'hashring.shard_move_progress shows the move; split once it is done.';
    END IF;
    PERFORM hashring._shard_drops_run(grp);
    -- from here move_shard refuses the group's shards until the split is done
    UPDATE hashring.distributed_tables AS g SET split_to = newm WHERE g.tbl OPERATOR(pg_catalog.=) ANY (grp);
    COMMIT;

    FOR r IN 0 .. m OPERATOR(pg_catalog.-) 1 LOOP
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        -- split already (by an interrupted run)
        CONTINUE WHEN EXISTS (SELECT FROM hashring.shards AS s WHERE s.tbl OPERATOR(pg_catalog.=) grp[1] AND s.shard OPERATOR(pg_catalog.=) (r OPERATOR(pg_catalog.+) m));
        BEGIN
            -- nothing reads or writes the group's tables until this shard's commit
            FOR i IN 1 .. n LOOP
                EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE', grp[i]);
            END LOOP;
            t0 := pg_catalog.clock_timestamp();
            FOR i IN 1 .. n LOOP
                SELECT s.node, s.partition, s.shard_table, v.srvname::text AS server, c.relname, ns.nspname, c.relpersistence, g.key_column,
                       pg_catalog.format_type(a.atttypid, a.atttypmod) AS keytype, p.relowner::pg_catalog.regrole::text AS partowner,
                       f.ftoptions
                  INTO t
                  FROM hashring.shards AS s
                  JOIN hashring.distributed_tables AS g ON g.tbl OPERATOR(pg_catalog.=) s.tbl
                  JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) s.tbl
                  JOIN pg_catalog.pg_namespace AS ns ON ns.oid OPERATOR(pg_catalog.=) c.relnamespace
                  JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) s.tbl AND a.attname OPERATOR(pg_catalog.=) g.key_column
                  JOIN pg_catalog.pg_class AS p ON p.oid OPERATOR(pg_catalog.=) s.partition
                  JOIN pg_catalog.pg_foreign_table AS f ON f.ftrelid OPERATOR(pg_catalog.=) s.partition
                  JOIN pg_catalog.pg_foreign_server AS v ON v.oid OPERATOR(pg_catalog.=) f.ftserver
                 WHERE s.tbl OPERATOR(pg_catalog.=) grp[i] AND s.shard OPERATOR(pg_catalog.=) r;
                chan := pg_catalog.format('split_shards:%s', t.node);
                SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
                  FROM pg_catalog.pg_attribute AS a
                 WHERE a.attrelid OPERATOR(pg_catalog.=) grp[i] AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) '';
                -- on the node, in one transaction: the old table's index names freed, the new
                -- tables made and filled by PostgreSQL's hash of the key (a partitioned table's
                -- key, in a temporary table of the key's type)
                body := hashring._shard_columns(grp[i]);
                SELECT pg_catalog.array_agg(o.name ORDER BY o.name), pg_catalog.array_agg(o.kind ORDER BY o.name), pg_catalog.array_agg(o.definition ORDER BY o.name)
                  INTO inames, ikinds, idefs
                  FROM hashring.distributed_indexes AS o WHERE o.tbl OPERATOR(pg_catalog.=) grp[i];
                FOR k IN 1 .. COALESCE(pg_catalog.cardinality(inames), 0) LOOP
                    PERFORM hashring._shard_exec(t.server, t.node, pg_catalog.format('ALTER INDEX IF EXISTS %I.%I RENAME TO %I', t.nspname,
                                                 hashring._shard_name(inames[k], r), pg_catalog.left(hashring._shard_name(inames[k], r), 50) OPERATOR(pg_catalog.||) '_split' OPERATOR(pg_catalog.||) newm), chan);
                END LOOP;
                PERFORM hashring._shard_exec(t.server, t.node, pg_catalog.format(
                    'CREATE TEMPORARY TABLE IF NOT EXISTS hashring_split_%s (k %s) PARTITION BY HASH (k)', i, t.keytype), chan);
                rows_out := 0;
                newts := ARRAY[]::name[];
                FOR k IN 0 .. factor OPERATOR(pg_catalog.-) 1 LOOP
                    newt := CASE WHEN k OPERATOR(pg_catalog.=) 0 THEN hashring._shard_name(pg_catalog.format('%s_%s', t.relname, r)::name, newm)
                                 ELSE hashring._shard_name(t.relname, (r OPERATOR(pg_catalog.+) (k OPERATOR(pg_catalog.*) m))) END;
                    newts := newts OPERATOR(pg_catalog.||) newt;
                    PERFORM hashring._shard_create(t.server, t.node, t.nspname, t.relname, (r OPERATOR(pg_catalog.+) (k OPERATOR(pg_catalog.*) m)),
                                                   t.relpersistence OPERATOR(pg_catalog.=) 'u', body, inames, ikinds, idefs, newt, chan);
                    rows_out := rows_out OPERATOR(pg_catalog.+) hashring._shard_exec(t.server, t.node, pg_catalog.format(
                        'WITH moved AS (INSERT INTO %1$I.%2$I (%3$s) SELECT %3$s FROM %4$s '
                        'WHERE pg_catalog.satisfies_hash_partition(''pg_temp.hashring_split_%5$s''::pg_catalog.regclass, %6$s, %7$s, %8$I) RETURNING 1) '
                        'SELECT pg_catalog.count(*) FROM moved',
                        t.nspname, newt, cols, t.shard_table, i, newm, (r OPERATOR(pg_catalog.+) (k OPERATOR(pg_catalog.*) m)), t.key_column), chan)::bigint;
                END LOOP;
                rows_in := hashring._shard_exec(t.server, t.node, pg_catalog.format('SELECT pg_catalog.count(*) FROM %s', t.shard_table), chan)::bigint;
                IF rows_in OPERATOR(pg_catalog.<>) rows_out THEN
                    RAISE EXCEPTION 'splitting % on node "%": % rows, % in the new tables', t.shard_table, t.node, rows_in, rows_out
                        USING ERRCODE = 'data_corrupted', HINT = 'A row in the old shard table that is not of its shard? Nothing was split.';
                END IF;

                -- here: the old partition goes, a partition for each new shard table comes
                opts := (SELECT pg_catalog.string_agg(pg_catalog.format('%I %L', pg_catalog.split_part(o, '=', 1), pg_catalog.substr(o, pg_catalog.strpos(o, '=') OPERATOR(pg_catalog.+) 1)), ', ')
                           FROM pg_catalog.unnest(t.ftoptions) AS o WHERE pg_catalog.split_part(o, '=', 1) OPERATOR(pg_catalog.<>) 'table_name');
                PERFORM hashring._ddl_internal(pg_catalog.format('ALTER TABLE %s DETACH PARTITION %s', grp[i], t.partition));
                PERFORM hashring._ddl_internal(pg_catalog.format('DROP FOREIGN TABLE %s', t.partition));
                DELETE FROM hashring.shards AS s WHERE s.tbl OPERATOR(pg_catalog.=) grp[i] AND s.shard OPERATOR(pg_catalog.=) r;
                FOR k IN 0 .. factor OPERATOR(pg_catalog.-) 1 LOOP
                    newt := newts[k OPERATOR(pg_catalog.+) 1];
                    newp := hashring._shard_name(t.relname, (r OPERATOR(pg_catalog.+) (k OPERATOR(pg_catalog.*) m)));
                    IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', t.nspname, newp)) IS NOT NULL THEN
                        RAISE EXCEPTION 'relation "%.%" already exists', t.nspname, newp
                            USING ERRCODE = 'duplicate_table', HINT = 'split_shards names the new partitions <table>_<shard>: rename that relation.';
                    END IF;
                    PERFORM hashring._ddl_internal(pg_catalog.format(
                        'CREATE FOREIGN TABLE %I.%I PARTITION OF %s FOR VALUES WITH (MODULUS %s, REMAINDER %s) SERVER %I OPTIONS (table_name %L%s); '
                        'ALTER FOREIGN TABLE %I.%I OWNER TO %s; '
                        'CREATE TRIGGER hashring_shard_guard BEFORE INSERT OR UPDATE OF %I ON %I.%I FOR EACH STATEMENT EXECUTE FUNCTION hashring._shard_guard()',
                        t.nspname, newp, grp[i], newm, (r OPERATOR(pg_catalog.+) (k OPERATOR(pg_catalog.*) m)), t.server, newt,
                        CASE WHEN opts IS NULL THEN '' ELSE ', ' OPERATOR(pg_catalog.||) opts END,
                        t.nspname, newp, t.partowner, t.key_column, t.nspname, newp));
                    INSERT INTO hashring.shards (tbl, shard, node, partition, shard_table)
                    VALUES (grp[i], (r OPERATOR(pg_catalog.+) (k OPERATOR(pg_catalog.*) m)), t.node,
                            pg_catalog.format('%I.%I', t.nspname, newp)::pg_catalog.regclass, pg_catalog.format('%I.%I', t.nspname, newt));
                END LOOP;
                INSERT INTO hashring.shard_drops (tbl, node, shard_table) VALUES (grp[i], t.node, t.shard_table)
                ON CONFLICT DO NOTHING;
            END LOOP;
            PERFORM hashring._inject('split:before_commit');
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT, e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
        END;
        IF e_state IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_msg,
                DETAIL = COALESCE(NULLIF(e_detail, ''), pg_catalog.format('Shards 0 to %s of %s are split, shard %s and the ones after it whole.', r OPERATOR(pg_catalog.-) 1, tname, r)),
                HINT = COALESCE(NULLIF(e_hint, ''), pg_catalog.format('CALL hashring.split_shards(%L, %s) again once the cause is gone: it finishes the split.', tname, factor));
        END IF;
        COMMIT;
        blocks := blocks OPERATOR(pg_catalog.||) (pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0) OPERATOR(pg_catalog.*) 1000);
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        PERFORM hashring._inject('split:before_drop');
        PERFORM hashring._shard_drops_run(grp);
        COMMIT;
    END LOOP;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    UPDATE hashring.distributed_tables AS g SET shard_count = newm, split_to = NULL WHERE g.tbl OPERATOR(pg_catalog.=) ANY (grp);
    COMMIT;
    RAISE NOTICE '% and % colocated table(s) split from % into % shards; reads and writes of the tables waited % ms at the most per shard, % ms in all',
        tname, n OPERATOR(pg_catalog.-) 1, m, newm,
        COALESCE(pg_catalog.round((SELECT pg_catalog.max(b) FROM pg_catalog.unnest(blocks) AS b)::numeric, 1), 0),
        COALESCE(pg_catalog.round((SELECT pg_catalog.sum(b) FROM pg_catalog.unnest(blocks) AS b)::numeric, 1), 0);
END
$$;
COMMENT ON PROCEDURE hashring.split_shards(regclass, integer) IS 'splits every shard of a distributed table and its colocated tables into factor shards on the same node, one shard at a time';

REVOKE ALL ON FUNCTION hashring._shard_exec(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._ddl_internal(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._shard_drops_run(regclass[]) FROM PUBLIC;
REVOKE ALL ON PROCEDURE hashring.split_shards(regclass, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._node_command(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._shard_copy(regclass, regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._table_partition(regclass, anyelement) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._inject(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._ddl_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._prevent_transaction_block(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._place(text, integer, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.shard_placement(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.table_placement(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.table_shard(regclass, anyelement) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.table_node(regclass, anyelement) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._dist_register(regclass, text, name, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._dist_adopt(regclass, regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._shard_name(name, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._shard_index_sql(text, integer, name, "char", text) FROM PUBLIC;
REVOKE ALL ON PROCEDURE hashring.distribute_table(regclass, name, text, integer) FROM PUBLIC;
REVOKE ALL ON PROCEDURE hashring.undistribute_table(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._shard_columns(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._shard_create(text, text, name, name, integer, boolean, text, name[], "char"[], text[], name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._shard_transfer(text, text, text, text, text, text, regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._partition_set_server(regclass, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._partition_block_writes(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._node_conninfo(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._shard_move_slot(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._group_shape(regclass[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._shard_move_copy(text, text, text, text, regclass[], integer, text[], name[], name[], regclass[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._shard_move_unsubscribe(text, text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._shard_move_cleanup(regclass[], integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._shard_move_lock(bigint, integer, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._shard_move_sub_check(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._shard_move_create(text, text, regclass[], name[], name[], "char"[], integer, name[]) FROM PUBLIC;
REVOKE ALL ON PROCEDURE hashring.move_shard(regclass, integer, text, text) FROM PUBLIC;
REVOKE ALL ON PROCEDURE hashring.rebalance_table(regclass, text) FROM PUBLIC;

-- roles that hold route or read get what 0.8 adds to them
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT DISTINCT a.grantee::pg_catalog.regrole AS r, p.proname AS f
               FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'hashring'::pg_catalog.regnamespace
                AND p.proname OPERATOR(pg_catalog.=) ANY (ARRAY['ring_node', 'ring_diff'])
                AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
                AND a.grantee OPERATOR(pg_catalog.<>) 0 AND a.grantee OPERATOR(pg_catalog.<>) p.proowner LOOP
        PERFORM hashring._capability_apply(g.r, CASE WHEN g.f OPERATOR(pg_catalog.=) 'ring_node' THEN 'route' ELSE 'read' END, true);
    END LOOP;
END
$$;
/* ==== end of distributed tables ==== */
