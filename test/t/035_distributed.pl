# Distributed tables on a coordinator and four shard servers (three of them
# in the ring at first).  Where a row is, is read on the shard servers
# themselves, never only through the coordinator.  Proves:
#   (a) placement: shard_placement gives every active node its weight's
#       share within one shard (32 shards on weights 1,1,2: 8,8,16; 1..64
#       shards on five weighted nodes, one down); tables of one ring and
#       shard count are colocated; when a node joins, table_placement
#       differs from where the shards are only for the shards that must
#       move, all to the new node, and rows stay where table_node says;
#   (b) for text, integer, bigint and uuid keys every row is on the node and
#       in the shard that table_node and table_shard name, in the partition
#       PostgreSQL routes its key to, once; the shard tables carry the
#       columns, NOT NULL, CHECK, primary key and indexes (and enforce
#       them); owner, privileges and comments are kept;
#   (c) routing: SELECT/UPDATE/DELETE ... WHERE key = const plan one
#       partition, the right one; a generic plan of key = $1 removes every
#       other subplan at run time, and runs with the other servers stopped;
#       key IN (...) plans only the involved partitions; a full scan is
#       Async Foreign Scans; a partitionwise join of two colocated tables is
#       pushed down shard by shard and returns the rows of the plain join;
#   (d) INSERT of one row, of many rows, INSERT ... SELECT and COPY (COPY on
#       the shard servers too; in a transaction block it rolls back) land
#       each row on its shard;
#   (e) faults: an error, a cancel and a kill -9 of the coordinator backend at each
#       step of distribute_table, and a shard server stopped between steps,
#       leave the table local with exactly its rows, or fully distributed;
#       the rerun finishes with every row once, on its shard; a COPY that
#       fails or is killed after its rows were sent leaves none of them;
#   (f) DDL reaches every shard table; a conflicting column on one shard or
#       a stopped shard server fails the command and changes no shard;
#       other ALTER TABLE forms and DROP TABLE are refused (0A000);
#   (g) refusals, each with its SQLSTATE, change nothing;
#   (h) undistribute_table brings every row back, with owner, privileges
#       and comments; inside a transaction block it is refused.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;
use HashringMove;
use HashringDist;

my $coord = dist_node('coord', preload => 1, extension => 1, fdw => 1,
	conf => 'restart_after_crash = on');
my $srv = dist_shards($coord, map { "srv$_" } 1 .. 4);

$coord->safe_psql('postgres', q{
SELECT hashring.ring_create('r');
SELECT hashring.ring_add_node('r', 'n1', 1, 'srv1');
SELECT hashring.ring_add_node('r', 'n2', 1, 'srv2');
SELECT hashring.ring_add_node('r', 'n3', 2, 'srv3');
CREATE ROLE alice;
CREATE ROLE bob;
});

my ($rc, $out, $err);

# Distributes $tbl by $key over ring r in $n shards and checks the result:
# the same rows, $n partitions, every row on its shard.
sub distribute_ok
{
	my ($tbl, $key, $n, $v) = @_;
	my $before = table_state($coord, $tbl, $v);
	my ($rows, $sum) = (split /\|/, $before)[ 1, 2 ];
	my $keys = $coord->safe_psql('postgres', "SELECT count(DISTINCT $key) FROM $tbl");
	my ($rc, $out, $err) = sqlstate_psql($coord, "CALL hashring.distribute_table('$tbl', '$key', 'r', $n)");
	is($rc, 0, "$tbl: distribute_table over $n shards completes") or diag($err);
	is(table_state($coord, $tbl, $v), "p|$rows|$sum|$n", "$tbl: partitioned in $n, the same $rows rows and sum");
	is(where_check($coord, $srv, $tbl, $key), "$rows|$keys|0",
		"$tbl: on the shard servers every row once, on table_node's node and table_shard's shard");
	return;
}

###########################################################################
# (a) placement from membership
is($coord->safe_psql('postgres', q{
SELECT string_agg(node || '=' || n, ',' ORDER BY node) FROM (
  SELECT node, count(*) AS n FROM hashring.shard_placement('r', 32) GROUP BY node) s}),
	'n1=8,n2=8,n3=16', '32 shards on weights 1,1,2: 8, 8 and 16');
is($coord->safe_psql('postgres', q{
SELECT count(*) || '|' || count(DISTINCT shard) || '|' || (max(shard) - min(shard))
  FROM hashring.shard_placement('r', 32)}), '32|32|31', '... every shard once');

$coord->safe_psql('postgres', q{
SELECT hashring.ring_create('p');
SELECT hashring.ring_add_node('p', 'p' || i, (ARRAY[1, 2, 3, 0.5, 1])[i]::real) FROM generate_series(1, 5) i;
SELECT hashring.ring_set_state('p', 'p5', 'down');
});
is($coord->safe_psql('postgres', q{
WITH w AS (SELECT node, weight, state FROM hashring.nodes WHERE ring = 'p'),
     tot AS (SELECT sum(weight) AS s FROM w WHERE state = 'active'),
     pl AS (SELECT n, p.shard, p.node FROM generate_series(1, 64) n, hashring.shard_placement('p', n) p),
     c AS (SELECT n, node, count(*) AS cnt FROM pl GROUP BY n, node)
SELECT (SELECT count(*) FROM pl) || '|'
       || (SELECT count(*) FROM (SELECT n, shard FROM pl GROUP BY n, shard HAVING count(*) > 1) d) || '|'
       || (SELECT count(*) FROM generate_series(1, 64) n CROSS JOIN w CROSS JOIN tot LEFT JOIN c USING (n, node)
            WHERE CASE WHEN w.state = 'active' THEN abs(coalesce(c.cnt, 0) - n * w.weight / tot.s) >= 1
                       ELSE coalesce(c.cnt, 0) <> 0 END)}),
	'2080|0|0', '1..64 shards on weights 1,2,3,0.5 and a down node: each shard once, every active node within one of its share, none on the down node');
is($coord->safe_psql('postgres', q{
SELECT count(*) FROM hashring.shard_placement('p', 40) a FULL JOIN hashring.shard_placement('p', 40) b USING (shard)
 WHERE a.node IS DISTINCT FROM b.node}), '0', 'shard_placement is deterministic');

