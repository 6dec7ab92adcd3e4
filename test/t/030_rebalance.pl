# Rebalancing a sharded table for real: a coordinator and three shard
# servers on loopback, 100,000 rows placed by ring_node, then a fourth shard.
# The plan's row counts equal what hashring.ring_move moves; afterwards every
# row exists exactly once, on its owner.  Interrupted runs (a cancel, and a
# coordinator backend killed with SIGKILL between a batch's copy and its
# delete) are rerun to the same exact state.  Then a shard is drained, a
# weight changed, and a missing server, target, table or unique key refused.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
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

# ring_move_progress.rows_per_second of a throttled move counts the
# throttle's waits (issue 26: a move throttled to 2,000 rows/s, cancelled
# after its first batch of 5,000, read about 27,794, the rate of the batch
# alone): while it waits after its first batch, and once cancelled there
my $tb = $coord->background_psql('postgres', on_error_stop => 0);
my $tpid = $tb->query_safe('SELECT pg_backend_pid()');
$tb->query_until(qr/^$/, qq{
CALL hashring.ring_move('r', 'public.items', 'k', 5000, from_version => $v_before, rows_per_second => 2000);
});
$coord->poll_query_until('postgres', q{SELECT rows_moved >= 5000 FROM hashring.ring_move_progress WHERE ring = 'r'})
  or die 'the throttled move did not move its first batch';
my ($t_running, $t_rate) = split /\|/, $coord->safe_psql('postgres', q{
SELECT running, rows_per_second FROM hashring.ring_move_progress WHERE ring = 'r'});
is($t_running, 't', 'the throttled move is running');
cmp_ok($t_rate, '<=', 2000, "while it runs, rows_per_second ($t_rate) counts the throttle's wait: at most 2,000");
$coord->safe_psql('postgres', qq{SELECT pg_cancel_backend($tpid)});
$coord->poll_query_until('postgres', q{SELECT NOT running FROM hashring.ring_move_progress WHERE ring = 'r'})
  or die 'the throttled move did not stop';
$tb->quit;
my ($t_moved, $t_rate2) = split /\|/, $coord->safe_psql('postgres', q{
SELECT rows_moved, rows_per_second FROM hashring.ring_move_progress WHERE ring = 'r'});
cmp_ok($t_moved, '>=', 5000, "the cancelled throttled move had moved $t_moved rows");
cmp_ok($t_rate2, '<=', 2000, "once cancelled, rows_per_second ($t_rate2) counts the wait after its last batch: at most 2,000");
cmp_ok($t_rate2, '>=', 1000, '... and is still the rate it held (at least 1,000)');

# interrupted by a cancel (statement_timeout) part-way, then rerun; the
# first move of the table says which version its rows are placed by, and
# rows_per_second stretches it so that the cancel comes part-way
my ($ret, $out, $err) = $coord->psql('postgres', qq{
SET statement_timeout = '1500ms';
CALL hashring.ring_move('r', 'public.items', 'k', 500, from_version => $v_before, rows_per_second => 5000)});
isnt($ret, 0, 'first run was cancelled part-way');
like($err, qr/canceling statement due to statement timeout/, '... by the statement timeout');
is($coord->safe_psql('postgres', q{SELECT count(DISTINCT k) = 100000 AND count(*) >= 100000 FROM all_items}),
	't', 'after the cancel every row is present at least once');
my $after_cancel = $coord->safe_psql('postgres', q{SELECT count(*) FROM hashring_fdw_shard4.items});
cmp_ok($after_cancel, '<', $plan, "the cancelled run had not finished ($after_cancel of $plan rows on the new shard)");
my $v_now = $coord->safe_psql('postgres', q{SELECT version FROM hashring.rings WHERE ring = 'r'});
is($coord->safe_psql('postgres', q{SELECT settled_version || '|' || moving_to FROM hashring.moves WHERE ring = 'r'}),
	"$v_before|$v_now", 'the interrupted move is recorded: from the version given, to the current one');

# applications' placement while the move is interrupted: the old owner, then
# the new one
my ($mk, $mk_old, $mk_new) = split /\|/, $coord->safe_psql('postgres', qq{
SELECT 'item:' || g || '|' || hashring.ring_node('r', 'item:' || g, $v_before) || '|' || hashring.ring_node('r', 'item:' || g)
  FROM generate_series(1, 100000) g WHERE hashring.ring_node('r', 'item:' || g, $v_before) <> hashring.ring_node('r', 'item:' || g) LIMIT 1});
is($coord->safe_psql('postgres', qq{SELECT hashring.ring_placement('r', 'public.items', '$mk')}),
	"{$mk_old,$mk_new}", 'ring_placement of a moving key during the move: old owner, then new owner');

# interrupted by killing the coordinator backend between a batch's target
# commit and its delete on the source, then rerun (from_version remembered)
my $bg = $coord->background_psql('postgres', on_error_stop => 0);
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
my $off = -s $coord->logfile;
$bg->query_until(qr/^$/, q{
SET hashring.inject_move_fault = 'after_target_commit:pause:60000';
CALL hashring.ring_move('r', 'public.items', 'k', 300);
});
$coord->wait_for_log(qr/ring_move paused at after_target_commit/, $off);
is($coord->safe_psql('postgres', qq{
SELECT running AND pid = $pid AND from_version = $v_before AND to_version = $v_now FROM hashring.ring_move_progress WHERE ring = 'r'}),
	't', 'ring_move_progress shows the running move: its backend and versions');
