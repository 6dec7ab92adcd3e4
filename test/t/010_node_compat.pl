# Cross-checks the extension's vnode routing against an independent Node.js
# reimplementation of docs/routing-spec.md (test/compat/vnode_ring.js) on
# >= 100,000 keys over a ring of >= 60 weighted nodes, plus a small-vnodes ring
# and bytea keys; and zone-aware replicas (routing-spec.md, "Zones") on rings
# of 3 zones x 4 nodes and 5 zones x 20 unequal nodes, with a node down.
use strict;
use warnings;

use FindBin;
use File::Spec;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;

my $compat = File::Spec->rel2abs("$FindBin::Bin/../compat");
my $script = "$compat/vnode_ring.js";
my $jump_script = "$compat/jump_ring.js";

# node is required; skip (only) when it is not installed at all.
my ($node_bin) =
  grep { -x $_ && !-d $_ } map { "$_/node" } split /:/, ($ENV{PATH} // '');
plan skip_all => 'node (Node.js) is not on PATH; cannot run the compat check'
  unless $node_bin;

# Install the pinned npm dependency (hash-wasm) if it is missing.
if (!-d "$compat/node_modules/hash-wasm")
{
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run [ 'npm', 'ci', '--no-audit', '--no-fund',
		'--prefix', $compat ], '>', \$out, '2>', \$err;
	BAIL_OUT("npm ci --prefix $compat failed:\n$out$err") unless $ok;
}
ok(-d "$compat/node_modules/hash-wasm", 'hash-wasm is installed');

my $node = PostgreSQL::Test::Cluster->new('compat');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'hashring'");
$node->start;

my $dir = PostgreSQL::Test::Utils::tempdir('compat');

$node->safe_psql('postgres', 'CREATE EXTENSION hashring');

# ---------------------------------------------------------------------------
# Ring "compat": 160 vnodes, 66 nodes with assorted weights and names.
# Names use chr() so this file and the psql session stay pure ASCII.
# ---------------------------------------------------------------------------
$node->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('compat', 'vnode', 160);
-- 50 plain nodes with cycling weights
SELECT hashring.ring_add_node('compat', 'node-' || lpad(i::text, 2, '0'),
         (ARRAY[1, 0.5, 1.25, 3, 2, 0.75, 1.5])[1 + i % 7]::real)
  FROM generate_series(1, 50) AS i ORDER BY i;
-- tiny weights: 0.01*160 = 1.6 -> 2 points, 0.001*160 -> 1 point (minimum)
SELECT hashring.ring_add_node('compat', 'tiny-1', 0.01);
SELECT hashring.ring_add_node('compat', 'tiny-2', 0.001);
-- float32 0.021875 minus 1 ulp: 160*w is 3.49999994 in binary64 (3 points)
-- but rounds to 3.5 (4 points) if multiplied in binary32
SELECT hashring.ring_add_node('compat', 'edge-f32', '0.02187499962747097');
-- 0.003125*160: product near 0.5
SELECT hashring.ring_add_node('compat', 'edge-half', 0.003125);
-- '#' in names (the point label separator), spaces
SELECT hashring.ring_add_node('compat', 'shard#1', 1);
SELECT hashring.ring_add_node('compat', 'shard#1#2', 0.5);
SELECT hashring.ring_add_node('compat', '#', 1.25);
SELECT hashring.ring_add_node('compat', 'with space', 3);
SELECT hashring.ring_add_node('compat', ' leading and trailing ', 1);
-- multibyte UTF-8
SELECT hashring.ring_add_node('compat', 'n' || chr(339) || 'ud-' || chr(233), 1.25);     -- nœud-é
SELECT hashring.ring_add_node('compat', chr(26085) || chr(26412) || '-' || chr(12494) || chr(12540) || chr(12489), 2); -- 日本-ノード
SELECT hashring.ring_add_node('compat', 'emoji-' || chr(128640), 0.5);
-- long names: 255 bytes (the limit), and 200 bytes of 2-byte characters
SELECT hashring.ring_add_node('compat', repeat('L', 255), 1);
SELECT hashring.ring_add_node('compat', repeat(chr(233), 100), 0.75);
-- one name a prefix of another
SELECT hashring.ring_add_node('compat', 'node-1', 1);
-- three nodes down
SELECT hashring.ring_set_state('compat', 'node-07', 'down');
SELECT hashring.ring_set_state('compat', 'shard#1', 'down');
SELECT hashring.ring_set_state('compat', 'n' || chr(339) || 'ud-' || chr(233), 'down');
});