###########################################################################
# (b) tables with text, integer, bigint and uuid keys, with rows
$coord->safe_psql('postgres', q{
CREATE TABLE t_text (k text PRIMARY KEY, v integer NOT NULL CHECK (v >= 0), note text);
CREATE INDEX t_text_v_idx ON t_text (v);
INSERT INTO t_text
  SELECT 'user:' || g || CASE WHEN g % 7 = 0 THEN chr(233) ELSE '' END, g, CASE WHEN g % 3 <> 0 THEN 'n' || g END
    FROM generate_series(1, 3000) g;
ALTER TABLE t_text OWNER TO alice;
GRANT SELECT, UPDATE ON t_text TO bob;
COMMENT ON TABLE t_text IS 'users by name';
COMMENT ON COLUMN t_text.note IS 'free text';
CREATE TABLE t_text2 (k text, seq integer, v integer NOT NULL, PRIMARY KEY (k, seq));
INSERT INTO t_text2
  SELECT 'user:' || g || CASE WHEN g % 7 = 0 THEN chr(233) ELSE '' END, s, g * 10 + s
    FROM generate_series(1, 3000, 2) g, generate_series(1, 2) s;
CREATE TABLE t_int (k integer PRIMARY KEY, v integer NOT NULL);
INSERT INTO t_int SELECT g, g FROM generate_series(1, 3000) g;
CREATE TABLE t_big (k bigint PRIMARY KEY, v integer NOT NULL);
INSERT INTO t_big SELECT g * 3000000019, g FROM generate_series(1, 2000) g;
CREATE TABLE t_uuid (k uuid PRIMARY KEY, v integer NOT NULL);
INSERT INTO t_uuid SELECT md5(g::text)::uuid, g FROM generate_series(1, 2000) g;
});
my $meta_sql = q{
SELECT relowner::regrole || '|' || relacl::text || '|' || obj_description(oid, 'pg_class') || '|'
       || col_description(oid, (SELECT attnum FROM pg_attribute WHERE attrelid = c.oid AND attname = 'note'))
  FROM pg_class c WHERE oid = 't_text'::regclass};
my $meta_before = $coord->safe_psql('postgres', $meta_sql);
like($meta_before, qr/^alice\|.*bob=rw\/alice.*\|users by name\|free text$/, 'sanity: t_text owned by alice, bob may read and update it, comments');

my $srv1_off = log_offset($srv->{srv1});
distribute_ok('t_text', 'k', 32);
ok($srv->{srv1}->log_contains(qr/COPY\s+\S*t_text_\d+.*FROM STDIN/i, $srv1_off),
	't_text: the rows reached the shard server by COPY');
is($coord->safe_psql('postgres', $meta_sql), $meta_before, 't_text: owner, privileges and comments kept');
distribute_ok('t_text2', 'k', 32);
distribute_ok('t_int', 'k', 32);
distribute_ok('t_big', 'k', 16);
distribute_ok('t_uuid', 'k', 16);

is($coord->safe_psql('postgres', q{
SELECT count(*) || '|' || count(*) FILTER (WHERE a.node = b.node)
  FROM hashring.table_shards a JOIN hashring.table_shards b USING (shard)
 WHERE a.tbl = 't_text'::regclass AND b.tbl = 't_text2'::regclass}), '32|32',
	'colocation: shard s of t_text and of t_text2 are on the same node, for all 32');
is($coord->safe_psql('postgres', q{
SELECT count(*) FROM hashring.table_shards ts JOIN hashring.shard_placement('r', 32) p USING (shard)
 WHERE ts.tbl = 't_int'::regclass AND ts.node = p.node}), '32',
	'the shards are where shard_placement puts them');
is($coord->safe_psql('postgres', q{
SELECT count(*) FROM hashring.table_shards ts JOIN pg_class c ON c.oid = ts.partition
 WHERE ts.tbl = 't_int'::regclass AND c.relkind = 'f' AND c.relname = 't_int_' || ts.shard
   AND ts.shard_table IN ('public.t_int_' || ts.shard, '"public"."t_int_' || ts.shard || '"')
   AND (SELECT srvname FROM pg_foreign_table ft JOIN pg_foreign_server s ON s.oid = ft.ftserver WHERE ft.ftrelid = c.oid)
       = (SELECT target FROM hashring.nodes WHERE ring = 'r' AND node = ts.node)}), '32',
	'table_shards: partition t_int_<shard> is a foreign table on the node\'s target server, shard table public.t_int_<shard>');

# each shard server holds exactly its node's shard tables
for my $i (1 .. 4)
{
	my $node = "n$i";
	my $want = join(',', sort map { $_->{partition} } grep { $_->{node} eq $node } @{ shard_list($coord, 't_int') });
	is($srv->{"srv$i"}->safe_psql('postgres', q{
SELECT coalesce(string_agg(relname, ',' ORDER BY relname), '') FROM pg_class WHERE relkind = 'r' AND relname ~ '^t_int_[0-9]+$'}),
		$want, "srv$i holds exactly the t_int shards of $node" . ($want eq '' ? ' (none)' : ''));
}

# the shard tables' definitions, and that they enforce them
my $cols = shard_columns($coord, $srv, 't_text');
is(scalar(grep { $_ eq 'k text not null, v integer not null, note text' } values %$cols), 32,
	't_text: every shard table has the columns and NOT NULLs');
my $idx = shard_indexes($coord, $srv, 't_text');
is(scalar(grep { /UNIQUE INDEX ON USING btree \(k\)/ && /INDEX ON USING btree \(v\)/ } values %$idx), 32,
	't_text: every shard table has the primary key and the index on v');
my ($first) = @{ shard_list($coord, 't_text') };
my $first_srv = node_servers($coord, $srv)->{ $first->{node} };
is($first_srv->safe_psql('postgres', qq{
SELECT string_agg(contype::text || ' ' || pg_get_constraintdef(oid), ', ' ORDER BY contype)
  FROM pg_constraint WHERE conrelid = '$first->{shard_table}'::regclass
   AND contype <> 'n'}),    # PostgreSQL 18 lists NOT NULL constraints here too
	'c CHECK ((v >= 0)), p PRIMARY KEY (k)', 't_text: a shard table has the CHECK constraint and the primary key');
($rc, $out, $err) = sqlstate_psql($coord, q{INSERT INTO t_text VALUES ('user:1', 1, NULL)});
is(sqlstate($err), '23505', 'a duplicate key is refused by the shard (23505)');
($rc, $out, $err) = sqlstate_psql($coord, q{INSERT INTO t_text VALUES ('fresh', -1, NULL)});
is(sqlstate($err), '23514', 'a row violating the CHECK is refused (23514)');
is(table_state($coord, 't_text'), 'p|3000|4501500|32', '... and neither was written');

