# Routing statistics (issue 15, first part): with hashring.track_routing on,
# the lookups that several concurrent sessions route are counted per node in
# shared memory, exactly once the sessions have exited; a session's own
# reads include its unflushed lookups; typed keys, ring_nodes and routing at
# a past version count too; reset forgets one ring or all; a restart starts
# from zero; without the setting nothing is counted.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringMove;

my $node = PostgreSQL::Test::Cluster->new('stats');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'hashring'\nhashring.track_routing = on");
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION hashring;
SELECT hashring.ring_create('r', 'vnode', 64);
SELECT hashring.ring_add_node('r', 'n' || i, i) FROM generate_series(1, 5) i;
SELECT hashring.ring_create('q', 'jump');
SELECT hashring.ring_add_node('q', 'j' || i) FROM generate_series(1, 3) i;
});

is($node->safe_psql('postgres', 'SELECT tracking, preloaded, entries, dropped FROM hashring.routing_stats_info()'),
	't|t|0|0', 'tracking on, nothing counted yet');

# Three sessions at once, each many transactions of lookups: text keys
# through ring_node and ring_nodes, integer keys, a past version.
my $v = $node->safe_psql('postgres', "SELECT version FROM hashring.rings WHERE ring = 'r'");
my @s;
for my $i (1 .. 3)
{
	my $lo = $i * 100000;
	my $sql = join "\n", map {
		my $a = $lo + $_ * 1000;
		my $b = $a + 999;
		"SELECT count(hashring.ring_node('r', 'k' || g)) FROM generate_series($a, $b) g;\n"
		  . "SELECT count(hashring.ring_nodes('r', 'k' || g, 3)) FROM generate_series($a, $a + 99) g;\n"
		  . "SELECT count(hashring.ring_node('r', g, $v)) FROM generate_series($a, $a + 49) g;\n"
		  . "SELECT count(hashring.ring_node('q', g)) FROM generate_series($a, $a + 199) g;"
	} 0 .. 19;
	push @s, psql_start($node, $sql);
}
for my $p (@s)
{
	my ($rc, $out, $err) = psql_finish($p);
	is($rc, 0, "a counting session ran its 80 transactions") or diag($err);
}

# What they routed, computed without counting.
my $expected = q{
SET hashring.track_routing = off;
WITH k AS (
    SELECT i, g FROM generate_series(1, 3) i, generate_series(0, 19) b,
           LATERAL (SELECT i * 100000 + b * 1000 AS a) x, LATERAL generate_series(x.a, x.a + 999) g),
routed AS (
    SELECT 'r' AS ring, hashring.ring_node('r', 'k' || g) AS node FROM k
    UNION ALL SELECT 'r', (hashring.ring_nodes('r', 'k' || g, 3))[1] FROM k WHERE g % 1000 < 100
    UNION ALL SELECT 'r', hashring.ring_node('r', g::integer, VERSION) FROM k WHERE g % 1000 < 50
    UNION ALL SELECT 'q', hashring.ring_node('q', g::integer) FROM k WHERE g % 1000 < 200)
SELECT ring || ':' || node || '=' || count(*) FROM routed GROUP BY ring, node ORDER BY ring, node;
};
$expected =~ s/VERSION/$v/;
my $want = $node->safe_psql('postgres', $expected);
my $got = $node->safe_psql('postgres',
	q{SELECT ring || ':' || node || '=' || lookups FROM hashring.routing_stats ORDER BY ring, node});
is($got, $want, 'per-node counts equal the lookups three concurrent sessions made, exactly');
is( $node->safe_psql('postgres', q{SELECT sum(lookups) FROM hashring.routing_stats}),
	3 * 20 * (1000 + 100 + 50 + 200),
	'every lookup counted once');
is( $node->safe_psql('postgres',
		q{SELECT round(sum(traffic_share)::numeric, 9) FROM hashring.routing_stats GROUP BY ring ORDER BY ring}),
	"1.000000000\n1.000000000", 'traffic shares sum to 1 per ring');

# a session sees its own lookups before they are flushed, in one transaction
is( $node->safe_psql('postgres',
		q{BEGIN; SELECT count(hashring.ring_node('q', 'solo' || g)) FROM generate_series(1, 777) g \g /dev/null
          SELECT sum(lookups) FROM hashring.routing_stats WHERE ring = 'q'; COMMIT;}),
	3 * 20 * 200 + 777, 'a session reads its own unflushed lookups');

# overload by traffic: every lookup of one hot key goes to one node
$node->safe_psql('postgres', q{SELECT hashring.ring_stats_reset('q')});
$node->safe_psql('postgres', q{SELECT count(hashring.ring_node('q', 'hot')) FROM generate_series(1, 1000)});
is( $node->safe_psql('postgres',
		q{SELECT node = hashring.ring_node('q', 'hot') AND lookups = 1000 AND overloaded
            FROM hashring.routing_stats WHERE ring = 'q'}),
	't', 'a node taking all the traffic of a ring is flagged overloaded');

# reset one ring, then all
$node->safe_psql('postgres', q{SELECT hashring.ring_stats_reset('q')});
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT ring, ',') FROM hashring.routing_stats}),
	'r', 'ring_stats_reset(ring) forgets that ring only');
$node->safe_psql('postgres', q{SELECT hashring.ring_stats_reset()});
is($node->safe_psql('postgres', q{SELECT count(*) FROM hashring.routing_stats}), '0', 'ring_stats_reset() forgets all');

# off: nothing counted
$node->safe_psql('postgres',
	q{SET hashring.track_routing = off; SELECT count(hashring.ring_node('r', 'k' || g)) FROM generate_series(1, 1000) g});
is($node->safe_psql('postgres', q{SELECT count(*) FROM hashring.routing_stats}), '0', 'with track_routing off nothing is counted');

# counts survive the sessions, not a restart
$node->safe_psql('postgres', q{SELECT count(hashring.ring_node('r', 'k' || g)) FROM generate_series(1, 1000) g});
is($node->safe_psql('postgres', q{SELECT sum(lookups) FROM hashring.routing_stats}), '1000', 'counts outlive the session');
$node->restart;
is($node->safe_psql('postgres', q{SELECT count(*) FROM hashring.routing_stats}), '0', 'a restart starts from zero');

# a non-superuser may not turn counting on; errors
my ($rc, $out, $err) = $node->psql('postgres', q{CREATE ROLE app; SET ROLE app; SET hashring.track_routing = off});
like($err, qr/permission denied to set parameter "hashring.track_routing"/, 'track_routing is a superuser setting');
($rc, $out, $err) = $node->psql('postgres', q{SELECT hashring.ring_stats_reset('nosuch')});
like($err, qr/ring "nosuch" does not exist/, 'reset of an unknown ring: error');

$node->stop;
done_testing();
