# Checks, key by key, that the ketama variants route exactly as the real
# references they are named after, driven for real:
#   ketama_twemproxy             - twemproxy 0.5.0 (/usr/sbin/nutcracker) with
#                                  distribution: ketama, hash: md5, in front of
#                                  real memcached servers: every key is SET
#                                  through the proxy and then looked for on
#                                  every backend (multi-get); the backend that
#                                  holds it is the owner.  Rings are built by
#                                  ring_add_servers from the same servers:
#                                  lines the proxy reads.
#   ketama_libmemcached_weighted - libmemcached (C API) with
#   ketama_libmemcached            MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED or
#                                  MEMCACHED_BEHAVIOR_KETAMA:
#                                  memcached_generate_hash() per key
#                                  (test/compat/libmemcached_ref.c, compiled
#                                  here; no server is contacted).
#   ketama_uhashring             - python3-uhashring HashRing(hash_fn='ketama'):
#                                  get_node() and range(key, 3)
#                                  (test/compat/uhashring_ref.py).
# (`ketama` = npm hashring is 020_client_compat's.)
#
# Every pool gets >= 10,000 random keys (deterministic PRNG, UTF-8 and long
# ones), plus the adversarial ones: "<name>-<j>" for every node and digest,
# whose hash is exactly the first point of digest j of that node (where ">="
# and uhashring's "strictly after" differ), and pools where two nodes share a
# point (names found by test/compat/find_ties.pl, the ties checked again here
# with Digest::MD5 / one_at_a_time) with the keys on the shared points: the
# owner is the name-order first for twemproxy, the first added for
# libmemcached and the last configured for uhashring, and each tie pool adds
# its nodes so that the other rules would pick another node.  Non-ASCII and
# binary (bytea) keys exercise libmemcached's sign-extending one_at_a_time.
#
# Pool sizes: twemproxy 3, 7, 10, 50, weighted, named, tied, names of up to
# 255 bytes; libmemcached weighted 1-60 and 100 equal servers (7, 14, 25, 47,
# 50, 55 are sizes where the binary32 digest count differs from binary64),
# weighted sets with whole w/W*40*N, ties; unweighted 1-12, 25, 50, 100 and ties; uhashring 1-30, 50,
# 100, weighted, tied, with nodes without points.  libmemcached 1.1 aborts
# (an assertion in update_continuum) with more than 100 servers in ketama
# mode, so no bigger pool can be compared; that is checked too.
#
# One documented difference is not failed but completed and counted:
# uhashring's range() yields only nodes that own points, while ring_nodes
# returns least(n, live nodes), nodes without points following in node order
# (docs/reference.md); where range(key, 3) is short because a node has no
# point, the reference's list is completed that way before the comparison.
#
# That each comparison can fail is shown on the way: plain `ketama` (binary64
# counts) and the other tie rules are routed against the same references and
# must disagree (counted and reported).
use strict;
use warnings;

use Digest::MD5 ();
use Encode      ();
use FindBin;
use File::Spec;
use IO::Socket::INET;
use IPC::Run;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use HashringTest;

my $t0     = Time::HiRes::time();
my $compat = File::Spec->rel2abs("$FindBin::Bin/../compat");

# The references (scripts/deps.sh installs them): missing ones fail the test.
my $nutcracker = '/usr/sbin/nutcracker';
my $memcached  = '/usr/bin/memcached';
my $python     = '/usr/bin/python3';    # Debian's, where python3-uhashring is
my $cc         = on_path('cc') // on_path('gcc');
my @missing;
push @missing, "$nutcracker (Debian package nutcracker)" unless -x $nutcracker;
push @missing, "$memcached (Debian package memcached)"   unless -x $memcached;
push @missing, 'a C compiler (cc)' unless $cc;
push @missing, '/usr/include/libmemcached/memcached.h (libmemcached-dev)'
  unless -f '/usr/include/libmemcached/memcached.h';
push @missing, "python3-uhashring for $python"
  unless -x $python
  && system($python, '-c', 'import uhashring') == 0;
BAIL_OUT('024_ketama_refs: references missing (run scripts/deps.sh): '
	  . join(', ', @missing))
  if @missing;

my $node = hr_node('ketama_refs', preload => 1);
my $dir  = PostgreSQL::Test::Utils::tempdir('ketama_refs');

# Every process started here is stopped at the end, also on failure.
my @children;
END
{
	local $?;    # keep the test's exit status
	kill 'TERM', @children if @children;
	waitpid($_, 0) for @children;
}

# ---------------------------------------------------------------------------
# Deterministic pseudo-random generator (Park-Miller, as in 020).
# ---------------------------------------------------------------------------
my $rng_state = 20261202;
sub rnd    # integer in [0, $n)
{
	my ($n) = @_;
	$rng_state = ($rng_state * 48271) % 2147483647;
	return int($rng_state / 2147483647 * $n);
}

sub hexs  { return unpack('H*', $_[0]); }
sub unhex { return pack('H*', $_[0]); }
sub u8    { return Encode::encode_utf8($_[0]); }

sub write_lines
{
	my ($file, @lines) = @_;
	open my $fh, '>:raw', $file or die "$file: $!";
	print $fh map { "$_\n" } @lines;
	close $fh;
	return $file;
}