###########################################################################
# (c) routing
# "relname" of the partition of $tbl that holds key $k (an SQL literal)
sub part_of
{
	my ($tbl, $k) = @_;
	return $coord->safe_psql('postgres', qq{
SELECT c.relname FROM hashring.table_shards ts JOIN pg_class c ON c.oid = ts.partition
 WHERE ts.tbl = '$tbl'::regclass AND ts.shard = hashring.table_shard('$tbl', $k)});
}
my $p42 = part_of('t_int', '42');
like($p42, qr/^t_int_\d+$/, "key 42 of t_int: shard table $p42");
is($coord->safe_psql('postgres', 'SELECT tableoid::regclass FROM t_int WHERE k = 42'), $p42,
	'... the partition PostgreSQL routes key 42 to');
my $plan = $coord->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM t_int WHERE k = 42');
is(plan_parts($plan), $p42, 'SELECT ... WHERE k = 42 plans one foreign scan, on its partition');
is(scalar(() = $plan =~ /Remote SQL:/g), 1, '... one remote query') or diag($plan);
$plan = $coord->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) UPDATE t_int SET v = v + 1 WHERE k = 42');
is(plan_parts($plan), $p42, 'UPDATE ... WHERE k = 42 modifies one partition, the right one') or diag($plan);
$plan = $coord->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) DELETE FROM t_int WHERE k = 42');
is(plan_parts($plan), $p42, 'DELETE ... WHERE k = 42 modifies one partition, the right one') or diag($plan);
my $p42_srv = node_servers($coord, $srv)->{ $coord->safe_psql('postgres', q{SELECT hashring.table_node('t_int', 42)}) };
$coord->safe_psql('postgres', 'UPDATE t_int SET v = v + 1000000 WHERE k = 42');
is($p42_srv->safe_psql('postgres', "SELECT v FROM public.$p42 WHERE k = 42"), '1000042', 'the UPDATE changed the row on its shard server');
$coord->safe_psql('postgres', 'UPDATE t_int SET v = 42 WHERE k = 42; DELETE FROM t_int WHERE k = 43');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM t_int WHERE k = 43}), '0', 'the DELETE removed the row');
$coord->safe_psql('postgres', 'INSERT INTO t_int VALUES (43, 43)');

# a generic plan: one subplan left at run time.  The script executes the
# prepared statement for @keys (7 of them: the plan cache is generic from
# the 6th execution on, and forced to be) and explains the last execution.
sub generic_sql
{
	my @keys = @_;
	return "SET plan_cache_mode = force_generic_plan;\n"
	  . "PREPARE q(integer) AS SELECT v FROM t_int WHERE k = \$1;\n"
	  . join('', map { "EXECUTE q($_);\n" } @keys)
	  . "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE q($keys[-1]);\n";
}
$out = $coord->safe_psql('postgres', generic_sql(1 .. 6, 42));
like($out, qr/^1\n2\n3\n4\n5\n6\n42\n/, 'a prepared key = $1 returns the rows (7 executions)');
like($out, qr/Subplans Removed: 31/, '... its generic plan removes 31 of 32 subplans at run time') or diag($out);
is(plan_parts($out), $p42, '... and runs the one partition of the key');

# with the servers of the other nodes stopped, lookups of keys on the
# running node still run: no other shard is touched
my $n42 = $coord->safe_psql('postgres', q{SELECT hashring.table_node('t_int', 42)});
my @others = grep { $_ ne $n42 } qw(n1 n2 n3);
my @on42 = split /\n/, $coord->safe_psql('postgres', qq{
SELECT k FROM generate_series(1, 300) k WHERE hashring.table_node('t_int', k) = '$n42' ORDER BY k LIMIT 7});
my $nodes = node_servers($coord, $srv);
$nodes->{$_}->stop('immediate') for @others;
($rc, $out, $err) = $coord->psql('postgres', generic_sql(@on42));
is($rc, 0, "with the servers of @others stopped, the generic plan runs for keys on $n42") or diag($err);
like($out, qr/^\Q${\ join("\n", @on42)}\E\n/, '... and returns their rows');
my $k_other = $coord->safe_psql('postgres', qq{
SELECT k FROM generate_series(1, 100) k WHERE hashring.table_node('t_int', k) = '$others[0]' LIMIT 1});
($rc, $out, $err) = sqlstate_psql($coord, "SELECT v FROM t_int WHERE k = $k_other");
like(sqlstate($err), qr/^08/, "... a key on stopped $others[0] fails with a connection error (" . sqlstate($err) . ')');
($rc, $out, $err) = sqlstate_psql($coord, "SELECT v FROM t_int WHERE k = 42");
is($out, '42', '... while key 42 on running ' . $n42 . ' is read') or diag($err);
$nodes->{$_}->start for @others;

my @in = (5, 17, 42, 99, 2500);
my $in_parts = join(',', sort { $a cmp $b } keys %{ { map { (part_of('t_int', $_) => 1) } @in } });
$plan = $coord->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM t_int WHERE k IN (' . join(', ', @in) . ')');
is(plan_parts($plan), $in_parts, "k IN (@in) plans only the partitions of those keys ($in_parts)");
is($coord->safe_psql('postgres', 'SELECT string_agg(v::text, \',\' ORDER BY k) FROM t_int WHERE k IN (' . join(', ', @in) . ')'),
	join(',', @in), '... and returns their rows');

$plan = $coord->safe_psql('postgres', 'EXPLAIN (COSTS OFF) SELECT * FROM t_int');
is(scalar(() = $plan =~ /Async Foreign Scan on/g), 32, 'a full scan is 32 Async Foreign Scans') or diag($plan);

