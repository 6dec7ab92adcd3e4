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
#       unknown mode and a NULL mode are refused with their SQLSTATEs;
#   (c) faults: an error at each step, a kill -9 and a cancel of the
#       coordinator backend, the source and the target server stopped
#       while the subscription catches up, the subscription failing (a row
#       the new table refuses), a column added during the move: the shard
#       stays whole on its node, nothing is left on the servers (or the
#       rerun drops it), and the rerun finishes;
#   (d) rebalance_table(mode => 'logical') after a node joins, while
#       pgbench's TPC-B-like script runs through the coordinator: no client
#       error, exact row counts, sum(abalance) = sum(delta); tps before,
#       during and after, and the write blocks, are reported.
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
	$srv->{$name}->append_conf("postgresql.conf", "wal_level = logical\nmax_wal_senders = 10\nmax_replication_slots = 10\n");
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
# (a) a logical move, with writes during the catch-up
my ($s, $from, $to) = logical_shard();
my $k_s = $coord->safe_psql('postgres', "SELECT min(k) FROM items WHERE tableoid = 'items_$s'::regclass");
my $k_new = $coord->safe_psql('postgres',
	"SELECT k FROM generate_series(100001, 200000) AS k WHERE hashring.table_shard('items', k::bigint) = $s LIMIT 1");
my $k_copy = $coord->safe_psql('postgres',
	"SELECT k FROM generate_series(200001, 300000) AS k WHERE hashring.table_shard('items', k::bigint) = $s LIMIT 1");
my $k_del = $coord->safe_psql('postgres', "SELECT max(k) FROM items WHERE tableoid = 'items_$s'::regclass");
my $progress_sql = "SELECT string_agg(tbl || ':' || phase || ':' || mode || ':' || running || ':' || (lag_bytes IS NOT NULL), ' ' ORDER BY tbl::text) FROM hashring.shard_move_progress WHERE shard = $s";
$off = log_offset($coord);
$p = psql_start($coord, "SET hashring.inject_fault = 'move:catching_up:pause:4000';\nCALL hashring.move_shard('items', $s, '$to', mode => 'logical');");
$coord->wait_for_log(qr/paused at step move:catching_up/, $off);
is($coord->safe_psql('postgres', $progress_sql), "items:catching up:logical:true:true notes:catching up:logical:true:true",
	'paused in the catch-up: shard_move_progress shows the phase, the mode and the lag');
$t = time;
$coord->safe_psql('postgres', qq{
UPDATE items SET v = v + 1 WHERE k = $k_s;
INSERT INTO items VALUES ($k_new, 5, 'new');
DELETE FROM items WHERE k = $k_del;
COPY items (k, v, pad) FROM STDIN;
$k_copy\t7\tcopied
\\.
});
my $took = time - $t;
cmp_ok($took, '<', 1.5, sprintf('writes to the moving shard do not wait during the catch-up (%.2f s)', $took));
($rc, $out, $err) = psql_finish($p);
is($rc, 0, "move_shard('items', $s, '$to', mode => 'logical') completes") or diag($err);
like($err, qr/shard $s of items moved from node "$from" to node "$to": \d+ rows in 2 table\(s\), writes to the shard waited [\d.]+ ms \(logical\)/,
	'... and says it moved logically, and how long writes waited');
is(node_of('items', $s) . '|' . node_of('notes', $s), "$to|$to", 'both tables\' shard is on the new node');
my $tnode = node_servers($coord, $srv)->{$to};
my $st = $coord->safe_psql('postgres', "SELECT shard_table FROM hashring.table_shards WHERE tbl = 'items'::regclass AND shard = $s");
is($tnode->safe_psql('postgres', "SELECT string_agg(k || ':' || v, ',' ORDER BY k) FROM $st WHERE k IN ($k_s, $k_new, $k_del, $k_copy)"),
	join(',', sort { (split /:/, $a)[0] <=> (split /:/, $b)[0] } ("$k_s:" . ($k_s + 1), "$k_new:5", "$k_copy:7")),
	'the UPDATE, INSERT, DELETE and COPY made during the catch-up are on the new node');
$coord->safe_psql('postgres', "UPDATE items SET v = v - 1 WHERE k = $k_s; DELETE FROM items WHERE k IN ($k_new, $k_copy); INSERT INTO items VALUES ($k_del, $k_del, repeat('p', $k_del % 40))");
whole('after a logical move');
is(leftovers($s), clean($s, $to), 'no publication, subscription or slot is left, and the old shard tables are gone');
is($coord->safe_psql('postgres', qq{
SELECT string_agg(tbl || ':' || phase || ':' || mode || ':' || (rows_copied > 0) || ':' || (write_block_ms > 0) || ':' || lag_bytes, ' ' ORDER BY tbl::text)
  FROM hashring.shard_moves WHERE shard = $s}),
	'items:done:logical:true:true:0 notes:done:logical:true:true:0', 'shard_moves: done, logical, rows, the write block, no lag');
is($tnode->safe_psql('postgres', qq{
SELECT string_agg(indexrelid::regclass::text, ',' ORDER BY 1) FROM pg_index WHERE indrelid = 'public.notes_$s'::regclass}),
	"notes_body_$s,notes_pkey_$s", 'the new shard table has the primary key and the index');

$coord->stop;
$_->stop for values %$srv;
done_testing();
