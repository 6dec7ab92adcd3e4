# Shard moves (issue 28, block_writes): move_shard and rebalance_table on a
# coordinator and four real shard servers, two colocated tables (items,
# 16 shards; notes, with a composite key and an index).  Where rows are is
# read on the shard servers themselves.  Proves:
#   (a) move_shard moves shard s of both tables to the node, every row
#       once, with the shard table's constraints and indexes; the old
#       tables are dropped; table_shards, table_node and the partitions
#       agree; shard_moves records rows and the write block;
#   (b) refusals with their SQLSTATEs change nothing, among them a source
#       node the health checker set down;
#   (c) during the copy a write to the shard waits and then lands on the
#       new node; a read of the shard and a write to another shard do not
#       wait;
#   (d) faults: an error, a kill -9 and a cancel of the coordinator backend
#       at each step, the target's commit failing, the target or the
#       source server stopped during the copy: the shard stays whole on its
#       node, no half-copied table is left on the target, last_error says
#       why, and the rerun finishes; a kill -9 after the commit leaves the
#       old tables, which the rerun drops;
#   (e) rebalance_table after a node joins moves exactly the shards that
#       table_placement moves, while pgbench's TPC-B-like script runs
#       through the coordinator on distributed pgbench tables: no client
#       error, every row count exact, sum(abalance) = sum(delta); tps
#       before, during and after are reported.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use HashringTest;
use HashringMove;
use HashringDist;

my $coord = dist_node('coord', preload => 1, extension => 1, fdw => 1, conf => 'restart_after_crash = on');
my $srv = dist_shards($coord, map { "srv$_" } 1 .. 4);
$coord->safe_psql('postgres', q{
SELECT hashring.ring_create('r');
SELECT hashring.ring_add_node('r', 'n' || i, 1, 'srv' || i) FROM generate_series(1, 3) i;
CREATE TABLE items (k bigint PRIMARY KEY, v integer NOT NULL CHECK (v > 0), pad text);
INSERT INTO items SELECT g, g, repeat('p', g % 40) FROM generate_series(1, 20000) g;
CREATE TABLE notes (k bigint, n integer, body text NOT NULL, PRIMARY KEY (k, n));
CREATE INDEX notes_body ON notes (body);
INSERT INTO notes SELECT g % 2000 + 1, g, 'note ' || g FROM generate_series(1, 6000) g;
CALL hashring.distribute_table('items', 'k', 'r', 16);
CALL hashring.distribute_table('notes', 'k', 'r', 16);
});

my ($rc, $out, $err, $off, $p, $pid);
my $state_sql = q{
SELECT (SELECT count(*) || '/' || sum(v) FROM items) || '|' || (SELECT count(*) || '/' || sum(n) FROM notes)};
my $state = $coord->safe_psql('postgres', $state_sql);
is($state, '20000/200010000|6000/18003000', 'items and notes distributed over 16 shards each');

sub node_of
{
	my ($tbl, $s) = @_;
	return $coord->safe_psql('postgres', "SELECT node FROM hashring.table_shards WHERE tbl = '$tbl'::regclass AND shard = $s");
}

# every row once, on its shard, for both tables; the same rows as before
sub whole
{
	my ($what, $quick) = @_;
	is($coord->safe_psql('postgres', $state_sql), $state, "$what: the same rows through the coordinator");
	return if $quick;
	is(where_check($coord, $srv, 'items', 'k'), '20000|20000|0', "$what: every row of items once, on its shard's node");
	is(where_check($coord, $srv, 'notes', 'k', 'k % 7 = 0'), '6000|2000|0', "$what: every row of notes once, on its shard's node");
	return;
}

# the shard tables named <tbl>_<s> on each server: "srv1=..;srv2=.."
sub tables_named
{
	my ($s) = @_;
	return join(';', map {
			"$_=" . $srv->{$_}->safe_psql('postgres',
				qq{SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relname IN ('items_$s', 'notes_$s') AND relkind = 'r'})
	} sort keys %$srv);
}

###########################################################################
# (a) a move
my $s = 3;
my $from = node_of('items', $s);
is(node_of('notes', $s), $from, "shard $s of items and notes are on one node ($from)");
my $to = $from eq 'n1' ? 'n2' : 'n1';
my $rows_s = $coord->safe_psql('postgres', "SELECT count(*) FROM items WHERE tableoid = 'items_$s'::regclass")
  + $coord->safe_psql('postgres', "SELECT count(*) FROM notes WHERE tableoid = 'notes_$s'::regclass");
