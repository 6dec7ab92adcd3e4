# pgbench through a coordinator whose pgbench_accounts is distributed, then
# the coordinator dumped and restored.  pgbench -i -s 2 makes 200,000
# accounts; distribute_table spreads them over three shard servers in 8
# shards; pgbench's built-in TPC-B-like script runs with 4 clients, in the
# simple and in the prepared protocol, 2,000 transactions in all.  After it
# the accounts are exactly 200,000, every account's balance is the sum of its
# history's deltas (and so are the tellers' and branches' totals), and every
# account is on its shard, read on the shard servers.  Then pg_dump of the
# coordinator, restored with psql into a new cluster that has postgres_fdw
# and hashring installed first, routes the same: the same table_shards,
# table_node and table_shard of every key, the same rows read, a point
# lookup planned on the same one partition, and a write through the restored
# coordinator lands on the shard that both coordinators read.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;
use HashringMove;
use HashringDist;

my $coord = dist_node('coord', preload => 1, extension => 1, fdw => 1);
my $srv = dist_shards($coord, qw(srv1 srv2 srv3));
$coord->safe_psql('postgres', q{
SELECT hashring.ring_create('bench');
SELECT hashring.ring_add_node('bench', 'b' || i, 1, 'srv' || i) FROM generate_series(1, 3) i;
});

$coord->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench -i -s 2');
is($coord->safe_psql('postgres', 'SELECT count(*) || \'|\' || sum(abalance) FROM pgbench_accounts'), '200000|0',
	'200,000 accounts, balance 0');
my ($rc, $out, $err) = $coord->psql('postgres', q{CALL hashring.distribute_table('pgbench_accounts', 'aid', 'bench', 8)});
is($rc, 0, 'pgbench_accounts distributed over 8 shards') or diag($err);
is(table_state($coord, 'pgbench_accounts', 'aid'), 'p|200000|20000100000|8', '... 200,000 accounts in 8 foreign partitions');
is(where_check($coord, $srv, 'pgbench_accounts', 'aid', 'aid % 20 = 0'), '200000|200000|0', '... each on its shard, read on the shard servers (table_node and table_shard checked for every 20th key)');

# pgbench's TPC-B-like script, 4 clients on 2 threads, 250 transactions each;
# -n: no vacuum, and pgbench_history is not truncated between the runs
for my $mode ('simple', 'prepared')
{
	my ($stdout, $stderr);
	my $ok = IPC::Run::run(
		[ 'pgbench', '-n', '-c', '4', '-j', '2', '-t', '250', '-M', $mode, '-h', $coord->host, '-p', $coord->port, 'postgres' ],
		'>', \$stdout, '2>', \$stderr);
	ok($ok, "pgbench -M $mode: runs") or diag($stderr);
	like($stdout, qr{number of transactions actually processed: 1000/1000}, "pgbench -M $mode: 1,000 transactions processed")
	  or diag($stdout . $stderr);
	like($stdout, qr{number of failed transactions: 0 }, "pgbench -M $mode: none failed");
}

is($coord->safe_psql('postgres', 'SELECT count(*) FROM pgbench_history'), '2000', '2,000 history rows');
is($coord->safe_psql('postgres', q{
SELECT (SELECT count(*) FROM pgbench_accounts) || '|'
       || ((SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(delta) FROM pgbench_history)) || '|'
       || ((SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT sum(delta) FROM pgbench_history)) || '|'
       || ((SELECT sum(bbalance) FROM pgbench_branches) = (SELECT sum(delta) FROM pgbench_history))}),
	'200000|true|true|true', 'exactly 200,000 accounts; sum(abalance), sum(tbalance), sum(bbalance) all equal sum(delta)');
is($coord->safe_psql('postgres', q{
SELECT count(*) FROM (SELECT aid, sum(delta) AS s FROM pgbench_history GROUP BY aid) h
  FULL JOIN (SELECT aid, abalance FROM pgbench_accounts WHERE abalance <> 0) a USING (aid)
 WHERE coalesce(h.s, 0) <> coalesce(a.abalance, 0)}), '0', 'every account\'s balance is the sum of its deltas');
cmp_ok($coord->safe_psql('postgres', 'SELECT count(*) FROM pgbench_accounts WHERE abalance <> 0'), '>', 1000,
	'... and over 1,000 accounts were changed');