my $nnodes = $node->safe_psql('postgres',
	"SELECT count(*) FROM hashring.nodes WHERE ring = 'compat'");
cmp_ok($nnodes, '>=', 60, "ring compat has $nnodes nodes");

# ---------------------------------------------------------------------------
# Ring "compat7": 7 vnodes, weights putting several nodes at exactly 1 point
# and exercising round-half-away-from-zero.
# ---------------------------------------------------------------------------
$node->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('compat7', 'vnode', 7);
SELECT hashring.ring_add_node('compat7', n, w::real) FROM (VALUES
  ('one-a', '0.01'),     -- 0.07 -> max(1, 0) = 1
  ('one-b', '0.1'),      -- 0.7  -> 1
  ('one-c', '0.0714'),   -- ~0.5 -> 1
  ('one-d', '0.2'),      -- 1.4  -> 1
  ('half-a', '0.5'),     -- 3.5  -> 4
  ('half-b', '1.5'),     -- 10.5 -> 11 (round-half-even would give 10)
  ('half-c', '0.6428571343421936'), -- 4.49999994 -> 4 (binary32 product: 4.5 -> 5)
  ('full', '1'),         -- 7
  ('double', '2'),       -- 14
  ('gone', '1'),
  ('gone#0', '0.3')) AS v(n, w);
SELECT hashring.ring_set_state('compat7', 'gone', 'down');
});

# ---------------------------------------------------------------------------
# Ring "compatbig": over 65536 points, so the image uses its sparse index
# (16 to 32 points per bucket; see image_index_bits in src/image.c).
# ---------------------------------------------------------------------------
$node->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('compatbig', 'vnode', 160);
SELECT hashring.ring_add_node('compatbig', 'big-' || i, (0.5 + (i % 4) * 0.5)::real)
  FROM generate_series(1, 500) AS i ORDER BY i;
SELECT hashring.ring_set_state('compatbig', 'big-7', 'down');
});
cmp_ok(
	$node->safe_psql(
		'postgres', q{
SELECT hashring.ring_node('compatbig', 'x') \g /dev/null
SELECT points FROM hashring.ring_cache_info() WHERE ring = 'compatbig'}),
	'>', 65536, 'ring compatbig is large enough for the sparse index');

# Point counts: hashring.node_points() against the spec formula, in Perl.
for my $ring ('compat', 'compat7')
{
	my $rows = $node->safe_psql(
		'postgres', qq{
SELECT n.weight::float8, r.vnodes, hashring.node_points(n.weight, r.vnodes)
  FROM hashring.nodes n JOIN hashring.rings r USING (ring)
 WHERE ring = '$ring' ORDER BY n.ordinal});
	my $bad = 0;
	for my $row (split /\n/, $rows)
	{
		my ($w, $v, $got) = split /\|/, $row;
		my $x = $w * $v;    # binary64 product of the exact binary32 weight
		my $want = int($x);
		$want++ if $x - $want >= 0.5;
		$want = 1 if $want < 1;
		next if $got == $want;
		diag("ring $ring: weight $w vnodes $v: node_points $got, spec $want");
		$bad++;
	}
	is($bad, 0, "node_points agrees with the spec on ring $ring");
}