# PostgreSQL 15's postgres_fdw pushes a join down only when its costs say
# so: with estimates from the shard servers (docs/distributed.md, tutorial)
$coord->safe_psql('postgres', join('', map { "ALTER SERVER $_ OPTIONS (ADD use_remote_estimate 'true');" } sort keys %$srv));
my $join = 'SELECT a.k, a.v, b.seq, b.v FROM t_text a JOIN t_text2 b ON a.k = b.k';
$plan = $coord->safe_psql('postgres', "SET enable_partitionwise_join = on; EXPLAIN (VERBOSE, COSTS OFF) $join");
my @pairs = $plan =~ /Relations: \((?:\w+\.)?(\w+) \w+\) INNER JOIN \((?:\w+\.)?(\w+) \w+\)/g;
my $same = 0;
for (my $i = 0; $i < @pairs; $i += 2)
{
	my ($x, $y) = ($pairs[$i] =~ /_(\d+)$/, $pairs[ $i + 1 ] =~ /_(\d+)$/);
	$same++ if defined $x && defined $y && $x == $y;
}
is(scalar(@pairs) / 2, 32, 'the partitionwise join of the colocated tables is 32 foreign joins') or diag($plan);
is($same, 32, '... each joining shard s of t_text with shard s of t_text2');
my $pw = $coord->safe_psql('postgres', "SET enable_partitionwise_join = on; SELECT md5(string_agg(x::text, ';' ORDER BY x::text)), count(*) FROM ($join) x");
my $plain = $coord->safe_psql('postgres', "SET enable_partitionwise_join = off; SELECT md5(string_agg(x::text, ';' ORDER BY x::text)), count(*) FROM ($join) x");
is($pw, $plain, 'the pushed-down join returns the rows of the plain join');
like($pw, qr/\|3000$/, '... 3,000 of them');
$coord->safe_psql('postgres', join('', map { "ALTER SERVER $_ OPTIONS (DROP use_remote_estimate);" } sort keys %$srv));

###########################################################################
# (d) writes land on their shards
$coord->safe_psql('postgres', q{
INSERT INTO t_int VALUES (100001, 1);
INSERT INTO t_int VALUES (100002, 1), (100003, 1), (100004, 1), (100005, 1), (100006, 1);
INSERT INTO t_int SELECT g, 1 FROM generate_series(100007, 100500) g;
});
my $srv_off = { map { ($_ => log_offset($srv->{$_})) } keys %$srv };
my $copy_rows = join('', map { "$_\t1\n" } 100501 .. 101000);
($rc, $out, $err) = $coord->psql('postgres', "COPY t_int FROM STDIN;\n$copy_rows\\.\n");
is($rc, 0, 'COPY FROM STDIN into the distributed table') or diag($err);
ok((grep { $srv->{$_}->log_contains(qr/COPY\s+\S*t_int_\d+.*FROM STDIN/i, $srv_off->{$_}) } keys %$srv) == 3,
	'... ran COPY on each of the three shard servers');
($rc, $out, $err) = $coord->psql('postgres',
	"BEGIN;\nCOPY t_int FROM STDIN;\n" . join('', map { "$_\t1\n" } 101001 .. 101100) . "\\.\nROLLBACK;\n");
is($rc, 0, 'COPY in a transaction block, rolled back') or diag($err);
($rc, $out, $err) = $coord->psql('postgres',
	"BEGIN;\nCOPY t_int FROM STDIN;\n" . join('', map { "$_\t1\n" } 101101 .. 101200) . "\\.\nCOMMIT;\n");
is($rc, 0, 'COPY in a transaction block, committed') or diag($err);
my $t_int_state = 'p|4100|' . (4501500 + 1100) . '|32';
is(table_state($coord, 't_int'), $t_int_state, 'INSERT single, multi-row, INSERT ... SELECT and COPY: 1,100 rows more (the rolled back 100 absent)');
is(where_check($coord, $srv, 't_int', 'k'), '4100|4100|0', '... every row on its shard, read on the shard servers');

# COPY failing or killed after its rows were sent
my $fail_rows = join('', map { "$_\t1\n" } 200001 .. 200500);
($rc, $out, $err) = sqlstate_psql($coord,
	"SET hashring.inject_fault = 'copy:after_rows:error';\nCOPY t_int FROM STDIN;\n$fail_rows\\.\n");
like($err, qr/injected fault at step copy:after_rows/, 'COPY failing after its rows were sent: the error');
is(table_state($coord, 't_int'), $t_int_state, '... none of its rows is in the table');
is(where_check($coord, $srv, 't_int', 'k'), '4100|4100|0', '... nor on any shard server');
kill_at_step($coord, 'copy:after_rows',
	"SET hashring.inject_fault = 'copy:after_rows:pause:60000';\nCOPY t_int FROM STDIN;\n$fail_rows\\.");
my ($off, $p, $pid);
is(table_state($coord, 't_int'), $t_int_state, 'COPY killed (kill -9) after its rows were sent: none of them is in the table');
is(where_check($coord, $srv, 't_int', 'k'), '4100|4100|0', '... nor on any shard server');

###########################################################################
# (b) where rows are, by key type
is(where_check($coord, $srv, 't_text', 'k'), '3000|3000|0', 't_text (text keys): every row on its node and shard');
is(where_check($coord, $srv, 't_big', 'k'), '2000|2000|0', 't_big (bigint keys): every row on its node and shard');
is(where_check($coord, $srv, 't_uuid', 'k'), '2000|2000|0', 't_uuid (uuid keys): every row on its node and shard');

###########################################################################
# (e) faults in distribute_table, on table f (owned by alice, with grants and
# comments); each attempt ends with a rerun, then the table goes back local
$coord->safe_psql('postgres', q{
CREATE TABLE f (id integer PRIMARY KEY, v integer NOT NULL, pad text);
INSERT INTO f SELECT g, g, repeat('x', g % 50) FROM generate_series(1, 5000) g;
ALTER TABLE f OWNER TO alice;
GRANT SELECT, INSERT ON f TO bob;
COMMENT ON TABLE f IS 'fault table';
COMMENT ON COLUMN f.v IS 'value';
});
my $f_meta_sql = q{
SELECT relowner::regrole || '|' || relacl::text || '|' || obj_description(oid, 'pg_class') || '|'
       || col_description(oid, 2) FROM pg_class WHERE oid = 'f'::regclass};
my $f_meta = $coord->safe_psql('postgres', $f_meta_sql);
my $f_local = 'r|5000|12502500|0';
my $f_dist = 'p|5000|12502500|8';
is(table_state($coord, 'f'), $f_local, 'f: 5,000 rows, local');

# "local", "distributed", or the state that is neither
sub f_state
{
	my $st = table_state($coord, 'f');
	return 'local' if $st eq $f_local;
	return $st unless $st eq $f_dist;
	my $w = where_check($coord, $srv, 'f', 'id');
	return $w eq '5000|5000|0' ? 'distributed' : "partitioned, but on the shards: $w";
}