# ---------------------------------------------------------------------------
# The hashes, in Perl, to check the ties and the key-on-point claims.
# ---------------------------------------------------------------------------
sub md5_points { return unpack('V4', Digest::MD5::md5($_[0])); }

sub oaat    # libmemcached's one_at_a_time: bytes through a (signed) char
{
	my $h = 0;
	for my $c (unpack 'C*', $_[0])
	{
		$h = ($h + ($c >= 128 ? 0xFFFFFF00 | $c : $c)) & 0xFFFFFFFF;
		$h = ($h + ($h << 10)) & 0xFFFFFFFF;
		$h ^= $h >> 6;
	}
	$h = ($h + ($h << 3)) & 0xFFFFFFFF;
	$h ^= $h >> 11;
	return ($h + ($h << 15)) & 0xFFFFFFFF;
}

# Digest counts: binary32 as twemproxy/libmemcached (exact emulation: every
# step is one binary64 operation on binary32 values, rounded once to
# binary32), binary64 as npm hashring, integers as uhashring.
sub f32 { return unpack('f', pack('f', $_[0])); }

sub count_f32
{
	my ($w, $total, $n) = @_;
	my $pct = f32(f32($w) / f32($total));
	my $x   = f32(f32(f32($pct * 160) / 4) * f32($n));
	return POSIX::floor(f32($x + 0.0000000001));
}
sub count_f64 { my ($w, $total, $n) = @_; return POSIX::floor($w / $total * 40 * $n); }
sub count_int { my ($w, $total, $n) = @_; return int(40 * $n * $w / $total); }

is(count_f32(1, 7,  7),  40, 'binary32 count at 7 equal servers is 40');
is(count_f64(1, 7,  7),  39, 'binary64 count at 7 equal servers is 39');
is(count_f32(1, 50, 50), 39, 'binary32 count at 50 equal servers is 39');
is(count_f64(1, 50, 50), 40, 'binary64 count at 50 equal servers is 40');

# ---------------------------------------------------------------------------
# Keys (byte strings): memcached-safe (no space or control character, at most
# 250 bytes) valid UTF-8, so every reference can take every one.
# ---------------------------------------------------------------------------
my @multibyte = map { u8($_) } (
	"\x{e9}", "\x{df}", "\x{ff}", "\x{436}", "\x{65e5}", "\x{672c}",
	"\x{20ac}", "\x{30ce}", "\x{1f680}", "\x{1d11e}");
my $ascii = join '', map { chr } 0x21 .. 0x7e;

sub rand_key
{
	my ($bytes) = @_;
	my $s = '';
	while (1)
	{
		my $c =
		  rnd(100) < 20
		  ? $multibyte[ rnd(scalar @multibyte) ]
		  : substr($ascii, rnd(length $ascii), 1);
		last if length($s) + length($c) > $bytes;
		$s .= $c;
		last if length($s) == $bytes;
	}
	return $s eq '' ? 'x' : $s;
}

my (@random_keys, %uniq);
sub add_key { push @random_keys, $_[0] unless $uniq{ $_[0] }++; }
add_key($_)
  for (map { u8($_) } "\x{e9}t\x{e9}", "\x{65e5}\x{672c}\x{8a9e}", "\x{1f680}",
	"caf\x{e9}:42", "\x{ff}\x{fe}");
add_key("user:$_") for 1 .. 50;
add_key(rand_key(200 + rnd(51))) for 1 .. 150;
add_key(rand_key(1 + rnd(40))) while @random_keys < 10000;
my $nrandom = scalar @random_keys;
cmp_ok($nrandom, '>=', 10000, "$nrandom distinct random keys");

# "<name>-<j>" hashes exactly onto the first point of digest j of <name> (MD5
# bytes 0..3 both ways; one_at_a_time: the point itself).
sub point_keys
{
	my ($names, $digests) = @_;
	my @k;
	for my $name (@$names)
	{
		push @k, "$name-$_" for 0 .. $digests - 1;
	}
	return @k;
}

# The keys of a pool: once each (a multi-get answers a key twice otherwise).
sub pool_keys
{
	my %seen;
	return grep { !$seen{$_}++ } @_;
}

# Binary keys for the bytea functions (libmemcached takes any bytes).
my @binary_keys;
for (1 .. 3000)
{
	my $len = 1 + rnd(40);
	push @binary_keys, join('', map { chr(rnd(256)) } 1 .. $len);
}
push @binary_keys, "\x80", "\xff", "\x00", "\x00\x80\xff", '';

# ---------------------------------------------------------------------------
# Shared points, found by test/compat/find_ties.pl:
#   perl test/compat/find_ties.pl md5 tie- 3000 39
#   perl test/compat/find_ties.pl oaat lm- 4000 100
# [name a, digest of a, name b, digest of b]: MD5("a-ja") bytes 0..3 equal
# MD5("b-jb") bytes 0..3 (both first points: the keys "a-ja" and "b-jb" hash
# onto the shared point) -- except the third and fifth pairs, where it is
# point 1 of the first name's digest (only "b-jb" is on the shared point).  Chosen so that the three tie rules
# disagree: the shorter name is bytewise greater (tie-806 / tie-1277, ...),
# and one pair is of equal length (tie-1509... / tie-2571...).
my @md5_ties = (
	[ 'tie-806',                3,  'tie-1277',               15 ],
	[ 'tie-1029.cache.example', 31, 'tie-2369',               8 ],
	[ 'tie-2457.cache.example', 27, 'tie-2834',               21, 1 ],
	[ 'tie-943',                38, 'tie-1624',               3 ],
	[ 'tie-1509.cache.example', 21, 'tie-2571.cache.example', 26, 1 ],);
