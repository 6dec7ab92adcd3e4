# The hottest keys per ring (issue 15, second part): with hashring.track_keys
# on, a Zipf(1.1) workload of 1,500,000 lookups over 1,000,000 keys, routed
# by three concurrent sessions in many transactions, yields as top 10 the
# true top 10 computed in SQL; every reported count bounds the true count
# from above and count - error from below, with error <= N/k; owners are
# ring_node's.  Typed keys count as their text (pg_hash's as their own
# type); sampling at 0.1 still finds the top keys with scaled estimates;
# with tracking off nothing is counted; reset, restart and a full summary
# memory; errors with their SQLSTATE.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringMove;

my $K = 1000;    # hashring.track_keys_counters (the default)
my $M = 1500000; # lookups

my $node = PostgreSQL::Test::Cluster->new('hotkeys');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'hashring'\nhashring.track_routing = on\nhashring.track_keys = on");
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION hashring;
SELECT hashring.ring_create('z', 'vnode', 64);
SELECT hashring.ring_add_node('z', 'n' || i) FROM generate_series(1, 5) i;
SELECT hashring.ring_create('p', 'pg_hash');
SELECT hashring.ring_add_node('p', 'p' || i) FROM generate_series(1, 4) i;
SELECT hashring.ring_create('q', 'jump');
SELECT hashring.ring_add_node('q', 'j' || i) FROM generate_series(1, 3) i;
});

is( $node->safe_psql('postgres',
		'SELECT tracking, preloaded, rings, max_rings, counters, bytes_per_ring > 0, sample_rate, dropped FROM hashring.hot_keys_info()'),
	"t|t|0|16|$K|t|1|0", 'key tracking on, nothing summarized yet');

# Zipf(1.1) over ranks 1..1,000,000 by inverse CDF (an index search of the
# cumulative probabilities), a fixed seed; key 'k<rank>'.
$node->safe_psql(
	'postgres', qq{
SET hashring.track_routing = off;
CREATE TABLE w (id bigint, key text);
CREATE TEMP TABLE cdf AS
  SELECT r, sum(p) OVER (ORDER BY r) / sum(p) OVER () AS c
    FROM (SELECT r, 1.0 / power(r::float8, 1.1) AS p FROM generate_series(1, 1000000) r) x;
CREATE INDEX ON cdf (c);
ANALYZE cdf;
SELECT setseed(0.15);
INSERT INTO w SELECT g, 'k' || coalesce((SELECT cdf.r FROM cdf WHERE cdf.c >= u.u ORDER BY cdf.c LIMIT 1), 1000000)
  FROM (SELECT g, random() AS u FROM generate_series(1, $M) g) u;
CREATE TABLE truth AS SELECT key, count(*) AS n FROM w GROUP BY key;
});
my $distinct = $node->safe_psql('postgres', 'SELECT count(*) FROM truth');
cmp_ok($distinct, '>', 100000, "the workload has $distinct distinct keys");
is($node->safe_psql('postgres', q{SELECT count(*) FROM w WHERE key = 'k1000001'}), '0', 'ranks stay within 1..1,000,000');

# three sessions, each its third of the rows in 10 transactions
my @s;
for my $i (0 .. 2)
{
	my $sql = join "\n", map {
		"SELECT count(hashring.ring_node('z', key)) FROM w WHERE id % 3 = $i AND id % 10 = $_;"
	} 0 .. 9;
	push @s, psql_start($node, $sql);
}
for my $p (@s)
{
	my ($rc, $out, $err) = psql_finish($p);
	is($rc, 0, 'a routing session ran its 10 transactions') or diag($err);
}

my $true_top = $node->safe_psql('postgres', q{SELECT string_agg(key, ',' ORDER BY n DESC, key) FROM
    (SELECT * FROM truth ORDER BY n DESC, key LIMIT 10) t});
my $gap = $node->safe_psql('postgres', q{SELECT (SELECT n FROM truth ORDER BY n DESC LIMIT 1 OFFSET 9)
    - (SELECT n FROM truth ORDER BY n DESC LIMIT 1 OFFSET 10)});
cmp_ok($gap, '>', 0, "the true 10th and 11th keys differ by $gap lookups: the true top 10 is well defined");
is($node->safe_psql('postgres', q{SELECT string_agg(key, ',' ORDER BY lookups DESC, key) FROM hashring.ring_hot_keys('z', 10)}),
	$true_top, 'ring_hot_keys(ring, 10) gives exactly the true top 10');
