# Logical shard moves (issue 28, mode => 'logical'): a publication on the
# old node and a subscription on the new one copy the shard and stream the
# writes made meanwhile; writes wait only for the last catch-up.  A
# coordinator and four real shard servers (srv1, srv2 and srv4 with
# wal_level = logical, srv3 without), two colocated tables (items, notes,
# 8 shards).  Where rows are is read on the shard servers themselves.
# Proves:
#   (a) paused while the subscription catches up, writes to the moving
#       shard (UPDATE, INSERT, DELETE, COPY) do not wait, and every one of
#       them is on the new node after the move; shard_move_progress shows
#       the phase and the replication lag; no publication, subscription,
#       slot or old shard table is left on any server;
#   (b) auto picks logical where the old node allows it and block_writes
#       where it does not (wal_level, no primary key); 'logical' there, an
#       unknown mode and a NULL mode are refused with their SQLSTATEs; a
#       role with the distribute capability moves its table's shards;
#   (c) faults: an error and a kill -9 of the coordinator backend at each
#       step, a cancel, the source and the target server stopped during the
#       copy and while the subscription catches up, the subscription
#       failing (a row the new table refuses), the subscription's worker
#       never starting (hashring.move_catchup_timeout): the shard stays
#       whole on its node, nothing is left on the servers (or the rerun
#       drops it), and the rerun finishes; a kill -9 after the commit
#       leaves the replication and the old tables to the rerun;
#   (d) rebalance_table(mode => 'auto') after a node joins, while
#       pgbench's TPC-B-like script runs through the coordinator: no client
#       error, exact row counts, sum(abalance) = sum(delta); tps before,
#       during and after, and the write blocks, are reported;
#   (e) split_shards (8 to 16 shards) of the four colocated tables while
#       pgbench runs: refusals with their SQLSTATEs, no client error, every
#       row once on its new shard, the halves on the old shard's node, the
#       old shard tables dropped, key lookups on one partition, a new shard
#       that moves; a kill -9 after a split shard's commit leaves the split
#       under way (moves refused, every row readable), the same CALL
#       finishes it, and every server holds exactly the catalog's tables.
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
for my $name ('srv1', 'srv2', 'srv4')
{
	# (PostgreSQL 15's launcher starts one new subscription's workers per
	# wal_retrieve_retry_interval: 5 s by default between back-to-back moves)
	$srv->{$name}->append_conf("postgresql.conf",
		"wal_level = logical\nmax_wal_senders = 10\nmax_replication_slots = 10\nwal_retrieve_retry_interval = '100ms'\n");
	$srv->{$name}->restart;
}
$coord->safe_psql('postgres', q{
SELECT hashring.ring_create('r');
SELECT hashring.ring_add_node('r', 'n' || i, 1, 'srv' || i) FROM generate_series(1, 3) i;
CREATE TABLE items (k bigint PRIMARY KEY, v integer NOT NULL CHECK (v > 0), pad text);
INSERT INTO items SELECT g, g, repeat('p', g % 40) FROM generate_series(1, 20000) g;
CREATE TABLE notes (k bigint, n integer, body text NOT NULL, PRIMARY KEY (k, n));
CREATE INDEX notes_body ON notes (body);
INSERT INTO notes SELECT g % 2000 + 1, g, 'note ' || g FROM generate_series(1, 6000) g;
CALL hashring.distribute_table('items', 'k', 'r', 8);
CALL hashring.distribute_table('notes', 'k', 'r', 8);
});

my ($rc, $out, $err, $off, $p, $pid, $t);
my $state_sql = q{
SELECT (SELECT count(*) || '/' || sum(v) FROM items) || '|' || (SELECT count(*) || '/' || sum(n) FROM notes)};
my $state = $coord->safe_psql('postgres', $state_sql);
is($state, '20000/200010000|6000/18003000', 'items and notes distributed over 8 shards each');

sub node_of
{
	my ($tbl, $s) = @_;
	return $coord->safe_psql('postgres', "SELECT node FROM hashring.table_shards WHERE tbl = '$tbl'::regclass AND shard = $s");
}

# a shard of items on a node whose server has wal_level = logical, and a
# logical node to move it to
sub logical_shard
{
	my ($not) = @_;
	$not //= -1;
	my $s = $coord->safe_psql('postgres',
		"SELECT min(shard) FROM hashring.table_shards WHERE tbl = 'items'::regclass AND node IN ('n1', 'n2') AND shard <> $not");
	my $from = node_of('items', $s);
	return ($s, $from, $from eq 'n1' ? 'n2' : 'n1');
}

sub whole
{
	my ($what, $quick) = @_;
	is($coord->safe_psql('postgres', $state_sql), $state, "$what: the same rows through the coordinator");
	return if $quick;
	is(where_check($coord, $srv, 'items', 'k'), '20000|20000|0', "$what: every row of items once, on its shard's node");
	is(where_check($coord, $srv, 'notes', 'k', 'k % 7 = 0'), '6000|2000|0', "$what: every row of notes once, on its shard's node");
	return;
}

