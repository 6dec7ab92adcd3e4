# Per-key pins for real (issue 15): pinned keys are membership, so they
# survive a restart, a pg_dump and restore, and a hot standby's replay (a
# standby session already routing sees a new pin at its next statement);
# and ring_move moves a pinned key's rows to its pinned shard, between real
# shard servers, with the plan's row count, leaving every row exactly once
# on its owner.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;

my $primary = hr_node('pins_primary', preload => 1, allows_streaming => 1);
$primary->safe_psql('postgres', 'CREATE EXTENSION postgres_fdw');
my @shards;
for my $i (1 .. 3)
{
	my $s = PostgreSQL::Test::Cluster->new("pins_shard$i");
	$s->init;
	$s->start;
	$s->safe_psql('postgres', 'CREATE TABLE items (k text PRIMARY KEY, v integer NOT NULL)');
	my ($host, $port) = ($s->host, $s->port);
	$primary->safe_psql('postgres', qq{
CREATE SERVER shard$i FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$host', port '$port', dbname 'postgres');
CREATE USER MAPPING FOR CURRENT_USER SERVER shard$i;
});
	push @shards, $s;
}
$primary->safe_psql('postgres', q{
SELECT hashring.ring_create('r', vnodes => 64);
SELECT hashring.ring_add_node('r', 'shard' || i, target => 'shard' || i) FROM generate_series(1, 3) i;
SELECT hashring._shard_table('r', 'shard' || i, 'public.items') FROM generate_series(1, 3) i;
INSERT INTO hashring_fdw_shard1.items SELECT 'item:' || g, g FROM generate_series(1, 3000) g WHERE hashring.ring_node('r', 'item:' || g) = 'shard1';
INSERT INTO hashring_fdw_shard2.items SELECT 'item:' || g, g FROM generate_series(1, 3000) g WHERE hashring.ring_node('r', 'item:' || g) = 'shard2';
INSERT INTO hashring_fdw_shard3.items SELECT 'item:' || g, g FROM generate_series(1, 3000) g WHERE hashring.ring_node('r', 'item:' || g) = 'shard3';
CREATE VIEW all_items AS
  SELECT 'shard1' AS shard, * FROM hashring_fdw_shard1.items UNION ALL
  SELECT 'shard2', * FROM hashring_fdw_shard2.items UNION ALL
  SELECT 'shard3', * FROM hashring_fdw_shard3.items;
});

