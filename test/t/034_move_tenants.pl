# hashring.ring_move on a table whose sharding key is not unique by itself
# (issue 26): orders sharded by tenant, primary key (tenant, id), on a
# coordinator and three real shards.  Every row of a tenant moves with its
# tenant, in one batch (a tenant of 3,000 rows with batch_size 200 too),
# named by the primary key; the same faults as 031_move_faults (the target
# fails at commit, the source fails at commit, the target server stops in
# the middle of a batch, the coordinator backend is killed between the copy
# and the delete) lose nothing, never leave a
# tenant's rows split between two shards, and a rerun ends with every row
# exactly once on its owner; an application session that inserts, updates
# and reads whole tenants through ring_placement while a throttled move runs
# loses nothing and always reads a tenant whole; tables without a usable
# unique index are refused before anything moves.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;
use HashringMove;

my $coord = hr_node('coord', preload => 1, conf => 'restart_after_crash = on');
$coord->safe_psql('postgres', 'CREATE EXTENSION postgres_fdw');

# every shard: orders, and the traps of 031 keyed by tenant (a deferred
# constraint trigger fails the commit of a transaction that wrote or deleted
# a row of a listed tenant)
my $shard_sql = q{
CREATE TABLE orders (tenant text NOT NULL, id bigint NOT NULL, v integer NOT NULL, PRIMARY KEY (tenant, id));
CREATE TABLE trap_write (tenant text PRIMARY KEY);
CREATE TABLE trap_delete (tenant text PRIMARY KEY);
CREATE FUNCTION trap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM public.trap_delete t WHERE t.tenant = OLD.tenant) THEN
            RAISE EXCEPTION 'trap: delete of % refused', OLD.tenant;
        END IF;
    ELSIF EXISTS (SELECT 1 FROM public.trap_write t WHERE t.tenant = NEW.tenant) THEN
        RAISE EXCEPTION 'trap: write of % refused', NEW.tenant;
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER trap_write AFTER INSERT OR UPDATE ON orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION trap();
CREATE CONSTRAINT TRIGGER trap_delete AFTER DELETE ON orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION trap();
CREATE TABLE by_id (tenant text NOT NULL, id bigint NOT NULL, PRIMARY KEY (id, tenant));
CREATE TABLE nullable (tenant text NOT NULL, id bigint, UNIQUE (tenant, id));
};
my @shards;
for my $i (1 .. 3)
{
	push @shards, hr_shard($coord, "shard$i", $shard_sql);
	chk_schema($coord, "shard$i", "chk_shard$i", qw(orders));
}

# 300 tenants of 20 orders and acme with 3,000: 9,000 rows on two shards
$coord->safe_psql('postgres', q{
SELECT hashring.ring_create('t', vnodes => 64);
SELECT hashring.ring_add_node('t', 'shard' || i, target => 'shard' || i) FROM generate_series(1, 2) i;
CREATE TABLE src AS
  SELECT 'tenant-' || t AS tenant, o AS id, t * 100 + o AS v FROM generate_series(1, 300) t, generate_series(1, 20) o
  UNION ALL SELECT 'acme', o, o FROM generate_series(1, 3000) o;
INSERT INTO chk_shard1.orders SELECT * FROM src WHERE hashring.ring_node('t', tenant) = 'shard1';
INSERT INTO chk_shard2.orders SELECT * FROM src WHERE hashring.ring_node('t', tenant) = 'shard2';
CREATE VIEW all_orders AS
  SELECT 'shard1' AS shard, * FROM chk_shard1.orders UNION ALL
  SELECT 'shard2', * FROM chk_shard2.orders UNION ALL
  SELECT 'shard3', * FROM chk_shard3.orders;
});
my $total = $coord->safe_psql('postgres', 'SELECT count(*) || \'|\' || sum(v) FROM src');
is($total, '9000|94864500', 'the data: 9,000 orders');