# what logical moves leave on the servers: publications, subscriptions,
# slots (all of them), and the tables of shard $s: "srv1=..;srv2=.."
sub leftovers
{
	my ($s) = @_;
	return join(';', map {
			"$_=" . $srv->{$_}->safe_psql('postgres', qq{
SELECT concat_ws(',', (SELECT string_agg(pubname, ' ') FROM pg_publication),
                      (SELECT string_agg(subname, ' ') FROM pg_subscription),
                      (SELECT string_agg(slot_name, ' ') FROM pg_replication_slots),
                      (SELECT string_agg(relname, ' ' ORDER BY relname) FROM pg_class WHERE relname IN ('items_$s', 'notes_$s') AND relkind = 'r'))})
	} sort keys %$srv);
}

# the leftovers string when shard $s is on $node only
sub clean
{
	my ($s, $node) = @_;
	my $n = node_servers($coord, $srv);
	return join(';', map { "$_=" . ($srv->{$_} == $n->{$node} ? "items_$s notes_$s" : '') } sort keys %$srv);
}

###########################################################################
# (a) a logical move, with writes during the copy (after the slot's
# snapshot, before the subscription exists: the slot keeps them) and
# during the catch-up
my ($s, $from, $to, $tnode, $took);
for my $during ('copy', 'catch-up')
{
	my $step = $during eq 'copy' ? 'move:during_copy' : 'move:catching_up';
	($s, $from, $to) = logical_shard();
	my $k_s = $coord->safe_psql('postgres', "SELECT min(k) FROM items WHERE tableoid = 'items_$s'::regclass");
	my $k_new = $coord->safe_psql('postgres',
		"SELECT k FROM generate_series(100001, 200000) AS k WHERE hashring.table_shard('items', k::bigint) = $s LIMIT 1");
	my $k_copy = $coord->safe_psql('postgres',
		"SELECT k FROM generate_series(200001, 300000) AS k WHERE hashring.table_shard('items', k::bigint) = $s LIMIT 1");
	my $k_del = $coord->safe_psql('postgres', "SELECT max(k) FROM items WHERE tableoid = 'items_$s'::regclass");
	my $progress_sql = "SELECT string_agg(tbl || ':' || phase || ':' || mode || ':' || running || ':' || (lag_bytes IS NOT NULL), ' ' ORDER BY tbl::text) FROM hashring.shard_move_progress WHERE shard = $s";
	$off = log_offset($coord);
	$p = psql_start($coord, "SET hashring.inject_fault = '$step:pause:4000';\nCALL hashring.move_shard('items', $s, '$to', mode => 'logical');");
	$coord->wait_for_log(qr/paused at step \Q$step\E/, $off);
	my $phase = $during eq 'copy' ? 'copying:logical:true:false' : 'catching up:logical:true:true';
	is($coord->safe_psql('postgres', $progress_sql), "items:$phase notes:$phase",
		"paused in the $during: shard_move_progress shows the phase, the mode and the lag");
	$t = time;
	$coord->safe_psql('postgres', qq{
UPDATE items SET v = v + 1 WHERE k = $k_s;
INSERT INTO items VALUES ($k_new, 5, 'new');
DELETE FROM items WHERE k = $k_del;
COPY items (k, v, pad) FROM STDIN;
$k_copy\t7\tcopied
\\.
});
	$took = time - $t;
	cmp_ok($took, '<', 1.5, sprintf("writes to the moving shard do not wait during the $during (%.2f s)", $took));
	($rc, $out, $err) = psql_finish($p);
	is($rc, 0, "move_shard('items', $s, '$to', mode => 'logical') completes") or diag($err);
	like($err, qr/shard $s of items moved from node "$from" to node "$to": \d+ rows in 2 table\(s\), writes to the shard waited [\d.]+ ms \(logical\)/,
		'... and says it moved logically, and how long writes waited');
	is(node_of('items', $s) . '|' . node_of('notes', $s), "$to|$to", 'both tables\' shard is on the new node');
	$tnode = node_servers($coord, $srv)->{$to};
	my $st = $coord->safe_psql('postgres', "SELECT shard_table FROM hashring.table_shards WHERE tbl = 'items'::regclass AND shard = $s");
	is($tnode->safe_psql('postgres', "SELECT string_agg(k || ':' || v, ',' ORDER BY k) FROM $st WHERE k IN ($k_s, $k_new, $k_del, $k_copy)"),
		join(',', sort { (split /:/, $a)[0] <=> (split /:/, $b)[0] } ("$k_s:" . ($k_s + 1), "$k_new:5", "$k_copy:7")),
		"the UPDATE, INSERT, DELETE and COPY made during the $during are on the new node");
	$coord->safe_psql('postgres', "UPDATE items SET v = v - 1 WHERE k = $k_s; DELETE FROM items WHERE k IN ($k_new, $k_copy); INSERT INTO items VALUES ($k_del, $k_del, repeat('p', $k_del % 40))");
	whole("after a logical move with writes during the $during");
	is(leftovers($s), clean($s, $to), 'no publication, subscription or slot is left, and the old shard tables are gone');
	is($coord->safe_psql('postgres', qq{
SELECT string_agg(tbl || ':' || phase || ':' || mode || ':' || (rows_copied > 0) || ':' || (write_block_ms > 0) || ':' || lag_bytes, ' ' ORDER BY tbl::text)
  FROM hashring.shard_moves WHERE shard = $s}),
		'items:done:logical:true:true:0 notes:done:logical:true:true:0', 'shard_moves: done, logical, rows, the write block, no lag');
}
is($tnode->safe_psql('postgres', qq{
SELECT string_agg(indexrelid::regclass::text, ',' ORDER BY 1) FROM pg_index WHERE indrelid = 'public.notes_$s'::regclass}),
	"notes_body_$s,notes_pkey_$s", 'the new shard table has the primary key and the index');