# ---------------------------------------------------------------------------
# Keys (all generated in SQL, ordered by id).
# ---------------------------------------------------------------------------
$node->safe_psql(
	'postgres', q{
CREATE TABLE ks (id bigserial PRIMARY KEY, k text NOT NULL);
INSERT INTO ks (k) SELECT 'user:' || i FROM generate_series(1, 40000) i;
-- md5-ish "random" strings (deterministic)
INSERT INTO ks (k) SELECT md5('seed' || i) FROM generate_series(1, 30000) i;
-- every length 0..300 (covers all XXH3 short-input size classes)
INSERT INTO ks (k) SELECT left(repeat(md5(i::text), 10), i % 301) FROM generate_series(1, 6000) i;
-- empty key
INSERT INTO ks (k) VALUES (''), ('');
-- multibyte: 2-, 3- and 4-byte UTF-8
INSERT INTO ks (k)
  SELECT 'cl' || chr(233) || '-' || chr(19968 + (i * 7919) % 20000) || chr(128512 + i % 80) || i
    FROM generate_series(1, 8000) i;
INSERT INTO ks (k) SELECT repeat(chr(1082), 1 + i % 40) FROM generate_series(1, 200) i;
-- keys containing '#', including every point label "name#i" of every node,
-- so many keys hash exactly onto a point position (tests ">= h")
INSERT INTO ks (k) SELECT 'a#' || i || '#b' FROM generate_series(1, 2000) i;
INSERT INTO ks (k)
  SELECT n.node || '#' || g
    FROM hashring.nodes n, generate_series(0, 499) g
   WHERE n.ring = 'compat' ORDER BY n.ordinal, g;
INSERT INTO ks (k)
  SELECT n.node || '#' || g
    FROM hashring.nodes n, generate_series(0, 29) g
   WHERE n.ring = 'compat7' ORDER BY n.ordinal, g;
-- control characters and backslashes survive (keys travel hex-encoded)
INSERT INTO ks (k)
  SELECT 'ctl' || chr(9) || i || chr(10) || chr(92) || chr(13) FROM generate_series(1, 500) i;
-- long keys: ~1000 bytes, and 900..2500 bytes (XXH3 long-input path)
INSERT INTO ks (k) SELECT repeat(md5(i::text), 31) || i FROM generate_series(1, 3000) i;
INSERT INTO ks (k) SELECT left(repeat(md5((-i)::text), 80), 900 + i % 1601) FROM generate_series(1, 2000) i;
});

my $nkeys = $node->safe_psql('postgres', 'SELECT count(*) FROM ks');
cmp_ok($nkeys, '>=', 100000, "number of keys ($nkeys)");

$node->safe_psql('postgres',
	"COPY (SELECT encode(convert_to(k, 'UTF8'), 'hex') FROM ks ORDER BY id) "
	  . "TO '$dir/keys.hex' WITH (ENCODING 'UTF8')");

# Binary (non-UTF-8) bytea keys, including NUL and 0xff bytes.
$node->safe_psql(
	'postgres', q{
CREATE TABLE bks (id bigserial PRIMARY KEY, b bytea NOT NULL);
INSERT INTO bks (b)
  SELECT substr(decode(md5(i::text) || md5((i + 1)::text) || 'ff00fe80c0', 'hex'), 1 + i % 7, i % 38)
    FROM generate_series(1, 5000) i;
});
$node->safe_psql('postgres',
	"COPY (SELECT encode(b, 'hex') FROM bks ORDER BY id) TO '$dir/bkeys.hex'");

# Writes the ring membership in the NODES_FILE format of vnode_ring.js (or
# of jump_ring.js for a jump ring: its header says the zone rule).
# Weights are exported as float8 text: exact binary32 values, round-trippable.
sub write_nodes_file
{
	my ($ring) = @_;
	my $v = $node->safe_psql('postgres',
		"SELECT CASE WHEN algorithm = 'jump' THEN 'jump' || E'\\t' || CASE WHEN NOT zone_replicas THEN 'blind' "
		  . "WHEN zone_spread THEN 'spread' ELSE 'first' END "
		  . "ELSE 'vnodes' || E'\\t' || vnodes || CASE WHEN zone_replicas THEN E'\\tzones' ELSE '' END END "
		  . "FROM hashring.rings WHERE ring = '$ring'");
	$node->safe_psql('postgres',
		    "COPY (SELECT node, weight::float8::text, state, zone FROM hashring.nodes "
		  . "WHERE ring = '$ring' ORDER BY ordinal) TO '$dir/$ring.body' WITH (ENCODING 'UTF8')");
	my $file = "$dir/$ring.nodes";
	open my $fh, '>:raw', $file or die "$file: $!";
	print $fh "$v\n", slurp_file("$dir/$ring.body");
	close $fh;
	return $file;
}