for my $t (@md5_ties)
{
	my ($a, $ja, $b, $jb, $ra) = @$t;
	my @pa = md5_points("$a-$ja");
	my @pb = md5_points("$b-$jb");
	isnt($a, $b, 'a tie of two names');
	is($pa[ $ra // 0 ], $pb[0],
		"MD5 tie: point " . ($ra // 0) . " of $a-$ja = point 0 of $b-$jb");
}
my @oaat_ties = (
	[ 'lm-1390',                11, 'lm-2953',               50 ],
	[ 'lm-683',                 58, 'lm-1662.cache.example', 0 ],
	[ 'lm-1804',                79, 'lm-2257',               30 ],
	[ 'lm-336.cache.example',   93, 'lm-3254',               0 ],
	[ 'lm-3792.cache.example',  30, 'lm-422',                87 ],);
for my $t (@oaat_ties)
{
	my ($a, $ja, $b, $jb) = @$t;
	is(oaat("$a-$ja"), oaat("$b-$jb"), "one_at_a_time tie: $a-$ja = $b-$jb");
}
sub tie_keys
{
	my ($ties) = @_;
	return map { ("$_->[0]-$_->[1]", "$_->[2]-$_->[3]") } @$ties;
}

# ---------------------------------------------------------------------------
# hashring side
# ---------------------------------------------------------------------------
$node->safe_psql('postgres',
	'CREATE TABLE rk (id bigserial PRIMARY KEY, h text NOT NULL)');

sub q_name { return "convert_from(decode('" . hexs($_[0]) . "', 'hex'), 'UTF8')"; }

# Ring $ring of algorithm $algo with nodes [[name, weight], ...] in order.
sub make_ring
{
	my ($ring, $algo, $nodes) = @_;
	my @sql = (
		"SELECT hashring.ring_drop('$ring') FROM hashring.rings WHERE ring = '$ring';",
		"SELECT hashring.ring_create('$ring', algorithm => '$algo');");
	push @sql,
	  "SELECT hashring.ring_add_node('$ring', " . q_name($_->[0]) . ", '$_->[1]'::real);"
	  for @$nodes;
	$node->safe_psql('postgres', join("\n", @sql));
	return;
}

# Names (hex) of ring_node and, with $n, ring_nodes(.., $n) joined by ',' of
# every key, in order.  $bytea: the keys go in as bytea, else as text.
sub pg_route
{
	my ($ring, $keys, $n, $bytea) = @_;
	my $in = write_lines("$dir/route.in", map { hexs($_) } @$keys);
	my $k =
	  $bytea ? "decode(h, 'hex')" : "convert_from(decode(h, 'hex'), 'UTF8')";
	my $hx  = sub { "encode(convert_to($_[0], 'UTF8'), 'hex')" };
	my $sql = "SELECT " . $hx->("hashring.ring_node('$ring', k)");
	$sql .=
	    ", (SELECT string_agg("
	  . $hx->('x')
	  . ", ',' ORDER BY o) FROM unnest(hashring.ring_nodes('$ring', k, $n)) WITH ORDINALITY AS u(x, o))"
	  if $n;
	$sql .= " FROM (SELECT id, $k AS k FROM rk) s ORDER BY id";
	$node->safe_psql('postgres',
		"TRUNCATE rk; COPY rk (h) FROM '$in'; COPY ($sql) TO '$dir/route.out'");
	my $out = read_lines("$dir/route.out");
	die "ring $ring: " . scalar(@$out) . " rows for " . scalar(@$keys) . " keys"
	  unless @$out == @$keys;
	return $out;
}

# Compares reference answers with hashring's, line by line (both hex names,
# tab-separated fields); reports the first mismatches. Returns the count.
my %summary;    # reference -> [pools, keys, mismatches]
sub compare
{
	my ($what, $ref_name, $keys, $ref, $pg, $quiet) = @_;
	my $bad = 0;
	for my $i (0 .. $#$keys)
	{
		my $r = $ref->[$i] // '<none>';
		my $p = $pg->[$i]  // '<none>';
		next if $r eq $p;
		my $show = sub {
			join "\t",
			  map { join ',', map { unhex($_) } split /,/, $_ } split /\t/, $_[0], -1;
		};
		diag("$what: key '"
			  . $keys->[$i]
			  . "' (hex "
			  . hexs($keys->[$i])
			  . "):\n  reference: "
			  . $show->($r)
			  . "\n  hashring:  "
			  . $show->($p))
		  if $bad < 5 && !$quiet;
		$bad++;
	}
	return $bad if $quiet;
	my $n = scalar @$keys;
	diag("$what: $n keys, $bad mismatches") if $bad;
	is($bad, 0, "$what: $n keys, 0 mismatches");
	$summary{$ref_name}[0]++;
	$summary{$ref_name}[1] += $n;
	$summary{$ref_name}[2] += $bad;
	return $bad;
}

# ---------------------------------------------------------------------------
# 1. twemproxy in front of real memcached servers
# ---------------------------------------------------------------------------
sub port_free
{
	my ($addr, $port) = @_;
	my $s = IO::Socket::INET->new(
		LocalAddr => $addr,
		LocalPort => $port,
		Proto     => 'tcp',
		Listen    => 1,
		ReuseAddr => 1);
	return 0 unless $s;
	close $s;
	return 1;
}

sub wait_port
{
	my ($addr, $port, $what) = @_;
	for (1 .. 200)
	{
		my $s = IO::Socket::INET->new(
			PeerAddr => $addr,
			PeerPort => $port,
			Proto    => 'tcp');
		if ($s) { close $s; return; }
		Time::HiRes::sleep(0.05);
	}
	die "$what did not listen on $addr:$port";
}

sub spawn
{
	my ($log, @cmd) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open STDIN,  '<',  '/dev/null';
		open STDOUT, '>>', $log;
		open STDERR, '>&', \*STDOUT;
		exec @cmd or POSIX::_exit(127);
	}
	push @children, $pid;
	return $pid;
}

# 50 memcached servers on one free loopback /24: .1-.25 on port 11211 (named
# "host" by twemproxy), .26-.50 on another port ("host:port").
my $nmc = 50;
my ($net, $alt_port, $stats_port);
SUBNET: for my $b (124 .. 250)
{
	for my $p (21211, 31211, 41211)
	{
		next if grep { !port_free("127.0.$b.$_", $_ <= 25 ? 11211 : $p) } 1 .. $nmc;
		next if grep { !port_free("127.0.$b.200", $_) } 22121 .. 22130;
		($stats_port) = grep { port_free("127.0.$b.200", $_) } 22222, 32222, 42222;
		next unless $stats_port;
		($net, $alt_port) = ("127.0.$b", $p);
		last SUBNET;
	}
}
die 'no loopback /24 127.0.124-250.* with free memcached ports (11211 and 21211, 31211 or 41211 on .1-.50) found'
  unless $net;
my @mc = map { [ "$net.$_", $_ <= 25 ? 11211 : $alt_port ] } 1 .. $nmc;
for my $i (0 .. $#mc)
{
	my ($addr, $port) = @{ $mc[$i] };
	spawn("$dir/memcached.log", $memcached, '-l', $addr, '-p', $port, '-U', '0',
		'-t', '1', '-m', '16', '-c', '64', ($> == 0 ? ('-u', 'nobody') : ()));
}
wait_port(@$_, 'memcached') for @mc;
note("memcached on $net.1-$nmc (ports 11211 and $alt_port)");

# twemproxy's order of server names (string_compare): shorter first, then
# bytewise.
sub tw_order { return length($_[0]) <=> length($_[1]) || $_[0] cmp $_[1]; }

# Pools: [name, [[backend index, weight, name field or undef], ...]]
my @tw_pools;
push @tw_pools, [ 'tw3', [ map { [ $_, 1 ] } 0, 1, 2 ] ];    # port 11211: "host"
push @tw_pools, [ 'tw7', [ map { [ $_, 1 ] } 30 .. 36 ] ];    # "host:port"
push @tw_pools,
  [ 'tw10', [ map { [ $_, 1, sprintf('cache-%02d', 10 - $_) ] } 3, 27, 4, 28, 5, 29, 6, 37, 7, 38 ] ];
push @tw_pools, [ 'tw50', [ map { [ $_, 1 ] } reverse 0 .. 49 ] ];
push @tw_pools,
  [ 'tw_weighted',
	[ map { [ $_, 1 + rnd(9), $_ % 3 ? undef : u8("n\x{153}ud-$_") ] } 8 .. 15, 39 .. 45 ] ];
# Ties: every pair added with the name-order winner (shorter, else bytewise
# smaller) second, so "first added" picks the other one; plus fillers.
{
	my @names;
	for my $t (@md5_ties)
	{
		push @names, sort { tw_order($b, $a) } $t->[0], $t->[2];
	}
	push @names, 'filler-a', 'filler-bb', 'x';
	my $i = 16;
	push @tw_pools, [ 'tw_ties', [ map { [ $i++, 1, $_ ] } @names ] ];
}
# Long names: nutcracker 0.5.0 formats "<name>-<j>" into 273 bytes
# (KETAMA_MAX_HOSTLEN; 86 before 0.5.0, which cut longer names), so every
# name hashring takes (255 bytes at most) is hashed whole.
push @tw_pools,
  [ 'tw_long', [ [ 46, 1, 'L' x 83 ], [ 47, 1, 'M' x 90 ], [ 48, 1, 'N' x 200 ], [ 49, 1, 'O' x 255 ], [ 45, 1 ] ] ];

# The servers: lines of a pool, and the names twemproxy gives its servers.
sub tw_lines
{
	my ($pool) = @_;
	return map {
		my ($b, $w, $name) = @$_;
		"$mc[$b][0]:$mc[$b][1]:$w" . (defined $name ? " $name" : '')
	} @{ $pool->[1] };
}
sub tw_names
{
	my ($pool) = @_;
	return map {
		my ($b, $w, $name) = @$_;
		$name // ($mc[$b][1] == 11211 ? $mc[$b][0] : "$mc[$b][0]:$mc[$b][1]")
	} @{ $pool->[1] };
}

my $conf = '';
for my $k (0 .. $#tw_pools)
{
	my $p = $tw_pools[$k];
	$conf .= "$p->[0]:\n  listen: $net.200:" . (22121 + $k) . "\n"
	  . "  hash: md5\n  distribution: ketama\n  auto_eject_hosts: false\n"
	  . "  timeout: 5000\n  servers:\n"
	  . join('', map { "   - $_\n" } tw_lines($p));
}
write_lines("$dir/nutcracker.yml", $conf);
{
	my ($out, $err) = ('', '');
	IPC::Run::run [ $nutcracker, '-t', '-c', "$dir/nutcracker.yml" ], '>', \$out,
	  '2>', \$err;
	like("$out$err", qr/syntax is ok/, 'nutcracker accepts the configuration');
}
spawn("$dir/nutcracker.out", $nutcracker, '-c', "$dir/nutcracker.yml", '-o',
	"$dir/nutcracker.log", '-p', "$dir/nutcracker.pid", '-a', "$net.200", '-s',
	$stats_port, '-v', 4);
wait_port("$net.200", 22121 + $_, 'nutcracker') for 0 .. $#tw_pools;

sub mc_connect
{
	my ($addr, $port) = @_;
	my $s = IO::Socket::INET->new(
		PeerAddr => $addr,
		PeerPort => $port,
		Proto    => 'tcp',
		Timeout  => 10)
	  or die "connect $addr:$port: $!";
	binmode $s;
	return $s;
}

# Sends $payload, returns the response lines once $nterm lines matching
# $term have arrived.
sub mc_exchange
{
	my ($s, $payload, $nterm, $term) = @_;
	my $off = 0;
	while ($off < length $payload)
	{
		my $w = syswrite($s, $payload, length($payload) - $off, $off);
		die "memcached write: $!" unless defined $w;
		$off += $w;
	}
	my $buf  = '';
	my $seen = 0;
	my @lines;
	while ($seen < $nterm)
	{
		my $r = sysread($s, $buf, 65536, length $buf);
		die 'memcached read: ' . (defined $r ? 'connection closed' : $!) unless $r;
		while ((my $e = index($buf, "\r\n")) >= 0)
		{
			my $line = substr($buf, 0, $e);
			substr($buf, 0, $e + 2) = '';
			push @lines, $line;
			$seen++ if $line =~ $term;
		}
	}
	return @lines;
}

my @backend_socks = map { mc_connect(@$_) } @mc;

sub tw_owners
{
	my ($k, $pool, $keys) = @_;
	my $tag = "p$k";
	mc_exchange($backend_socks[ $_->[0] ], "flush_all\r\n", 1, qr/^OK$/)
	  for @{ $pool->[1] };
	my $proxy = mc_connect("$net.200", 22121 + $k);
	for (my $i = 0; $i < @$keys; $i += 200)
	{
		my @batch = @$keys[ $i .. ($i + 199 < $#$keys ? $i + 199 : $#$keys) ];
		my @r = mc_exchange($proxy,
			join('', map { "set $_ 0 0 " . length($tag) . "\r\n$tag\r\n" } @batch),
			scalar @batch, qr/^(STORED|ERROR|CLIENT_ERROR.*|SERVER_ERROR.*)$/);
		my @bad = grep { $_ ne 'STORED' } @r;
		die "$pool->[0]: set through nutcracker failed: $bad[0]" if @bad;
	}
	close $proxy;
	# Ask every backend of the pool for every key.
	my @names = tw_names($pool);
	my %owner;
	for my $s (0 .. $#{ $pool->[1] })
	{
		my $sock = $backend_socks[ $pool->[1][$s][0] ];
		my @gets;
		my $line = '';
		for my $key (@$keys)
		{
			if (length($line) + length($key) > 1800)
			{
				push @gets, "get$line\r\n";
				$line = '';
			}
			$line .= " $key";
		}
		push @gets, "get$line\r\n" if $line ne '';
		for (my $g = 0; $g < @gets; $g += 20)
		{
			my @chunk = @gets[ $g .. ($g + 19 < $#gets ? $g + 19 : $#gets) ];
			my @r = mc_exchange($sock, join('', @chunk), scalar @chunk, qr/^END$/);
			for (my $l = 0; $l < @r; $l++)
			{
				next unless $r[$l] =~ /^VALUE (\S+) \d+ \d+$/;
				my $key = $1;
				next unless $r[ ++$l ] eq $tag;
				push @{ $owner{$key} }, $names[$s];
			}
		}
	}
	return \%owner;
}

my %plain;    # what - mismatches of a deliberately wrong algorithm
for my $k (0 .. $#tw_pools)
{
	my $pool  = $tw_pools[$k];
	my $ring  = $pool->[0];
	my @names = tw_names($pool);
	# memcached keys are at most 250 bytes (nutcracker drops the connection)
	my @keys = grep { length($_) <= 250 } pool_keys(@random_keys,
		point_keys(\@names, 40), $ring eq 'tw_ties' ? tie_keys(\@md5_ties) : ());
	my $t1    = Time::HiRes::time();
	my $owner = tw_owners($k, $pool, \@keys);
	my $t2    = Time::HiRes::time();
	my @lost  = grep { @{ $owner->{$_} // [] } != 1 } @keys;
	is(scalar @lost, 0, "$ring: every key is on exactly one memcached")
	  or diag("$ring: key '$lost[0]' on: @{ $owner->{$lost[0]} // [] }");
	my @ref = map { hexs($owner->{$_}[0] // '') } @keys;
	my %owns;
	$owns{$_}++ for map { @{ $owner->{$_} // [] } } @keys;
	is(scalar(grep { $owns{$_} } @names), scalar @names,
		"$ring: every server holds keys");

	my $servers = join "\n", 'servers:', map { "  - $_" } tw_lines($pool);
	$node->safe_psql('postgres',
		"SELECT hashring.ring_drop('$ring') FROM hashring.rings WHERE ring = '$ring';"
		  . "SELECT hashring.ring_create('$ring', algorithm => 'ketama_twemproxy');");
	my $added = $node->safe_psql('postgres',
		"SELECT string_agg(encode(convert_to(node, 'UTF8'), 'hex'), ',') "
		  . "FROM hashring.ring_add_servers('$ring', "
		  . q_name($servers) . ", 'twemproxy')");
	is($added, join(',', map { hexs($_) } @names),
		"$ring: ring_add_servers names the servers as twemproxy does");
	my $pg = pg_route($ring, \@keys);
	compare(
		sprintf('twemproxy %s (%d servers)', $ring, scalar @names),
		'twemproxy', \@keys, \@ref, $pg);
	note(sprintf('%s: memcached %.1f s, SQL %.1f s',
			$ring, $t2 - $t1, Time::HiRes::time() - $t2));

	# Can-fail evidence: binary64 counts (7, 50 servers), first-added ties.
	my @nodes = map { [ $_, $pool->[1][$_][1] ] } 0 .. $#names;
	$_->[0] = $names[ $_->[0] ] for @nodes;
	if ($ring eq 'tw7' || $ring eq 'tw50')
	{
		make_ring("${ring}_npm", 'ketama', \@nodes);
		$plain{"twemproxy $ring vs ketama (binary64 counts)"} =
		  compare('', '', \@keys, \@ref, pg_route("${ring}_npm", \@keys), 1);
	}
	if ($ring eq 'tw_ties')
	{
		make_ring("${ring}_first", 'ketama_libmemcached_weighted', \@nodes);
		my @tk = tie_keys(\@md5_ties);
		my @tr = map { hexs($owner->{$_}[0] // '') } @tk;
		$plain{"twemproxy $ring tie keys vs first-added ties"} =
		  compare('', '', \@tk, \@tr, pg_route("${ring}_first", \@tk), 1);
	}
}
kill 'TERM', @children;
waitpid($_, 0) for @children;
@children = ();
close $_ for @backend_socks;

# ---------------------------------------------------------------------------
# 2. libmemcached, C API
# ---------------------------------------------------------------------------
my $lmref = "$dir/libmemcached_ref";
{
	my ($out, $err) = ('', '');
	IPC::Run::run [ $cc, '-O1', '-o', $lmref, "$compat/libmemcached_ref.c",
		'-lmemcached' ], '>', \$out, '2>', \$err
	  or BAIL_OUT("cannot build libmemcached_ref.c: $out$err");
}

# [host, port, weight] -> libmemcached's continuum name
sub lm_name { return $_[0][1] == 11211 ? $_[0][0] : "$_[0][0]:$_[0][1]"; }

sub lm_run
{
	my ($mode, $servers, $keys) = @_;
	my $in = join '',
	  "$mode\n", scalar(@$servers) . "\n",
	  (map { "@$_\n" } @$servers),
	  (map { hexs($_) . "\n" } @$keys);
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run [$lmref], '<', \$in, '>', \$out, '2>', \$err;
	return (undef, $err) unless $ok;
	my @idx = split /\n/, $out;
	return ([ map { hexs(lm_name($servers->[$_])) } @idx ], $err);
}

sub lm_pool
{
	my ($what, $mode, $servers, $extra, %opt) = @_;
	my $algo = $mode eq 'weighted' ? 'ketama_libmemcached_weighted' : 'ketama_libmemcached';
	my $ring = 'lm';
	my @names = map { lm_name($_) } @$servers;
	my @keys = pool_keys(@random_keys,
		point_keys(\@names, $mode eq 'weighted' ? 40 : 100), @{ $extra // [] });
	my ($ref, $err) = lm_run($mode, $servers, \@keys);
	BAIL_OUT("$what: libmemcached_ref failed: $err") unless $ref;
	make_ring($ring, $algo, [ map { [ lm_name($_), $_->[2] ] } @$servers ]);
	compare("$what (" . scalar(@keys) . " text keys)", "libmemcached $mode",
		\@keys, $ref, pg_route($ring, \@keys));
	if ($opt{binary})
	{
		my ($bref, $berr) = lm_run($mode, $servers, \@binary_keys);
		BAIL_OUT("$what: libmemcached_ref failed: $berr") unless $bref;
		compare("$what (bytea keys)", "libmemcached $mode", \@binary_keys, $bref,
			pg_route($ring, \@binary_keys, undef, 1));
	}
	if ($opt{plain})
	{
		make_ring('lm_npm', 'ketama', [ map { [ lm_name($_), $_->[2] ] } @$servers ]);
		$plain{"$what vs ketama (binary64 counts)"} =
		  compare('', '', \@keys, $ref, pg_route('lm_npm', \@keys), 1);
	}
	return;
}

# Hosts: names, IPv4 and IPv6 literals, on 11211 and other ports.
sub lm_servers
{
	my ($n, $weight) = @_;
	my @s;
	for my $i (1 .. $n)
	{
		my $r = $i % 4;
		my $host =
		    $r == 0 ? "mc$i.example.com"
		  : $r == 1 ? "10.1." . int($i / 256) . "." . ($i % 256)
		  : $r == 2 ? "cache-$i"
		  :           sprintf('2001:db8::%x', $i);
		my $port = $i % 3 ? 11211 : 11000 + $i;
		push @s, [ $host, $port, $weight ? $weight->($i) : 1 ];
	}
	return \@s;
}

my %lm_plain = map { $_ => 1 } 7, 25, 50;
for my $n (1 .. 60, 100)
{
	lm_pool("libmemcached weighted, $n equal servers", 'weighted', lm_servers($n),
		undef, binary => ($n % 10 == 3), plain => $lm_plain{$n});
}
{
	# 101 servers: libmemcached's assertion (continuum of at most 100 * 100 points)
	my ($ref, $err) = lm_run('weighted', lm_servers(101), ['a']);
	ok(!defined $ref && $err =~ /MEMCACHED_CONTINUUM_SIZE/,
		'libmemcached 1.1 aborts with 101 servers in ketama mode (its limit is 100)')
	  or diag("libmemcached_ref: $err");
}
# Weighted sets; some servers' w / W * 40 * N are whole numbers, reached
# exactly or not in binary32 (searched for deterministically).
for my $n (3, 10, 33, 100)
{
	lm_pool("libmemcached weighted, $n servers, weights 1-20", 'weighted',
		lm_servers($n, sub { 1 + rnd(20) }), undef, binary => ($n == 10));
}
{
	my ($found_exact, $found_below) = (0, 0);
	for my $try (1 .. 5000)
	{
		last if $found_exact >= 2 && $found_below >= 2;
		my $n = 2 + rnd(12);
		my @w = map { 1 + rnd(12) } 1 .. $n;
		my $total = 0;
		$total += $_ for @w;
		my ($whole, $below) = (0, 0);
		for my $w (@w)
		{
			next if (40 * $n * $w) % $total;
			$whole++;
			$below++ if count_f32($w, $total, $n) < 40 * $n * $w / $total;
		}
		next unless $whole;
		next if $below ? $found_below >= 2 : $found_exact >= 2;
		$below ? $found_below++ : $found_exact++;
		my @s = @{ lm_servers($n) };
		$s[$_][2] = $w[$_] for 0 .. $n - 1;
		lm_pool("libmemcached weighted, weights @w (whole w/W*40*N, "
			  . ($below ? 'binary32 just below it' : 'binary32 exact') . ')',
			'weighted', \@s);
	}
	ok($found_exact && $found_below,
		"weighted sets with whole w/W*40*N found ($found_exact exact, $found_below below)");
}
{
	# Ties: the pair's second (by name order, twemproxy's winner) added first
	my @s;
	push @s, [ $_->[2], 11211, 1 ], [ $_->[0], 11211, 1 ] for @md5_ties;
	push @s, @{ lm_servers(6) };
	lm_pool('libmemcached weighted, shared points', 'weighted', \@s,
		[ tie_keys(\@md5_ties) ]);
	my @u;
	push @u, [ $_->[0], 11211, 1 ], [ $_->[2], 11211, 1 ] for @oaat_ties;
	push @u, @{ lm_servers(5) };
	lm_pool('libmemcached unweighted, shared points', 'unweighted', \@u,
		[ tie_keys(\@oaat_ties) ], binary => 1);
	# can fail: the other order
	my @keys = tie_keys(\@oaat_ties);
	my ($ref) = lm_run('unweighted', \@u, \@keys);
	my @rev;
	push @rev, [ $_->[2], 11211, 1 ], [ $_->[0], 11211, 1 ] for @oaat_ties;
	make_ring('lm_rev', 'ketama_libmemcached', [ map { [ lm_name($_), 1 ] } @rev, @u[ 10 .. $#u ] ]);
	$plain{'libmemcached unweighted tie keys vs the pairs added the other way round'} =
	  compare('', '', \@keys, $ref, pg_route('lm_rev', \@keys), 1);
}
for my $n (1 .. 12, 25, 50, 100)
{
	lm_pool("libmemcached unweighted, $n servers", 'unweighted', lm_servers($n),
		undef, binary => ($n % 5 == 0));
}

# ---------------------------------------------------------------------------
# 3. uhashring
# ---------------------------------------------------------------------------
# uhashring's range() yields only nodes that own points; ring_nodes always
# returns least(n, live nodes), the nodes without points following in node
# order (docs/reference.md, ring_nodes).  Where a node has no point (its
# (40 * N * w) div W is 0) the reference's list is completed that way before
# the comparison, and the lists so completed are counted and reported.
my $uh_padded = 0;
sub uh_pool
{
	my ($what, $nodes, $extra, $plain) = @_;
	my @names = map { $_->[0] } @$nodes;
	my $total = 0;
	$total += $_->[1] for @$nodes;
	my @pointless = map { hexs($_->[0]) }
	  grep { count_int($_->[1], $total, scalar @$nodes) == 0 } @$nodes;
	my @keys = pool_keys('', @random_keys, point_keys(\@names, 40), @{ $extra // [] });
	write_lines("$dir/uh.nodes", map { hexs($_->[0]) . " $_->[1]" } @$nodes);
	write_lines("$dir/uh.keys", map { hexs($_) } @keys);
	my ($out, $err) = ('', '');
	IPC::Run::run [ $python, "$compat/uhashring_ref.py", "$dir/uh.nodes",
		"$dir/uh.keys" ], '>', \$out, '2>', \$err
	  or BAIL_OUT("$what: uhashring_ref.py failed: $err");
	my @ref = split /\n/, $out;
	my $padded = 0;
	my $want = @$nodes < 3 ? scalar @$nodes : 3;
	for my $line (@ref)
	{
		my ($owner, $list) = split /\t/, $line, -1;
		my @l = split /,/, $list;
		next if @l >= $want;
		my %in = map { $_ => 1 } @l;
		push @l, grep { !$in{$_} } @pointless;
		$line = "$owner\t" . join(',', @l[ 0 .. $want - 1 ]);
		$padded++;
	}
	if (@pointless)
	{
		diag("$what: uhashring's range(key, 3) omits the "
			  . scalar(@pointless)
			  . " node(s) without points: $padded of "
			  . scalar(@keys)
			  . ' lists completed as ring_nodes documents');
		cmp_ok($padded, '>', 0, "$what: range() lists completed with the nodes without points")
		  if @$nodes - @pointless < $want;
		$uh_padded += $padded;
	}
	make_ring('uh', 'ketama_uhashring', $nodes);
	compare("$what (get_node and range(key, 3))", 'uhashring', \@keys, \@ref,
		pg_route('uh', \@keys, 3));
	if ($plain)
	{
		make_ring('uh_npm', 'ketama', $nodes);
		my @own = map { (split /\t/)[0] } @ref;
		$plain{"$what vs ketama (binary64 counts, >=)"} = compare(
			'', '', \@keys, \@own,
			[ map { (split /\t/)[0] } @{ pg_route('uh_npm', \@keys, 3) } ], 1);
	}
	return;
}

sub uh_names
{
	my ($n) = @_;
	return map {
		my $r = $_ % 3;
		$r == 0 ? "redis-$_:6379" : $r == 1 ? u8("n\x{153}ud-$_") : "10.2.0.$_"
	} 1 .. $n;
}

for my $n (1 .. 30, 50, 100)
{
	uh_pool("uhashring, $n nodes", [ map { [ $_, 1 ] } uh_names($n) ], undef,
		$n == 7 || $n == 14);
}
for my $n (5, 17, 40)
{
	uh_pool("uhashring, $n nodes, weights 1-10",
		[ map { [ $_, 1 + rnd(10) ] } uh_names($n) ]);
}
# (40 * 3 * 1) div 2001 = 0: "tiny" has no point; and one in a bigger pool
uh_pool('uhashring, 3 nodes, one without points',
	[ [ 'big-1', 1000 ], [ 'tiny', 1 ], [ 'big-2', 1000 ] ]);
uh_pool('uhashring, 6 nodes, weights 1 and 500',
	[ map { [ "w-$_", $_ == 4 ? 1 : 500 ] } 1 .. 6 ]);
{
	# Ties: the last configured of a pair wins; the name-order winner and the
	# first added are the other one.
	my @nodes;
	push @nodes, [ $_->[0], 1 ], [ $_->[2], 1 ] for @md5_ties;
	push @nodes, map { [ $_, 1 ] } uh_names(4);
	uh_pool('uhashring, shared points', \@nodes, [ tie_keys(\@md5_ties) ]);
	make_ring('uh_first', 'ketama_libmemcached_weighted', \@nodes);
	my @keys = tie_keys(\@md5_ties);
	write_lines("$dir/uh.keys", map { hexs($_) } @keys);
	my ($out, $err) = ('', '');
	IPC::Run::run [ $python, "$compat/uhashring_ref.py", "$dir/uh.nodes",
		"$dir/uh.keys" ], '>', \$out, '2>', \$err
	  or die $err;
	$plain{'uhashring tie keys vs first-added ties'} = compare(
		'', '', \@keys, [ map { (split /\t/)[0] } split /\n/, $out ],
		pg_route('uh_first', \@keys), 1);
}

# ---------------------------------------------------------------------------
# The deliberately wrong algorithms must have disagreed.
# ---------------------------------------------------------------------------
for my $what (sort keys %plain)
{
	diag("can fail: $what: $plain{$what} mismatches");
	cmp_ok($plain{$what}, '>', 0, "can fail: $what disagrees");
}
diag(sprintf('%s: %d pools, %d keys, %d mismatches', $_, @{ $summary{$_} }))
  for sort keys %summary;
diag("uhashring range() lists completed with nodes without points: $uh_padded");
diag(sprintf('run time %.1f s', Time::HiRes::time() - $t0));

$node->stop;
done_testing();
