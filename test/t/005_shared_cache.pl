# With shared_preload_libraries, one image per ring version is built and
# shared by all backends; a membership change is picked up by every backend
# at its next statement and built once.  A ring that does not fit in
# hashring.shared_memory is served from a backend-local copy (with a
# WARNING) and routes exactly like the shared one.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;

my $node = hr_node('shared_cache', preload => 1);

$node->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('r');
SELECT hashring.ring_add_node('r', 'n-' || i, 1 + (i % 3)) FROM generate_series(1, 25) AS i ORDER BY i;
});
my $v1 = $node->safe_psql('postgres', ring_version_sql('r'));
my $dsql = digest_sql('r', 5000);

my $s1 = $node->background_psql('postgres');
my $s2 = $node->background_psql('postgres');

my $d1 = bg_query($s1, $dsql);
is(bg_query($s1, cache_info_sql('r')), "$v1|shared|1",
	'session 1 built the image and published it');
is(bg_query($s2, 'SELECT count(*) FROM hashring.ring_cache_info()'), '0',
	'session 2 has nothing cached yet');
is(bg_query($s2, $dsql), $d1, 'session 2 routes like session 1');
is(bg_query($s2, cache_info_sql('r')), "$v1|shared|0",
	'session 2 used the shared image: location shared, local_builds 0');
is( bg_query($s1, q{SELECT bytes || '|' || points FROM hashring.ring_cache_info() WHERE ring = 'r'}),
	bg_query($s2, q{SELECT bytes || '|' || points FROM hashring.ring_cache_info() WHERE ring = 'r'}),
	'both sessions see the same image size and point count');
is(bg_query($s1, q{SELECT points FROM hashring.ring_cache_info() WHERE ring = 'r'}),
	$node->safe_psql('postgres', q{SELECT sum(hashring.node_points(weight, 160)) FROM hashring.nodes WHERE ring = 'r'}),
	'point count matches the membership');

# ---------------------------------------------------------------------------
# Membership change committed in session 1; session 2's next statement
# routes by the new version, and exactly one session builds it.
# ---------------------------------------------------------------------------
bg_query($s1, q{SELECT hashring.ring_set_weight('r', 'n-4', 5)});
my $v2 = $node->safe_psql('postgres', ring_version_sql('r'));
ok($v2 > $v1, "version bumped ($v1 -> $v2)");
$node->safe_psql('postgres', copy_ring_sql('r', 'r_ref'));
my $dref = $node->safe_psql('postgres', digest_sql('r_ref', 5000));
isnt($dref, $d1, 'the weight change moves keys');

is(bg_query($s2, $dsql), $dref, 'session 2: next statement routes by the new membership');
is(bg_query($s2, cache_info_sql('r')), "$v2|shared|1", 'session 2 built and published the new version');
is(bg_query($s1, $dsql), $dref, 'session 1 routes by the new membership');
is(bg_query($s1, cache_info_sql('r')), "$v2|shared|1",
	'session 1 used session 2\'s image (no second build)');
is( bg_query($s1, q{SELECT sum(local_builds) FROM hashring.ring_cache_info() WHERE ring = 'r'})
	  + bg_query($s2, q{SELECT sum(local_builds) FROM hashring.ring_cache_info() WHERE ring = 'r'}),
	2, 'two versions, two builds in total: each version was built exactly once');

# Change inside a transaction block of session 2 that already routed: the
# uncommitted version is private (local); after COMMIT it is shared again.
bg_query($s2, 'BEGIN');
is(bg_query($s2, $dsql), $dref, 'session 2 in a transaction block');
bg_query($s2, q{SELECT hashring.ring_add_node('r', 'n-new')});
my $d_priv = bg_query($s2, $dsql);
isnt($d_priv, $dref, 'session 2 sees its own uncommitted node');
like(bg_query($s2, cache_info_sql('r')), qr/^\d+\|local\|\d+$/,
	'uncommitted version is served from a local image');
is(bg_query($s1, $dsql), $dref, 'session 1 does not see the uncommitted node');
bg_query($s2, 'COMMIT');
my $v3 = $node->safe_psql('postgres', ring_version_sql('r'));
is(bg_query($s1, $dsql), $d_priv, 'after commit session 1 routes by the committed node');
is(bg_query($s1, cache_info_sql('r')), "$v3|shared|2", 'session 1 built and published the committed version');
is(bg_query($s2, $dsql), $d_priv, 'session 2 still routes by it');
like(bg_query($s2, cache_info_sql('r')), qr/^$v3\|shared\|\d+$/,
	'session 2 moved from its private local image to the shared one');
$s1->quit;
$s2->quit;
$node->stop;

# ---------------------------------------------------------------------------
# hashring.shared_memory = 1MB: a ring of 100 nodes x 1000 vnodes (100,000
# points) does not fit, a small ring does.
# ---------------------------------------------------------------------------
my $small = hr_node('shared_small', preload => 1, conf => "hashring.shared_memory = '1MB'");
is($small->safe_psql('postgres', 'SHOW hashring.shared_memory'), '1MB', 'hashring.shared_memory is 1MB');

my $big_sql = q{
SELECT hashring.ring_create('big', 'vnode', 1000);
SELECT hashring.ring_add_node('big', 'big-' || i) FROM generate_series(1, 100) AS i ORDER BY i;
SELECT hashring.ring_create('small', 'vnode', 10);
SELECT hashring.ring_add_node('small', 's-' || i) FROM generate_series(1, 5) AS i ORDER BY i;
};
$small->safe_psql('postgres', $big_sql);
my $bv = $small->safe_psql('postgres', ring_version_sql('big'));