# the standby, made before any pin
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('pins_standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->append_conf('postgresql.conf', 'hot_standby_feedback = on');
$standby->start;
$primary->wait_for_catchup($standby);
my $s = $standby->background_psql('postgres', on_error_stop => 0);

my $digest = q{SELECT md5(string_agg(hashring.ring_node('r', 'item:' || g), ',' ORDER BY g)) FROM generate_series(1, 3000) g};
my $unpinned = $primary->safe_psql('postgres', $digest);
is(bg_query($s, $digest), $unpinned, 'standby session routes like the primary before any pin');

# Pin the first 20 keys not on shard3 to shard3 (a hot tenant isolated),
# and one key of shard2 to shard1: one transaction, one version.
my $v0 = $primary->safe_psql('postgres', ring_version_sql('r'));
$primary->safe_psql('postgres', q{
BEGIN;
INSERT INTO hashring.pins
SELECT 'r', k, 'shard3' FROM (SELECT 'item:' || g AS k FROM generate_series(1, 3000) g) x
 WHERE hashring.ring_node('r', k) <> 'shard3' ORDER BY k LIMIT 20;
SELECT hashring.ring_pin('r', (SELECT 'item:' || g FROM generate_series(1, 3000) g
                                WHERE hashring.ring_node('r', 'item:' || g) = 'shard2' ORDER BY 1 LIMIT 1), 'shard1');
COMMIT;
});
my $pins_sql = q{SELECT string_agg(key || '=' || node || '>' || routes_to, ',' ORDER BY key) FROM hashring.ring_pins('r')};
my $pins = $primary->safe_psql('postgres', $pins_sql);
is($primary->safe_psql('postgres', q{SELECT count(*) FROM hashring.ring_pins('r') WHERE node = routes_to}),
	'21', '21 keys pinned, each routing to its node');
my $pinned = $primary->safe_psql('postgres', $digest);
isnt($pinned, $unpinned, 'the pins change routing');

# the standby session sees them at its next statement
$primary->wait_for_catchup($standby);
is(bg_query($s, $digest), $pinned, 'standby session routes the pinned keys after replay');
is(bg_query($s, $pins_sql), $pins, 'standby: the same pins');

# ring_move: the plan says 21 rows move, the move moves them, every row once on its owner
my $plan = $primary->safe_psql('postgres', qq{
SELECT string_agg(from_node || '>' || to_node || ':' || rows, ',' ORDER BY from_node, to_node) FROM (
  SELECT * FROM hashring.ring_plan_moves('r', 'hashring_fdw_shard1.items', 'k', $v0) UNION ALL
  SELECT * FROM hashring.ring_plan_moves('r', 'hashring_fdw_shard2.items', 'k', $v0) UNION ALL
  SELECT * FROM hashring.ring_plan_moves('r', 'hashring_fdw_shard3.items', 'k', $v0)) p});
my $expect = $primary->safe_psql('postgres', qq{
SELECT string_agg(f || '>' || t || ':' || c, ',' ORDER BY f, t) FROM (
  SELECT hashring.ring_node('r', k, $v0) AS f, hashring.ring_node('r', k) AS t, count(*) AS c
    FROM all_items GROUP BY 1, 2 HAVING hashring.ring_node('r', k, $v0) <> hashring.ring_node('r', k)) x});
is($plan, $expect, "plan: $plan");
$primary->safe_psql('postgres', qq{CALL hashring.ring_move('r', 'public.items', 'k', 7, from_version => $v0)});
is($primary->safe_psql('postgres', q{
SELECT count(*) = 3000 AND count(DISTINCT k) = 3000 AND sum(v) = 4501500
       AND count(*) FILTER (WHERE shard <> hashring.ring_node('r', k)) = 0
  FROM all_items}), 't', 'after ring_move: every row once, on its owner');
is($primary->safe_psql('postgres', q{
SELECT count(*) FROM all_items AS a JOIN hashring.pins AS p ON p.ring = 'r' AND p.key = a.k AND p.node = a.shard}),
	'21', 'every pinned key\'s row is on its pinned shard');
# re-pinning one key elsewhere moves its row again
$primary->safe_psql('postgres', q{SELECT hashring.ring_pin('r', (SELECT min(key) FROM hashring.pins WHERE node = 'shard3'), 'shard2')});
$primary->safe_psql('postgres', q{CALL hashring.ring_move('r', 'public.items', 'k')});
is($primary->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE shard <> hashring.ring_node('r', k)) || '/' || count(*) FROM all_items}),
	'0/3000', 'a key pinned elsewhere: its row moves with ring_move');
$pinned = $primary->safe_psql('postgres', $digest);
$pins = $primary->safe_psql('postgres', $pins_sql);
$primary->wait_for_catchup($standby);
is(bg_query($s, $digest), $pinned, 'standby session follows the re-pin');

# a down pinned node: its pins follow the key's own list; on the standby too
$primary->safe_psql('postgres', q{SELECT hashring.ring_set_state('r', 'shard3', 'down')});
is($primary->safe_psql('postgres', qq{
SELECT count(*) FROM hashring.ring_pins('r') WHERE node = 'shard3'
   AND routes_to = (array_remove(hashring.ring_nodes('r', key, 3, $v0), 'shard3'))[1]}),
	$primary->safe_psql('postgres', q{SELECT count(*) FROM hashring.pins WHERE node = 'shard3'}),
	'pins of a down node route to the first live node of their own list');
my $down = $primary->safe_psql('postgres', $digest);
$primary->wait_for_catchup($standby);
is(bg_query($s, $digest), $down, 'standby: pins of the down node follow too');
$primary->safe_psql('postgres', q{SELECT hashring.ring_set_state('r', 'shard3', 'active')});
$s->quit;

# restart: the same pins and routing
$primary->restart;
is($primary->safe_psql('postgres', $pins_sql), $pins, 'after restart: the same pins');
is($primary->safe_psql('postgres', $digest), $pinned, 'after restart: the same routing');

# dump and restore into a new cluster
my $dir = PostgreSQL::Test::Utils::tempdir('pins_dump');
$primary->command_ok([ 'pg_dump', '-d', 'postgres', '-f', "$dir/plain.sql" ], 'pg_dump');
like(slurp_file("$dir/plain.sql"), qr/COPY hashring\.pins/, 'the dump has the pins');
my $restored = hr_node('pins_restored', preload => 1, no_extension => 1);
$restored->safe_psql('postgres', 'CREATE DATABASE restored');
$restored->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'restored', '-f', "$dir/plain.sql" ],
	'the dump restores');
is($restored->safe_psql('restored', $pins_sql), $pins, 'restored: the same pins');
is($restored->safe_psql('restored', $digest), $pinned, 'restored: the same routing');

$standby->stop;
$_->stop for @shards;
done_testing();