is($node->safe_psql('postgres', q{SELECT DISTINCT lookups_summarized FROM hashring._hot_keys_raw() h JOIN hashring.rings r USING (ring_id) WHERE r.ring = 'z'}),
	$M, 'the summary summarizes every lookup of the three sessions');
is( $node->safe_psql('postgres', qq{
SELECT count(*) FILTER (WHERE NOT (h.count - h.error <= coalesce(t.n, 0) AND coalesce(t.n, 0) <= h.count)),
       count(*) FILTER (WHERE h.error > h.lookups_summarized / $K OR h.floor > h.lookups_summarized / $K),
       count(*) FILTER (WHERE h.error > h.floor),
       count(*) = $K
  FROM hashring._hot_keys_raw() h JOIN hashring.rings r USING (ring_id) LEFT JOIN truth t ON t.key = h.key
 WHERE r.ring = 'z'}),
	'0|0|0|t', "all $K counters: count - error <= true <= count, error <= floor <= N/k");
is( $node->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE NOT (h.lookups - h.error <= t.n AND t.n <= h.lookups)),
       count(*) FILTER (WHERE h.node IS DISTINCT FROM hashring.ring_node('z', h.key)),
       count(*) FILTER (WHERE abs(h.traffic_share - h.lookups::float8 / 1500000) > 1e-12),
       count(*) FILTER (WHERE h.truncated),
       count(*) FILTER (WHERE h.guaranteed AND h.key NOT IN (SELECT key FROM truth ORDER BY n DESC LIMIT 10)),
       count(*) FILTER (WHERE h.guaranteed) >= 5
  FROM hashring.ring_hot_keys('z', 10) h JOIN truth t ON t.key = h.key}),
	'0|0|0|0|0|t', 'the top 10: bounds hold, owner is ring_node, share is count / N, guaranteed keys are truly in the top 10');

# a session's own unflushed lookups count in its reads; typed keys
is( $node->safe_psql('postgres', q{
SELECT count(hashring.ring_node('q', 7)) FROM generate_series(1, 30);
SELECT count(hashring.ring_node('q', '7')) FROM generate_series(1, 20);
SELECT count(hashring.ring_nodes('q', 8::bigint, 2)) FROM generate_series(1, 5);
SELECT string_agg(key || '=' || lookups || '/' || error || '/' || (node = hashring.ring_node('q', key)), ' ' ORDER BY lookups DESC)
  FROM hashring.ring_hot_keys('q')}),
	"30\n20\n5\n7=50/0/true 8=5/0/true", 'integer keys count as their text on a text-routing algorithm, with ring_nodes; own lookups are read');
is( $node->safe_psql('postgres', q{
SELECT count(hashring.ring_node('p', 7)) FROM generate_series(1, 30);
SELECT count(hashring.ring_node('p', '7'::text)) FROM generate_series(1, 20);
SELECT string_agg(key || '=' || lookups, ' ' ORDER BY lookups DESC) FROM hashring.ring_hot_keys('p');
SELECT bool_and(h.node = CASE WHEN h.lookups = 30 THEN hashring.ring_node('p', 7) ELSE hashring.ring_node('p', '7'::text) END)
  FROM hashring.ring_hot_keys('p') h}),
	"30\n20\n7=30 7=20\nt", 'pg_hash: integer 7 and text 7 are different keys, each with its own owner');

# reset one ring, then all
$node->safe_psql('postgres', q{SELECT hashring.ring_hot_keys_reset('q')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM hashring.ring_hot_keys('q')}), '0', 'ring_hot_keys_reset(ring) forgets that ring');
is($node->safe_psql('postgres', q{SELECT count(*) FROM hashring.ring_hot_keys('p')}), '2', 'and only that ring');
$node->safe_psql('postgres', q{SELECT hashring.ring_hot_keys_reset()});
is($node->safe_psql('postgres', q{SELECT count(*) FROM hashring._hot_keys_raw()}), '0', 'ring_hot_keys_reset() forgets every ring');