# After a fault ($what): the table is local with its rows, or (only when
# $may_be_done) fully distributed; then the rerun or the check of the
# distribution, and undistribute_table back to the local table.
sub after_fault
{
	my ($what, $may_be_done) = @_;
	my $st = f_state();
	if ($may_be_done)
	{
		like($st, qr/^(local|distributed)$/, "$what: the table is local with its rows, or fully distributed ($st)");
	}
	else
	{
		is($st, 'local', "$what: the table is local with exactly its rows");
	}
	is($coord->safe_psql('postgres', $f_meta_sql), $f_meta, "$what: owner, privileges and comments as they were");
	if ($st eq 'local')
	{
		my ($rc, $out, $err) = $coord->psql('postgres', q{CALL hashring.distribute_table('f', 'id', 'r', 8)});
		is($rc, 0, "$what: the rerun completes") or diag($err);
		is(f_state(), 'distributed', "$what: after the rerun every row is once, on its shard");
		is($coord->safe_psql('postgres', $f_meta_sql), $f_meta, "$what: ... with owner, privileges and comments");
	}
	my ($rc, $out, $err) = $coord->psql('postgres', q{CALL hashring.undistribute_table('f')});
	is($rc, 0, "$what: undistribute_table completes") or diag($err);
	is(table_state($coord, 'f'), $f_local, "$what: undistributed, the local table has every row back");
	is($coord->safe_psql('postgres', $f_meta_sql), $f_meta, "$what: ... with owner, privileges and comments");
	return;
}

for my $step (qw(distribute:after_shards_created distribute:after_copy distribute:before_commit))
{
	($rc, $out, $err) = $coord->psql('postgres',
		"SET hashring.inject_fault = '$step:error';\nCALL hashring.distribute_table('f', 'id', 'r', 8);");
	isnt($rc, 0, "error at $step: distribute_table fails");
	like($err, qr/injected fault at step \Q$step\E/, "error at $step: ... with the injected error");
	after_fault("error at $step");

	$off = kill_at_step($coord, $step,
		"SET hashring.inject_fault = '$step:pause:60000';\nCALL hashring.distribute_table('f', 'id', 'r', 8);");
	ok($coord->log_contains(qr/terminated by signal 9/, $off), "kill -9 at $step: the backend was killed");
	after_fault("kill -9 at $step", 1);

	# a cancel (pg_cancel_backend) while the call waits at the step
	$off = log_offset($coord);
	($p, $pid) = psql_pid_start($coord,
		"\\set VERBOSITY verbose\nSET hashring.inject_fault = '$step:pause:60000';\nCALL hashring.distribute_table('f', 'id', 'r', 8);");
	$coord->wait_for_log(qr/paused at step \Q$step\E/, $off);
	is($coord->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', "cancel at $step: sent");
	($rc, $out, $err) = psql_finish($p);
	is(sqlstate($err), '57014', "cancel at $step: distribute_table fails with 57014") or diag($err);
	after_fault("cancel at $step");
}

# a shard server stopped (immediate) while distribute_table waits at a step
# (at before_commit the last server the call opened, n3's: the others'
# transactions commit their copies before its commit fails)
for my $case ([ 'distribute:after_shards_created', 'n2' ], [ 'distribute:after_copy', 'n1' ],
	[ 'distribute:before_commit', 'n3' ])
{
	my ($step, $node) = @$case;
	my $s = node_servers($coord, $srv)->{$node};
	$off = log_offset($coord);
	$p = psql_start($coord, "\\set VERBOSITY verbose\nSET hashring.inject_fault = '$step:pause:2000';\nCALL hashring.distribute_table('f', 'id', 'r', 8);");
	$coord->wait_for_log(qr/paused at step \Q$step\E/, $off);
	$s->stop('immediate');
	($rc, $out, $err) = psql_finish($p);
	diag("$node stopped at $step: distribute_table " . ($rc == 0 ? 'completed' : 'failed: ' . join(' ', grep { /ERROR/ } split /\n/, $err)));
	$s->start;
	my $st = f_state();
	is($st, $rc == 0 ? 'distributed' : 'local',
		"$node stopped at $step: " . ($rc == 0 ? 'the call completed and the table is fully distributed' : 'the call failed and the table is local with its rows'));
	after_fault("$node stopped at $step", 1);
}
diag('after undistribute_table, shard tables of f left on the shard servers: '
	  . join(', ', map { "$_=" . $srv->{$_}->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname ~ '^f_[0-9]+$' AND relkind = 'r'}) } sort keys %$srv));

($rc, $out, $err) = sqlstate_psql($coord, q{
CALL hashring.distribute_table('f', 'id', 'r', 8);
BEGIN;
CALL hashring.undistribute_table('f');
COMMIT;});
is(sqlstate($err), '25001', 'undistribute_table inside a transaction block is refused (25001)') or diag($err);
is(f_state(), 'distributed', '... and the table stays distributed');

###########################################################################
# (f) DDL on a distributed table
$coord->safe_psql('postgres', q{
CREATE TABLE ddl_t (k integer PRIMARY KEY, v integer NOT NULL, w text);
INSERT INTO ddl_t SELECT g, g, CASE WHEN g % 5 <> 0 THEN 'w' || g END FROM generate_series(1, 400) g;
});
distribute_ok('ddl_t', 'k', 8);
my $idx0 = shard_indexes($coord, $srv, 'ddl_t');
my ($idx_base) = values %$idx0;
is(scalar(grep { $_ eq $idx_base } values %$idx0), 8, "ddl_t: every shard table has the same indexes ($idx_base)");

# every shard table of ddl_t has the columns $want; the coordinator's table
# the same names and types
sub ddl_cols_are
{
	my ($want, $what) = @_;
	my $c = shard_columns($coord, $srv, 'ddl_t');
	my @bad = grep { $c->{$_} ne $want } sort keys %$c;
	is(scalar(keys %$c) . ' ' . scalar(@bad), '8 0', "$what: every shard table has: $want")
	  or diag(join("\n", map { "$_: $c->{$_}" } @bad));
	(my $names = $want) =~ s/ not null| default [^,]+//g;
	is($coord->safe_psql('postgres', q{
SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
  FROM pg_attribute WHERE attrelid = 'ddl_t'::regclass AND attnum > 0 AND NOT attisdropped}),
		$names, "$what: the coordinator's table has the same columns");
	return $c;
}

