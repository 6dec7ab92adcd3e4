# Rebalancing a sharded table for real: a coordinator and three shard
# servers on loopback, 100,000 rows placed by ring_node, then a fourth shard.
# The plan's row counts equal what hashring.ring_move moves; afterwards every
# row exists exactly once, on its owner.  Interrupted runs (a cancel, and a
# coordinator backend killed with SIGKILL) are rerun to the same exact state.
# Then a shard is drained and a weight changed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use HashringTest;

my $coord = hr_node('coord', preload => 1, conf => 'restart_after_crash = on');
$coord->safe_psql('postgres', 'CREATE EXTENSION postgres_fdw');
my @shards;
for my $i (1 .. 4)
{
	my $s = PostgreSQL::Test::Cluster->new("shard$i");
	$s->init;
	$s->start;
	$s->safe_psql('postgres', 'CREATE TABLE items (k text PRIMARY KEY, v integer NOT NULL)');
	my ($host, $port) = ($s->host, $s->port);
	$coord->safe_psql('postgres', qq{
CREATE SERVER shard$i FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$host', port '$port', dbname 'postgres');
CREATE USER MAPPING FOR CURRENT_USER SERVER shard$i;
});
	push @shards, $s;
}

$coord->safe_psql('postgres', q{
SELECT hashring.ring_create('r', vnodes => 64);
SELECT hashring.ring_add_node('r', 'shard' || i, target => 'shard' || i) FROM generate_series(1, 3) i;
});

# load 100,000 rows through the router: each row on ring_node's shard
$coord->safe_psql('postgres', q{
SELECT hashring._shard_table('r', 'shard' || i, 'public.items') FROM generate_series(1, 3) i;
INSERT INTO hashring_fdw_shard1.items SELECT 'item:' || g, g FROM generate_series(1, 100000) g WHERE hashring.ring_node('r', 'item:' || g) = 'shard1';
INSERT INTO hashring_fdw_shard2.items SELECT 'item:' || g, g FROM generate_series(1, 100000) g WHERE hashring.ring_node('r', 'item:' || g) = 'shard2';
INSERT INTO hashring_fdw_shard3.items SELECT 'item:' || g, g FROM generate_series(1, 100000) g WHERE hashring.ring_node('r', 'item:' || g) = 'shard3';
CREATE VIEW all_items AS
  SELECT 'shard1' AS shard, * FROM hashring_fdw_shard1.items UNION ALL
  SELECT 'shard2', * FROM hashring_fdw_shard2.items UNION ALL
  SELECT 'shard3', * FROM hashring_fdw_shard3.items;
});

# every row exactly once, on its owner, with its value
my $check_sql = q{
SELECT count(*) = 100000 AND count(DISTINCT k) = 100000
       AND count(*) FILTER (WHERE shard <> hashring.ring_node('r', k)) = 0
       AND sum(v) = 5000050000
  FROM all_items};
is($coord->safe_psql('postgres', $check_sql), 't', 'loaded: 100,000 rows, each once, on its owner');

my $v_before = $coord->safe_psql('postgres', q{SELECT version FROM hashring.rings WHERE ring = 'r'});
$coord->safe_psql('postgres', q{
SELECT hashring.ring_add_node('r', 'shard4', target => 'shard4');
SELECT hashring._shard_table('r', 'shard4', 'public.items');
CREATE OR REPLACE VIEW all_items AS
  SELECT 'shard1' AS shard, * FROM hashring_fdw_shard1.items UNION ALL
  SELECT 'shard2', * FROM hashring_fdw_shard2.items UNION ALL
  SELECT 'shard3', * FROM hashring_fdw_shard3.items UNION ALL
  SELECT 'shard4', * FROM hashring_fdw_shard4.items;
});

# the plan, from the data: rows per flow
my $plan = $coord->safe_psql('postgres', qq{
SELECT coalesce(sum(rows), 0) FROM (
  SELECT rows FROM hashring.ring_plan_moves('r', 'hashring_fdw_shard1.items', 'k', $v_before) UNION ALL
  SELECT rows FROM hashring.ring_plan_moves('r', 'hashring_fdw_shard2.items', 'k', $v_before) UNION ALL
  SELECT rows FROM hashring.ring_plan_moves('r', 'hashring_fdw_shard3.items', 'k', $v_before)) p});
