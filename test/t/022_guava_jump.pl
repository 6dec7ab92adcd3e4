# Compatibility of the "jump" algorithm with Guava's
# Hashing.consistentHash(long, int) (Debian's libguava-java), through
# test/compat/JumpRef.java.
#
# For jump rings of N in {1, 2, 3, 10, 57, 500} nodes (named so that node
# order differs from name order), on >= 10,000 keys each: ring_node(k) must be
# the node of rank consistentHash(ring_hash(k), N) in node order (the order of
# addition), and ring_nodes(k, 3) the ranks b, b+1, ... (mod N).  ring_hash is
# checked to be XXH3-64 (signed) with hash-wasm when Node.js is available.
# Also: down nodes are passed over in that order; removing a node other than
# the last fails with 0A000 and changes nothing; removing the last node routes
# like Guava with N-1 buckets, and adding one back like N; weights other than
# 1 are refused (22023).
use strict;
use warnings;

use FindBin;
use File::Spec;
use IPC::Run;
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;


my $javac = on_path('javac');
my $java  = on_path('java');
my $guava = '/usr/share/java/guava.jar';
plan skip_all =>
  'javac is not on PATH (Debian package default-jdk-headless); cannot run the Guava jump check'
  unless $javac && $java;
plan skip_all =>
  "$guava is missing (Debian package libguava-java); cannot run the Guava jump check"
  unless -f $guava;

my $t0     = time;
my $compat = File::Spec->rel2abs("$FindBin::Bin/../compat");
my $dir    = PostgreSQL::Test::Utils::tempdir('jump');

# Compile the reference.
{
	my ($out, $err) = ('', '');
	IPC::Run::run [ $javac, '-encoding', 'UTF-8', '-cp', $guava, '-d', $dir,
		"$compat/JumpRef.java" ], '>', \$out, '2>', \$err
	  or BAIL_OUT("javac JumpRef.java failed:\n$out$err");
}

# Runs JumpRef on [long, buckets] pairs; returns the buckets.
sub guava
{
	my ($pairs) = @_;
	my $in = join '', map { "$_->[0] $_->[1]\n" } @$pairs;
	my ($out, $err) = ('', '');
	IPC::Run::run [ $java, '-cp', "$guava:$dir", 'JumpRef' ], '<', \$in,
	  '>', \$out, '2>', \$err
	  or die "JumpRef failed: $err";
	my @b = split /\n/, $out;
	die 'JumpRef: ' . scalar(@b) . ' answers for ' . scalar(@$pairs) . " inputs: $err"
	  unless @b == @$pairs;
	return \@b;
}