($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.move_shard('items', $s, '$to')");
is($rc, 0, "move_shard('items', $s, '$to') completes") or diag($err);
like($err, qr/shard $s of items moved from node "$from" to node "$to": $rows_s rows in 2 table\(s\), writes to the shard waited [\d.]+ ms/,
	'... and says what it moved and how long writes waited');
is(node_of('items', $s) . '|' . node_of('notes', $s), "$to|$to", 'both tables\' shard is on the new node');
whole('after the move');
my $nodes = node_servers($coord, $srv);
my ($tsrv) = grep { $srv->{$_} == $nodes->{$to} } keys %$srv;
my ($fsrv) = grep { $srv->{$_} == $nodes->{$from} } keys %$srv;
is(tables_named($s), join(';', map { "$_=" . ($_ eq $tsrv ? "items_$s,notes_$s" : '') } sort keys %$srv),
	"the shard tables are on $tsrv only: the old ones were dropped");
is($nodes->{$to}->safe_psql('postgres', qq{
SELECT string_agg(indexrelid::regclass::text, ',' ORDER BY 1) FROM pg_index WHERE indrelid = 'public.notes_$s'::regclass}),
	"notes_body_$s,notes_pkey_$s", 'the new shard table has the primary key and the index');
($rc, $out, $err) = $coord->psql('postgres', "INSERT INTO items VALUES ((SELECT min(k) FROM items WHERE tableoid = 'items_$s'::regclass), 1)");
like($err, qr/duplicate key value violates unique constraint "items_pkey_$s"/, '... and enforces the primary key');
is($coord->safe_psql('postgres', qq{
SELECT string_agg(s.tbl || ':' || s.phase || ':' || s.source || '>' || s.target || ':' || s.rows_copied || ':' || (s.write_block_ms > 0), ' ' ORDER BY s.tbl::text)
  FROM hashring.shard_moves s WHERE s.shard = $s}),
	"items:done:$from>$to:" . $coord->safe_psql('postgres', "SELECT count(*) FROM items WHERE tableoid = 'items_$s'::regclass") . ":true notes:done:$from>$to:"
	  . $coord->safe_psql('postgres', "SELECT count(*) FROM notes WHERE tableoid = 'notes_$s'::regclass") . ':true',
	'shard_moves: done, rows copied per table, the write block');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM hashring.shard_move_progress'), '0', 'shard_move_progress: nothing running or interrupted');
($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.move_shard('notes', $s, '$to')");
like($err, qr/shard $s of (public\.)?notes is on node "$to" already/, 'moving it there again: a notice, nothing to do');

###########################################################################
# (b) refusals
refused($coord, 'a NULL node', "CALL hashring.move_shard('items', 1, NULL)", '22004');
refused($coord, 'a table that is not distributed', q{CREATE TABLE plain (k int); CALL hashring.move_shard('plain', 1, 'n1')}, '42809');
refused($coord, 'a shard out of range', "CALL hashring.move_shard('items', 16, 'n1')", '22023');
refused($coord, 'an unknown node', "CALL hashring.move_shard('items', 1, 'n9')", '42704');
refused($coord, 'inside a transaction block', "BEGIN; CALL hashring.move_shard('items', 1, 'n1'); COMMIT;", '25001');
refused($coord, 'rebalance_table inside a transaction block', "BEGIN; CALL hashring.rebalance_table('items'); COMMIT;", '25001');
refused($coord, 'not the owner', q{CREATE ROLE carol; GRANT USAGE ON SCHEMA hashring TO carol; SELECT hashring.ring_grant('carol', 'distribute');
SET ROLE carol; CALL hashring.move_shard('items', 1, 'n1')}, '42501');
my $down_src = node_of('items', 1);
my $err_down = refused($coord, 'a source node that is down', "SELECT hashring.ring_set_state('r', '$down_src', 'down'); CALL hashring.move_shard('items', 1, '"
	  . ($down_src eq 'n1' ? 'n2' : 'n1') . "')", '55000');
like($err_down, qr/node "$down_src" is down: shard 1 of (public\.)?items cannot be copied from it.*standby/s, '... saying why, and pointing to the standby');
$coord->safe_psql('postgres', "SELECT hashring.ring_set_state('r', '$down_src', 'active')");
whole('after the refusals');

###########################################################################
# (c) during the copy: writes to the shard wait, reads and other shards do not
$s = 5;
$from = node_of('items', $s);
$to = $from eq 'n3' ? 'n1' : 'n3';
my $k_s = $coord->safe_psql('postgres', "SELECT min(k) FROM items WHERE tableoid = 'items_$s'::regclass");
my $k_o = $coord->safe_psql('postgres', "SELECT min(k) FROM items WHERE tableoid <> 'items_$s'::regclass");
$off = log_offset($coord);
$p = psql_start($coord, "SET hashring.inject_fault = 'move:after_copy:pause:3000';\nCALL hashring.move_shard('items', $s, '$to');");
$coord->wait_for_log(qr/paused at step move:after_copy/, $off);
my $t = time;
is($coord->safe_psql('postgres', "SELECT v FROM items WHERE k = $k_s"), $k_s, 'during the copy a read of the moving shard answers');
$coord->safe_psql('postgres', "UPDATE items SET v = v + 1 WHERE k = $k_o");
cmp_ok(time - $t, '<', 2, '... at once, as does a write to another shard');
# a COPY (hashring's COPY path, copy.c) of a row of the moving shard waits
# for the move too, then lands on the new node (without the partition locks
# of its router it went to the old shard table, which the move then dropped)
my $k_copy = $coord->safe_psql('postgres',
	"SELECT k FROM generate_series(100001, 200000) AS k WHERE hashring.table_shard('items', k::bigint) = $s LIMIT 1");
my $pc = psql_start($coord, "COPY items (k, v, pad) FROM STDIN;\n$k_copy\t7\tcopied\n\\.");
ok($coord->poll_query_until('postgres',
	"SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE 'COPY items%' AND wait_event_type = 'Lock')"),
	'a COPY into the moving shard waits for a lock');
$t = time;
$coord->safe_psql('postgres', "UPDATE items SET v = v + 1 WHERE k = $k_s");
my $waited = time - $t;
($rc, $out, $err) = psql_finish($p);
is($rc, 0, 'the move completes') or diag($err);
($rc, $out, $err) = psql_finish($pc);
is($rc, 0, '... and then the COPY') or diag($err);
cmp_ok($waited, '>', 0.5, sprintf('a write to the moving shard waited for the move (%.1f s)', $waited));
is(node_of('items', $s), $to, "... and the shard is on $to now");
my $st = $coord->safe_psql('postgres', "SELECT shard_table FROM hashring.table_shards WHERE tbl = 'items'::regclass AND shard = $s");
is(node_servers($coord, $srv)->{$to}->safe_psql('postgres', "SELECT v FROM $st WHERE k = $k_s"), $k_s + 1,
	'the waiting write landed on the new node');
is(node_servers($coord, $srv)->{$to}->safe_psql('postgres', "SELECT v || ':' || pad FROM $st WHERE k = $k_copy"), '7:copied',
	'... and so did the waiting COPY');
$coord->safe_psql('postgres', "UPDATE items SET v = v - 1 WHERE k IN ($k_s, $k_o); DELETE FROM items WHERE k = $k_copy");
whole('after a move with writes waiting');

# a second move of the same shard while the first runs: refused at once,
# and the first move's rows in shard_moves stay its own
$s = 6;
$from = node_of('items', $s);
$to = $from eq 'n3' ? 'n1' : 'n3';
my $to2 = (grep { $_ ne $from && $_ ne $to } qw(n1 n2 n3))[0];
$off = log_offset($coord);
($p, my $pid_a) = psql_pid_start($coord, "SET hashring.inject_fault = 'move:after_copy:pause:3000';\nCALL hashring.move_shard('items', $s, '$to');");
$coord->wait_for_log(qr/paused at step move:after_copy/, $off);
my $moves_sql = "SELECT string_agg(tbl || ':' || phase || ':' || pid || ':' || target || ':' || coalesce(last_error, '-'), ' ' ORDER BY tbl::text) FROM hashring.shard_moves WHERE shard = $s";
refused($coord, "a second move of shard $s while the first copies", "CALL hashring.move_shard('items', $s, '$to2')", '55P03');
is($coord->safe_psql('postgres', $moves_sql), "items:copying:$pid_a:$to:- notes:copying:$pid_a:$to:-",
	'... and shard_moves still shows the first move: its pid, its target, no error');
($rc, $out, $err) = psql_finish($p);
is($rc, 0, 'the first move completes') or diag($err);
is(node_of('items', $s), $to, "... shard $s is on $to");
is($coord->safe_psql('postgres', $moves_sql), "items:done:$pid_a:$to:- notes:done:$pid_a:$to:-", '... and its rows say so, without an error');
whole('after two moves of one shard at once');

# live progress: paused in the middle of the copy (after the first chunk
# reached the new node), shard_move_progress shows the rows and bytes sent
# so far (pg_stat_progress_copy); after an error there, nothing stale
$s = 7;
$from = node_of('items', $s);
$to = $from eq 'n3' ? 'n1' : 'n3';
my $n_s = $coord->safe_psql('postgres', "SELECT count(*) FROM items WHERE tableoid = 'items_$s'::regclass");
my $progress_sql = "SELECT string_agg(tbl || ':' || phase || ':' || running || ':' || coalesce((rows_copied > 0 AND rows_copied <= $n_s)::text, '-') || ':' || coalesce((bytes_copied > 0)::text, '-'), ' ' ORDER BY tbl::text) FROM hashring.shard_move_progress WHERE shard = $s";
$off = log_offset($coord);
$p = psql_start($coord, "SET hashring.inject_fault = 'move:during_copy:pause:3000';\nCALL hashring.move_shard('items', $s, '$to');");
$coord->wait_for_log(qr/paused at step move:during_copy/, $off);
is($coord->safe_psql('postgres', $progress_sql), "items:copying:true:true:true notes:copying:true:-:-",
	"paused in the copy: shard_move_progress shows items' rows and bytes so far (of $n_s rows), notes' copy not begun");
is($coord->safe_psql('postgres', "SELECT count(*) FROM pg_stat_progress_copy WHERE relid = 'items_$s'::regclass AND command = 'COPY FROM' AND tuples_processed > 0"),
	'1', '... as pg_stat_progress_copy does, under the partition');
($rc, $out, $err) = psql_finish($p);
is($rc, 0, '... and the move completes') or diag($err);
($rc, $out, $err) = $coord->psql('postgres', "SET hashring.inject_fault = 'move:during_copy:error';\nCALL hashring.move_shard('items', $s, '$from');");
like($err, qr/injected fault at step move:during_copy/, 'an error in the copy: the move fails');
is($coord->safe_psql('postgres', $progress_sql), "items:copying:false:-:- notes:copying:false:-:-",
	'... and shard_move_progress shows the interrupted move without a count (nothing was copied)');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM pg_stat_progress_copy'), '0', '... and no COPY progress is left behind');
$coord->safe_psql('postgres', "CALL hashring.move_shard('items', $s, '$from')");
whole('after the progress checks');

###########################################################################
# (d) faults, each followed by the rerun
my @steps = qw(move:after_lock move:after_create move:after_copy move:before_commit);
$s = 7;

# after a fault: the shard whole on its old node, nothing left on the target
sub after_fault
{
	my ($what, $old, $new) = @_;
	is(node_of('items', $s) . '|' . node_of('notes', $s), "$old|$old", "$what: the shard is still on $old");
	whole($what, 1);
	my $n = node_servers($coord, $srv);
	my ($nsrv) = grep { $srv->{$_} == $n->{$new} } keys %$srv;
	is($srv->{$nsrv}->safe_psql('postgres', qq{SELECT count(*) FROM pg_class WHERE relname IN ('items_$s', 'notes_$s')}),
		'0', "$what: no half-copied table on the target ($nsrv)");
	($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.move_shard('items', $s, '$new')");
	is($rc, 0, "$what: the rerun completes") or diag($err);
	is(node_of('items', $s) . '|' . node_of('notes', $s), "$new|$new", "$what: ... and moves the shard");
	whole("$what, rerun");
	return;
}

for my $step (@steps)
{
	my $old = node_of('items', $s);
	my $new = $old eq 'n1' ? 'n2' : 'n1';
	($rc, $out, $err) = $coord->psql('postgres', "SET hashring.inject_fault = '$step:error';\nCALL hashring.move_shard('items', $s, '$new');");
	like($err, qr/injected fault at step \Q$step\E/, "error at $step: move_shard fails with it");
	like($err, qr/Nothing moved: the shard is still on node "$old"/, "error at $step: ... saying nothing moved");
	is($coord->safe_psql('postgres', "SELECT string_agg(phase || ':' || (last_error ~ 'injected fault'), ',') FROM hashring.shard_move_progress WHERE shard = $s"),
		'copying:true,copying:true', "error at $step: shard_move_progress shows the interrupted move and its error");
	after_fault("error at $step", $old, $new);

	$old = node_of('items', $s);
	$new = $old eq 'n1' ? 'n2' : 'n1';
	kill_at_step($coord, $step, "SET hashring.inject_fault = '$step:pause:60000';\nCALL hashring.move_shard('items', $s, '$new');");
	after_fault("kill -9 at $step", $old, $new);
}

# a cancel during the copy's pause
{
	my $old = node_of('items', $s);
	my $new = $old eq 'n1' ? 'n2' : 'n1';
	$off = log_offset($coord);
	($p, $pid) = psql_pid_start($coord, "\\set VERBOSITY verbose\nSET hashring.inject_fault = 'move:after_copy:pause:60000';\nCALL hashring.move_shard('items', $s, '$new');");
	$coord->wait_for_log(qr/paused at step move:after_copy/, $off);
	$coord->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	($rc, $out, $err) = psql_finish($p);
	is(sqlstate($err), '57014', 'cancel during the move: 57014') or diag($err);
	after_fault('cancel during the move', $old, $new);
}

# the target's commit fails (the coordinator's PRE_COMMIT, before the nodes commit)
{
	my $old = node_of('items', $s);
	my $new = $old eq 'n1' ? 'n2' : 'n1';
	($rc, $out, $err) = $coord->psql('postgres',
		"SET hashring.inject_fault = 'commit:before_remote_commit:error';\nCALL hashring.move_shard('items', $s, '$new');");
	like($err, qr/injected fault at step commit:before_remote_commit/, 'the commit on the nodes fails: move_shard fails');
	after_fault('a failed commit', $old, $new);
}

# the target, then the source, stopped while the move waits before its copy
for my $which ('target', 'source')
{
	my $old = node_of('items', $s);
	my $new = $old eq 'n1' ? 'n2' : 'n1';
	my $n = node_servers($coord, $srv);
	my $victim = $n->{ $which eq 'target' ? $new : $old };
	$off = log_offset($coord);
	$p = psql_start($coord, "SET hashring.inject_fault = 'move:after_create:pause:2000';\nCALL hashring.move_shard('items', $s, '$new');");
	$coord->wait_for_log(qr/paused at step move:after_create/, $off);
	$victim->stop('immediate');
	($rc, $out, $err) = psql_finish($p);
	isnt($rc, 0, "the $which server stopped during the move: move_shard fails");
	like($err, qr/lost the connection|connection|terminat/i, "... with a connection error");
	$victim->start;
	after_fault("the $which server stopped during the move", $old, $new);
}

# a kill -9 after the commit, before the old tables are dropped
{
	my $old = node_of('items', $s);
	my $new = $old eq 'n1' ? 'n2' : 'n1';
	my $n = node_servers($coord, $srv);
	kill_at_step($coord, 'move:before_drop',
		"SET hashring.inject_fault = 'move:before_drop:pause:60000';\nCALL hashring.move_shard('items', $s, '$new');");
	is(node_of('items', $s), $new, 'kill -9 after the commit: the shard is on its new node');
	whole('kill -9 after the commit');
	is($n->{$old}->safe_psql('postgres', qq{SELECT count(*) FROM pg_class WHERE relname IN ('items_$s', 'notes_$s')}),
		'2', '... the old tables are still there');
	is($coord->safe_psql('postgres', "SELECT string_agg(DISTINCT phase, ',') FROM hashring.shard_move_progress WHERE shard = $s"),
		'dropping source', '... and shard_move_progress says they are to be dropped');
	($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.move_shard('items', $s, '$new')");
	is($rc, 0, 'the rerun completes') or diag($err);
	is($n->{$old}->safe_psql('postgres', qq{SELECT count(*) FROM pg_class WHERE relname IN ('items_$s', 'notes_$s')}),
		'0', '... and drops them');
	is($coord->safe_psql('postgres', 'SELECT count(*) FROM hashring.shard_move_progress'), '0', '... nothing left in shard_move_progress');

	# the same, then undistribute_table instead of the rerun
	($old, $new) = ($new, $old);
	kill_at_step($coord, 'move:before_drop',
		"SET hashring.inject_fault = 'move:before_drop:pause:60000';\nCALL hashring.move_shard('items', $s, '$new');");
	($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.undistribute_table('notes')");
	is($rc, 0, 'kill -9 after the commit, then undistribute_table of notes: completes') or diag($err);
	is($n->{$old}->safe_psql('postgres', qq{SELECT count(*) FROM pg_class WHERE relname = 'notes_$s'}),
		'0', '... and drops the old shard table of notes too');
	is($coord->safe_psql('postgres', 'SELECT count(*) || \'/\' || sum(n) FROM notes'), '6000/18003000', '... with every row of notes back');
	($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.rebalance_table('items')");
	is($n->{$old}->safe_psql('postgres', qq{SELECT count(*) FROM pg_class WHERE relname = 'items_$s'}),
		'0', '... and rebalance_table of items drops its old table') or diag($err);
	$coord->safe_psql('postgres', q{CALL hashring.distribute_table('notes', 'k', 'r', 16)});
}

###########################################################################
# (e) rebalance_table under pgbench
system_or_bail('pgbench', '-i', '-q', '-s', '2', '-h', $coord->host, '-p', $coord->port, 'postgres');
$coord->safe_psql('postgres', q{
CALL hashring.distribute_table('pgbench_accounts', 'aid', 'r', 16);
CALL hashring.distribute_table('pgbench_history', 'aid', 'r', 16);
});
my $bench_state = q{
SELECT (SELECT count(*) FROM pgbench_accounts) || '|' || ((SELECT sum(abalance) FROM pgbench_accounts) = (SELECT coalesce(sum(delta), 0) FROM pgbench_history))};


my ($h, $o, $e) = pgbench_start($coord, 2);
$h->finish;
my $tps_before = tps($o);
$coord->safe_psql('postgres', q{SELECT hashring.ring_add_node('r', 'n4', 1, 'srv4')});
my $plan = $coord->safe_psql('postgres', q{
SELECT string_agg(shard || ':' || target_node, ',' ORDER BY shard) FROM hashring.table_placement('pgbench_accounts') WHERE node <> target_node});
my $history_rows = $coord->safe_psql('postgres', 'SELECT count(*) FROM pgbench_history');
my %before = map { split /\|/ } split /\n/, $coord->safe_psql('postgres', q{
SELECT shard, node FROM hashring.table_shards WHERE tbl = 'pgbench_accounts'::regclass});
ok($plan ne '', "table_placement moves shards $plan to the new node");
($h, $o, $e) = pgbench_start($coord, 8);
sleep 1;
$t = time;
($rc, $out, $err) = $coord->psql('postgres', q{CALL hashring.rebalance_table('pgbench_accounts')});
my $took = time - $t;
is($rc, 0, 'rebalance_table completes under pgbench') or diag($err);
$h->finish;
my $tps_during = tps($o);
unlike($$e, qr/ERROR|aborted/i, 'pgbench: no client error during the rebalance') or diag($$e);
my %after = map { split /\|/ } split /\n/, $coord->safe_psql('postgres', q{
SELECT shard, node FROM hashring.table_shards WHERE tbl = 'pgbench_accounts'::regclass});
is(join(',', map { "$_:$after{$_}" } grep { $after{$_} ne $before{$_} } sort { $a <=> $b } keys %after), $plan,
	'exactly the shards table_placement named moved, each to its node');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM hashring.table_placement('pgbench_accounts') WHERE node <> target_node}),
	'0', '... and now every shard is where the ring places it');
is($coord->safe_psql('postgres', $bench_state), '200000|true', 'pgbench_accounts: 200,000 rows, sum(abalance) = sum(delta)');
my ($processed) = $$o =~ /number of transactions actually processed: (\d+)/;
is($coord->safe_psql('postgres', 'SELECT count(*) FROM pgbench_history'), $history_rows + $processed,
	"pgbench_history: one row for each of the $processed transactions pgbench counted");
is(where_check($coord, $srv, 'pgbench_accounts', 'aid', 'aid % 50 = 0'), '200000|200000|0', '... every account once, on its shard');
my $moves = $coord->safe_psql('postgres', q{
SELECT count(*) || ' moves, write block max ' || round(max(write_block_ms)) || ' ms, median '
       || round((percentile_cont(0.5) WITHIN GROUP (ORDER BY write_block_ms))::numeric) || ' ms'
  FROM hashring.shard_moves WHERE tbl = 'pgbench_accounts'::regclass});
($h, $o, $e) = pgbench_start($coord, 2);
$h->finish;
diag("pgbench tps before $tps_before, during the rebalance $tps_during, after " . tps($o)
	  . sprintf('; the rebalance took %.1f s, %s', $took, $moves));

$coord->stop;
$_->stop for values %$srv;
done_testing();