my $bdsql = digest_sql('big', 5000);
my $bnsql = nodes3_sql('big', 2000);
my ($ret, $out, $err) = $small->psql('postgres', "$bdsql; $bnsql; " . cache_info_sql('big'));
is($ret, 0, 'routing a ring too big for shared memory works');
my ($big_d, $big_n, $big_ci) = split /\n/, $out;
like($err, qr/WARNING:  ring "big" does not fit in hashring shared memory/,
	'WARNING says the ring does not fit');
is(() = $err =~ /does not fit/g, 1, 'the WARNING is given once per session, not per key');
like($big_ci, qr/^$bv\|local\|1$/, 'ring_cache_info says local');
my $big_points = $small->safe_psql('postgres',
	q{SELECT sum(hashring.node_points(weight, 1000)) FROM hashring.nodes WHERE ring = 'big'});
is($big_points, '100000', 'the big ring has 100,000 points');

# A small ring still goes to shared memory in the same cluster and session.
($ret, $out, $err) = $small->psql('postgres',
	digest_sql('small', 100) . '; ' . cache_info_sql('small') . '; ' . cache_info_sql('small'));
is($ret, 0, 'small ring routes');
like($out, qr/\n\d+\|shared\|[01]\n/, 'small ring is served from shared memory');
unlike($err, qr/WARNING/, 'no WARNING for the small ring');
($ret, $out, $err) = $small->psql('postgres',
	"$bdsql; " . digest_sql('small', 100) . '; SELECT ring || location FROM hashring.ring_cache_info() ORDER BY ring');
like($out, qr/\nbiglocal\nsmallshared$/, 'same session: big ring local, small ring shared');
unlike($err, qr/does not fit/, 'no second WARNING in a new session: it is given once per ring version');

# Reference: the same big ring on a server with enough shared memory.
my $roomy = hr_node('shared_roomy', preload => 1, conf => "hashring.shared_memory = '16MB'");
$roomy->safe_psql('postgres', $big_sql);
($ret, $out, $err) = $roomy->psql('postgres', "$bdsql; $bnsql; " . cache_info_sql('big'));
is($ret, 0, 'big ring routes on a server with 16MB');
unlike($err, qr/does not fit/, 'no WARNING with enough memory');
my ($roomy_d, $roomy_n, $roomy_ci) = split /\n/, $out;
like($roomy_ci, qr/^\d+\|shared\|1$/, 'big ring is shared with 16MB');
is($big_d, $roomy_d, 'local copy routes exactly like the shared image (ring_node)');
is($big_n, $roomy_n, 'local copy routes exactly like the shared image (ring_nodes)');

# The local copy follows membership changes as well.
$small->safe_psql('postgres', q{SELECT hashring.ring_set_state('big', 'big-50', 'down')});
$roomy->safe_psql('postgres', q{SELECT hashring.ring_set_state('big', 'big-50', 'down')});
($ret, $out, $err) = $small->psql('postgres', $bdsql);
my $roomy_d2 = $roomy->safe_psql('postgres', $bdsql);
isnt($roomy_d2, $roomy_d, 'setting a node down changes routing');
is($out, $roomy_d2, 'local copy follows the change');

$small->stop;
$roomy->stop;

# ---------------------------------------------------------------------------
# The backend cache is bounded: routing at 1,000 past versions of a 20-node
# ring keeps at most 16 past-version images (src/cache.c, "Lifetime"), under
# 1.5 MB of hashring memory (0.2 kept every image: 3 MB after 61 versions);
# once the ring is dropped, its next lookup removes all of them.
# ---------------------------------------------------------------------------
my $cb = hr_node('cache_bound', preload => 1);
$cb->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('hist1k');
SELECT hashring.ring_add_node('hist1k', 'n' || i) FROM generate_series(1, 20) AS i ORDER BY i;
DO $$
BEGIN
    FOR i IN 1 .. 1000 LOOP
        PERFORM hashring.ring_set_weight('hist1k', 'n1', 1 + i % 2);
        COMMIT;  -- one committed version each
    END LOOP;
END
$$;
});
my $mem_sql = q{SELECT sum(total_bytes) FROM pg_backend_memory_contexts
                 WHERE name IN ('hashring cache', 'hashring rings')};
my $cb1 = $cb->background_psql('postgres');
is( bg_query(
		$cb1, q{SELECT count(hashring.ring_node('hist1k', 'k' || v.version, v.version))
                  FROM hashring.ring_versions('hist1k') AS v WHERE v.nodes = 20}),
	'1001', 'routed one key at each of the 1,001 versions with 20 nodes');
my $cached = bg_query($cb1, q{SELECT count(*) FROM hashring.ring_cache_info() WHERE ring = 'hist1k'});
cmp_ok($cached, '<=', 17, "at most 16 past versions (and the current one) cached: $cached");
my $mem = bg_query($cb1, $mem_sql);
cmp_ok($mem, '<', 1536 * 1024, "hashring memory after 1,000 past versions: $mem bytes, under 1.5 MB");
is(bg_query($cb1, q{SELECT hashring.ring_node('hist1k', 'k') IS NOT NULL}), 't', 'and the current version');
$cb->safe_psql('postgres', q{SELECT hashring.ring_drop('hist1k')});
bg_query(
	$cb1, q{DO $$ BEGIN PERFORM hashring.ring_node('hist1k', 'k');
            EXCEPTION WHEN undefined_object THEN NULL; END $$});
is(bg_query($cb1, q{SELECT count(*) FROM hashring.ring_cache_info() WHERE ring = 'hist1k'}),
	'0', 'a dropped ring leaves no entry behind, past versions included');
my $mem_after = bg_query($cb1, $mem_sql);
cmp_ok($mem_after, '<', 64 * 1024, "hashring memory after the drop: $mem_after bytes, under 64 kB");
$cb1->quit;
$cb->stop;

done_testing();