# rows|distinct (tenant, id)|rows not on their tenant's owner|sum(v)
my $exact_sql = q{
SELECT count(*) || '|' || count(DISTINCT (tenant, id)) || '|'
       || count(*) FILTER (WHERE shard <> hashring.ring_node('t', tenant)) || '|' || sum(v) FROM all_orders};
# tenants whose rows are not all on the same set of shards (a split tenant);
# rows on two shards with different values
my $split_sql = q{
SELECT (SELECT count(*) FROM (SELECT tenant FROM (
          SELECT tenant, id, string_agg(shard, ',' ORDER BY shard) AS shards FROM all_orders GROUP BY tenant, id) r
        GROUP BY tenant HAVING count(DISTINCT shards) > 1) s) || '|'
    || (SELECT count(*) FROM (SELECT 1 FROM all_orders GROUP BY tenant, id HAVING count(DISTINCT v) > 1) d)};
is($coord->safe_psql('postgres', $exact_sql), '9000|9000|0|94864500', 'loaded: every order once, on its tenant\'s owner');

my $v0 = ring_version($coord, 't');
$coord->safe_psql('postgres', q{
SELECT hashring.ring_add_node('t', 'shard3', target => 'shard3');
SELECT hashring.ring_pin('t', 'acme', 'shard3');});
my $moving = $coord->safe_psql('postgres', qq{
SELECT count(*) FROM all_orders WHERE hashring.ring_node('t', tenant, $v0) <> hashring.ring_node('t', tenant)});
cmp_ok($moving, '>', 3000, "$moving orders change owner, acme's 3,000 among them");
is($coord->safe_psql('postgres', qq{
SELECT sum(rows) FROM (
  SELECT rows FROM hashring.ring_plan_moves('t', 'chk_shard1.orders', 'tenant', $v0) UNION ALL
  SELECT rows FROM hashring.ring_plan_moves('t', 'chk_shard2.orders', 'tenant', $v0)) p}),
	$moving, 'ring_plan_moves counts them');

sub where_is
{
	my ($tenant) = @_;
	return $coord->safe_psql('postgres',
		qq{SELECT string_agg(DISTINCT shard, ',' ORDER BY shard) FROM all_orders WHERE tenant = '$tenant'});
}

sub moving_to
{
	return $coord->safe_psql('postgres', q{SELECT coalesce(moving_to::text, 'none') FROM hashring.moves WHERE ring = 't'});
}

sub rerun_exact
{
	my ($what, $expect) = @_;
	my ($rc, $out, $err) = $coord->psql('postgres', q{CALL hashring.ring_move('t', 'public.orders', 'tenant', 200)});
	is($rc, 0, "$what: the rerun completes") or diag($err);
	is($coord->safe_psql('postgres', $exact_sql), $expect // '9000|9000|0|94864500',
		"$what: after the rerun every order is once, on its tenant's owner, with its value");
	is(moving_to(), 'none', "$what: no move is left in progress");
	return $err;
}

###########################################################################
# (a) the target fails at commit: one tenant's batch is committed nowhere
my $trap_a = $coord->safe_psql('postgres', qq{
SELECT tenant FROM src WHERE tenant <> 'acme' AND hashring.ring_node('t', tenant) = 'shard3'
 ORDER BY tenant OFFSET 20 LIMIT 1});
my $trap_a_from = where_is($trap_a);
$shards[2]->safe_psql('postgres', "INSERT INTO trap_write VALUES ('$trap_a')");
my ($ret, $out, $err) = $coord->psql('postgres',
	qq{CALL hashring.ring_move('t', 'public.orders', 'tenant', 200, from_version => $v0)});
isnt($ret, 0, '(a) target fails at commit: the move fails');
like($err, qr/trap: write of \Q$trap_a\E refused/, '(a) ... with the target\'s error');
my ($rows_a) = split /\|/, $coord->safe_psql('postgres', $exact_sql);
is($rows_a, 9000, '(a) no order lost or duplicated');
is($coord->safe_psql('postgres', $split_sql), '0|0', '(a) no tenant split between shards');
is(where_is($trap_a), $trap_a_from, "(a) the refused tenant's orders are all still on its source ($trap_a_from)");
$shards[2]->safe_psql('postgres', 'DELETE FROM trap_write');
my $first_err = $err;
$err = rerun_exact('(a)');
like($first_err . $err, qr/NOTICE:\s+3000 row\(s\) moved from shard\d to shard3/,
	'(a) acme\'s 3,000 orders moved in one batch (batch_size 200)');
