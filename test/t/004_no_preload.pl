# Without shared_preload_libraries everything works: each backend builds its
# own backend-local image ("local"), routing is identical to a preloaded
# server's, and the settings exist once the library is loaded.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;

my $node = hr_node('no_preload', no_extension => 1);

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), '',
	'hashring is not preloaded');

# Loading the library outside shared_preload_libraries (CREATE EXTENSION runs
# _PG_init) must work.
my ($ret, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION hashring');
is($ret, 0, 'CREATE EXTENSION hashring works without preload');
is($err, '', 'CREATE EXTENSION without preload: no error or FATAL');
if ($ret != 0)
{
	diag 'the rest of this test needs the extension; stopping here';
	$node->stop;
	done_testing();
	exit 0;
}

$node->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('r', 'vnode', 100);
SELECT hashring.ring_add_node('r', 'n' || i, (0.5 + (i % 4) * 0.5)::real, 'h' || i, 'z' || i % 2)
  FROM generate_series(1, 40) AS i ORDER BY i;
SELECT hashring.ring_set_state('r', 'n9', 'down');
});
my $version = $node->safe_psql('postgres', ring_version_sql('r'));

my $dsql = digest_sql('r', 5000);
my $nsql = nodes3_sql('r', 2000);
my $esql = explicit_sql('r');
my $bsql = q{SELECT md5(string_agg(node || ':' || points || ':' || round(share::numeric, 12), ',' ORDER BY node)) FROM hashring.ring_balance('r')};

# Session 1 and session 2: each builds its own local image.
my $s1 = $node->background_psql('postgres');
my $d_local = bg_query($s1, $dsql);
my $n_local = bg_query($s1, $nsql);
my $e_local = bg_query($s1, $esql);
my $b_local = bg_query($s1, $bsql);
is(bg_query($s1, cache_info_sql('r')), "$version|local|1",
	'session 1: local image, built once');
bg_query($s1, $dsql);
is(bg_query($s1, cache_info_sql('r')), "$version|local|1",
	'session 1: reused its local image (still one build)');

my $s2 = $node->background_psql('postgres');
is(bg_query($s2, $dsql), $d_local, 'session 2 routes like session 1');
is(bg_query($s2, cache_info_sql('r')), "$version|local|1",
	'session 2: its own local image (local_builds 1)');

# The local image follows membership changes made by another session.
my $w3 = $node->safe_psql('postgres', q{SELECT weight FROM hashring.nodes WHERE ring = 'r' AND node = 'n3'});
$node->safe_psql('postgres', q{SELECT hashring.ring_set_weight('r', 'n3', 5)});
my $version2 = $node->safe_psql('postgres', ring_version_sql('r'));
my $d_changed = bg_query($s1, $dsql);
isnt($d_changed, $d_local, 'weight change alters routing');
is(bg_query($s1, cache_info_sql('r')), "$version2|local|2",
	'session 1 rebuilt its local image for the new version');
is(bg_query($s2, $dsql), $d_changed, 'session 2 routes by the new membership');
is(bg_query($s2, cache_info_sql('r')), "$version2|local|2",
	'session 2 rebuilt its own local image too');
$node->safe_psql('postgres', "SELECT hashring.ring_set_weight('r', 'n3', $w3)");
is(bg_query($s1, $dsql), $d_local, 'weight set back: original routing');
$s1->quit;
$s2->quit;

# SHOW works once the library is loaded; the configured value is shown.
($ret, $out, $err) = $node->psql('postgres', q{SELECT hashring.ring_node('r', 'x') IS NOT NULL; SHOW hashring.shared_memory});
is($ret, 0, 'SHOW hashring.shared_memory after loading the library is not an error');
is($out, "t\n64MB", 'SHOW reports the default value');
unlike($err, qr/ERROR/, 'no error from SHOW');
($ret, $out, $err) = $node->psql('postgres', q{LOAD 'hashring'; SHOW hashring.shared_memory; SHOW hashring.default_ring});
is($ret, 0, 'SHOW after LOAD works');
is($out, "64MB\ndefault", 'settings after LOAD');
# Setting it at run time is refused (PGC_POSTMASTER).
($ret, $out, $err) = $node->psql('postgres', q{LOAD 'hashring'; SET hashring.shared_memory = '4MB'});
isnt($ret, 0, 'SET hashring.shared_memory at run time fails');
like($err, qr/cannot be changed/, 'SET refused: not a run-time setting');

# ---------------------------------------------------------------------------
# Same membership on the same data, now preloaded: identical routing, shared.
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'hashring'");
$node->restart;
is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), 'hashring', 'now preloaded');
my $s3 = $node->background_psql('postgres');
is(bg_query($s3, $dsql), $d_local, 'preloaded: ring_node digest identical to local images');
is(bg_query($s3, $nsql), $n_local, 'preloaded: ring_nodes digest identical');
is(bg_query($s3, $esql), $e_local, 'preloaded: explicit keys identical');
is(bg_query($s3, $bsql), $b_local, 'preloaded: ring_balance identical');
my $version3 = $node->safe_psql('postgres', ring_version_sql('r'));
is(bg_query($s3, cache_info_sql('r')), "$version3|shared|1", 'preloaded: image is shared');
$s3->quit;

# And back without preload, but with hashring.shared_memory still set in
# postgresql.conf (it "takes effect only when hashring is in
# shared_preload_libraries"): loading the library must not fail; local image,
# same routing.
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->append_conf('postgresql.conf', "hashring.shared_memory = '2MB'");
$node->restart;
($ret, $out, $err) = $node->psql('postgres', "$dsql; " . cache_info_sql('r'));
is($ret, 0, 'not preloaded, shared_memory set in postgresql.conf: routing works');
is($out, "$d_local\n$version3|local|1", 'without preload again: local image, same routing');
($ret, $out, $err) = $node->psql('postgres', "LOAD 'hashring'; SHOW hashring.shared_memory");
is($ret, 0, 'not preloaded, shared_memory set: SHOW after LOAD is not an error');

$node->stop;
done_testing();
