/* hashring--0.5--0.6.sql -- ketama as twemproxy, libmemcached and uhashring
 * build it (the algorithms themselves live in the library); Cassandra-style
 * token rings */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION hashring UPDATE TO '0.6'" to load this file. \quit

/* ======================== 0.6: murmur3 token rings ======================== */

/*
 * ring_algorithms() also says which algorithms read nodes.tokens (the
 * triggers ask it, as for the other properties).  A new OUT column changes
 * the result type: dropped and created again, with EXECUTE given back to
 * the roles that had it (the read capability).
 */
DO $$
DECLARE
    grantees regrole[];
    r regrole;
BEGIN
    SELECT pg_catalog.array_agg(DISTINCT a.grantee::regrole) INTO grantees
      FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
     WHERE p.pronamespace OPERATOR(pg_catalog.=) 'hashring'::pg_catalog.regnamespace
       AND p.proname OPERATOR(pg_catalog.=) 'ring_algorithms'
       AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
       AND a.grantee OPERATOR(pg_catalog.<>) 0
       AND a.grantee OPERATOR(pg_catalog.<>) p.proowner;
    DROP FUNCTION hashring.ring_algorithms();
    CREATE FUNCTION hashring.ring_algorithms(OUT algorithm text, OUT weighted boolean, OUT typed_keys boolean,
                                             OUT slot_ranges boolean, OUT fixed_order boolean,
                                             OUT parameter text, OUT key_space text, OUT node_tokens boolean,
                                             OUT whole_weights boolean)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'hashring_ring_algorithms'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
    COMMENT ON FUNCTION hashring.ring_algorithms() IS 'lists the routing algorithms and what each takes';
    REVOKE ALL ON FUNCTION hashring.ring_algorithms() FROM PUBLIC;
    FOREACH r IN ARRAY COALESCE(grantees, '{}') LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring.ring_algorithms() TO %s', r);
    END LOOP;
END
$$;


/*
 * murmur3 rings (src/algo_murmur3.c, docs/algorithms.md): a node's explicit
 * tokens, as Cassandra's initial_token; NULL: the ring's vnodes tokens
 * generated from the node's name, as num_tokens.  History keeps them too.
 */
ALTER TABLE hashring.nodes ADD COLUMN tokens bigint[];
COMMENT ON COLUMN hashring.nodes.tokens IS 'murmur3: the node''s tokens (NULL: vnodes tokens generated from its name)';
ALTER TYPE hashring.history_node ADD ATTRIBUTE tokens bigint[];

/*
 * Tokens are refused on rings of other algorithms (which would ignore
 * them), and a murmur3 ring whose nodes have tokens keeps its algorithm
 * until they are cleared.  Runs after nodes_validate (trigger order is by
 * name), which has locked the ring row: the duplicate check sees every
 * committed token of the ring.
 */
CREATE FUNCTION hashring._check_tokens()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ring_algorithm text;
    dup_token bigint;
    dup_node text;
