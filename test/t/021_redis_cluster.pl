# Compatibility of the "slots" algorithm with a real Redis Cluster.
#
# Starts three redis-server instances (cluster-enabled, no persistence),
# creates a cluster of them with `redis-cli --cluster create`, and checks,
# key by key, that hashring agrees with Redis:
#   - ring_slot(k) and ring_hash() on a slots ring = CLUSTER KEYSLOT k;
#   - a slots ring whose nodes are the masters, added in --cluster create
#     order, routes every key to the master CLUSTER SLOTS names, and
#     ring_nodes() follows the slot order;
#   - end to end: keys SET through `redis-cli -c` (which follows MOVED) are
#     found, with KEYS *, on the instance ring_node names;
#   - after resharding (redis-cli --cluster reshard), a ring mirroring the live
#     CLUSTER SLOTS map with ring_assign_slots routes every key like Redis,
#     including the keys Redis migrated;
#   - the default layout for N masters equals the plan redis-cli prints for
#     N in 3..500 (a dry run of --cluster create against stand-in empty nodes,
#     test/compat/redis_fake_nodes.pl), over every one of the 16384 slots.
# Redis answers are read with a small RESP client (binary-safe keys).
use strict;
use warnings;

use FindBin;
use File::Spec;
use IO::Socket::INET;
use IPC::Run;
use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;


my $redis_server = on_path('redis-server');
my $redis_cli    = on_path('redis-cli');
plan skip_all =>
  'redis-server is not on PATH (Debian packages redis-server and redis-tools); cannot run the Redis Cluster compatibility check'
  unless $redis_server;
plan skip_all =>
  'redis-cli is not on PATH (Debian package redis-tools); cannot run the Redis Cluster compatibility check'
  unless $redis_cli;

my $compat = File::Spec->rel2abs("$FindBin::Bin/../compat");
my $t0     = time;

# ---------------------------------------------------------------------------
# Minimal RESP2 client: pipelined, binary-safe.
# ---------------------------------------------------------------------------
{

	package RespError;
	sub new { my ($c, $m) = @_; return bless { msg => $m }, $c; }
	sub msg { return $_[0]{msg}; }
}
{

	package Resp;

	sub connect
	{
		my ($class, $port, $tries) = @_;
		$tries //= 1;
		my $s;
		for (1 .. $tries)
		{
			$s = IO::Socket::INET->new(
				PeerAddr => '127.0.0.1',
				PeerPort => $port,
				Proto    => 'tcp');
			last if $s;
			Time::HiRes::usleep(50_000);
		}
		return undef unless $s;
		binmode $s;
		return bless { s => $s, buf => '', pos => 0, port => $port }, $class;
	}

	sub encode
	{
		my @a = @_;
		my $out = '*' . scalar(@a) . "\r\n";
		$out .= '$' . length($_) . "\r\n" . $_ . "\r\n" for @a;
		return $out;
	}

	sub _write
	{
		my ($self, $data) = @_;
		my $off = 0;
		while ($off < length $data)
		{
			my $w = syswrite($self->{s}, $data, length($data) - $off, $off);
			die "write to redis port $self->{port}: $!" unless defined $w;
			$off += $w;
		}
		return;
	}

	sub _fill
	{
		my ($self) = @_;
		if ($self->{pos} > (1 << 20))
		{
			substr($self->{buf}, 0, $self->{pos}) = '';
			$self->{pos} = 0;
		}
		my $got = sysread($self->{s}, my $d, 1 << 20);
		die "redis port $self->{port}: connection closed" unless $got;
		$self->{buf} .= $d;
		return;
	}

	sub _line
	{
		my ($self) = @_;
		my $i;
		$self->_fill while ($i = index($self->{buf}, "\r\n", $self->{pos})) < 0;
		my $l = substr($self->{buf}, $self->{pos}, $i - $self->{pos});
		$self->{pos} = $i + 2;
		return $l;
	}

	sub _bytes
	{
		my ($self, $n) = @_;
		$self->_fill while length($self->{buf}) < $self->{pos} + $n + 2;
		my $d = substr($self->{buf}, $self->{pos}, $n);
		$self->{pos} += $n + 2;
		return $d;
	}

	sub read_reply
	{
		my ($self) = @_;
		my $l = $self->_line;
		my ($t, $r) = (substr($l, 0, 1), substr($l, 1));
		return $r if $t eq '+';
		return RespError->new($r) if $t eq '-';
		return $r + 0 if $t eq ':';
		return $r < 0 ? undef : $self->_bytes($r) if $t eq '$';
		return $r < 0 ? undef : [ map { $self->read_reply } 1 .. $r ]
		  if $t eq '*';
		die "redis port $self->{port}: unexpected reply line '$l'";
	}

	# One command; dies on an error reply unless $allow_error.
	sub cmd
	{
		my ($self, @a) = @_;
		$self->_write(encode(@a));
		my $r = $self->read_reply;
		die "redis port $self->{port}: @a: " . $r->msg
		  if ref $r eq 'RespError';
		return $r;
	}

	# Many commands (array refs), pipelined in chunks; returns the replies.
	sub pipeline
	{
		my ($self, $cmds) = @_;
		my @r;
		for (my $i = 0; $i < @$cmds; $i += 2000)
		{
			my $j = $i + 1999;
			$j = $#$cmds if $j > $#$cmds;
			$self->_write(join '', map { encode(@$_) } @{$cmds}[ $i .. $j ]);
			push @r, $self->read_reply for $i .. $j;
		}
		return \@r;
	}
}