cmp_ok($plan, '>', 15000, "plan: $plan rows move to the new shard (about a quarter)");
is($coord->safe_psql('postgres', qq{SELECT count(*) FROM all_items WHERE hashring.ring_node('r', k, $v_before) <> hashring.ring_node('r', k)}),
	$plan, 'plan equals the rows whose owner changed');

# interrupted by a cancel (statement_timeout) part-way, then rerun
my ($ret, $out, $err) = $coord->psql('postgres',
	q{SET statement_timeout = '400ms'; CALL hashring.ring_move('r', 'public.items', 'k', 500)});
isnt($ret, 0, 'first run was cancelled part-way');
is($coord->safe_psql('postgres', q{SELECT count(DISTINCT k) = 100000 AND count(*) >= 100000 FROM all_items}),
	't', 'after the cancel every row is present at least once');
diag('after the cancel the new shard holds '
	  . $coord->safe_psql('postgres', q{SELECT count(*) FROM hashring_fdw_shard4.items}) . " of $plan rows");

# interrupted by killing the coordinator backend, then rerun
my $bg = $coord->background_psql('postgres', on_error_stop => 0);
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
$bg->query_until(qr/^$/, "CALL hashring.ring_move('r', 'public.items', 'k', 300);\n");
usleep(700_000);
kill 'KILL', $pid;
$bg->quit;
$coord->poll_query_until('postgres', 'SELECT true') or die 'coordinator did not come back';
ok($coord->log_contains(qr/terminated by signal 9/), 'the coordinator backend was killed (crash restart)');
my $part = $coord->safe_psql('postgres', q{SELECT count(*) FROM hashring_fdw_shard4.items});
cmp_ok($part, '<', $plan, "the killed run had not finished ($part of $plan rows on the new shard)");
is($coord->safe_psql('postgres', q{SELECT count(DISTINCT k) = 100000 AND count(*) >= 100000 FROM all_items}),
	't', 'after the killed backend every row is present at least once');

my ($r2, $o2, $e2) = $coord->psql('postgres', q{CALL hashring.ring_move('r', 'public.items', 'k')});
is($r2, 0, 'rerun completes');
like($e2, qr/ring_move: done/, 'it reports progress and the total');
is($coord->safe_psql('postgres', $check_sql), 't', 'after the move: every row once, on its owner');
cmp_ok($coord->safe_psql('postgres', q{SELECT count(*) FROM all_items WHERE shard = 'shard4'}), '==', $plan,
	'the new shard holds exactly the planned rows');

# drain a shard to empty
$coord->safe_psql('postgres', q{SELECT hashring.ring_set_state('r', 'shard2', 'down')});
$coord->safe_psql('postgres', q{CALL hashring.ring_move('r', 'public.items', 'k')});
is($coord->safe_psql('postgres', q{SELECT count(*) FROM hashring_fdw_shard2.items}), '0', 'drained shard is empty');
is($coord->safe_psql('postgres', $check_sql), 't', 'after draining: every row once, on its owner');

# reweight
$coord->safe_psql('postgres', q{SELECT hashring.ring_set_state('r', 'shard2', 'active'); SELECT hashring.ring_set_weight('r', 'shard1', 2)});
$coord->safe_psql('postgres', q{CALL hashring.ring_move('r', 'public.items', 'k')});
is($coord->safe_psql('postgres', $check_sql), 't', 'after the reweight: every row once, on its owner');

# refusals: a node without a server, a missing table
$coord->safe_psql('postgres', q{SELECT hashring.ring_add_node('r', 'ghost', target => 'no_such_server')});
my ($r3, $o3, $e3) = $coord->psql('postgres', q{CALL hashring.ring_move('r', 'public.items', 'k')});
like($e3, qr/foreign server "no_such_server" \(target of node "ghost"\) does not exist/, 'missing server refused');
$coord->safe_psql('postgres', q{SELECT hashring.ring_remove_node('r', 'ghost')});
my ($r4, $o4, $e4) = $coord->psql('postgres', q{CALL hashring.ring_move('r', 'public.nope', 'k')});
like($e4, qr/table public\.nope does not exist on server/, 'missing table refused');
is($coord->safe_psql('postgres', $check_sql), 't', 'refusals changed nothing');

done_testing();