my $base_cols = 'k integer not null, v integer not null, w text';
ddl_cols_are($base_cols, 'ddl_t distributed');
$coord->safe_psql('postgres', 'ALTER TABLE ddl_t ADD COLUMN x integer DEFAULT 7');
ddl_cols_are("$base_cols, x integer default 7", 'ADD COLUMN x DEFAULT 7');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM ddl_t WHERE x = 7'), '400', '... existing rows have x = 7');
$coord->safe_psql('postgres', 'ALTER TABLE ddl_t RENAME COLUMN x TO y');
ddl_cols_are("$base_cols, y integer default 7", 'RENAME COLUMN x TO y');
$coord->safe_psql('postgres', 'ALTER TABLE ddl_t ALTER COLUMN y TYPE bigint');
ddl_cols_are("$base_cols, y bigint default 7", 'ALTER COLUMN y TYPE bigint');
is($coord->safe_psql('postgres', 'SELECT sum(y) FROM ddl_t'), '2800', '... the values kept');
$coord->safe_psql('postgres', 'ALTER TABLE ddl_t ALTER COLUMN y SET DEFAULT 9');
ddl_cols_are("$base_cols, y bigint default 9", 'SET DEFAULT 9');
$coord->safe_psql('postgres', q{INSERT INTO ddl_t (k, v, w) VALUES (1001, 1, 'a')});
my $n1001 = node_servers($coord, $srv)->{ $coord->safe_psql('postgres', q{SELECT hashring.table_node('ddl_t', 1001)}) };
my $p1001 = part_of('ddl_t', '1001');
is($n1001->safe_psql('postgres', "SELECT y FROM public.$p1001 WHERE k = 1001"), '9', '... a row inserted without y has 9 on its shard');
$coord->safe_psql('postgres', 'ALTER TABLE ddl_t ALTER COLUMN y DROP DEFAULT');
ddl_cols_are("$base_cols, y bigint", 'DROP DEFAULT');
$coord->safe_psql('postgres', q{INSERT INTO ddl_t (k, v, w) VALUES (1002, 1, 'b')});
is($coord->safe_psql('postgres', 'SELECT y IS NULL FROM ddl_t WHERE k = 1002'), 't', '... a row inserted without y has NULL');
$coord->safe_psql('postgres', q{UPDATE ddl_t SET w = '' WHERE w IS NULL; ALTER TABLE ddl_t ALTER COLUMN w SET NOT NULL});
ddl_cols_are('k integer not null, v integer not null, w text not null, y bigint', 'SET NOT NULL');
($rc, $out, $err) = sqlstate_psql($coord, q{INSERT INTO ddl_t (k, v, w) VALUES (1003, 1, NULL)});
is(sqlstate($err), '23502', '... a NULL w is refused (23502)');
$coord->safe_psql('postgres', 'ALTER TABLE ddl_t ALTER COLUMN w DROP NOT NULL');
ddl_cols_are("$base_cols, y bigint", 'DROP NOT NULL');
$coord->safe_psql('postgres', q{INSERT INTO ddl_t (k, v, w) VALUES (1003, 1, NULL)});
$coord->safe_psql('postgres', 'ALTER TABLE ddl_t DROP COLUMN y');
ddl_cols_are($base_cols, 'DROP COLUMN y');
$coord->safe_psql('postgres', 'CREATE INDEX ddl_w_idx ON ddl_t (w)');
my $want_idx = join('; ', sort($idx_base, 'CREATE INDEX ON USING btree (w)'));
my $ix = shard_indexes($coord, $srv, 'ddl_t');
is(scalar(grep { $_ eq $want_idx } values %$ix), 8, 'CREATE INDEX: every shard table has the index on w')
  or diag(join("\n", values %$ix));
is($coord->safe_psql('postgres', q{
SELECT count(*) FROM pg_index WHERE indrelid = 'ddl_t'::regclass
    OR indrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'ddl_t'::regclass)}),
	'0', '... and the coordinator has none');
$coord->safe_psql('postgres', 'DROP INDEX ddl_w_idx');
$ix = shard_indexes($coord, $srv, 'ddl_t');
is(scalar(grep { $_ eq $idx_base } values %$ix), 8, 'DROP INDEX: the index is gone from every shard table');
my $ddl_state = 'p|403|80203|8';
is(table_state($coord, 'ddl_t'), $ddl_state, 'ddl_t: 403 rows');

# a conflicting column on one shard table
my ($victim) = @{ shard_list($coord, 'ddl_t') }[3];
my $victim_srv = node_servers($coord, $srv)->{ $victim->{node} };
$victim_srv->safe_psql('postgres', "ALTER TABLE $victim->{shard_table} ADD COLUMN z text");
($rc, $out, $err) = sqlstate_psql($coord, 'ALTER TABLE ddl_t ADD COLUMN z integer');
isnt($rc, 0, "ADD COLUMN z with a column z already on $victim->{shard_table}: fails (" . sqlstate($err) . ')');
like($err, qr/"z"/, '... naming the column') or diag($err);
my $c = shard_columns($coord, $srv, 'ddl_t');
is(join(',', map { "$_=$c->{$_}" } grep { $c->{$_} ne $base_cols } sort keys %$c),
	"$victim->{shard_table}=$base_cols, z text", '... no other shard table was changed');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_attribute WHERE attrelid = 'ddl_t'::regclass AND attname = 'z'}),
	'0', '... nor the coordinator\'s table');
$victim_srv->safe_psql('postgres', "ALTER TABLE $victim->{shard_table} DROP COLUMN z");
($rc, $out, $err) = $coord->psql('postgres', 'ALTER TABLE ddl_t ADD COLUMN z integer');
is($rc, 0, 'with the conflict gone, ADD COLUMN z completes') or diag($err);
ddl_cols_are("$base_cols, z integer", 'ADD COLUMN z');