BEGIN
    IF TG_TABLE_NAME = 'rings' THEN
        IF NEW.algorithm OPERATOR(pg_catalog.<>) OLD.algorithm
           AND NOT EXISTS (SELECT 1 FROM hashring.ring_algorithms() AS a
                            WHERE a.algorithm OPERATOR(pg_catalog.=) NEW.algorithm AND a.node_tokens)
           AND EXISTS (SELECT 1 FROM hashring.nodes AS n
                        WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring AND n.tokens IS NOT NULL) THEN
            RAISE EXCEPTION 'algorithm % does not use tokens', NEW.algorithm
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = pg_catalog.format('Some nodes of ring "%s" have explicit tokens.', NEW.ring),
                      HINT = 'Clear them first with hashring.ring_set_node_tokens(ring, node, NULL).';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.tokens IS NULL
       OR (TG_OP = 'UPDATE' AND NEW.ring OPERATOR(pg_catalog.=) OLD.ring
           AND NEW.tokens IS NOT DISTINCT FROM OLD.tokens) THEN
        RETURN NEW;
    END IF;
    SELECT r.algorithm INTO ring_algorithm FROM hashring.rings AS r WHERE r.ring OPERATOR(pg_catalog.=) NEW.ring;
    IF NOT EXISTS (SELECT 1 FROM hashring.ring_algorithms() AS a
                    WHERE a.algorithm OPERATOR(pg_catalog.=) ring_algorithm AND a.node_tokens) THEN
        RAISE EXCEPTION 'tokens apply only to rings whose algorithm takes them (murmur3)'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('Ring "%s" uses algorithm %s; node "%s" was given tokens.',
                                             NEW.ring, ring_algorithm, NEW.node);
    END IF;
    IF pg_catalog.cardinality(NEW.tokens) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION 'the token list of node "%" is empty', NEW.node
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give at least one token, or NULL for the ring''s vnodes tokens generated from the name.';
    END IF;
    IF pg_catalog.array_ndims(NEW.tokens) OPERATOR(pg_catalog.<>) 1 THEN
        RAISE EXCEPTION 'the tokens of node "%" must be a one-dimensional array', NEW.node
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.cardinality(NEW.tokens) OPERATOR(pg_catalog.>) 100000 THEN
        RAISE EXCEPTION 'node "%" cannot have more than 100000 tokens', NEW.node
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = pg_catalog.format('%s tokens were given.', pg_catalog.cardinality(NEW.tokens));
    END IF;
    IF pg_catalog.array_position(NEW.tokens, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'the tokens of node "%" contain a NULL', NEW.node
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('Element %s is NULL.', pg_catalog.array_position(NEW.tokens, NULL));
    END IF;
    SELECT t INTO dup_token FROM pg_catalog.unnest(NEW.tokens) AS t
     GROUP BY t HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1 ORDER BY t LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'token % is given twice for node "%"', dup_token, NEW.node
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT n.node, t INTO dup_node, dup_token
      FROM hashring.nodes AS n, pg_catalog.unnest(n.tokens) AS t
     WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring AND n.tokens IS NOT NULL
       AND NOT (TG_OP = 'UPDATE' AND n.ring OPERATOR(pg_catalog.=) OLD.ring AND n.node OPERATOR(pg_catalog.=) OLD.node)
       AND t OPERATOR(pg_catalog.=) ANY (NEW.tokens)
     ORDER BY t LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'token % of node "%" is already a token of node "%" in ring "%"', dup_token, NEW.node, dup_node, NEW.ring
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Every token of a murmur3 ring belongs to one node.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION hashring._check_tokens() IS 'internal: validates murmur3 tokens of a node row, and algorithm changes of rings whose nodes have tokens';
CREATE TRIGGER nodes_validate_tokens BEFORE INSERT OR UPDATE ON hashring.nodes
    FOR EACH ROW EXECUTE FUNCTION hashring._check_tokens();
CREATE TRIGGER rings_validate_tokens BEFORE UPDATE OF algorithm ON hashring.rings
    FOR EACH ROW EXECUTE FUNCTION hashring._check_tokens();

CREATE FUNCTION hashring.ring_set_node_tokens(ring text, node text, tokens bigint[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE hashring.nodes AS n SET tokens = ring_set_node_tokens.tokens
     WHERE n.ring OPERATOR(pg_catalog.=) ring_set_node_tokens.ring
       AND n.node OPERATOR(pg_catalog.=) ring_set_node_tokens.node;
    IF NOT FOUND THEN
        PERFORM hashring._node_not_found(ring_set_node_tokens.ring, ring_set_node_tokens.node);
    END IF;
END
$$;
COMMENT ON FUNCTION hashring.ring_set_node_tokens(text, text, bigint[]) IS 'sets a murmur3 node''s tokens (NULL: vnodes tokens generated from its name)';


-- history rows record the tokens
CREATE OR REPLACE FUNCTION hashring._write_history(ring_id bigint, committed_by name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur hashring.rings;
BEGIN
    SELECT r.* INTO cur FROM hashring.rings AS r WHERE r.ring_id OPERATOR(pg_catalog.=) _write_history.ring_id;
    IF NOT FOUND OR EXISTS (SELECT 1 FROM hashring.ring_history AS h
                             WHERE h.ring_id OPERATOR(pg_catalog.=) cur.ring_id
                               AND h.version OPERATOR(pg_catalog.=) cur.version) THEN
        RETURN;
    END IF;
    -- the membership must be routable: build it once, as every lookup would
    -- (a slots ring with unassigned slots is allowed while it is being set up)
    BEGIN
        PERFORM hashring._check_ring(cur.ring);
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        NULL;
    END;
    INSERT INTO hashring.ring_history
    VALUES (cur.ring_id, cur.ring, cur.version, pg_catalog.clock_timestamp(), _write_history.committed_by,
            cur.algorithm, cur.vnodes, cur.replicas, cur.table_size,
            ARRAY(SELECT ROW(n.node, n.weight, n.state, n.ordinal, n.node_id, n.target, n.zone, n.tokens)::hashring.history_node
                    FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) cur.ring ORDER BY n.node),
            ARRAY(SELECT ROW(s.node, s.first_slot, s.last_slot)::hashring.history_slot_range
                    FROM hashring.slot_ranges AS s WHERE s.ring OPERATOR(pg_catalog.=) cur.ring ORDER BY s.first_slot));
END
$$;

-- ring_set_node_tokens belongs to the change capability
CREATE OR REPLACE FUNCTION hashring._capability(capability text, OUT kind text, OUT object text, OUT privileges text)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT c.kind, c.object, c.privileges FROM (VALUES
    ('route', 'schema', 'hashring', 'USAGE'),
    ('route', 'function', 'ring_node', 'EXECUTE'), ('route', 'function', 'ring_nodes', 'EXECUTE'),
    ('route', 'function', 'ring_hash', 'EXECUTE'), ('route', 'function', 'ring_slot', 'EXECUTE'),
    ('route', 'function', 'ring_placement', 'EXECUTE'), ('route', 'function', '_placement', 'EXECUTE'),
    ('route', 'function', '_move_table', 'EXECUTE'),
    ('read', 'function', 'ring_balance', 'EXECUTE'), ('read', 'function', 'ring_diff', 'EXECUTE'),
    ('read', 'function', 'ring_versions', 'EXECUTE'), ('read', 'function', 'ring_plan_moves', 'EXECUTE'),
    ('read', 'function', 'ring_cache_info', 'EXECUTE'), ('read', 'function', 'node_points', 'EXECUTE'),
    ('read', 'function', 'ring_algorithms', 'EXECUTE'),
    ('read', 'table', 'rings', 'SELECT'), ('read', 'table', 'nodes', 'SELECT'),
    ('read', 'table', 'slot_ranges', 'SELECT'), ('read', 'table', 'ring_history', 'SELECT'),
    ('read', 'table', 'moves', 'SELECT'), ('read', 'table', 'ring_move_progress', 'SELECT'),
    ('change', 'function', 'ring_create', 'EXECUTE'), ('change', 'function', 'ring_drop', 'EXECUTE'),
    ('change', 'function', 'ring_add_node', 'EXECUTE'), ('change', 'function', 'ring_remove_node', 'EXECUTE'),
    ('change', 'function', 'ring_set_weight', 'EXECUTE'), ('change', 'function', 'ring_set_state', 'EXECUTE'),
    ('change', 'function', 'ring_set_node_id', 'EXECUTE'), ('change', 'function', 'ring_assign_slots', 'EXECUTE'),
    ('change', 'function', 'ring_add_servers', 'EXECUTE'),
    ('change', 'function', 'ring_clear_slots', 'EXECUTE'), ('change', 'function', 'ring_prune_versions', 'EXECUTE'),
    ('change', 'function', '_check_name', 'EXECUTE'), ('change', 'function', '_node_not_found', 'EXECUTE'),
    ('change', 'function', '_check_point_limit', 'EXECUTE'), ('change', 'function', '_check_jump_removal', 'EXECUTE'),
    ('change', 'function', '_is_prime', 'EXECUTE'),
    ('change', 'function', 'ring_set_node_tokens', 'EXECUTE'),
    ('change', 'table', 'rings', 'INSERT, UPDATE, DELETE, TRUNCATE'),
    ('change', 'table', 'nodes', 'INSERT, UPDATE, DELETE, TRUNCATE'),
    ('change', 'table', 'slot_ranges', 'INSERT, UPDATE, DELETE, TRUNCATE'),
    ('move', 'function', 'ring_move', 'EXECUTE'), ('move', 'function', '_move_begin', 'EXECUTE'),
    ('move', 'function', '_move_nodes', 'EXECUTE'), ('move', 'function', '_move_progress', 'EXECUTE'),
    ('move', 'function', '_move_end', 'EXECUTE'), ('move', 'function', '_shard_table', 'EXECUTE'),
    ('move', 'function', 'ring_settle', 'EXECUTE')
) AS c (cap, kind, object, privileges)
WHERE c.cap OPERATOR(pg_catalog.=) capability
$$;

REVOKE ALL ON FUNCTION hashring._check_tokens() FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.ring_set_node_tokens(text, text, bigint[]) FROM PUBLIC;

/* ====================== end of 0.6: murmur3 token rings ====================== */

/*
 * Algorithms that count digests in integers (ring_algorithms().whole_weights:
 * ketama_uhashring) take whole weights from 1 to 16777216 only: refused at
 * the change, like every other rule (the image builder checks again).
 * Runs after nodes_validate (trigger order is by name), which has refused
 * NULL, zero, negative and non-finite weights.
 */
CREATE FUNCTION hashring._check_whole_weights()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ring_algorithm text;
    bad_node text;
    bad_weight real;
BEGIN
    IF TG_TABLE_NAME = 'rings' THEN
        ring_algorithm := NEW.algorithm;
        SELECT n.node, n.weight INTO bad_node, bad_weight FROM hashring.nodes AS n
         WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring
           AND (n.weight OPERATOR(pg_catalog.<>) pg_catalog.trunc(n.weight)
                OR n.weight OPERATOR(pg_catalog.>) 16777216)
         ORDER BY n.ordinal LIMIT 1;
        IF NOT FOUND THEN
            RETURN NEW;
        END IF;
    ELSE
        IF NEW.weight OPERATOR(pg_catalog.=) pg_catalog.trunc(NEW.weight)
           AND NEW.weight OPERATOR(pg_catalog.<=) 16777216 THEN
            RETURN NEW;
        END IF;
        SELECT r.algorithm INTO ring_algorithm FROM hashring.rings AS r WHERE r.ring OPERATOR(pg_catalog.=) NEW.ring;
        bad_node := NEW.node;
        bad_weight := NEW.weight;
    END IF;
    IF EXISTS (SELECT 1 FROM hashring.ring_algorithms() AS a
                WHERE a.algorithm OPERATOR(pg_catalog.=) ring_algorithm AND a.whole_weights) THEN
        RAISE EXCEPTION 'node "%" of ring "%" has weight %, but % weights must be whole numbers from 1 to 16777216',
                        bad_node, NEW.ring, bad_weight, ring_algorithm
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'uhashring computes its digest counts in integers.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION hashring._check_whole_weights() IS 'internal: whole weights for algorithms that count in integers';
CREATE TRIGGER nodes_validate_weights BEFORE INSERT OR UPDATE ON hashring.nodes
    FOR EACH ROW EXECUTE FUNCTION hashring._check_whole_weights();
CREATE TRIGGER rings_validate_weights BEFORE UPDATE OF algorithm ON hashring.rings
    FOR EACH ROW EXECUTE FUNCTION hashring._check_whole_weights();
REVOKE ALL ON FUNCTION hashring._check_whole_weights() FROM PUBLIC;

/*
 * Server lists as the ketama deployments write them (docs/algorithms.md,
 * "Copying a pool"): a twemproxy pool's `servers:` lines or a libmemcached
 * server list, added as nodes named as that reference names them for its
 * continuum.  All of them or none (one statement).
 */
CREATE FUNCTION hashring.ring_add_servers(ring text, servers text, format text DEFAULT 'twemproxy',
                                          OUT node text, OUT weight real, OUT address text)
RETURNS SETOF record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    item text;
    m text[];
    port integer;
    w bigint;
    seen text[] := '{}';
BEGIN
    IF format IS NULL OR format OPERATOR(pg_catalog.<>) ALL (ARRAY['twemproxy', 'libmemcached']) THEN
        RAISE EXCEPTION 'unknown server list format "%"', format
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'The formats are twemproxy (a pool''s servers: lines) and libmemcached (host[:port[:weight]], comma-separated).';
    END IF;
    FOR item IN
        SELECT pg_catalog.btrim(i, E' \t\r') FROM pg_catalog.regexp_split_to_table(
            servers, CASE format WHEN 'twemproxy' THEN E'\n' ELSE ',' END) AS i
    LOOP
        IF format OPERATOR(pg_catalog.=) 'twemproxy' THEN
            -- YAML around the entries: the key line, comments, "- ", quotes
            item := pg_catalog.regexp_replace(item, E'\\s+#.*$|^#.*$', '');
            CONTINUE WHEN item OPERATOR(pg_catalog.~) E'^(servers:)?\\s*$';
            item := pg_catalog.regexp_replace(item, E'^-\\s*', '');
            item := pg_catalog.regexp_replace(item, E'^([''"])(.*)\\1$', E'\\2');
            -- twemproxy's conf_add_server: "host:port:weight [name]" or
            -- "/path/socket:weight [name]"
            m := pg_catalog.regexp_match(item, E'^(/[^ \t]*):([0-9]+)(?:[ \t]+([^ \t]+))?$');
            IF m IS NOT NULL THEN
                address := m[1];
                w := m[2]::bigint;
                -- a socket's continuum name, as twemproxy cuts it, ends in ':'
                node := COALESCE(m[3], m[1] OPERATOR(pg_catalog.||) ':');
            ELSE
                m := pg_catalog.regexp_match(item, E'^([^ \t]+):([0-9]+):([0-9]+)(?:[ \t]+([^ \t]+))?$');
                IF m IS NULL THEN
                    RAISE EXCEPTION 'invalid twemproxy server "%"', item
                          USING ERRCODE = 'invalid_text_representation',
                                HINT = 'A server is "host:port:weight [name]" or "/path/socket:weight [name]".';
                END IF;
                port := CASE WHEN pg_catalog.length(m[2]) OPERATOR(pg_catalog.<=) 5 THEN m[2]::integer END;
                IF port IS NULL OR port OPERATOR(pg_catalog.<) 1 OR port OPERATOR(pg_catalog.>) 65535 THEN
                    RAISE EXCEPTION 'invalid port in twemproxy server "%"', item
                          USING ERRCODE = 'invalid_parameter_value';
                END IF;
                address := m[1] OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) port;
                w := CASE WHEN pg_catalog.length(m[3]) OPERATOR(pg_catalog.<=) 9 THEN m[3]::bigint END;
                -- conf_add_server: the name field, else host:port, else
                -- host alone on port 11211 (libmemcached's rule)
                node := COALESCE(m[4], CASE WHEN port OPERATOR(pg_catalog.=) 11211 THEN m[1]
                                                        ELSE address END);
            END IF;
        ELSE
            CONTINUE WHEN item OPERATOR(pg_catalog.=) '';
            -- libmemcached's memcached_servers_parse: host, [IPv6], then
            -- optional :port and " weight" or ":weight"
            m := pg_catalog.regexp_match(item, E'^(\\[[^]]*\\]|[^:\\s\\[\\]]+)(?::([0-9]+))?(?:[ :]([0-9]+))?$');
            IF m IS NULL THEN
                RAISE EXCEPTION 'invalid libmemcached server "%"', item
                      USING ERRCODE = 'invalid_text_representation',
                            HINT = 'A server is host[:port[:weight]] or host:port weight.';
            END IF;
            port := CASE WHEN m[2] IS NULL THEN 11211
                         WHEN pg_catalog.length(m[2]) OPERATOR(pg_catalog.<=) 5 THEN m[2]::integer END;
            IF port IS NULL OR port OPERATOR(pg_catalog.>) 65535 THEN
                RAISE EXCEPTION 'invalid port in libmemcached server "%"', item
                      USING ERRCODE = 'invalid_parameter_value';
            END IF;
            -- port 0 is libmemcached's default port
            port := CASE WHEN port OPERATOR(pg_catalog.=) 0 THEN 11211 ELSE port END;
            address := m[1] OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) port;
            w := CASE WHEN m[3] IS NULL THEN 1
                      WHEN pg_catalog.length(m[3]) OPERATOR(pg_catalog.<=) 9 THEN m[3]::bigint END;
            -- hosts.cc names a server "host" on port 11211, else "host:port"
            node := CASE WHEN port OPERATOR(pg_catalog.=) 11211 THEN m[1] ELSE address END;
        END IF;
        IF w IS NULL OR w OPERATOR(pg_catalog.<) 1 OR w OPERATOR(pg_catalog.>) 16777216 THEN
            RAISE EXCEPTION 'invalid weight in % server "%"', format, item
                  USING ERRCODE = 'invalid_parameter_value',
                        DETAIL = 'A weight is a whole number from 1 to 16777216 (exact as real).';
        END IF;
        IF node OPERATOR(pg_catalog.=) ANY (seen) THEN
            RAISE EXCEPTION 'the server list names "%" twice', node
                  USING ERRCODE = 'unique_violation',
                        DETAIL = 'The reference refuses a pool with two servers of one name too.';
        END IF;
        seen := seen OPERATOR(pg_catalog.||) node;
        weight := w::real;
        PERFORM hashring.ring_add_node(ring_add_servers.ring, node, weight);
        RETURN NEXT;
    END LOOP;
    IF pg_catalog.cardinality(seen) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION 'the server list is empty'
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;
COMMENT ON FUNCTION hashring.ring_add_servers(text, text, text) IS 'adds the servers of a twemproxy pool or libmemcached server list as nodes, named as that reference names them';

REVOKE ALL ON FUNCTION hashring.ring_add_servers(text, text, text) FROM PUBLIC;


-- ring_set_node_tokens and ring_add_servers belong to the change
-- capability: every role that has it (EXECUTE on ring_add_node) gets them,
-- as ring_grant(role, 'change') now gives.
DO $$
DECLARE
    r regrole;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee::regrole
               FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'hashring'::pg_catalog.regnamespace
                AND p.proname OPERATOR(pg_catalog.=) 'ring_add_node'
                AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
                AND a.grantee OPERATOR(pg_catalog.<>) 0
                AND a.grantee OPERATOR(pg_catalog.<>) p.proowner LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring.ring_set_node_tokens(text, text, bigint[]) TO %s', r);
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring.ring_add_servers(text, text, text) TO %s', r);
    END LOOP;
END
$$;