# ---------------------------------------------------------------------------
# Redis instances: started here, stopped in END whatever happens.
# ---------------------------------------------------------------------------
my @harnesses;    # IPC::Run harnesses to kill at the end
END
{
	for my $h (@harnesses)
	{
		eval { $h->kill_kill(grace => 2); };
	}
}

my $rdir = PostgreSQL::Test::Utils::tempdir('redis');

sub start_redis
{
	my ($name) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $bus  = PostgreSQL::Test::Cluster::get_free_port();
	my $dir  = "$rdir/$name";
	mkdir $dir or die "mkdir $dir: $!";
	my $h = IPC::Run::start(
		[
			$redis_server,          '--port',
			$port,                  '--bind',
			'127.0.0.1',            '--cluster-enabled',
			'yes',                  '--cluster-port',
			$bus,                   '--cluster-config-file',
			"$dir/nodes.conf",      '--dir',
			$dir,                   '--save',
			'',                     '--appendonly',
			'no',                   '--daemonize',
			'no',                   '--protected-mode',
			'yes',                  '--cluster-node-timeout',
			'5000'
		],
		'<', \undef, '>', "$dir/redis.log", '2>&1');
	push @harnesses, $h;
	my $c = Resp->connect($port, 200)
	  or die "redis-server on port $port did not start; see $dir/redis.log";
	$c->cmd('PING') eq 'PONG' or die "redis-server on port $port: no PONG";
	return { port => $port, bus => $bus, addr => "127.0.0.1:$port", c => $c, dir => $dir };
}