is(where_check($coord, $srv, 'pgbench_accounts', 'aid', 'aid % 20 = 0'), '200000|200000|0', 'after pgbench every account is on its shard');

###########################################################################
# dump the coordinator, restore it into a new cluster
my $dir = PostgreSQL::Test::Utils::tempdir('dist_dump');
$coord->command_ok([ 'pg_dump', '-d', 'postgres', '-f', "$dir/coord.sql" ], 'pg_dump of the coordinator');
my $dump = slurp_file("$dir/coord.sql");
like($dump, qr/CREATE FOREIGN TABLE public\.pgbench_accounts_\d+/, 'the dump has the foreign partitions');
like($dump, qr/CREATE USER MAPPING/, '... and the user mappings');

my $restored = dist_node('restored', preload => 1);
$restored->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-f', "$dir/coord.sql" ],
	'the dump restores with psql into a new cluster (hashring preloaded; the dump creates the extensions)');

my $shards_sql = q{SELECT shard || '|' || node || '|' || partition::text || '|' || shard_table FROM hashring.table_shards
 WHERE tbl = 'pgbench_accounts'::regclass ORDER BY shard};
my $shards_a = $coord->safe_psql('postgres', $shards_sql);
is($restored->safe_psql('postgres', $shards_sql), $shards_a, 'restored: the same table_shards');
like($shards_a, qr/^(\d+\|b\d\|pgbench_accounts_\d+\|\S+\n?){8}$/, '... 8 shards');

my $route_sql = q{
SELECT md5(string_agg(hashring.table_node('pgbench_accounts', aid) || ':' || hashring.table_shard('pgbench_accounts', aid), ',' ORDER BY aid))
  FROM generate_series(1, 200000, 7) aid};
is($restored->safe_psql('postgres', $route_sql), $coord->safe_psql('postgres', $route_sql),
	'restored: table_node and table_shard the same for every 7th key (28,572 keys)');
my $rows_sql = q{SELECT md5(string_agg(aid || ':' || bid || ':' || abalance, ',' ORDER BY aid)) || ' ' || count(*) FROM pgbench_accounts};
my $rows_a = $coord->safe_psql('postgres', $rows_sql);
is($restored->safe_psql('postgres', $rows_sql), $rows_a, 'restored: reading every account gives the same rows');
like($rows_a, qr/ 200000$/, '... 200,000 of them');
is(where_check($restored, $srv, 'pgbench_accounts', 'aid', 'aid % 20 = 0'), '200000|200000|0',
	'restored: every account on the node and shard that its table_node and table_shard name');
my $part = $coord->safe_psql('postgres', q{
SELECT c.relname FROM hashring.table_shards ts JOIN pg_class c ON c.oid = ts.partition
 WHERE ts.tbl = 'pgbench_accounts'::regclass AND ts.shard = hashring.table_shard('pgbench_accounts', 123457)});
is(plan_parts($restored->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM pgbench_accounts WHERE aid = 123457')),
	$part, "restored: a point lookup plans the one partition of its key ($part)");

# a write through the restored coordinator
my $before = $coord->safe_psql('postgres', 'SELECT abalance FROM pgbench_accounts WHERE aid = 123457');
$restored->safe_psql('postgres', 'UPDATE pgbench_accounts SET abalance = abalance + 777 WHERE aid = 123457');
is($coord->safe_psql('postgres', 'SELECT abalance FROM pgbench_accounts WHERE aid = 123457'), $before + 777,
	'an UPDATE through the restored coordinator is read through the original one');
my $node = $coord->safe_psql('postgres', q{SELECT hashring.table_node('pgbench_accounts', 123457)});
my $st = $coord->safe_psql('postgres', q{
SELECT shard_table FROM hashring.table_shards
 WHERE tbl = 'pgbench_accounts'::regclass AND shard = hashring.table_shard('pgbench_accounts', 123457)});
is(node_servers($coord, $srv)->{$node}->safe_psql('postgres', "SELECT abalance FROM $st WHERE aid = 123457"), $before + 777,
	"... and is on the shard server of $node");

$restored->stop;
$coord->stop;
$_->stop for values %$srv;
done_testing();