kill 'KILL', $pid;
# psql may have seen its connection die and exited already: \q then meets
# a closed pipe (IPC::Run dies of it), which is no failure of the test
eval { $bg->quit };
# the crash restart has begun only once the postmaster logged the kill, and is
# over once it is ready again: a query polled before that may still reach
# the old backends, and the next one then fail in the restart
$coord->wait_for_log(qr/database system is ready to accept connections/, $off);
$coord->poll_query_until('postgres', 'SELECT true') or die 'coordinator did not come back';
ok($coord->log_contains(qr/terminated by signal 9/, $off), 'the coordinator backend was killed (crash restart)');
my $part = $coord->safe_psql('postgres', q{SELECT count(*) FROM hashring_fdw_shard4.items});
cmp_ok($part, '<', $plan, "the killed run had not finished ($part of $plan rows on the new shard)");
is($coord->safe_psql('postgres', q{SELECT count(DISTINCT k) = 100000 AND count(*) > 100000 FROM all_items}),
	't', 'after the killed backend every row is present at least once, the killed batch on both shards');

my ($r2, $o2, $e2) = $coord->psql('postgres', q{CALL hashring.ring_move('r', 'public.items', 'k')});
is($r2, 0, 'rerun completes') or diag($e2);
like($e2, qr/NOTICE:\s+done: \d+ row\(s\) moved; .*placed by version $v_now/, 'it reports the total and the version');
unlike($e2, qr/hashring\.ring_move:/, 'its notices have no "hashring.ring_move:" prefix');
is($coord->safe_psql('postgres', $check_sql), 't', 'after the move: every row once, on its owner');
cmp_ok($coord->safe_psql('postgres', q{SELECT count(*) FROM all_items WHERE shard = 'shard4'}), '==', $plan,
	'the new shard holds exactly the planned rows');
is($coord->safe_psql('postgres', qq{SELECT hashring.ring_placement('r', 'public.items', '$mk')}),
	"{$mk_new}", 'ring_placement after the move: the new owner only');
is($coord->safe_psql('postgres', q{SELECT coalesce(moving_to::text, 'none') || '|' || settled_version FROM hashring.moves WHERE ring = 'r'}),
	"none|$v_now", 'the table is recorded as placed by the current version');
is($coord->safe_psql('postgres', q{SELECT rows_planned = rows_moved AND rows_moved > 0 AND rows_scanned >= 100000 FROM hashring.moves WHERE ring = 'r'}),
	't', 'its progress: every planned row moved, every source row read');

# drain a shard to empty
$coord->safe_psql('postgres', q{SELECT hashring.ring_set_state('r', 'shard2', 'down')});
$coord->safe_psql('postgres', q{CALL hashring.ring_move('r', 'public.items', 'k')});
is($coord->safe_psql('postgres', q{SELECT count(*) FROM hashring_fdw_shard2.items}), '0', 'drained shard is empty');
is($coord->safe_psql('postgres', $check_sql), 't', 'after draining: every row once, on its owner');

# reweight
$coord->safe_psql('postgres', q{SELECT hashring.ring_set_state('r', 'shard2', 'active'); SELECT hashring.ring_set_weight('r', 'shard1', 2)});
$coord->safe_psql('postgres', q{CALL hashring.ring_move('r', 'public.items', 'k')});
is($coord->safe_psql('postgres', $check_sql), 't', 'after the reweight: every row once, on its owner');

# refusals, before anything moves: a node whose server is missing, a node
# without a target, a missing table, a table without a unique key
my $settled = $coord->safe_psql('postgres', q{SELECT version FROM hashring.rings WHERE ring = 'r'});
$coord->safe_psql('postgres', q{SELECT hashring.ring_add_node('r', 'ghost', target => 'no_such_server')});
my ($r3, $o3, $e3) = $coord->psql('postgres', q{CALL hashring.ring_move('r', 'public.items', 'k')});
like($e3, qr/ERROR:.*no_such_server.*does not exist/, 'missing server refused');
like($e3, qr/ghost/, '... naming the node');
is($coord->safe_psql('postgres', q{SELECT hashring.ring_placement('r', 'public.items', 'item:1')}),
	'{' . $coord->safe_psql('postgres', qq{SELECT hashring.ring_node('r', 'item:1', $settled)}) . '}',
	'... and left no move in progress (placement: the settled owner only)');
$coord->safe_psql('postgres', q{SELECT hashring.ring_remove_node('r', 'ghost')});
$coord->safe_psql('postgres', q{SELECT hashring.ring_add_node('r', 'aimless')});
my ($r5, $o5, $e5) = $coord->psql('postgres', q{CALL hashring.ring_move('r', 'public.items', 'k')});
like($e5, qr/ERROR:.*aimless.*target|ERROR:.*target.*aimless/, 'node without a target refused');
$coord->safe_psql('postgres', q{SELECT hashring.ring_remove_node('r', 'aimless')});
my $v_cur = $coord->safe_psql('postgres', q{SELECT version FROM hashring.rings WHERE ring = 'r'});
my ($r4, $o4, $e4) = $coord->psql('postgres', qq{CALL hashring.ring_move('r', 'public.nope', 'k', from_version => $v_cur)});
like($e4, qr/ERROR:.*nope.*does not exist/, 'missing table refused');
$_->safe_psql('postgres', 'CREATE TABLE nokey (k text, v integer)') for @shards;
my ($r6, $o6, $e6) = $coord->psql('postgres', qq{CALL hashring.ring_move('r', 'public.nokey', 'k', from_version => $v_cur)});
like($e6, qr/ERROR:.*unique/i, 'table without a unique index on the key refused');
is($coord->safe_psql('postgres', $check_sql), 't', 'refusals changed nothing');

done_testing();