sub run_cli
{
	my ($args, $stdin) = @_;
	my ($out, $err) = ('', '');
	$stdin //= '';
	IPC::Run::run [ $redis_cli, '--no-auth-warning', @$args ], '<', \$stdin,
	  '>', \$out, '2>', \$err;
	my $rc = $? >> 8;
	$out .= $err;
	$out =~ s/\e\[[0-9;]*m//g;    # redis-cli colours its output
	return ($rc, $out);
}

my @r = map { start_redis("r$_") } 1 .. 3;
my $version = $r[0]{c}->cmd('INFO', 'server') =~ /^redis_version:(\S+)/m ? $1 : '?';
note("Redis $version; ports " . join(', ', map { $_->{port} } @r));

# ---------------------------------------------------------------------------
# PostgreSQL and the keys.
# ---------------------------------------------------------------------------
my $node = hr_node('redis', preload => 1);
my $dir  = PostgreSQL::Test::Utils::tempdir('rcompat');

# (a heredoc: the SQL has unbalanced braces)
my $keys_sql = <<'SQL';
CREATE TABLE ks (id bigserial PRIMARY KEY, k text NOT NULL);
INSERT INTO ks (k) SELECT 'user:' || i FROM generate_series(1, 3000) i;
INSERT INTO ks (k) SELECT md5('redis' || i) FROM generate_series(1, 4000) i;
-- every length 0..300
INSERT INTO ks (k) SELECT left(repeat(md5(i::text), 10), i % 301) FROM generate_series(1, 1500) i;
-- hash tags
INSERT INTO ks (k) SELECT '{user' || i || '}.following' FROM generate_series(1, 1000) i;
INSERT INTO ks (k) SELECT '{user' || i || '}.followers' FROM generate_series(1, 500) i;
INSERT INTO ks (k) SELECT 'pre' || i || '{' || md5(i::text) || '}post' FROM generate_series(1, 500) i;
-- random words over braces, letters, spaces and multibyte characters
INSERT INTO ks (k)
  SELECT coalesce((SELECT string_agg((ARRAY['{', '}', 'a', 'b', '{}', chr(233), chr(128512), ' ', '}{', 'x'])
                                     [1 + get_byte(decode(md5(i || '-' || j), 'hex'), 0) % 10], '' ORDER BY j)
                     FROM generate_series(1, 1 + i % 14) j), '')
    FROM generate_series(1, 2500) i;
-- multibyte: 2-, 3- and 4-byte UTF-8, some inside a tag
INSERT INTO ks (k)
  SELECT 'cl' || chr(233) || '-' || chr(19968 + (i * 7919) % 20000) || chr(128512 + i % 80) || i
    FROM generate_series(1, 1000) i;
INSERT INTO ks (k)
  SELECT 'x{' || chr(1024 + i % 200) || chr(19968 + i) || '}' || i FROM generate_series(1, 300) i;
-- control characters (every one but NUL), quotes, backslashes
INSERT INTO ks (k) SELECT 'ctl' || chr(i) || 'x' FROM generate_series(1, 31) i;
INSERT INTO ks (k) SELECT 'q"' || i || '''' || chr(92) || chr(10) || '{' || chr(9) || '}' FROM generate_series(1, 200) i;
-- long keys, 4000..5200 bytes, some with a tag deep inside
INSERT INTO ks (k)
  SELECT overlay(left(repeat(md5(i::text), 170), 4000 + (i * 37) % 1200)
                 PLACING (CASE WHEN i % 2 = 0 THEN '{' || i || '}' ELSE '' END) FROM 1 + (i * 131) % 3900 FOR 0)
    FROM generate_series(1, 200) i;
-- awkward keys
INSERT INTO ks (k) SELECT unnest(ARRAY[
  '', '{}', '{{a}}', 'a{}b{c}', '{user1000}.following', '{user1000}.followers',
  '{', '}', '}{', '{}{', '{}{a}', '{a}{b}', 'a{b', 'a}b{c}', '{{}}', '{ }', 'x{}}{y}',
  '{a', '}a{b}', 'foo{bar}{zap}', 'foo{}{bar}', 'foo{{bar}}zap', '{{', '}}', '{}}',
  'a{b}c', 'a{b}}c', ' ', 'with space', 'quote"s', 'apos''s', 'back' || chr(92) || 'slash',
  chr(10), chr(13) || chr(10), chr(9), chr(233), '{' || chr(233) || '}', '{' || chr(233) || '}x',
  chr(26085) || chr(26412), chr(128512), '{' || chr(128512) || '}x', 'x{' || chr(1082) || '}',
  repeat(md5('long'), 157),
  repeat('a', 4995) || '{t}', '{t}' || repeat('z', 5000), repeat(chr(233), 2500),
  '{' || repeat('q', 4998) || '}', repeat('{', 5000), repeat('}', 5000), repeat('{}', 2500),
  repeat('}{', 2500), repeat(chr(26085), 1700)]);

CREATE TABLE bks (id bigserial PRIMARY KEY, b bytea NOT NULL);
INSERT INTO bks (b)
  SELECT substr(decode(md5(i::text) || md5((i + 1)::text) || 'ff00fe807bc07d', 'hex'), 1 + i % 7, i % 40)
    FROM generate_series(1, 3000) i;
INSERT INTO bks (b) SELECT unnest(ARRAY[
  '\x00'::bytea, '\x7b007d', '\x7bff7d', '\x7b7d', '\x7b7d7b007d', '\xc3', '\xfffe', '\x7bc37d',
  '\x0d0a', '\x7b0a7d']);
INSERT INTO bks (b) SELECT decode(repeat(md5('b' || i), 312) || '7b' || md5(i::text) || '7d', 'hex')
  FROM generate_series(1, 20) i;
ANALYZE ks; ANALYZE bks;
SQL
$node->safe_psql('postgres', $keys_sql);


# Key bytes, in id order.
$node->safe_psql('postgres',
	"COPY (SELECT encode(convert_to(k, 'UTF8'), 'hex') FROM ks ORDER BY id) TO '$dir/ks.hex'");
$node->safe_psql('postgres',
	"COPY (SELECT encode(b, 'hex') FROM bks ORDER BY id) TO '$dir/bks.hex'");
my @khex  = @{ read_lines("$dir/ks.hex") };
my @bhex  = @{ read_lines("$dir/bks.hex") };
my @kbytes = map { pack 'H*', $_ } @khex;
my @bbytes = map { pack 'H*', $_ } @bhex;
cmp_ok(scalar @kbytes, '>=', 10000, 'number of text keys (' . scalar(@kbytes) . ')');
my $nlong = grep { length($_) >= 4900 } @kbytes;
cmp_ok($nlong, '>=', 10, "long keys (~5000 bytes): $nlong");

sub printable
{
	my ($b) = @_;
	my $s = length($b) > 60 ? substr($b, 0, 40) . '...(' . length($b) . ' bytes)' : $b;
	$s =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
	return "'$s'";
}

# ---------------------------------------------------------------------------
# 1. CLUSTER KEYSLOT (Redis's keyHashSlot) vs ring_slot and ring_hash.
# ---------------------------------------------------------------------------
my $c1    = $r[0]{c};
my @kslot = @{ $c1->pipeline([ map { [ 'CLUSTER', 'KEYSLOT', $_ ] } @kbytes ]) };
my @bslot = @{ $c1->pipeline([ map { [ 'CLUSTER', 'KEYSLOT', $_ ] } @bbytes ]) };
die 'CLUSTER KEYSLOT failed: ' . (ref $kslot[0] ? $kslot[0]->msg : '?')
  if grep { !defined $_ || ref $_ } @kslot, @bslot;

$node->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('hs', 'slots');
SELECT hashring.ring_add_node('hs', 'only');
});
{
	my $mis = 0;
	for my $t ([ 'ks', 'k', \@kbytes, \@kslot ], [ 'bks', 'b', \@bbytes, \@bslot ])
	{
		my ($table, $col, $bytes, $want) = @$t;
		$node->safe_psql('postgres',
			    "COPY (SELECT hashring.ring_slot($col), hashring.ring_hash('hs', $col) "
			  . "FROM $table ORDER BY id) TO '$dir/$table.slot'");
		my $got = read_lines("$dir/$table.slot");
		is(scalar @$got, scalar @$want, "$table: one slot per key");
		for my $i (0 .. $#$want)
		{
			my ($s, $h) = split /\t/, $got->[$i] // '';
			next if defined $h && $s eq $want->[$i] && $h eq $want->[$i];
			diag("slot of key " . printable($bytes->[$i])
				  . ": Redis CLUSTER KEYSLOT $want->[$i], ring_slot/ring_hash "
				  . ($got->[$i] // '<missing>'))
			  if $mis < 10;
			$mis++;
		}
	}
	my $n = @kslot + @bslot;
	diag("CLUSTER KEYSLOT vs ring_slot/ring_hash: $n keys, $mis mismatches");
	is($mis, 0, "ring_slot and ring_hash agree with CLUSTER KEYSLOT on $n keys");
}

# ---------------------------------------------------------------------------
# 2. Default layout for N masters vs redis-cli's own plan (dry runs).
# ---------------------------------------------------------------------------
# Capture a fresh node's replies for the stand-in nodes.
for my $t ([ 'info', [ 'INFO' ] ], [ 'cinfo', [ 'CLUSTER', 'INFO' ] ],
	[ 'cnodes', [ 'CLUSTER', 'NODES' ] ])
{
	my ($f, $cmd) = @$t;
	open my $fh, '>:raw', "$dir/fresh.$f" or die;
	print $fh $r[0]{c}->cmd(@$cmd);
	close $fh;
}

# Parses redis-cli's plan: "M: <id> <addr>" then "   slots:[a-b],[c-d] (n slots) master".
sub parse_plan
{
	my ($out) = @_;
	my (@order, %ranges);
	my $cur;
	for my $line (split /\n/, $out)
	{
		# the plan ends at the prompt; a later cluster check lists nodes again
		last if @order && $line =~ /Can I set the above configuration|^>>> /;
		if ($line =~ /^M: [0-9a-f]{40} (\S+)/)
		{
			$cur = $1;
			push @order, $cur;
			$ranges{$cur} = [];
		}
		elsif (defined $cur && $line =~ /^\s+slots:(\S*)/)
		{
			for my $r (split /,/, $1)
			{
				$r =~ /^\[(\d+)(?:-(\d+))?\]$/ or die "bad slots item '$r'";
				push @{ $ranges{$cur} }, [ $1, $2 // $1 ];
			}
			undef $cur;
		}
	}
	return (\@order, \%ranges);
}

# slot -> owner (array of 16384), from [owner, first, last] triples.
sub slot_map
{
	my (@triples) = @_;
	my @m;
	for my $t (@triples)
	{
		my ($o, $a, $b) = @$t;
		for my $s ($a .. $b)
		{
			die "slot $s assigned twice ($m[$s], $o)" if defined $m[$s];
			$m[$s] = $o;
		}
	}
	my $missing = grep { !defined $m[$_] } 0 .. 16383;
	die "$missing slots not assigned" if $missing;
	return \@m;
}

# Probe keys, one per slot (slots per CLUSTER KEYSLOT), to compare layouts on
# every slot.
my @probe;    # slot -> key
{
	my $i = 0;
	my $left = 16384;
	while ($left > 0)
	{
		my @cand = map { 'probe:' . ($i + $_) } 0 .. 49999;
		$i += 50000;
		my $s = $c1->pipeline([ map { [ 'CLUSTER', 'KEYSLOT', $_ ] } @cand ]);
		for my $j (0 .. $#cand)
		{
			next if defined $probe[ $s->[$j] ];
			$probe[ $s->[$j] ] = $cand[$j];
			$left--;
		}
	}
	open my $fh, '>', "$dir/probe.txt" or die;
	print $fh "$_\t$probe[$_]\n" for 0 .. 16383;
	close $fh;
	$node->safe_psql('postgres',
		"CREATE TABLE probe (slot int PRIMARY KEY, k text NOT NULL); COPY probe FROM '$dir/probe.txt'");
}

# Compares ring $ring (ring_node, and ring_nodes(n) on all keys) with the
# slot -> owner map $map; returns the number of keys compared.
sub compare_ring
{
	my ($ring, $map, $what, %o) = @_;
	my $n = $o{n} // 3;
	# expected preference list: owner of the slot, then of following slots
	my %owners = map { $_ => 1 } @$map;
	my $want_n = keys(%owners) < $n ? keys(%owners) : $n;
	# runs of equal owners, in slot order
	my (@runs, @run_of);
	for my $s (0 .. 16383)
	{
		push @runs, $map->[$s] if !@runs || $runs[-1] ne $map->[$s];
		$run_of[$s] = $#runs;
	}
	my %pref;
	my $pref_of = sub {
		my ($slot) = @_;
		my $r0 = $run_of[$slot];
		return $pref{$r0} //= do {
			my (@l, %seen);
			for my $d (0 .. $#runs)
			{
				my $o = $runs[ ($r0 + $d) % @runs ];
				next if $seen{$o}++;
				push @l, $o;
				last if @l == $want_n;
			}
			join ',', @l;
		};
	};
	my @sets = (
		[ 'probe', 'k', [ map { $probe[$_] } 0 .. 16383 ], [ 0 .. 16383 ], 'slot' ],
		[ 'ks', 'k', \@kbytes, \@kslot, 'id' ],
		[ 'bks', 'b', \@bbytes, \@bslot, 'id' ]);
	@sets = grep { $_->[0] ne 'bks' } @sets if $o{no_bytea};
	my ($mis, $total) = (0, 0);
	my $t1 = time;
	for my $set (@sets)
	{
		my ($table, $col, $bytes, $slots, $order) = @$set;
		my $f = "$dir/$ring.$table.out";
		$node->safe_psql('postgres',
			    "COPY (SELECT hashring.ring_node('$ring', $col), "
			  . "array_to_string(hashring.ring_nodes('$ring', $col, $n), ',') "
			  . "FROM $table ORDER BY $order) TO '$f'");
		my $got = read_lines($f);
		$total += @$slots;
		for my $i (0 .. $#$slots)
		{
			my $want = $map->[ $slots->[$i] ] . "\t" . $pref_of->($slots->[$i]);
			my $g = $got->[$i] // '<missing>';
			next if $g eq $want;
			diag("$what: key " . printable($bytes->[$i]) . " (slot $slots->[$i]): "
				  . "Redis '$want', hashring '$g'")
			  if $mis < 10;
			$mis++;
		}
	}
	diag(sprintf("%s: %d keys compared, %d mismatches (%.1f s)", $what, $total, $mis, time - $t1));
	is($mis, 0, "$what: hashring agrees with Redis");
	return $total;
}

my $compared = 0;
{
	my $fake = "$compat/redis_fake_nodes.pl";
	my ($out, $err) = ('', '');
	my @sizes = (3, 4, 5, 6, 7, 10, 16, 57, 100, 255, 500);
	my $h = IPC::Run::start [ $^X, $fake, "$dir/fresh.info", "$dir/fresh.cinfo",
		"$dir/fresh.cnodes", 500 ], '<', '/dev/null', '>', \$out, '2>', \$err;
	push @harnesses, $h;
	$h->pump until $out =~ /^ready$/m || !$h->pumpable;
	my @ports = ($out =~ /^(\d+)$/mg);
	is(scalar @ports, 500, '500 stand-in empty nodes are listening');

	# Fewer than 3 masters: redis-cli refuses to plan.
	my ($rc, $plan2) = run_cli([ '--cluster', 'create',
		(map { "127.0.0.1:$_" } @ports[ 0 .. 1 ]), '--cluster-replicas', '0' ], "no\n");
	like($plan2, qr/at least 3 master nodes/, 'redis-cli --cluster create refuses 2 masters');

	for my $n (@sizes)
	{
		my @addrs = map { "127.0.0.1:$_" } @ports[ 0 .. $n - 1 ];
		my ($rc, $plan) = run_cli(
			[ '--cluster', 'create', @addrs, '--cluster-replicas', '0' ], "no\n");
		my ($order, $ranges) = parse_plan($plan);
		if (!is_deeply($order, \@addrs, "N=$n: redis-cli plans the masters in the order given"))
		{
			diag("redis-cli output:\n$plan");
			next;
		}
		my $map = slot_map(map { my $ad = $_; map { [ $ad, @$_ ] } @{ $ranges->{$ad} } } @addrs);
		note("N=$n: redis-cli plan: "
			  . join(' ', map { "[$ranges->{$_}[0][0]-$ranges->{$_}[0][1]]" } @addrs[ 0 .. ($n > 6 ? 5 : $n - 1) ])
			  . ($n > 6 ? ' ...' : ''));
		$node->safe_psql('postgres',
			    "SELECT hashring.ring_create('d$n', 'slots'); "
			  . "SELECT hashring.ring_add_node('d$n', a) FROM unnest('{"
			  . join(',', map { "\"$_\"" } @addrs)
			  . "}'::text[]) WITH ORDINALITY AS u(a, o) ORDER BY o");
		$compared += compare_ring("d$n", $map,
			"default layout, N=$n, vs redis-cli's plan",
			no_bytea => ($n != 3 && $n != 500));
	}
	$h->kill_kill;
	is($err, '', 'stand-in nodes saw only the commands they implement');

	# N = 1 and 2 have no redis-cli reference: the same rule extended
	# (slots_per_node 16384 and 8192 are exact in binary32).
	for my $n (1, 2)
	{
		my @names = map { "m$_" } 1 .. $n;
		my $map = slot_map($n == 1
			? ([ 'm1', 0, 16383 ])
			: ([ 'm1', 0, 8191 ], [ 'm2', 8192, 16383 ]));
		$node->safe_psql('postgres',
			    "SELECT hashring.ring_create('d$n', 'slots'); "
			  . join('', map { "SELECT hashring.ring_add_node('d$n', '$_');" } @names));
		$compared += compare_ring("d$n", $map,
			"default layout, N=$n (no redis-cli reference: 0-16383 / 0-8191,8192-16383)",
			no_bytea => 1, n => 2);
	}
}

# ---------------------------------------------------------------------------
# 3. The real cluster.
# ---------------------------------------------------------------------------
my @addrs = map { $_->{addr} } @r;
my ($rc, $create) = run_cli([ '--cluster', 'create', @addrs, '--cluster-replicas', '0',
	'--cluster-yes' ]);
is($rc, 0, 'redis-cli --cluster create succeeded') or diag($create);
my ($plan_order, $plan_ranges) = parse_plan($create);
is_deeply($plan_order, \@addrs, 'masters planned in the order given');
diag("redis-cli --cluster create, 3 masters: "
	  . join(', ', map { "$_ [" . join(',', map { "$_->[0]-$_->[1]" } @{ $plan_ranges->{$_} }) . "]" } @addrs));

sub wait_for
{
	my ($what, $cond) = @_;
	my $deadline = time + 60;
	while (time < $deadline)
	{
		return 1 if $cond->();
		usleep(100_000);
	}
	die "timed out waiting for $what";
}

# live slot map from CLUSTER SLOTS of instance $c: (map, triples, ids)
sub live_slots
{
	my ($c) = @_;
	my $reply = $c->cmd('CLUSTER', 'SLOTS');
	my @triples = map { [ "$_->[2][0]:$_->[2][1]", $_->[0], $_->[1] ] } @$reply;
	return [ sort { $a->[1] <=> $b->[1] } @triples ];
}

sub triples_text
{
	my ($t) = @_;
	return join ' ', map { "$_->[1]-$_->[2]=$_->[0]" } @$t;
}

# Cluster is ok on every node and every node reports the same slot map.
sub wait_converged
{
	my ($what) = @_;
	wait_for(
		$what,
		sub {
			for my $x (@r)
			{
				return 0
				  unless $x->{c}->cmd('CLUSTER', 'INFO') =~
				  /^cluster_state:ok\r?$/m;
			}
			my @t = map { triples_text(live_slots($_->{c})) } @r;
			return 0 if grep { $_ ne $t[0] } @t;
			my ($rc, $out) = run_cli([ '--cluster', 'check', $addrs[0] ]);
			return $rc == 0
			  && $out =~ /All nodes agree about slots configuration/
			  && $out =~ /All 16384 slots covered/
			  && $out !~ /\[(?:ERR|WARNING)\]/;
		});
	return live_slots($r[0]{c});
}

my $live = wait_converged('cluster_state:ok after create');
diag('CLUSTER SLOTS after create: ' . triples_text($live));
my $map0 = slot_map(@$live);
is_deeply($map0,
	slot_map(map { my $ad = $_; map { [ $ad, @$_ ] } @{ $plan_ranges->{$ad} } } @addrs),
	'CLUSTER SLOTS matches the plan redis-cli printed');

$node->safe_psql('postgres',
	"SELECT hashring.ring_create('r', 'slots'); "
	  . join('', map { "SELECT hashring.ring_add_node('r', '$_');" } @addrs));
$compared += compare_ring('r', $map0, 'real cluster, default layout (ring r)');

# End to end: SET keys through redis-cli -c, find them with KEYS *.
# Sample: every 7th text key, every awkward/long one, every 5th bytea key;
# distinct byte strings only.
my (%expect_src, @sample);    # bytes -> [table, index]
for my $i (0 .. $#kbytes)
{
	next unless $i % 7 == 0 || $i >= $#kbytes - 60 || length($kbytes[$i]) > 4000;
	next if $expect_src{ $kbytes[$i] };
	$expect_src{ $kbytes[$i] } = [ 'ks', $i ];
	push @sample, $kbytes[$i];
}
for my $i (0 .. $#bbytes)
{
	next unless $i % 5 == 0 || $i >= $#bbytes - 30;
	next if $expect_src{ $bbytes[$i] };
	$expect_src{ $bbytes[$i] } = [ 'bks', $i ];
	push @sample, $bbytes[$i];
}
cmp_ok(scalar @sample, '>=', 1000, 'end-to-end sample size (' . scalar(@sample) . ')');

{
	my $in = '';
	for my $k (@sample)
	{
		(my $q = $k) =~ s/(.)/sprintf('\\x%02x', ord $1)/gse;
		$in .= qq{SET "$q" "v"\n};
	}
	my ($rc, $out) = run_cli([ '-c', '-p', $r[0]{port} ], $in);
	my $oks = () = $out =~ /^OK$/mg;
	is($oks, scalar @sample, 'redis-cli -c: every SET answered OK (following MOVED)')
	  or diag(substr($out, 0, 2000));
}

# Which instance holds each key, per KEYS *; compare with a ring's ring_node.
sub end_to_end
{
	my ($ring, $what) = @_;
	my %holder;
	my $dup = 0;
	for my $x (@r)
	{
		for my $k (@{ $x->{c}->cmd('KEYS', '*') })
		{
			$dup++ if exists $holder{$k};
			$holder{$k} = $x->{addr};
		}
	}
	is($dup, 0, "$what: no key held by two instances");
	is(scalar keys %holder, scalar @sample, "$what: the instances hold exactly the sample");
	# ring_node for the sample, by table
	my %got;
	for my $table ('ks', 'bks')
	{
		my $col = $table eq 'ks' ? 'k' : 'b';
		my $lines = do {
			$node->safe_psql('postgres',
				"COPY (SELECT hashring.ring_node('$ring', $col) FROM $table ORDER BY id) TO '$dir/e2e.$table'");
			read_lines("$dir/e2e.$table");
		};
		$got{$table} = $lines;
	}
	my $mis = 0;
	for my $k (@sample)
	{
		my ($table, $i) = @{ $expect_src{$k} };
		my $want = $holder{$k} // '<no instance>';
		my $g = $got{$table}[$i] // '<missing>';
		next if $g eq $want;
		diag("$what: key " . printable($k) . " is on $want, ring_node('$ring') says $g")
		  if $mis < 10;
		$mis++;
	}
	diag("$what: " . scalar(@sample) . " stored keys compared, $mis mismatches");
	is($mis, 0, "$what: every stored key is on the instance ring_node names");
	return scalar @sample;
}

$compared += end_to_end('r', 'end to end after create');

# ---------------------------------------------------------------------------
# 4. Reshard, then mirror the live map into rings.
# ---------------------------------------------------------------------------
my %id = map { $_->{addr} => $_->{c}->cmd('CLUSTER', 'MYID') } @r;
for my $step (
	[ $addrs[0], $addrs[2], 1000 ],
	[ $addrs[2], $addrs[1], 1500 ],
	[ 'all', $addrs[0], 777 ])
{
	my ($from, $to, $n) = @$step;
	my ($rc, $out) = run_cli([ '--cluster', 'reshard', $addrs[0],
		'--cluster-from', ($from eq 'all' ? 'all' : $id{$from}),
		'--cluster-to', $id{$to}, '--cluster-slots', $n, '--cluster-yes' ]);
	is($rc, 0, "reshard $n slots from $from to $to") or diag(substr($out, -3000));
	wait_converged("cluster agreement after resharding $n slots to $to");
}
$live = live_slots($r[0]{c});
diag('CLUSTER SLOTS after resharding: ' . triples_text($live));
my $map1 = slot_map(@$live);
cmp_ok(scalar(@$live), '>', 3, 'resharding left more ranges than masters (' . scalar(@$live) . ')');

my $assign = join '',
  map { "SELECT hashring.ring_assign_slots('RING', '$_->[0]', $_->[1], $_->[2]);" } @$live;
(my $assign_m = $assign) =~ s/RING/m/g;
(my $assign_r = $assign) =~ s/RING/r/g;
$node->safe_psql('postgres',
	"SELECT hashring.ring_create('m', 'slots'); "
	  . join('', map { "SELECT hashring.ring_add_node('m', '$_');" } reverse @addrs)
	  . "SELECT hashring.ring_clear_slots('m');"
	  . $assign_m);
$compared += compare_ring('m', $map1, 'mirrored live map after resharding (ring m)');
$compared += end_to_end('m', 'end to end after resharding (ring m)');

# The same on ring r (which had the default layout); then clear it again.
$node->safe_psql('postgres', "SELECT hashring.ring_clear_slots('r');" . $assign_r);
$compared += compare_ring('r', $map1, 'ring r with the mirrored map', no_bytea => 1);
$node->safe_psql('postgres', "SELECT hashring.ring_clear_slots('r')");
$compared += compare_ring('r', $map0, 'ring r after ring_clear_slots: default layout again', no_bytea => 1);

# Integer, bigint and uuid keys route like their text form.
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM generate_series(-500, 500) i,
       LATERAL (SELECT (i * 2654435761)::bigint AS b, md5(i::text)::uuid AS u) x
 WHERE hashring.ring_node('m', i) IS DISTINCT FROM hashring.ring_node('m', i::text)
    OR hashring.ring_node('m', x.b) IS DISTINCT FROM hashring.ring_node('m', x.b::text)
    OR hashring.ring_node('m', x.u) IS DISTINCT FROM hashring.ring_node('m', x.u::text)
    OR hashring.ring_hash('m', x.u) IS DISTINCT FROM hashring.ring_slot(x.u::text)::bigint}),
	'0',
	'integer, bigint and uuid keys route like their text form');

diag("total keys compared: $compared; Redis $version; "
	  . sprintf('%.1f s', time - $t0));
cmp_ok($compared, '>=', 100000, "total comparisons ($compared)");

$node->stop;
$_->kill_kill for @harnesses;
@harnesses = ();
done_testing();