###########################################################################
# (b) auto and refusals
refused($coord, 'a NULL mode', "CALL hashring.move_shard('items', 1, 'n1', mode => NULL)", '22004');
refused($coord, 'an unknown mode', "CALL hashring.move_shard('items', 1, 'n1', mode => 'fast')", '22023');
refused($coord, 'an unknown mode for rebalance_table', "CALL hashring.rebalance_table('items', mode => 'fast')", '22023');
my $s3 = $coord->safe_psql('postgres', "SELECT min(shard) FROM hashring.table_shards WHERE tbl = 'items'::regclass AND node = 'n3'");
my $err3 = refused($coord, "mode => 'logical' from a node without wal_level = logical",
	"CALL hashring.move_shard('items', $s3, 'n1', mode => 'logical')", '55000');
like($err3, qr/cannot be moved logically: the server of node "n3" has wal_level = \w+, max_wal_senders = 0/, '... saying why');
$coord->safe_psql('postgres', q{
CREATE TABLE loose (k bigint NOT NULL, v integer);
INSERT INTO loose SELECT g, g FROM generate_series(1, 1000) g;
CALL hashring.distribute_table('loose', 'k', 'r', 4);
});
my $sl = $coord->safe_psql('postgres', "SELECT min(shard) FROM hashring.table_shards WHERE tbl = 'loose'::regclass AND node IN ('n1', 'n2')");
my $fl = node_of('loose', $sl);
my $tl = $fl eq 'n1' ? 'n2' : 'n1';
like(refused($coord, "mode => 'logical' for a table without a primary key", "CALL hashring.move_shard('loose', $sl, '$tl', mode => 'logical')", '55000'),
	qr/table (public\.)?loose has no primary key/, '... saying why');