# Runs ring_node/ring_nodes in SQL and vnode_ring.js on the same keys; returns
# the number of lines that differ.
sub compare
{
	my ($ring, $n, $table, $col, $keysfile, $what) = @_;
	my $tag = "$ring-$table-$n";
	$node->safe_psql('postgres',
		    "COPY (SELECT hashring.ring_node('$ring', $col), "
		  . "array_to_string(hashring.ring_nodes('$ring', $col, $n), ',') "
		  . "FROM $table ORDER BY id) TO '$dir/$tag.pg' WITH (ENCODING 'UTF8')");
	my $nodesfile = write_nodes_file($ring);
	my $js_script =
	  $node->safe_psql('postgres', "SELECT algorithm FROM hashring.rings WHERE ring = '$ring'") eq 'jump'
	  ? $jump_script
	  : $script;
	my $err = '';
	IPC::Run::run [ $node_bin, $js_script, $nodesfile, $keysfile, $n ],
	  '>', "$dir/$tag.js", '2>', \$err
	  or die "$js_script failed: $err";

	my $pg   = read_lines("$dir/$tag.pg");
	my $js   = read_lines("$dir/$tag.js");
	my $keys = read_lines($keysfile);
	is(scalar @$js, scalar @$pg, "$what: same number of lines");
	my $mismatches = 0;
	for my $i (0 .. $#$pg)
	{
		my $got  = $pg->[$i];
		my $want = $js->[$i] // '<missing>';
		next if $got eq $want;
		diag("$what: key hex '$keys->[$i]': spec (js) '$want', extension '$got'")
		  if $mismatches < 10;
		$mismatches++;
	}
	diag("$what: compared " . scalar(@$pg) . " keys, $mismatches mismatches");
	is($mismatches, 0, "$what: extension agrees with " . ($js_script =~ s{.*/}{}r));
	return scalar @$pg;
}

my $compared = 0;
$compared += compare('compat', 3, 'ks', 'k', "$dir/keys.hex",
	'ring compat (160 vnodes), text keys, n=3');
# n larger than the number of active nodes: the whole active membership.
$compared += compare('compat7', 20, 'ks', 'k', "$dir/keys.hex",
	'ring compat7 (7 vnodes), text keys, n=20');
$compared += compare('compatbig', 3, 'ks', 'k', "$dir/keys.hex",
	'ring compatbig (sparse index), text keys, n=3');
$compared += compare('compat', 5, 'bks', 'b', "$dir/bkeys.hex",
	'ring compat, binary bytea keys, n=5');
cmp_ok($compared, '>=', 200000, "total keys compared ($compared)");

# ---------------------------------------------------------------------------
# Zones: 3 zones x 4 nodes, and 5 zones x 20 nodes of unequal weights, over
# 100,000 keys; then with a node down (its replicas go to the next node of
# the walk, zones still first).
# ---------------------------------------------------------------------------
$node->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('z34', 'vnode', 160);
SELECT hashring.ring_add_node('z34', 'z34-' || z || '-' || i, zone => 'zone-' || z)
  FROM generate_series(1, 3) z, generate_series(1, 4) i ORDER BY i, z;
SELECT hashring.ring_create('z520', 'vnode', 100);
SELECT hashring.ring_add_node('z520', 'z520-' || z || '-' || i,
         (ARRAY[1, 0.5, 1.25, 3, 2, 0.75, 1.5])[1 + (i * 5 + z) % 7]::real, zone => 'az-' || z)
  FROM generate_series(1, 5) z, generate_series(1, 20) i ORDER BY z, i;
CREATE TABLE zks (id bigserial PRIMARY KEY, k text NOT NULL);
INSERT INTO zks (k) SELECT 'tenant:' || i FROM generate_series(1, 100000) i;
});
$node->safe_psql('postgres',
	"COPY (SELECT encode(convert_to(k, 'UTF8'), 'hex') FROM zks ORDER BY id) TO '$dir/zkeys.hex'");
compare('z34', 3, 'zks', 'k', "$dir/zkeys.hex", 'ring z34 (3 zones x 4), n=3');
compare('z34', 5, 'zks', 'k', "$dir/zkeys.hex", 'ring z34, n=5 (more replicas than zones)');
compare('z520', 3, 'zks', 'k', "$dir/zkeys.hex", 'ring z520 (5 zones x 20, unequal), n=3');
compare('z520', 7, 'zks', 'k', "$dir/zkeys.hex", 'ring z520, n=7');
$node->safe_psql('postgres',
	"SELECT hashring.ring_set_state('z34', 'z34-2-1', 'down'); SELECT hashring.ring_set_state('z520', 'z520-3-7', 'down')");
