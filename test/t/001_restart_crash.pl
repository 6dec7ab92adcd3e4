# Routing survives a clean restart and a crash restart unchanged; after a
# crash restart nothing of the old shared directory survives (the first
# session rebuilds the image) and membership changes are still followed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;

# The test framework turns restart_after_crash off; we need it.
my $node = hr_node('restart_crash', preload => 1, conf => 'restart_after_crash = on');

# 20 nodes, assorted weights, one down node, target/zone values.
$node->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('r');
SELECT hashring.ring_add_node('r', 'node-' || lpad(i::text, 2, '0'),
         (ARRAY[1, 0.5, 2, 1.5])[1 + i % 4]::real, 'host' || i || ':5432', 'z' || i % 3)
  FROM generate_series(1, 20) AS i ORDER BY i;
SELECT hashring.ring_set_state('r', 'node-07', 'down');
});

my $digest_sql = digest_sql('r', 5000);
my $nodes_sql = nodes3_sql('r', 1000);
my $explicit_sql = explicit_sql('r');

my $digest0 = $node->safe_psql('postgres', $digest_sql);
my $nodes0 = $node->safe_psql('postgres', $nodes_sql);
my $explicit0 = $node->safe_psql('postgres', $explicit_sql);
like($digest0, qr/^[0-9a-f]{32}$/, 'digest computed before restart');
my $owners = $node->safe_psql('postgres',
	"SELECT count(DISTINCT hashring.ring_node('r', 'key-' || i)) FROM generate_series(1, 5000) AS i");
is($owners, '19', 'all 19 active nodes own keys; the down node owns none');

# ---------------------------------------------------------------------------
# Clean restart
# ---------------------------------------------------------------------------
$node->restart;

is($node->safe_psql('postgres', 'SELECT count(*) FROM hashring.ring_cache_info()'),
	'0', 'nothing cached before the first use after restart');

my ($info, $d, $n3, $ex) = split /\n/, $node->safe_psql(
	'postgres', qq{
SELECT count(*) FROM hashring.ring_cache_info();
$digest_sql;
$nodes_sql;
$explicit_sql;
});
is($info, '0', 'ring_cache_info empty in a new session before first use');
is($d, $digest0, 'ring_node digest unchanged after restart');
is($n3, $nodes0, 'ring_nodes digest unchanged after restart');
is($ex, $explicit0, 'explicit keys route the same after restart');

my $version = $node->safe_psql('postgres', ring_version_sql('r'));
is( $node->safe_psql(
		'postgres',
		"SELECT hashring.ring_node('r', 'x') IS NOT NULL; " . cache_info_sql('r')),
	"t\n$version|shared|0",
	'after restart, a later session uses the shared image (version, shared, no build)');

# ---------------------------------------------------------------------------
# Crash restart: kill -9 a backend that holds a pin on the shared image.
# ---------------------------------------------------------------------------
my $victim = $node->background_psql('postgres', on_error_stop => 0);
my $victim_pid = bg_query($victim, 'SELECT pg_backend_pid()');
is(bg_query($victim, "$digest_sql"), $digest0, 'victim session routes before the crash');
like(bg_query($victim, cache_info_sql('r')), qr/^\d+\|shared\|[01]$/,
	'victim session holds the shared image');

my $log_offset = -s $node->logfile;
ok(kill('KILL', $victim_pid), "sent SIGKILL to backend $victim_pid");
# The psql client loses its connection; just reap it.
$victim->{run}->kill_kill;

# ready again after the restart (a query polled before the postmaster
# noticed the kill could still reach the old backends)
$node->wait_for_log(qr/database system is ready to accept connections/, $log_offset);
ok($node->poll_query_until('postgres', 'SELECT true'),
	'server accepts connections again after crash restart');
# PostgreSQL 18 names the process's type ("client backend"), earlier
# majors say "server process".
ok( $node->wait_for_log(
		qr/(?:server process|client backend) \(PID $victim_pid\) was terminated by signal 9/,
		$log_offset),
	'log shows the backend was killed by signal 9');
ok($node->log_contains('all server processes terminated; reinitializing', $log_offset),
	'log shows the crash restart (shared memory reinitialised)');

# The first session after the crash must build the image itself: nothing
# from the old shared directory may survive.
my $first = $node->background_psql('postgres');
is(bg_query($first, 'SELECT count(*) FROM hashring.ring_cache_info()'), '0',
	'first session after crash: cache empty');
is(bg_query($first, $digest_sql), $digest0, 'digest unchanged after crash restart');
is(bg_query($first, $nodes_sql), $nodes0, 'ring_nodes digest unchanged after crash restart');
is(bg_query($first, $explicit_sql), $explicit0, 'explicit keys unchanged after crash restart');
is(bg_query($first, cache_info_sql('r')), "$version|shared|1",
	'first session after crash built the image (local_builds 1) and published it');

my ($d2, $ci2) = split /\n/, $node->safe_psql('postgres', "$digest_sql; " . cache_info_sql('r'));
is($d2, $digest0, 'second session after crash: same digest');
is($ci2, "$version|shared|0", 'second session after crash uses the new shared image');

$node->safe_psql('postgres',
	"CREATE TABLE owners0 AS SELECT 'key-' || i AS k, hashring.ring_node('r', 'key-' || i) AS o FROM generate_series(1, 5000) AS i");

# ---------------------------------------------------------------------------
# Membership changes after the crash are followed (also by the session that
# already has the image cached).
# ---------------------------------------------------------------------------
$node->safe_psql('postgres',
	"SELECT hashring.ring_add_node('r', 'node-new', 1.5)");
my $version2 = $node->safe_psql('postgres', ring_version_sql('r'));
ok($version2 > $version, "version bumped by add_node ($version -> $version2)");

# Reference: a freshly created ring with identical membership.
$node->safe_psql('postgres', copy_ring_sql('r', 'r_ref'));
my $ref_digest = $node->safe_psql('postgres', digest_sql('r_ref', 5000));
isnt($ref_digest, $digest0, 'adding a node changes the routing of some keys');

is(bg_query($first, $digest_sql), $ref_digest,
	'old session routes by the new membership');
is(bg_query($first, cache_info_sql('r')), "$version2|shared|2",
	'old session moved to the new version');
is($node->safe_psql('postgres', $digest_sql), $ref_digest,
	'new session routes by the new membership');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM owners0
 WHERE hashring.ring_node('r', k) <> o AND hashring.ring_node('r', k) <> 'node-new'}),
	'0',
	'only keys that moved to the new node changed owner');
ok( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM owners0 WHERE hashring.ring_node('r', k) = 'node-new'") > 0,
	'the new node owns some keys');

# Remove the node again: routing returns to the original assignment.
$node->safe_psql('postgres', "SELECT hashring.ring_remove_node('r', 'node-new')");
is(bg_query($first, $digest_sql), $digest0,
	'after removing the node again, routing is back to the original');
$first->quit;

$node->stop;
done_testing();