is(where_is('acme'), 'shard3', '(a) acme is on its pinned shard');

###########################################################################
# (b) the source fails at commit: shard2 drains, the delete of one tenant fails
$coord->safe_psql('postgres', q{SELECT hashring.ring_set_state('t', 'shard2', 'down')});
my $trap_b = $coord->safe_psql('postgres', q{SELECT tenant FROM chk_shard2.orders ORDER BY tenant OFFSET 500 LIMIT 1});
$shards[1]->safe_psql('postgres', "INSERT INTO trap_delete VALUES ('$trap_b')");
($ret, $out, $err) = $coord->psql('postgres', q{CALL hashring.ring_move('t', 'public.orders', 'tenant', 200)});
isnt($ret, 0, '(b) source fails at commit: the move fails');
like($err, qr/trap: delete of \Q$trap_b\E refused/, '(b) ... with the source\'s error');
is($coord->safe_psql('postgres', q{SELECT count(DISTINCT (tenant, id)) FROM all_orders}), '9000', '(b) no order lost');
is($coord->safe_psql('postgres', $split_sql), '0|0',
	'(b) no tenant split: each of its orders is on the same shards, with the same value');
my $owner_b = $coord->safe_psql('postgres', "SELECT hashring.ring_node('t', '$trap_b')");
is(where_is($trap_b), join(',', sort('shard2', $owner_b)), '(b) the refused tenant was committed whole on its target');
$shards[1]->safe_psql('postgres', 'DELETE FROM trap_delete');
rerun_exact('(b)');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM chk_shard2.orders'), '0', '(b) the drained shard is empty');

###########################################################################
# (c) the target server stops (-m immediate) in the middle of a batch:
# shard2 comes back, and is stopped before it commits its first batch
$coord->safe_psql('postgres', q{SELECT hashring.ring_set_state('t', 'shard2', 'active')});
my $off = log_offset($coord);
my $mv = psql_start($coord, q{
SET hashring.inject_move_fault = 'before_target_commit:pause:4000';
CALL hashring.ring_move('t', 'public.orders', 'tenant', 200);});
$coord->wait_for_log(qr/ring_move paused at before_target_commit/, $off);
$shards[1]->stop('immediate');
($ret, $out, $err) = psql_finish($mv);
isnt($ret, 0, '(c) target stopped mid-batch: the move fails');
$shards[1]->start;
is($coord->safe_psql('postgres', $exact_sql) =~ s/\|\d+\|\d+$//r, '9000|9000', '(c) no order lost or duplicated');
is($coord->safe_psql('postgres', $split_sql), '0|0', '(c) no tenant split');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM chk_shard2.orders'), '0',
	'(c) the uncommitted batch is gone from the restarted target');
rerun_exact('(c)');

###########################################################################
# (d) the coordinator backend is killed after the target committed a batch,
# before its source rows were deleted
$coord->safe_psql('postgres', q{SELECT hashring.ring_set_weight('t', 'shard3', 2)});
$off = log_offset($coord);
$mv = psql_start($coord, q{
SELECT pg_backend_pid();
SET hashring.inject_move_fault = 'after_target_commit:pause:60000';
CALL hashring.ring_move('t', 'public.orders', 'tenant', 200);});
my ($pid) = psql_wait_out($mv, qr/^\d+$/m) =~ /^(\d+)$/m;
$coord->wait_for_log(qr/ring_move paused at after_target_commit/, $off);
kill 'KILL', $pid;
psql_finish($mv);
$coord->wait_for_log(qr/database system is ready to accept connections/, $off);
$coord->poll_query_until('postgres', 'SELECT true') or die 'the coordinator did not come back';
my ($rows_d, $keys_d) = split /\|/, $coord->safe_psql('postgres', $exact_sql);
is($keys_d, 9000, '(d) every order present at least once');
cmp_ok($rows_d, '>', 9000, "(d) the killed batch is on both shards ($rows_d rows)");
is($coord->safe_psql('postgres', $split_sql), '0|0', '(d) no tenant split, the same values on both');
rerun_exact('(d)');