# a stopped shard server
my $stopped = node_servers($coord, $srv)->{n2};
$stopped->stop('immediate');
($rc, $out, $err) = sqlstate_psql($coord, 'ALTER TABLE ddl_t ADD COLUMN q integer');
isnt($rc, 0, 'ADD COLUMN with the server of n2 stopped: fails (' . sqlstate($err) . ')');
like(sqlstate($err), qr/^08/, '... with a connection error');
($rc, $out, $err) = sqlstate_psql($coord, 'CREATE INDEX ddl_v_idx ON ddl_t (v)');
isnt($rc, 0, 'CREATE INDEX with the server of n2 stopped: fails (' . sqlstate($err) . ')');
$stopped->start;
ddl_cols_are("$base_cols, z integer", 'after the failures with n2 stopped, no shard table');
$ix = shard_indexes($coord, $srv, 'ddl_t');
is(scalar(grep { $_ eq $idx_base } values %$ix), 8, '... and no shard table has the index on v');
$coord->safe_psql('postgres', 'ALTER TABLE ddl_t ADD COLUMN q integer');
ddl_cols_are("$base_cols, z integer, q integer", 'n2 back, ADD COLUMN q');

# RENAME TO concerns the coordinator only (the implementation lets it
# pass; the shard tables keep their names): the table keeps working
($rc, $out, $err) = sqlstate_psql($coord, 'ALTER TABLE ddl_t RENAME TO ddl_renamed');
is($rc, 0, 'RENAME TO of a distributed table passes') or diag($err);
is(table_state($coord, 'ddl_renamed'), $ddl_state, '... the renamed table has its rows');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM hashring.table_shards WHERE tbl = 'ddl_renamed'::regclass}), '8',
	'... and its 8 shards in table_shards');
$coord->safe_psql('postgres', 'ALTER TABLE ddl_renamed RENAME TO ddl_t');

# other forms are refused
for my $ddl (
	'ALTER TABLE ddl_t ADD CONSTRAINT v_pos CHECK (v > 0)',
	"ALTER TABLE ddl_t DETACH PARTITION $victim->{partition}",
	'ALTER TABLE ddl_t ALTER COLUMN z TYPE bigint USING z + 1',
	'DROP TABLE ddl_t')
{
	($rc, $out, $err) = sqlstate_psql($coord, $ddl);
	is(sqlstate($err), '0A000', "refused (0A000): $ddl") or diag($err);
}
is(table_state($coord, 'ddl_t'), $ddl_state, '... the table is still distributed with its rows');
ddl_cols_are("$base_cols, z integer, q integer", 'after the refusals');

($rc, $out, $err) = $coord->psql('postgres', q{CALL hashring.undistribute_table('ddl_t')});
is($rc, 0, 'undistribute_table(ddl_t) completes') or diag($err);
is(table_state($coord, 'ddl_t'), 'r|403|80203|0', '... every row back in the local table');
is($coord->safe_psql('postgres', q{
SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
  FROM pg_attribute WHERE attrelid = 'ddl_t'::regclass AND attnum > 0 AND NOT attisdropped}),
	'k integer, v integer, w text, z integer, q integer', '... with the columns the DDL left');
diag('ddl_t after undistribute_table: '
	  . $coord->safe_psql('postgres', q{SELECT coalesce(string_agg(pg_get_constraintdef(oid), ', '), 'no constraints') FROM pg_constraint WHERE conrelid = 'ddl_t'::regclass}));

###########################################################################
# (g) refusals
$coord->safe_psql('postgres', q{
CREATE TABLE plain (k integer PRIMARY KEY, v integer NOT NULL);
INSERT INTO plain SELECT g, g FROM generate_series(1, 200) g;
CREATE TABLE parted (k integer, v integer) PARTITION BY HASH (k);
CREATE TABLE parted_0 PARTITION OF parted FOR VALUES WITH (MODULUS 1, REMAINDER 0);
INSERT INTO parted SELECT g, g FROM generate_series(1, 10) g;
CREATE TABLE parent (k integer PRIMARY KEY, v integer NOT NULL);
INSERT INTO parent SELECT g, g FROM generate_series(1, 10) g;
CREATE TABLE child (id integer PRIMARY KEY, pk integer REFERENCES parent);
CREATE TABLE uq (k integer, v integer NOT NULL, code text UNIQUE);
INSERT INTO uq SELECT g, g, 'c' || g FROM generate_series(1, 10) g;
CREATE TABLE pt (k point, v integer);
INSERT INTO pt SELECT point(g, g), g FROM generate_series(1, 10) g;
CREATE TABLE vsrc (k integer PRIMARY KEY, v integer NOT NULL);
INSERT INTO vsrc SELECT g, g FROM generate_series(1, 10) g;
CREATE VIEW vsrc_v AS SELECT * FROM vsrc;
CREATE ROLE mallory;
GRANT USAGE ON SCHEMA hashring TO mallory;
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA hashring TO mallory;
GRANT SELECT ON ALL TABLES IN SCHEMA hashring TO mallory;
GRANT SELECT ON plain TO mallory;
SELECT hashring.ring_create('nt');
SELECT hashring.ring_add_node('nt', 'lonely');
SELECT hashring.ring_create('ghost');
SELECT hashring.ring_add_node('ghost', 'g1', 1, 'no_such_server');
CREATE FOREIGN DATA WRAPPER dummy_fdw;
CREATE SERVER notpg FOREIGN DATA WRAPPER dummy_fdw;
SELECT hashring.ring_create('other_fdw');
SELECT hashring.ring_add_node('other_fdw', 'o1', 1, 'notpg');
});
my $free = PostgreSQL::Test::Cluster::get_free_port();
my $host = $coord->host;
$coord->safe_psql('postgres', qq{
CREATE SERVER deadsrv FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$host', port '$free', dbname 'postgres');
CREATE USER MAPPING FOR CURRENT_USER SERVER deadsrv;
SELECT hashring.ring_create('dead');
SELECT hashring.ring_add_node('dead', 'd1', 1, 'srv1');
SELECT hashring.ring_add_node('dead', 'd2', 1, 'deadsrv');
});
my %unchanged = (
	plain => 'r|200|20100|0',
	parted => 'p|10|55|1',
	parent => 'r|10|55|0',
	uq => 'r|10|55|0',
	pt => 'r|10|55|0',
	vsrc => 'r|10|55|0');

# $sql is refused with a SQLSTATE matching $codes, and every table is as it
# was (local, same rows), with no foreign table left beside it
sub refused
{
	my ($what, $sql, $codes) = @_;
	my ($rc, $out, $err) = sqlstate_psql($coord, $sql);
	my $code = sqlstate($err);
	isnt($rc, 0, "$what: refused");
	like($code, qr/^(?:$codes)$/, "$what: SQLSTATE $code (expected $codes)") or diag($err);
	my @changed = grep { table_state($coord, $_) ne $unchanged{$_} } sort keys %unchanged;
	is("@changed", '', "$what: every table as it was");
	return;
}