# Guava itself on edge longs (for the record; the extension cannot be handed
# a chosen long, only keys).
{
	my @edge = ([ '0', 1 ], [ '0', 500 ], [ '-1', 500 ],
		[ '-9223372036854775808', 500 ], [ '9223372036854775807', 500 ],
		[ '-9223372036854775808', 1 ], [ '9223372036854775807', 2 ]);
	my $b = guava(\@edge);
	note('Guava consistentHash on edge inputs: '
		  . join(', ', map { "($edge[$_][0], $edge[$_][1]) -> $b->[$_]" } 0 .. $#edge));
	is($b->[0], 0, 'Guava: consistentHash(0, 1) = 0');
}

my $node = hr_node('jump', preload => 1);

# (a heredoc: the SQL has unbalanced braces)
my $keys_sql = <<'SQL';
CREATE TABLE ks (id bigserial PRIMARY KEY, k text NOT NULL);
INSERT INTO ks (k) SELECT 'user:' || i FROM generate_series(1, 4000) i;
INSERT INTO ks (k) SELECT md5('jump' || i) FROM generate_series(1, 4000) i;
-- every length 0..300 (all XXH3 short-input size classes)
INSERT INTO ks (k) SELECT left(repeat(md5(i::text), 10), i % 301) FROM generate_series(1, 1500) i;
INSERT INTO ks (k) SELECT '{user' || i || '}.following' FROM generate_series(1, 500) i;
INSERT INTO ks (k)
  SELECT 'cl' || chr(233) || '-' || chr(19968 + (i * 7919) % 20000) || chr(128512 + i % 80) || i
    FROM generate_series(1, 1000) i;
INSERT INTO ks (k) SELECT 'ctl' || chr(i) || 'x' FROM generate_series(1, 31) i;
-- long keys: 4000..5200 bytes (XXH3 long-input path)
INSERT INTO ks (k) SELECT left(repeat(md5(i::text), 170), 4000 + (i * 37) % 1200) FROM generate_series(1, 200) i;
INSERT INTO ks (k) SELECT unnest(ARRAY[
  '', '{}', '{{a}}', 'a{}b{c}', '{user1000}.following', ' ', 'with space', 'quote"s', 'apos''s',
  'back' || chr(92) || 'slash', chr(10), chr(9), chr(233), chr(26085) || chr(26412), chr(128512),
  repeat(md5('long'), 157), repeat('a', 5000), repeat(chr(233), 2500), repeat(chr(26085), 1700)]);
ANALYZE ks;
SQL
$node->safe_psql('postgres', $keys_sql);


$node->safe_psql('postgres',
	"COPY (SELECT encode(convert_to(k, 'UTF8'), 'hex') FROM ks ORDER BY id) TO '$dir/ks.hex'");
my $khex = read_lines("$dir/ks.hex");
my $nkeys = @$khex;
cmp_ok($nkeys, '>=', 10000, "number of keys ($nkeys)");

sub printable
{
	my ($hex) = @_;
	my $b = pack 'H*', $hex;
	my $s = length($b) > 60 ? substr($b, 0, 40) . '...(' . length($b) . ' bytes)' : $b;
	$s =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
	return "'$s'";
}

# Creates jump ring $ring with nodes 1..$n; names are not in name order, and
# include multibyte ones.
sub create_ring
{
	my ($ring, $n) = @_;
	$node->safe_psql(
		'postgres', qq{
SELECT hashring.ring_create('$ring', 'jump');
SELECT hashring.ring_add_node('$ring',
         CASE WHEN i % 10 = 7 THEN 'n' || chr(233) || ((i * 7919) % 1000) || '-' || i
              ELSE 'n' || ((i * 7919) % 1000) || '-' || i END)
  FROM generate_series(1, $n) AS i ORDER BY i;
});
	return;
}

sub ring_members
{
	my ($ring) = @_;
	my $f = "$dir/$ring.members";
	$node->safe_psql('postgres',
		"COPY (SELECT node FROM hashring.nodes WHERE ring = '$ring' ORDER BY ordinal) TO '$f'");
	return read_lines($f);
}

# Compares ring $ring on all keys with Guava; @down: ranks that are down.
# Returns the number of keys compared.
sub compare
{
	my ($ring, $what, %o) = @_;
	my $t1 = time;
	my $members = ring_members($ring);
	my $n = @$members;
	my %down = map { $_ => 1 } @{ $o{down} // [] };
	my $f = "$dir/$ring.out";
	$node->safe_psql('postgres',
		    "COPY (SELECT hashring.ring_hash('$ring', k), hashring.ring_node('$ring', k), "
		  . "array_to_string(hashring.ring_nodes('$ring', k, 3), ',') "
		  . "FROM ks ORDER BY id) TO '$f'");
	my @rows = map { [ split /\t/, $_, -1 ] } @{ read_lines($f) };
	is(scalar @rows, $nkeys, "$what: one row per key");
	my $b = guava([ map { [ $_->[0], $n ] } @rows ]);
	my $active = $n - keys %down;
	my $want_n = $active < 3 ? $active : 3;
	my $mis = 0;
	for my $i (0 .. $#rows)
	{
		my ($h, $got1, $gotn) = @{ $rows[$i] };
		my @pref;
		for my $d (0 .. $n - 1)
		{
			my $rank = ($b->[$i] + $d) % $n;
			next if $down{$rank};
			push @pref, $members->[$rank];
			last if @pref == $want_n;
		}
		my $want1 = $pref[0] // '';
		my $wantn = join ',', @pref;
		next if $got1 eq $want1 && $gotn eq $wantn;
		diag("$what: key " . printable($khex->[$i]) . ": ring_hash $h, "
			  . "Guava consistentHash($h, $n) = $b->[$i] -> '$want1' [$wantn]; "
			  . "hashring '$got1' [$gotn]")
		  if $mis < 10;
		$mis++;
	}
	diag(sprintf('%s: %d keys compared, %d mismatches (%.1f s)', $what, scalar @rows, $mis, time - $t1));
	is($mis, 0, "$what: hashring agrees with Guava");
	return scalar @rows;
}

my $compared = 0;
for my $n (1, 2, 3, 10, 57, 500)
{
	create_ring("j$n", $n);
	$compared += compare("j$n", "jump, N=$n");
}

# ring_hash is XXH3-64 of the key as a signed bigint (hash-wasm), and does not
# depend on the ring.
{
	$node->safe_psql('postgres',
		"COPY (SELECT hashring.ring_hash('j3', k) FROM ks ORDER BY id) TO '$dir/rh.txt'");
	my $rh = read_lines("$dir/rh.txt");
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) FROM ks WHERE hashring.ring_hash('j3', k) <> hashring.ring_hash('j500', k)"),
		'0',
		'ring_hash does not depend on the jump ring');
	my $node_bin = on_path('node');
  SKIP:
	{
		skip 'node or hash-wasm (test/compat/node_modules) missing: ring_hash vs XXH3 not checked', 1
		  unless $node_bin && -d "$compat/node_modules/hash-wasm";
		my ($out, $err) = ('', '');
		IPC::Run::run [ $node_bin, "$compat/jump_xxh3.js", "$dir/ks.hex" ], '>', \$out,
		  '2>', \$err
		  or die "jump_xxh3.js failed: $err";
		my @x = split /\n/, $out;
		my $mis = 0;
		for my $i (0 .. $#$rh)
		{
			next if defined $x[$i] && $x[$i] eq $rh->[$i];
			diag("ring_hash of key " . printable($khex->[$i]) . ": extension $rh->[$i], "
				  . 'XXH3-64 (hash-wasm) ' . ($x[$i] // '<missing>'))
			  if $mis < 10;
			$mis++;
		}
		is($mis, 0, "ring_hash on a jump ring = signed XXH3-64 (hash-wasm) on $nkeys keys");
	}
}

# Down nodes keep their bucket; lookups pass over them (b, b+1, ...).
$node->safe_psql('postgres',
	"SELECT hashring.ring_set_state('j10', node, 'down') FROM (SELECT node FROM hashring.nodes "
	  . "WHERE ring = 'j10' ORDER BY ordinal OFFSET 3 LIMIT 2) s");
is( $node->safe_psql('postgres',
		"SELECT string_agg(node, ',' ORDER BY ordinal) FROM hashring.nodes WHERE ring = 'j10' AND state = 'down'"),
	ring_members('j10')->[3] . ',' . ring_members('j10')->[4],
	'ranks 3 and 4 of ring j10 are down');
$compared += compare('j10', 'jump, N=10, ranks 3 and 4 down', down => [ 3, 4 ]);
$node->safe_psql('postgres',
	"SELECT hashring.ring_set_state('j10', node, 'active') FROM hashring.nodes WHERE ring = 'j10'");

# Removing: only the last added node.
create_ring('jr', 10);
my $digest_sql = q{SELECT md5(string_agg(hashring.ring_node('jr', k) || ':'
  || array_to_string(hashring.ring_nodes('jr', k, 3), ','), '|' ORDER BY id)) FROM ks};
my $digest0  = $node->safe_psql('postgres', $digest_sql);
my $members0 = ring_members('jr');
for my $rank (4, 0, 8)
{
	my ($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT hashring.ring_remove_node('jr', '$members0->[$rank]')");
	isnt($ret, 0, "removing node of rank $rank of 10 from a jump ring fails");
	like($err, qr/ERROR:\s+0A000/, "... with SQLSTATE 0A000") or diag($err);
}
is_deeply(ring_members('jr'), $members0, 'refused removals left the membership as it was');
is($node->safe_psql('postgres', $digest_sql), $digest0, 'refused removals changed no routing');

$node->safe_psql('postgres', "SELECT hashring.ring_remove_node('jr', '$members0->[9]')");
is(scalar @{ ring_members('jr') }, 9, 'removing the last added node works');
$compared += compare('jr', 'jump, 10 nodes minus the last (Guava with 9 buckets)');
$node->safe_psql('postgres', "SELECT hashring.ring_remove_node('jr', '$members0->[8]')");
$compared += compare('jr', 'jump, then minus the new last (Guava with 8 buckets)');
$node->safe_psql('postgres', "SELECT hashring.ring_add_node('jr', 'late-comer')");
$compared += compare('jr', 'jump, then one node added (Guava with 9 buckets)');

# Weights other than 1 are refused.
{
	my ($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT hashring.ring_add_node('jr', 'heavy', 2)");
	like($err, qr/ERROR:\s+22023/, 'jump refuses weight 2 (22023)') or diag($err);
	is($node->safe_psql('postgres', "SELECT count(*) FROM hashring.nodes WHERE ring = 'jr' AND node = 'heavy'"),
		'0', '... and adds nothing');
}

# Integer, bigint and uuid keys route like their text form.
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM generate_series(-500, 500) i,
       LATERAL (SELECT (i * 2654435761)::bigint AS b, md5(i::text)::uuid AS u) x
 WHERE hashring.ring_node('j57', i) IS DISTINCT FROM hashring.ring_node('j57', i::text)
    OR hashring.ring_node('j57', x.b) IS DISTINCT FROM hashring.ring_node('j57', x.b::text)
    OR hashring.ring_node('j57', x.u) IS DISTINCT FROM hashring.ring_node('j57', x.u::text)
    OR hashring.ring_hash('j57', x.u) IS DISTINCT FROM hashring.ring_hash('j57', x.u::text)}),
	'0',
	'integer, bigint and uuid keys route like their text form');

diag(sprintf('total keys compared: %d (%.1f s)', $compared, time - $t0));
cmp_ok($compared, '>=', 60000, "total comparisons ($compared)");

$node->stop;
done_testing();