# off: nothing counted (track_keys off; or track_routing off)
$node->safe_psql('postgres', q{SET hashring.track_keys = off; SELECT count(hashring.ring_node('z', key)) FROM w WHERE id <= 1000});
$node->safe_psql('postgres', q{SET hashring.track_routing = off; SELECT count(hashring.ring_node('z', key)) FROM w WHERE id <= 1000});
is($node->safe_psql('postgres', q{SELECT count(*) FROM hashring._hot_keys_raw()}), '0', 'with track_keys or track_routing off nothing is counted');

# sampling: a tenth of the lookups, estimates scaled by 10.  The sampler's
# seed is fixed, so this run is reproducible; the assertions (the true top 3
# in order, each estimate within 5% of the truth, about 10 standard
# deviations of the binomial sample for the third key) would hold with
# overwhelming probability for any seed.
my $sampled = $node->safe_psql('postgres', qq{
SET hashring.track_keys_sample_rate = 0.1;
SELECT count(hashring.ring_node('z', key)) FROM w;
SELECT string_agg(h.key, ',' ORDER BY h.lookups DESC) = (SELECT string_agg(key, ',' ORDER BY n DESC) FROM (SELECT * FROM truth ORDER BY n DESC LIMIT 3) x),
       bool_and(abs(h.lookups - t.n) < 0.05 * t.n), bool_or(h.guaranteed),
       (SELECT abs(lookups_summarized - $M) < 0.01 * $M AND bool_and(sampled) FROM hashring._hot_keys_raw() GROUP BY lookups_summarized)
  FROM hashring.ring_hot_keys('z', 3) h JOIN truth t USING (key);
});
is($sampled, "$M\nt|t|f|t", 'sampled at 0.1: the true top 3, estimates within 5%, N scaled, nothing claimed guaranteed');
$node->safe_psql('postgres', q{SELECT hashring.ring_hot_keys_reset()});

# long keys are kept truncated, and have no owner shown
is( $node->safe_psql('postgres', q{
SELECT count(hashring.ring_node('q', repeat('x', 300))) FROM generate_series(1, 3) \g /dev/null
SELECT length(key), lookups, truncated, node IS NULL FROM hashring.ring_hot_keys('q')}),
	'128|3|t|t', 'a key longer than 128 bytes is reported truncated, without an owner');

# the summaries outlive the sessions, not a restart; memory for 2 rings only
$node->append_conf('postgresql.conf', "hashring.track_keys_rings = 2\nhashring.track_keys_counters = 10");
$node->restart;
is($node->safe_psql('postgres', q{SELECT count(*) FROM hashring._hot_keys_raw()}), '0', 'a restart starts from zero');
$node->safe_psql('postgres', q{SELECT count(hashring.ring_node(r, 'a' || g)) FROM unnest(ARRAY['z', 'q', 'p']) r, generate_series(1, 100) g});
is( $node->safe_psql('postgres', q{SELECT rings, counters, dropped FROM hashring.hot_keys_info()}),
	'2|10|100', 'with two rings tracked, the third ring\'s lookups are counted as dropped');
is($node->safe_psql('postgres', q{SELECT count(*) FROM hashring._hot_keys_raw()}), '20', 'each tracked ring keeps its 10 counters');

# errors
my ($rc, $out, $err) = sqlstate_psql($node, q{SELECT * FROM hashring.ring_hot_keys('nosuch')});
like($err, qr/42704: ring "nosuch" does not exist/, 'unknown ring: 42704');
($rc, $out, $err) = sqlstate_psql($node, q{SELECT * FROM hashring.ring_hot_keys('z', 0)});
like($err, qr/22023: number of keys must be at least 1/, 'n < 1: 22023');
($rc, $out, $err) = sqlstate_psql($node, q{SELECT hashring.ring_hot_keys_reset('nosuch')});
like($err, qr/42704: ring "nosuch" does not exist/, 'reset of an unknown ring: 42704');
is($node->safe_psql('postgres', q{SELECT count(*) FROM hashring.ring_hot_keys(NULL) UNION ALL SELECT count(*) FROM hashring.ring_hot_keys('z', NULL)}),
	"0\n0", 'NULL ring or n: no rows');
($rc, $out, $err) = $node->psql('postgres', q{CREATE ROLE app; SET ROLE app; SET hashring.track_keys = off});
like($err, qr/permission denied to set parameter "hashring.track_keys"/, 'track_keys is a superuser setting');

$node->stop;
done_testing();