($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.move_shard('loose', $sl, '$tl')");
like($err, qr/moved from node "$fl" to node "$tl".*\(block_writes\)/, 'auto moves a table without a primary key with block_writes') or diag($err);
($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.move_shard('items', $s3, 'n1')");
like($err, qr/moved from node "n3" to node "n1".*\(block_writes\)/, 'auto moves a shard off a node without wal_level = logical with block_writes') or diag($err);
is($coord->safe_psql('postgres', "SELECT string_agg(DISTINCT mode, ',') FROM hashring.shard_moves WHERE shard = $s3 AND tbl = 'items'::regclass"),
	'block_writes', '... as shard_moves records');
($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.move_shard('items', $s3, 'n3')");
($s, $from, $to) = logical_shard();
($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.move_shard('items', $s, '$to')");
like($err, qr/moved from node "$from" to node "$to".*\(logical\)/, 'auto moves a shard between logical nodes logically') or diag($err);
whole('after the refusals and auto', 1);

# a role that is not a superuser, with the distribute capability, moves
# the shards of its own table, both ways (the nodes map it to their
# superuser, as the subscription on the new node needs on PostgreSQL 15)
my $su = $coord->safe_psql('postgres', 'SELECT current_user');
$coord->safe_psql('postgres', qq{
CREATE ROLE dave;
GRANT USAGE ON SCHEMA hashring TO dave;
GRANT CREATE ON SCHEMA public TO dave;
SELECT hashring.ring_grant('dave', 'distribute');
GRANT USAGE ON FOREIGN SERVER srv1, srv2, srv3 TO dave;
CREATE USER MAPPING FOR dave SERVER srv1 OPTIONS (user '$su', password_required 'false');
CREATE USER MAPPING FOR dave SERVER srv2 OPTIONS (user '$su', password_required 'false');
CREATE USER MAPPING FOR dave SERVER srv3 OPTIONS (user '$su', password_required 'false');
CREATE TABLE dave_t (k bigint PRIMARY KEY, v integer);
INSERT INTO dave_t SELECT g, g FROM generate_series(1, 2000) g;
ALTER TABLE dave_t OWNER TO dave;
SET ROLE dave;
CALL hashring.distribute_table('dave_t', 'k', 'r', 2);
});
for my $mode ('logical', 'block_writes')
{
	my $sd = $coord->safe_psql('postgres', "SELECT min(shard) FROM hashring.table_shards WHERE tbl = 'dave_t'::regclass AND node IN ('n1', 'n2')");
	my $fd = node_of('dave_t', $sd);
	my $td = $fd eq 'n1' ? 'n2' : 'n1';
	($rc, $out, $err) = $coord->psql('postgres', "SET ROLE dave; CALL hashring.move_shard('dave_t', $sd, '$td', mode => '$mode')");
	like($err, qr/moved from node "$fd" to node "$td".*\($mode\)/, "a role with the distribute capability moves a shard of its table ($mode)") or diag($err);
}
is($coord->safe_psql('postgres', "SET ROLE dave; SELECT count(*) || '/' || sum(v) FROM dave_t"), '2000/2001000', '... every row still there');
$coord->safe_psql('postgres', "CALL hashring.undistribute_table('dave_t'); DROP TABLE dave_t");

###########################################################################
# (c) faults, each followed by the rerun
sub after_fault
{
	my ($what, $s, $old, $new) = @_;
	is(node_of('items', $s) . '|' . node_of('notes', $s), "$old|$old", "$what: the shard is still on $old");
	whole($what, 1);
	($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.move_shard('items', $s, '$new', mode => 'logical')");
	is($rc, 0, "$what: the rerun completes") or diag($err);
	is(node_of('items', $s) . '|' . node_of('notes', $s), "$new|$new", "$what: ... and moves the shard");
	whole("$what, rerun", 1);
	is(where_check($coord, $srv, 'items', 'k', 'false'), '20000|20000|0', "$what, rerun: every row of items once, on its shard's node");
	is(leftovers($s), clean($s, $new), "$what: after the rerun nothing is left on any server");
	return;
}

for my $step (qw(move:after_create move:during_copy move:catching_up move:after_lock move:after_copy move:before_commit))
{
	($s, $from, $to) = logical_shard();
	($rc, $out, $err) = $coord->psql('postgres', "SET hashring.inject_fault = '$step:error';\nCALL hashring.move_shard('items', $s, '$to', mode => 'logical');");
	like($err, qr/injected fault at step \Q$step\E.*Nothing moved: the shard is still on node "$from"/s, "error at $step: move_shard fails, nothing moved");
	is(leftovers($s), clean($s, $from), "error at $step: the failed move dropped its publication, subscription, slot and new tables");
	my $phase = $step =~ /after_create|during_copy/ ? 'copying' : 'catching up';
	is($coord->safe_psql('postgres', "SELECT string_agg(phase || ':' || mode || ':' || (last_error ~ 'injected fault'), ',') FROM hashring.shard_move_progress WHERE shard = $s"),
		"$phase:logical:true,$phase:logical:true", "error at $step: shard_move_progress shows the interrupted move, its phase and its error");
	after_fault("error at $step", $s, $from, $to);
}

# kill -9 of the coordinator backend at each step before the commit: the
# shard stays whole on its old node; what the move made on the nodes
# (publication, subscription, slot, new tables) is left for the rerun
for my $step (qw(move:after_create move:during_copy move:catching_up move:after_copy move:before_commit))
{
	($s, $from, $to) = logical_shard();
	kill_at_step($coord, $step, "SET hashring.inject_fault = '$step:pause:60000';\nCALL hashring.move_shard('items', $s, '$to', mode => 'logical');");
	like(leftovers($s), qr/hashring_move_/, "kill -9 at $step: the replication is left for the rerun");
	after_fault("kill -9 at $step", $s, $from, $to);
}

# kill -9 after the commit: the shard is on its new node; the rerun drops
# the subscription, publication, slot and the old tables
($s, $from, $to) = logical_shard();
kill_at_step($coord, 'move:before_drop', "SET hashring.inject_fault = 'move:before_drop:pause:60000';\nCALL hashring.move_shard('items', $s, '$to', mode => 'logical');");
is(node_of('items', $s) . '|' . node_of('notes', $s), "$to|$to", 'kill -9 after the commit: the shard is on its new node');
whole('kill -9 after the commit of a logical move', 1);
like(leftovers($s), qr/hashring_move_/, '... its replication and old tables are left');
($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.move_shard('items', $s, '$to', mode => 'logical')");
like($err, qr/is on node "$to" already/, 'the rerun: nothing to move') or diag($err);
is(leftovers($s), clean($s, $to), '... and nothing is left on any server');

($s, $from, $to) = logical_shard();
$off = log_offset($coord);
($p, $pid) = psql_pid_start($coord, "\\set VERBOSITY verbose\nSET hashring.inject_fault = 'move:catching_up:pause:60000';\nCALL hashring.move_shard('items', $s, '$to', mode => 'logical');");
$coord->wait_for_log(qr/paused at step move:catching_up/, $off);
$coord->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
($rc, $out, $err) = psql_finish($p);
is(sqlstate($err), '57014', 'cancel during the catch-up: 57014') or diag($err);
after_fault('cancel during the catch-up', $s, $from, $to);

# the source, then the target server stopped during the copy (the slot
# exists, the subscription not yet) and while the subscription catches up
for my $at (['copy', 'move:during_copy'], ['catch-up', 'move:catching_up'])
{
	my ($during, $step) = @$at;
	for my $which ('source', 'target')
	{
		($s, $from, $to) = logical_shard();
		my $victim = node_servers($coord, $srv)->{ $which eq 'source' ? $from : $to };
		$off = log_offset($coord);
		$p = psql_start($coord, "SET hashring.inject_fault = '$step:pause:2000';\nCALL hashring.move_shard('items', $s, '$to', mode => 'logical');");
		$coord->wait_for_log(qr/paused at step \Q$step\E/, $off);
		$victim->stop('immediate');
		$t = time;
		($rc, $out, $err) = psql_finish($p);
		isnt($rc, 0, "the $which server stopped during the $during: move_shard fails");
		# (it waited for a remote error's end that had come with the error: 60 s, until stop 33)
		cmp_ok(time - $t, '<', 30, sprintf('... without hanging (%.1f s)', time - $t));
		like($err, qr/connect|connection|terminat/i, '... with a connection error') or diag($err);
		$victim->start;
		after_fault("the $which server stopped during the $during", $s, $from, $to);
	}
}

# the subscription fails: a row written during the catch-up is already in the new table
($s, $from, $to) = logical_shard();
{
	my $tn = node_servers($coord, $srv)->{$to};
	my $k = $coord->safe_psql('postgres',
		"SELECT k FROM generate_series(300001, 400000) AS k WHERE hashring.table_shard('items', k::bigint) = $s LIMIT 1");
	$off = log_offset($coord);
	$p = psql_start($coord, "SET hashring.inject_fault = 'move:catching_up:pause:3000';\nCALL hashring.move_shard('items', $s, '$to', mode => 'logical');");
	$coord->wait_for_log(qr/paused at step move:catching_up/, $off);
	$tn->safe_psql('postgres', "INSERT INTO public.items_$s VALUES ($k, 1, 'in the way')");
	$coord->safe_psql('postgres', "INSERT INTO items VALUES ($k, 2, 'through the coordinator')");
	($rc, $out, $err) = psql_finish($p);
	like($err, qr/the subscription "hashring_move_\d+_$s" of the move failed on node "$to".*server log/s,
		'the subscription fails (a duplicate key on the new node): move_shard fails, nothing moved') or diag($err);
	is($coord->safe_psql('postgres', "SELECT v FROM items WHERE k = $k"), '2', '... and the row written through the coordinator is there');
	$coord->safe_psql('postgres', "DELETE FROM items WHERE k = $k");
	after_fault('the subscription failing', $s, $from, $to);
}

# the subscription's worker never starts (no logical replication worker on
# the new node): the move gives up after hashring.move_catchup_timeout,
# writes never having waited
($s, $from, $to) = logical_shard();
my $nosub = node_servers($coord, $srv)->{$to};
$nosub->append_conf('postgresql.conf', 'max_logical_replication_workers = 0');
$nosub->restart;
$t = time;
($rc, $out, $err) = $coord->psql('postgres',
	"\\set VERBOSITY verbose\nSET hashring.move_catchup_timeout = '2s';\nCALL hashring.move_shard('items', $s, '$to', mode => 'logical');");
$took = time - $t;
is(sqlstate($err), '55000', 'the subscription never streams: 55000') or diag($err);
like($err, qr/the subscription "hashring_move_\d+_$s" of the move on node "$to" has not streamed from node "$from" in 00:00:02.*max_logical_replication_workers/s,
	'... saying so, and what to look at');
cmp_ok($took, '<', 15, sprintf('... after hashring.move_catchup_timeout, not forever (%.1f s)', $took));
is(leftovers($s), clean($s, $from), 'the subscription never streams: the failed move dropped its publication, subscription, slot and new tables');
$nosub->append_conf('postgresql.conf', 'max_logical_replication_workers = 4');
$nosub->restart;
after_fault('the subscription never streaming', $s, $from, $to);

# a column added while the subscription catches up waits for the move,
# then reaches the shard's tables on their new node
($s, $from, $to) = logical_shard();
$off = log_offset($coord);
$p = psql_start($coord, "SET hashring.inject_fault = 'move:catching_up:pause:3000';\nCALL hashring.move_shard('items', $s, '$to', mode => 'logical');");
$coord->wait_for_log(qr/paused at step move:catching_up/, $off);
my $pa = psql_start($coord, 'ALTER TABLE items ADD COLUMN extra integer');
ok($coord->poll_query_until('postgres',
	"SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE 'ALTER TABLE items%' AND wait_event_type = 'Lock')"),
	'ALTER TABLE ADD COLUMN during the catch-up waits for the move');
($rc, $out, $err) = psql_finish($p);
is($rc, 0, '... the move completes') or diag($err);
($rc, $out, $err) = psql_finish($pa);
is($rc, 0, '... and then the ALTER TABLE') or diag($err);
is(node_servers($coord, $srv)->{$to}->safe_psql('postgres', "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.items_$s'::regclass AND attname = 'extra'"),
	'1', '... which reached the shard table on its new node');
$coord->safe_psql('postgres', 'ALTER TABLE items DROP COLUMN extra');
is(leftovers($s), clean($s, $to), '... and nothing is left on any server');
whole('after a column added during a move', 1);

###########################################################################
# (d) rebalance_table(mode => 'logical') under pgbench
system_or_bail('pgbench', '-i', '-q', '-s', '1', '-h', $coord->host, '-p', $coord->port, 'postgres');
$coord->safe_psql('postgres', q{
ALTER TABLE pgbench_history ADD COLUMN id bigserial;
ALTER TABLE pgbench_history ADD PRIMARY KEY (aid, id);
CALL hashring.distribute_table('pgbench_accounts', 'aid', 'r', 8);
CALL hashring.distribute_table('pgbench_history', 'aid', 'r', 8);
});
$coord->safe_psql('postgres', q{SELECT hashring.ring_add_node('r', 'n4', 1, 'srv4')});
my $bench_state = q{
SELECT (SELECT count(*) FROM pgbench_accounts) || '|' || ((SELECT sum(abalance) FROM pgbench_accounts) = (SELECT coalesce(sum(delta), 0) FROM pgbench_history))};
my ($h, $o, $e) = pgbench_start($coord, 2);
$h->finish;
my $tps_before = tps($o);
my $plan = $coord->safe_psql('postgres', q{
SELECT string_agg(shard || ':' || target_node, ',' ORDER BY shard) FROM hashring.table_placement('pgbench_accounts') WHERE node <> target_node});
my $history_rows = $coord->safe_psql('postgres', 'SELECT count(*) FROM pgbench_history');
ok($plan ne '', "table_placement moves shards $plan");
my $plan_from = $coord->safe_psql('postgres', q{
SELECT string_agg(DISTINCT node, ',') FROM hashring.table_placement('pgbench_accounts') WHERE node <> target_node});
($h, $o, $e) = pgbench_start($coord, 6);
sleep 1;
$t = time;
($rc, $out, $err) = $coord->psql('postgres', q{CALL hashring.rebalance_table('pgbench_accounts', mode => 'auto')});
$took = time - $t;
is($rc, 0, 'rebalance_table completes under pgbench') or diag($err);
$h->finish;
my $tps_during = tps($o);
unlike($$e, qr/ERROR|aborted/i, 'pgbench: no client error during the rebalance') or diag($$e);
is($coord->safe_psql('postgres', q{SELECT count(*) FROM hashring.table_placement('pgbench_accounts') WHERE node <> target_node}),
	'0', 'every shard is where the ring places it');
is($coord->safe_psql('postgres', $bench_state), '100000|true', 'pgbench_accounts: 100,000 rows, sum(abalance) = sum(delta)');
my ($processed) = $$o =~ /number of transactions actually processed: (\d+)/;
is($coord->safe_psql('postgres', 'SELECT count(*) FROM pgbench_history'), $history_rows + $processed,
	"pgbench_history: one row for each of the $processed transactions pgbench counted");
is(where_check($coord, $srv, 'pgbench_accounts', 'aid', 'aid % 50 = 0'), '100000|100000|0', '... every account once, on its shard');
is($coord->safe_psql('postgres', q{
SELECT string_agg(DISTINCT CASE WHEN source = 'n3' THEN 'n3' ELSE 'n1/n2' END || ':' || mode, ',')
  FROM hashring.shard_moves WHERE tbl = 'pgbench_accounts'::regclass}),
	($plan_from =~ /n3/ ? 'n1/n2:logical,n3:block_writes' : 'n1/n2:logical'),
	'auto moved the shards of logical nodes logically, those of n3 with block_writes');
my $moves = join('; ', split /\n/, $coord->safe_psql('postgres', q{
SELECT mode || ': ' || count(*) || ' moves, write block max ' || round(max(write_block_ms)) || ' ms, median '
       || round((percentile_cont(0.5) WITHIN GROUP (ORDER BY write_block_ms))::numeric) || ' ms'
  FROM hashring.shard_moves WHERE tbl = 'pgbench_accounts'::regclass GROUP BY mode ORDER BY mode}));
($h, $o, $e) = pgbench_start($coord, 2);
$h->finish;
diag("pgbench tps before $tps_before, during the rebalance $tps_during, after " . tps($o)
	  . sprintf('; the rebalance took %.1f s, %s', $took, $moves));

###########################################################################
# (e) split_shards: items, notes, pgbench_accounts and pgbench_history are
# one colocation group (ring r, 8 shards); split into 16 under pgbench
refused($coord, 'split_shards, a NULL factor', "CALL hashring.split_shards('items', NULL)", '22004');
refused($coord, 'split_shards, factor 1', "CALL hashring.split_shards('items', 1)", '22023');
refused($coord, 'split_shards, more than 1024 shards', "CALL hashring.split_shards('items', 200)", '22023');
refused($coord, 'split_shards, inside a transaction block', "BEGIN; CALL hashring.split_shards('items'); COMMIT;", '25001');
refused($coord, 'split_shards, a table that is not distributed', "CREATE TABLE plain2 (k int); CALL hashring.split_shards('plain2')", '42809');

my $group_state = q{
SELECT string_agg(c.relname || '=' || d.shard_count || ':' || (SELECT count(*) FROM hashring.shards s WHERE s.tbl = d.tbl), ' ' ORDER BY c.relname)
  FROM hashring.distributed_tables d JOIN pg_class c ON c.oid = d.tbl WHERE d.ring = 'r' AND d.tbl::text <> 'loose'};
is($coord->safe_psql('postgres', $group_state), 'items=8:8 notes=8:8 pgbench_accounts=8:8 pgbench_history=8:8', 'before: four tables of 8 shards');
my $old_names = join(',', map { "'items_$_', 'notes_$_', 'pgbench_accounts_$_'" } 0 .. 7);
my %shard_node_before = map { split /\|/ } split /\n/, $coord->safe_psql('postgres', "SELECT shard, node FROM hashring.table_shards WHERE tbl = 'items'::regclass");
$history_rows = $coord->safe_psql('postgres', 'SELECT count(*) FROM pgbench_history');
($h, $o, $e) = pgbench_start($coord, 6);
sleep 1;
$t = time;
($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.split_shards('items')");
$took = time - $t;
is($rc, 0, 'split_shards(items) completes under pgbench') or diag($err);
like($err, qr/items and 3 colocated table\(s\) split from 8 into 16 shards; reads and writes of the tables waited [\d.]+ ms at the most per shard/,
	'... and says how long reads and writes waited');
$h->finish;
$tps_during = tps($o);
unlike($$e, qr/ERROR|aborted/i, 'pgbench: no client error during the split') or diag($$e);
is($coord->safe_psql('postgres', $group_state), 'items=16:16 notes=16:16 pgbench_accounts=16:16 pgbench_history=16:16',
	'after: 16 shards each, in the catalog');
is($coord->safe_psql('postgres', q{
SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'items'::regclass AND pg_get_expr(c.relpartbound, c.oid) LIKE '%modulus 16,%'}), '16', '... and 16 partitions of modulus 16');
is(join(',', map { $_ . ':' . $shard_node_before{ $_ % 8 } } 0 .. 15),
	join(',', map { $_ . ':' . node_of('items', $_) } 0 .. 15), 'shards r and r + 8 are on the node that held shard r');
whole('after split_shards');
is(where_check($coord, $srv, 'pgbench_accounts', 'aid', 'aid % 50 = 0'), '100000|100000|0', 'pgbench_accounts: every account once, on its shard');
is($coord->safe_psql('postgres', $bench_state), '100000|true', 'pgbench_accounts: 100,000 rows, sum(abalance) = sum(delta)');
($processed) = $$o =~ /number of transactions actually processed: (\d+)/;
is($coord->safe_psql('postgres', 'SELECT count(*) FROM pgbench_history'), $history_rows + $processed,
	"pgbench_history: one row for each of the $processed transactions pgbench counted");
is(join(';', map { "$_=" . $srv->{$_}->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname IN ($old_names)") } sort keys %$srv),
	'srv1=0;srv2=0;srv3=0;srv4=0', 'the old shard tables are gone from every server');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM hashring.shard_drops'), '0', '... and shard_drops is empty');
is(join(',', map { scalar(() = $coord->safe_psql('postgres', "EXPLAIN (COSTS OFF) SELECT * FROM items WHERE k = $_") =~ /Foreign Scan/g) } (1, 77, 20000)),
	'1,1,1', 'a key lookup still touches one partition');
diag(sprintf('split_shards of 4 tables (8 to 16 shards) under pgbench took %.1f s; tps during it %s', $took, $tps_during));
# the first half of a split shard has a table of its own name (<table>_<r>_<count>):
# moves keep it, logically (a subscription matches tables by name) and not
for my $mode ('logical', 'block_writes')
{
	my $sx = $coord->safe_psql('postgres', "SELECT min(shard) FROM hashring.table_shards WHERE tbl = 'items'::regclass AND shard < 8 AND node IN ('n1', 'n2', 'n4')"
		  . ($mode eq 'logical' ? '' : ' AND shard > (SELECT min(shard) FROM hashring.table_shards WHERE tbl = \'items\'::regclass AND shard < 8 AND node IN (\'n1\', \'n2\', \'n4\'))'));
	my $fx = node_of('items', $sx);
	my $tx = (grep { $_ ne $fx } qw(n1 n2 n4))[0];
	my $kx = $coord->safe_psql('postgres', "SELECT min(k) FROM items WHERE tableoid = 'items_$sx'::regclass");
	($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.move_shard('items', $sx, '$tx', mode => '$mode')");
	like($err, qr/moved from node "$fx" to node "$tx".*\($mode\)/, "a split shard's first half (items_${sx}_16) moves ($mode)") or diag($err);
	is(node_servers($coord, $srv)->{$tx}->safe_psql('postgres', "SELECT count(*) FROM public.items_${sx}_16 WHERE k = $kx"), '1', '... into a table of the same name');
	is($coord->safe_psql('postgres', "SELECT count(*) FROM items WHERE k = $kx"), '1', '... where the coordinator reads it');
}
whole('after moves of split shards');
my $k9 = $coord->safe_psql('postgres', "SELECT min(k) FROM items WHERE tableoid = 'items_9'::regclass");
my ($f9, $t9) = (node_of('items', 9));
$t9 = (grep { $_ ne $f9 && $_ ne 'n3' } qw(n1 n2 n4))[0];
($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.move_shard('items', 9, '$t9')");
like($err, qr/moved from node "$f9" to node "$t9"/, 'a new shard moves like any other') or diag($err);
is(node_servers($coord, $srv)->{$t9}->safe_psql('postgres', "SELECT count(*) FROM public.items_9 WHERE k = $k9"), '1', '... its rows with it');

# a split interrupted after its first shard's commit (kill -9), then finished
kill_at_step($coord, 'split:before_drop', "SET hashring.inject_fault = 'split:before_drop:pause:60000';\nCALL hashring.split_shards('notes');");
is($coord->safe_psql('postgres', "SELECT string_agg(DISTINCT shard_count || '>' || split_to, ',') FROM hashring.distributed_tables WHERE shard_count = 16"),
	'16>32', 'kill -9 during a split: the split is recorded as under way');
is($coord->safe_psql('postgres', "SELECT count(*) FROM hashring.shards WHERE tbl = 'notes'::regclass"), '17', '... shard 0 of notes is split, the others whole');
whole('a split interrupted', 1);
is($coord->safe_psql('postgres', 'SELECT count(*) FROM pgbench_accounts') . '|' . $coord->safe_psql('postgres', 'SELECT count(*) FROM pgbench_accounts WHERE aid % 7 = 0'),
	'100000|14285', '... pgbench_accounts reads every row');
like(refused($coord, 'a move during the split', "CALL hashring.move_shard('items', 3, 'n1')", '55000'), qr/being split into 32/, '... and says to finish the split');
like(refused($coord, 'split_shards, another factor while a split is under way', "CALL hashring.split_shards('items', 4)", '55000'),
	qr/a split of (public\.)?items into 32 shards is under way/, '... saying which');
($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.split_shards('notes')");
is($rc, 0, 'the same CALL finishes the split') or diag($err);
is($coord->safe_psql('postgres', $group_state), 'items=32:32 notes=32:32 pgbench_accounts=32:32 pgbench_history=32:32', '... 32 shards each');
whole('after the finished split');
is(where_check($coord, $srv, 'pgbench_accounts', 'aid', 'aid % 50 = 0'), '100000|100000|0', 'pgbench_accounts: every account once, on its shard');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM hashring.shard_drops'), '0', '... no old shard table left to drop');
is(join(';', map { "$_=" . $srv->{$_}->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname ~ '^(items|notes|pgbench_accounts|pgbench_history)_' AND relkind = 'r'") } sort keys %$srv),
	join(';', map { my $n = $_; "$n=" . (4 * $coord->safe_psql('postgres', "SELECT count(*) FROM hashring.table_shards WHERE tbl = 'items'::regclass AND node IN (SELECT node FROM hashring.nodes WHERE target = '$n')")) } sort keys %$srv),
	'on every server exactly the shard tables the catalog names');

$coord->stop;
$_->stop for values %$srv;
done_testing();