compare('z34', 3, 'zks', 'k', "$dir/zkeys.hex", 'ring z34 with a node down, n=3');
compare('z520', 5, 'zks', 'k', "$dir/zkeys.hex", 'ring z520 with a node down, n=5');
# every replica set spans min(n, live zones) zones, and the spec says so too
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM zks, LATERAL (VALUES ('z34', 3), ('z34', 5), ('z520', 3), ('z520', 7)) AS c (ring, n)
 WHERE (SELECT count(DISTINCT nd.zone) FROM unnest(hashring.ring_nodes(c.ring, zks.k, c.n)) AS r (node)
          JOIN hashring.nodes AS nd ON nd.ring = c.ring AND nd.node = r.node) <> least(c.n, CASE c.ring WHEN 'z34' THEN 3 ELSE 5 END)
}),
	'0',
	'every replica set of 100,000 keys spans min(n, zones) zones, a node down');
# opting out: the zone-blind walk, as the spec says without "zones"
$node->safe_psql('postgres', "SELECT hashring.ring_set_zone_replicas('z520', false)");
compare('z520', 3, 'zks', 'k', "$dir/zkeys.hex", 'ring z520 opted out of zones, n=3');

# jump with zones (0.8's spread: routing-spec.md, "Zones"), 30,000 keys:
# 3 zones x 4 nodes added zone by zone, 5 zones x 20 added round-robin;
# spread, with a node down, and 0.7's rule (zone_spread off) and none
$node->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('j34', 'jump');
SELECT hashring.ring_add_node('j34', 'j34-' || z || '-' || i, zone => 'zone-' || z)
  FROM generate_series(1, 3) z, generate_series(1, 4) i ORDER BY z, i;
SELECT hashring.ring_create('j520', 'jump');
SELECT hashring.ring_add_node('j520', 'j520-' || z || '-' || i, zone => 'az-' || z)
  FROM generate_series(1, 5) z, generate_series(1, 20) i ORDER BY i, z;
CREATE TABLE jks AS SELECT id, k FROM zks WHERE id <= 30000;
});
$node->safe_psql('postgres',
	"COPY (SELECT encode(convert_to(k, 'UTF8'), 'hex') FROM jks ORDER BY id) TO '$dir/jkeys.hex'");
compare('j34', 3, 'jks', 'k', "$dir/jkeys.hex", 'jump ring j34 (3 zones x 4, spread), n=3');
compare('j520', 3, 'jks', 'k', "$dir/jkeys.hex", 'jump ring j520 (5 zones x 20 round-robin, spread), n=3');
compare('j520', 7, 'jks', 'k', "$dir/jkeys.hex", 'jump ring j520, n=7');
$node->safe_psql('postgres',
	"SELECT hashring.ring_set_state('j34', 'j34-2-2', 'down'); SELECT hashring.ring_set_state('j520', 'j520-3-7', 'down')");
compare('j34', 3, 'jks', 'k', "$dir/jkeys.hex", 'jump ring j34 with a node down, n=3');
compare('j520', 5, 'jks', 'k', "$dir/jkeys.hex", 'jump ring j520 with a node down, n=5');
$node->safe_psql('postgres', "SELECT hashring.ring_set_zone_spread('j34', false)");
compare('j34', 3, 'jks', 'k', "$dir/jkeys.hex", 'jump ring j34, 0.7 rule (zone_spread off), n=3');
$node->safe_psql('postgres', "SELECT hashring.ring_set_zone_replicas('j34', false)");
compare('j34', 3, 'jks', 'k', "$dir/jkeys.hex", 'jump ring j34, zone-blind, n=3');

# bytea keys route like the text with the same bytes.
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM ks
 WHERE id % 37 = 0
   AND (hashring.ring_node('compat', k) IS DISTINCT FROM hashring.ring_node('compat', convert_to(k, 'UTF8'))
     OR hashring.ring_nodes('compat', k, 3) IS DISTINCT FROM hashring.ring_nodes('compat', convert_to(k, 'UTF8'), 3))
}),
	'0',
	'ring_node(text) = ring_node(bytea) for the same bytes');
# k::bytea reads escapes, so only for keys without backslashes.
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM ks
 WHERE id % 41 = 0 AND strpos(k, chr(92)) = 0
   AND hashring.ring_node('compat', k) IS DISTINCT FROM hashring.ring_node('compat', k::bytea)
}),
	'0',
	'ring_node(text) = ring_node(k::bytea) on a sample');

$node->stop;
done_testing();