###########################################################################
# live writes: an application session adds orders, increments orders and
# reads whole tenants through ring_placement (one operation per
# transaction, retried on 40001) while a throttled move runs.  A tenant's
# orders are on the nodes of its placement: read all of them, one row per
# (tenant, id) (a row on two is a copy in flight, identical); insert a new
# order on the last.  The session logs every acknowledged operation in the
# same transaction, and every read that is not the tenant's whole state.
$coord->safe_psql('postgres', q{
CREATE TABLE model AS SELECT tenant, id, v FROM src;
ALTER TABLE model ADD PRIMARY KEY (tenant, id);
CREATE TABLE bad_reads (tenant text, seen text, expected text);
CREATE TABLE live_stop (stop boolean);
CREATE TABLE app_retries (n integer);
CREATE FUNCTION rel(node text) RETURNS text LANGUAGE sql
    AS $$ SELECT hashring._shard_table('t', node, 'public.orders') $$;
CREATE PROCEDURE app(n integer, tenants text[]) LANGUAGE plpgsql AS $$
DECLARE
    i integer := 0;
    tn text;
    oid_ bigint;
    nodes text[];
    node text;
    cnt bigint;
    seen text;
    expected text;
    done boolean;
    retries integer := 0;
BEGIN
    PERFORM setseed(0.26);
    WHILE i < n AND NOT EXISTS (SELECT 1 FROM live_stop) LOOP
        tn := CASE WHEN random() < 0.2 THEN 'acme' ELSE tenants[1 + floor(random() * cardinality(tenants))::int] END;
        LOOP
            done := false;
            BEGIN
                nodes := hashring.ring_placement('t', 'public.orders', tn);
                IF i % 3 = 0 THEN           -- a new order
                    SELECT max(id) + 1 INTO oid_ FROM model WHERE tenant = tn;
                    EXECUTE format('INSERT INTO %s VALUES ($1, $2, 1)', rel(nodes[cardinality(nodes)])) USING tn, oid_;
                    INSERT INTO model VALUES (tn, oid_, 1);
                ELSIF i % 3 = 1 THEN        -- an increment of an existing order
                    SELECT id INTO oid_ FROM model WHERE tenant = tn ORDER BY random() LIMIT 1;
                    cnt := 0;
                    FOREACH node IN ARRAY nodes LOOP
                        EXECUTE format('UPDATE %s SET v = v + 1 WHERE tenant = $1 AND id = $2', rel(node)) USING tn, oid_;
                        GET DIAGNOSTICS cnt = ROW_COUNT;
                        EXIT WHEN cnt > 0;
                    END LOOP;
                    IF cnt = 0 THEN
                        INSERT INTO bad_reads VALUES (tn, 'update of ' || oid_ || ' found no row', '');
                    ELSE
                        UPDATE model SET v = v + 1 WHERE tenant = tn AND id = oid_;
                    END IF;
                ELSE                        -- the whole tenant
                    EXECUTE (SELECT 'SELECT count(*) || ''/'' || count(DISTINCT id) || ''/'' || coalesce(sum(v), 0) FROM (SELECT DISTINCT id, v FROM ('
                                    || string_agg(format('SELECT id, v FROM %s WHERE tenant = $1', rel(x)), ' UNION ALL ')
                                    || ') a) b' FROM unnest(nodes) AS x) INTO seen USING tn;
                    SELECT count(*) || '/' || count(*) || '/' || sum(v) INTO expected FROM model WHERE tenant = tn;
                    IF seen <> expected THEN
                        INSERT INTO bad_reads VALUES (tn, seen, expected);
                    END IF;
                END IF;
                done := true;
            EXCEPTION WHEN serialization_failure THEN
                NULL;
            END;
            IF done THEN
                COMMIT;
                EXIT;
            END IF;
            ROLLBACK;
            retries := retries + 1;
            PERFORM pg_sleep(0.005);
        END LOOP;
        i := i + 1;
    END LOOP;
    INSERT INTO app_retries VALUES (retries);
END
$$;
});
# sanity: the protocol runs, and reads whole tenants, when nothing moves
$coord->safe_psql('postgres', q{SELECT ARRAY(SELECT DISTINCT tenant FROM src WHERE tenant <> 'acme') AS ts \gset
CALL app(60, :'ts');});
is($coord->safe_psql('postgres', 'SELECT count(*) FROM bad_reads'), '0', 'sanity: the application session reads whole tenants');
my $expect = $coord->safe_psql('postgres', q{SELECT count(*) || '|' || count(*) || '|0|' || sum(v) FROM model});
is($coord->safe_psql('postgres', $exact_sql), $expect, 'sanity: its writes are where the model says');