refused('node without a target', q{CALL hashring.distribute_table('plain', 'k', 'nt')}, '55000');
refused('target that is no server', q{CALL hashring.distribute_table('plain', 'k', 'ghost')}, '42704|55000');
refused('target that is not a postgres_fdw server', q{CALL hashring.distribute_table('plain', 'k', 'other_fdw')}, '42704|55000');
refused('unreachable server', q{CALL hashring.distribute_table('plain', 'k', 'dead', 4)}, '08001');
is($srv->{srv1}->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname ~ '^plain_[0-9]+$'}), '0',
	'... and nothing was left on the reachable server');
refused('a table already distributed', q{CALL hashring.distribute_table('t_int', 'k', 'r')}, '55000');
is(table_state($coord, 't_int'), $t_int_state, '... t_int unchanged');
refused('a partitioned table', q{CALL hashring.distribute_table('parted', 'k', 'r')}, '42809');
refused('a temporary table', q{
CREATE TEMP TABLE tmp_t (k integer PRIMARY KEY, v integer);
CALL hashring.distribute_table('tmp_t', 'k', 'r')}, '0A000');
refused('a view', q{CALL hashring.distribute_table('vsrc_v', 'k', 'r')}, '42809');
refused('a table a view depends on', q{CALL hashring.distribute_table('vsrc', 'k', 'r')}, '2BP01|0A000');
refused('a table referenced by a foreign key', q{CALL hashring.distribute_table('parent', 'k', 'r')}, '0A000');
refused('a unique constraint without the key', q{CALL hashring.distribute_table('uq', 'k', 'r')}, '0A000');
refused('a key without a hash operator class (point)', q{CALL hashring.distribute_table('pt', 'k', 'r')}, '42704');
refused('a key column that does not exist', q{CALL hashring.distribute_table('plain', 'nope', 'r')}, '42703');
refused('a ring that does not exist', q{CALL hashring.distribute_table('plain', 'k', 'no_ring')}, '42704|22023|55000');
refused("shard_count $_", "CALL hashring.distribute_table('plain', 'k', 'r', $_)", '22023') for (0, -1, 1025);
refused('not the owner', q{SET ROLE mallory; CALL hashring.distribute_table('plain', 'k', 'r')}, '42501');
refused('NULL table', q{CALL hashring.distribute_table(NULL, 'k', 'r')}, '22004');
refused('NULL key column', q{CALL hashring.distribute_table('plain', NULL, 'r')}, '22004');
refused('NULL ring', q{CALL hashring.distribute_table('plain', 'k', NULL)}, '22004');
refused('NULL shard_count', q{CALL hashring.distribute_table('plain', 'k', 'r', NULL)}, '22004');
refused('undistribute_table of a local table', q{CALL hashring.undistribute_table('plain')}, '55000|42809|0A000');
refused('undistribute_table(NULL)', q{CALL hashring.undistribute_table(NULL)}, '22004');
($rc, $out, $err) = sqlstate_psql($coord, q{SELECT hashring.table_node('plain', 1)});
diag('table_node of a local table: ' . ($rc == 0 ? "returns '$out'" : 'SQLSTATE ' . sqlstate($err)));

# shard_count 1: one shard, on one node
distribute_ok('plain', 'k', 1);
($rc, $out, $err) = $coord->psql('postgres', q{CALL hashring.undistribute_table('plain')});
is(table_state($coord, 'plain'), 'r|200|20100|0', 'plain (one shard) undistributed: every row back');

###########################################################################
# (a) a fourth node joins: table_placement says which shards must move
$coord->safe_psql('postgres', q{SELECT hashring.ring_add_node('r', 'n4', 1, 'srv4')});
my $n4_counts = $coord->safe_psql('postgres', q{
SELECT string_agg(node || '=' || n, ',' ORDER BY node) FROM (
  SELECT node, count(*) AS n FROM hashring.shard_placement('r', 32) GROUP BY node) s});
my %cnt = map { split /=/ } split /,/, $n4_counts;
my %share = (n1 => 6.4, n2 => 6.4, n3 => 12.8, n4 => 6.4);
is(join(',', grep { abs(($cnt{$_} // 0) - $share{$_}) >= 1 } sort keys %share), '',
	"n4 (weight 1) joins: 32 shards on weights 1,1,2,1 ($n4_counts) each within one of its share (6.4, 6.4, 12.8, 6.4)");
my ($moving, $to_n4, $from_ok) = split /\|/, $coord->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE tp.node <> tp.target_node) || '|'
       || count(*) FILTER (WHERE tp.node <> tp.target_node AND tp.target_node = 'n4') || '|'
       || count(*) FILTER (WHERE tp.node = ts.node)
  FROM hashring.table_placement('t_int') tp
  JOIN hashring.table_shards ts ON ts.tbl = 't_int'::regclass AND ts.shard = tp.shard});
my $n4_share = $coord->safe_psql('postgres', q{SELECT count(*) FROM hashring.shard_placement('r', 32) WHERE node = 'n4'});
is($moving, $n4_share, "table_placement: $moving shards must move, as many as n4's share");
is($to_n4, $moving, '... every one of them to n4 (none between the nodes that were there)');
is($from_ok, 32, '... its node column is where each shard is (table_shards)');
is($coord->safe_psql('postgres', q{
SELECT string_agg(node || '=' || n, ',' ORDER BY node) FROM (
  SELECT target_node AS node, count(*) AS n FROM hashring.table_placement('t_int') GROUP BY target_node) s}),
	$n4_counts, '... and its target nodes hold the shares of shard_placement');
is(where_check($coord, $srv, 't_int', 'k'), '4100|4100|0',
	'before anything moves, every row is still where table_node says');
is($coord->safe_psql('postgres', 'SELECT v FROM t_int WHERE k = 42'), '42', '... and reads route to it');

($rc, $out, $err) = $coord->psql('postgres', q{CALL hashring.undistribute_table('t_int')});
is($rc, 0, 'undistribute_table(t_int) completes') or diag($err);
is(table_state($coord, 't_int'), 'r|4100|' . (4501500 + 1100) . '|0', '... every row back in the local table');

$coord->stop;
$_->stop for values %$srv;
done_testing();