# shard1 drains (its tenants, acme's pin aside, go to shard2 and shard3)
$coord->safe_psql('postgres', q{SELECT hashring.ring_set_state('t', 'shard1', 'down')});
# the session works on the tenants that move (and acme, which does not)
my $app = psql_start($coord, q{SELECT ARRAY(SELECT DISTINCT tenant FROM chk_shard1.orders) AS ts \gset
CALL app(100000, :'ts');});
# each batch holds its rows locked for 80 ms after the target's commit, so
# that operations meet batches in flight
$mv = psql_start($coord, q{SET hashring.inject_move_fault = 'after_target_commit:pause:80';
CALL hashring.ring_move('t', 'public.orders', 'tenant', 100, rows_per_second => 1000)});
my ($mrc, $mout, $merr) = psql_finish($mv);
$coord->safe_psql('postgres', 'INSERT INTO live_stop VALUES (true)');
my ($arc, $aout, $aerr) = psql_finish($app);
is($mrc, 0, 'live: the move completes in one call') or diag($merr);
is($arc, 0, 'live: the application session ran without an error') or diag($aerr);
my $ops = $coord->safe_psql('postgres', q{SELECT count(*) FROM model}) - 9000;
cmp_ok($ops, '>', 20, "live: the session inserted $ops orders during the move");
diag('live: operations retried after 40001: '
	  . $coord->safe_psql('postgres', 'SELECT sum(n) FROM app_retries') . ' (sanity run included)');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM bad_reads'), '0',
	'live: every read saw its tenant whole and every update found its order')
  or diag($coord->safe_psql('postgres', 'SELECT * FROM bad_reads LIMIT 10'));
$expect = $coord->safe_psql('postgres', q{SELECT count(*) || '|' || count(*) || '|0|' || sum(v) FROM model});
is($coord->safe_psql('postgres', $exact_sql), $expect,
	'live: every acknowledged insert and increment is there, every order once, on its owner');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM chk_shard1.orders'), '0', 'live: the drained shard is empty');

###########################################################################
# refused before anything moves: no unique index that begins with the key;
# a unique index whose other column may be NULL
my $vr = ring_version($coord, 't');
for my $case ([ 'by_id', 'a key that is not the first column of the primary key' ],
	[ 'nullable', 'a unique index with a nullable column' ])
{
	my ($tbl, $what) = @$case;
	($ret, $out, $err) = sqlstate_psql($coord, qq{CALL hashring.ring_move('t', 'public.$tbl', 'tenant', from_version => $vr)});
	like($err, qr/ERROR:\s+55000:\s+table public\.$tbl on server "shard\d" \(node "shard\d"\) has no unique index that begins with column "tenant"/,
		"$what: refused (55000)");
	like($err, qr/HINT:.*\(tenant, id\)/, "$what: the hint shows the index to create");
	is($coord->safe_psql('postgres', "SELECT count(*) FROM hashring.moves WHERE tbl = 'public.$tbl'"), '0',
		"$what: nothing recorded");
}

done_testing();
