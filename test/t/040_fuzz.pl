# Property-based fuzzer: random membership changes (the membership
# functions and plain DML on hashring.rings / hashring.nodes, savepoints,
# ROLLBACK TO, rollbacks, all three isolation levels) and lookups from
# several concurrent sessions, with invariants checked in every check
# statement (each in ONE statement, so against one snapshot):
#
#   - the owner is an eligible (active) member of the membership that
#     statement's snapshot sees, for the current version and for a past one;
#   - ring_nodes(r, k, n) has least(n, eligible) distinct eligible nodes and
#     starts with ring_node(r, k);
#   - ring_balance has a row per node, shares >= 0, down nodes 0, sum 1;
#   - ring_diff between committed versions gives shares in [0, 1], total <= 1;
#   - no internal error (XX000/XX001), no crash, no hang (statement_timeout
#     that we did not ask for), no deadlock (40P01).
#
# Expected (user) errors are classified by SQLSTATE and counted.
#
# A second phase checks snapshot consistency: one writer moves a `down`
# state one node forward per commit, two readers compare ring_nodes with the
# active node list of the same statement.
#
#   HASHRING_FUZZ_SEED=n       reproduce a run (the seed is printed)
#   HASHRING_FUZZ_SECONDS=n    budget, default 90 (a long run: 1800)
#   HASHRING_FUZZ_SESSIONS=n   concurrent sessions of the main phase, default 3
#   HASHRING_FUZZ_ALGOS=a,b    only these algorithms (default: all eight)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use HashringTest;
use HashringFuzz;

$SIG{PIPE} = 'IGNORE';

my $seed = $ENV{HASHRING_FUZZ_SEED} // (int(time * 1000) ^ $$) % 2_000_000_000;
my $budget = $ENV{HASHRING_FUZZ_SECONDS} // 90;
my $nsessions = $ENV{HASHRING_FUZZ_SESSIONS} // 3;
my $snap_seconds = $budget >= 40 ? int($budget * 0.3) : 10;
my $main_seconds = $budget - $snap_seconds;
$main_seconds = 20 if $main_seconds < 20;
my $stmt_timeout = 30;
note "hashring fuzz: seed $seed (HASHRING_FUZZ_SEED=$seed reproduces), "
  . "$main_seconds s main phase with $nsessions sessions, $snap_seconds s snapshot phase";

my $node = hr_node(
	'fuzz',
	preload => 1,
	conf => join("\n",
		"hashring.shared_memory = '8MB'",
		"statement_timeout = '${stmt_timeout}s'",
		"deadlock_timeout = '200ms'",
		"restart_after_crash = on",
		"max_connections = 30",
		"log_min_messages = warning",
		"log_error_verbosity = default"));
my $connstr = $node->connstr('postgres');

# ------------------------------------------------------------------ state

my @rings = map { "fz$_" } 0 .. 4;    # fz0 is the "hot" ring
# every algorithm the library has, and which of them take weights: the
# registry (hashring.ring_algorithms()), so a new algorithm is fuzzed too
my %weighted = map { split /\|/ } split /\n/,
  $node->safe_psql('postgres', q{SELECT algorithm, weighted FROM hashring.ring_algorithms()});
$weighted{$_} = $weighted{$_} eq 't' for keys %weighted;
my @algos = split /\n/, $node->safe_psql('postgres', q{SELECT algorithm FROM hashring.ring_algorithms()});
# HASHRING_FUZZ_ALGOS=vnode,jump,...: only these algorithms (to focus a run,
# or to check that the fuzzer is quiet where the code is right).
@algos = grep { my $a = $_; grep { $_ eq $a } split /,/, $ENV{HASHRING_FUZZ_ALGOS} } @algos
  if $ENV{HASHRING_FUZZ_ALGOS};
die "HASHRING_FUZZ_ALGOS names no algorithm" unless @algos;
my %allowed = map { $_ => 1 } @algos;
my @weights = (1, 1, 1, 2, 0.5, 3.75, 100, 1000, 1, 0.001);

my %err;          # SQLSTATE => count (expected ones)
my %unclassified; # SQLSTATE => [count, example]
my @failures;     # { class, session, sql, detail }
my %fail_count;   # class => count
my %stat = (statements => 0, lookups => 0, checks => 0, calls => 0);
my %per_session;

my %expected = map { $_ => 1 } qw(22023 42704 42710 23505 23503 0A000 54000
  55000 40001 25P02 22004 42602 42622 23514 23502 25006 3B001);
my %fatal_class = (
	XX000 => 'internal error XX000',
	XX001 => 'data corrupted XX001',
	XX002 => 'index corrupted XX002',
	'40P01' => 'deadlock 40P01',
	57014 => 'hang (statement_timeout) 57014',
	'57P01' => 'backend terminated 57P01',
	'57P02' => 'crash of another backend 57P02',
	53200 => 'out of memory 53200');

sub ring_def
{
	my ($ring) = @_;
	my ($ret, $out) = $node->psql('postgres', fz_ring_def_sql($ring), timeout => 20);
	return $ret == 0 ? $out : "(definition unavailable: psql $ret)";
}

# One line, at most $max characters.
sub short_sql
{
	my ($sql, $max) = @_;
	$max //= 300;
	$sql =~ s/\s+/ /g;
	return length($sql) > $max ? substr($sql, 0, $max) . ' ...' : $sql;
}

sub fail_event
{
	my ($class, $s, $item, $detail) = @_;
	$fail_count{$class}++;
	return if $fail_count{$class} > 5;    # report the first few of a class
	my $txn = $s ? join("\n", map { "    " . short_sql($_) } @{ $s->{txn} }) : '';
	my $rings_seen = $item && $item->{ring} ? $item->{ring} : undef;
	push @failures,
	  {
		class => $class,
		text => "FAILURE [$class] session " . ($s ? $s->{name} : '-')
		  . ($s && $s->{iso} ? " (transaction $s->{iso})" : ' (autocommit)')
		  . "\n  statement: " . ($item ? short_sql($item->{sql}, 4000) : '-')
		  . "\n  detail: $detail"
		  . ($txn ne '' ? "\n  this transaction so far:\n$txn" : '')
		  . ($rings_seen ? "\n  committed definition now:\n" . ring_def($rings_seen) : '') };
	diag $failures[-1]{text};
	return;
}

# ------------------------------------------------------------------ generators

sub keys_sql
{
	my ($s, $n) = @_;
	my @k;
	for (1 .. $n)
	{
		my $c = fz_rand($s, 20);
		push @k,
			$c == 0 ? "''"
		  : $c == 1 ? "'{user}:" . fz_rand($s, 1000) . "'"
		  : $c == 2 ? "chr(233) || 't' || chr(233) || '-" . fz_rand($s, 1000) . "'"
		  : "'k-" . fz_rand($s, 1_000_000) . "'";
	}
	return \@k;
}

sub node_name
{
	my ($s) = @_;
	return 'n' . fz_rand($s, 8) unless fz_chance($s, 0.08);
	return fz_pick($s, 'renamed-' . fz_rand($s, 3), 'node with space', 'n#1');
}

sub weight_for
{
	my ($s, $alg) = @_;
	return 1 if !$weighted{$alg} && fz_chance($s, 0.9);
	return fz_pick($s, @weights);
}

sub create_sql
{
	my ($s, $ring, $alg) = @_;
	$alg //= fz_pick($s, @algos);
	my $vn = fz_pick($s, 160, 160, 1, 7, 40);
	my $ts = $alg eq 'maglev'
	  ? fz_pick($s, 2, 3, 5, 7, 7, 13, 13, 251, 251, 'NULL', 4)
	  : (fz_chance($s, 0.03) ? 7 : 'NULL');
	my $rep = fz_pick($s, 1, 2, 3, 3, 5);
	return "SELECT hashring.ring_create('$ring', '$alg', $vn, $rep, $ts)";
}

sub nodeid_sql
{
	my ($s) = @_;
	return 'NULL' if fz_chance($s, 0.2);
	my $len = fz_chance($s, 0.1) ? 19 : 20;
	return "'\\x" . join('', map { sprintf '%02x', fz_rand($s, 256) } 1 .. $len) . "'::bytea";
}

# One random membership change on $ring (functions or plain DML).
sub write_sql
{
	my ($s, $ring) = @_;
	my $alg = fz_pick($s, @algos);    # what we guess; errors are fine
	my $nn = node_name($s);
	my $w = weight_for($s, $alg);
	my $r = "'$ring'";
	my $c = fz_rand($s, 36);
	return create_sql($s, $ring) if $c < 2;
	return "SELECT hashring.ring_drop($r)" if $c == 2;
	return "SELECT hashring.ring_add_node($r, " . fz_quote($nn) . ", $w)" if $c < 8;
	if ($c == 8)
	{
		my $a = fz_rand($s, 4);
		my $b = $a + fz_rand($s, 5);
		return "SELECT hashring.ring_add_node($r, 'n' || i, $w) FROM generate_series($a, $b) AS i ORDER BY i";
	}
	return "SELECT hashring.ring_remove_node($r, " . fz_quote($nn) . ")" if $c < 11;
	return "SELECT hashring.ring_set_weight($r, " . fz_quote($nn) . ", $w)" if $c < 13;
	return "SELECT hashring.ring_set_state($r, " . fz_quote($nn) . ", '"
	  . fz_pick($s, 'down', 'down', 'active', 'sleeping') . "')"
	  if $c < 17;
	if ($c < 19)
	{
		my $a = fz_rand($s, 16384);
		my $b = fz_chance($s, 0.5) ? 16383 : $a + fz_rand($s, 16384 - $a);
		return "SELECT hashring.ring_assign_slots($r, " . fz_quote($nn) . ", $a, $b)";
	}
	return "SELECT hashring.ring_clear_slots($r)" if $c == 19;
	return "SELECT hashring.ring_set_node_id($r, " . fz_quote($nn) . ", " . nodeid_sql($s) . ")" if $c == 20;
	return "SELECT hashring.ring_prune_versions($r, (SELECT max(version) - "
	  . fz_rand($s, 4) . " FROM hashring.ring_versions($r)))"
	  if $c == 21;
	# plain DML
	return "INSERT INTO hashring.nodes (ring, node, weight, state) VALUES ($r, "
	  . fz_quote($nn) . ", $w, '" . fz_pick($s, 'active', 'active', 'down') . "')"
	  if $c < 25;
	return "UPDATE hashring.nodes SET node = " . fz_quote(node_name($s)) . " WHERE ring = $r AND node = " . fz_quote($nn)
	  if $c == 25;
	return "UPDATE hashring.nodes SET weight = $w WHERE ring = $r" if $c == 26;
	return "UPDATE hashring.nodes SET weight = $w WHERE ring = $r AND node = " . fz_quote($nn) if $c == 27;
	return "UPDATE hashring.nodes SET state = '" . fz_pick($s, 'down', 'active') . "' WHERE ring = $r AND node = " . fz_quote($nn)
	  if $c == 28;
	return "UPDATE hashring.nodes SET state = CASE WHEN node = " . fz_quote($nn)
	  . " THEN 'down' ELSE 'active' END WHERE ring = $r"
	  if $c == 29;
	return "DELETE FROM hashring.nodes WHERE ring = $r AND node = " . fz_quote($nn) if $c == 30;
	return "DELETE FROM hashring.nodes WHERE ring = $r" if $c == 31 && fz_chance($s, 0.3);
	return "UPDATE hashring.rings SET algorithm = '$alg' WHERE ring = $r" if $c == 32;
	return "UPDATE hashring.rings SET vnodes = " . fz_pick($s, 1, 7, 160, 1000, 100000) . " WHERE ring = $r" if $c == 33;
	return "UPDATE hashring.rings SET table_size = " . fz_pick($s, 'NULL', 2, 7, 13, 251, 9) . " WHERE ring = $r" if $c == 34;
	return "INSERT INTO hashring.rings (ring, algorithm) VALUES ($r, '$alg')" if $c == 35 && fz_chance($s, 0.5);
	return "DELETE FROM hashring.rings WHERE ring = $r" if $c >= 31;
}

# A check item on $ring.
sub check_item
{
	my ($s, $ring) = @_;
	my $c = fz_rand($s, 10);
	if ($c < 6)
	{
		my $nk = 4 + fz_rand($s, 12);
		my $n = fz_pick($s, 1, 2, 3, 3, 4, 6, 9);
		return { kind => 'lookup', ring => $ring, nk => $nk,
			sql => fz_lookup_check_sql($ring, keys_sql($s, $nk), $n) };
	}
	return { kind => 'balance', ring => $ring, sql => fz_balance_check_sql($ring) } if $c < 8;
	if ($c < 9)
	{
		my ($fa, $fb) = (fz_rand($s, 1000) / 1000, fz_rand($s, 1000) / 1000);
		return { kind => 'diff', ring => $ring, sql => fz_diff_check_sql($ring, $fa, $fb) };
	}
	my $nk = 4 + fz_rand($s, 6);
	return { kind => 'history', ring => $ring, nk => $nk,
		sql => fz_history_check_sql($ring, fz_rand($s, 1000) / 1000, keys_sql($s, $nk), fz_pick($s, 1, 2, 3, 5)) };
}

sub pick_ring
{
	my ($s) = @_;
	return fz_chance($s, 0.4) ? $rings[0] : fz_pick($s, @rings);
}

sub w { return { kind => 'write', ring => $_[0], sql => $_[1] } }

# Shapes biased towards known trouble.  Each returns a list of items.
sub shape_items
{
	my ($s, $ring) = @_;
	my $r = "'$ring'";
	my $c = fz_rand($s, 7);
	my @it = (w($ring, "SELECT hashring.ring_drop($r)"));
	my @heavy = grep { $allowed{$_} } qw(ketama ketama ketama maglev vnode rendezvous);
	$c = 6
	  if ($c == 0 && !@heavy)
	  || ($c == 1 && !$allowed{maglev})
	  || ($c == 2 && !$allowed{slots})
	  || ($c == 3 && !($allowed{vnode} && ($allowed{ketama} || $allowed{rendezvous} || $allowed{maglev})));
	if ($c == 0)
	{    # one heavy node among light ones, the heavy one down
		my $alg = fz_pick($s, @heavy);
		push @it, w($ring, create_sql($s, $ring, $alg));
		my $big = fz_pick($s, 100, 1000, 50);
		push @it, w($ring, "SELECT hashring.ring_add_node($r, 'big', $big)");
		my $nsmall = 1 + fz_rand($s, 3);
		push @it, w($ring, "SELECT hashring.ring_add_node($r, 's' || i, 1) FROM generate_series(1, $nsmall) AS i ORDER BY i");
		push @it, check_item($s, $ring);
		push @it, w($ring, "SELECT hashring.ring_set_state($r, 'big', 'down')");
	}
	elsif ($c == 1)
	{    # maglev with a small prime table and unequal weights
		push @it, w($ring, create_sql($s, $ring, 'maglev'));
		my $k = 1 + fz_rand($s, 6);
		for my $i (1 .. $k)
		{
			push @it, w($ring, "SELECT hashring.ring_add_node($r, 'm$i', " . fz_pick($s, 1, 1, 1000, 2, 0.01) . ")");
		}
		push @it, w($ring, "SELECT hashring.ring_set_state($r, 'm" . (1 + fz_rand($s, $k)) . "', 'down')")
		  if fz_chance($s, 0.7);
	}
	elsif ($c == 2)
	{    # slots, with explicit ranges (full or partial cover), a node down
		push @it, w($ring, create_sql($s, $ring, 'slots'));
		my $k = 1 + fz_rand($s, 5);
		push @it, w($ring, "SELECT hashring.ring_add_node($r, 'r' || i) FROM generate_series(1, $k) AS i ORDER BY i");
		if (fz_chance($s, 0.7))
		{
			my $full = fz_chance($s, 0.6);
			push @it, w($ring,
				"SELECT hashring.ring_assign_slots($r, node, (i * 16384 / c)::int, ((i + 1) * 16384 / c - 1)::int) "
				  . "FROM (SELECT node, row_number() OVER (ORDER BY node DESC) - 1 AS i, count(*) OVER () + "
				  . ($full ? 0 : 1) . " AS c FROM hashring.nodes WHERE ring = $r) x");
		}
		push @it, w($ring, "SELECT hashring.ring_set_state($r, 'r" . (1 + fz_rand($s, $k)) . "', 'down')")
		  if fz_chance($s, 0.6);
	}
	elsif ($c == 3)
	{    # more points than the limit by changing the algorithm or vnodes
		my $alg = fz_pick($s, grep { $allowed{$_} } qw(ketama rendezvous maglev));
		push @it, w($ring, "SELECT hashring.ring_create($r, '$alg', 100000)");
		push @it, w($ring, "SELECT hashring.ring_add_node($r, 'p' || i, 200) FROM generate_series(1, 2) AS i");
		push @it, w($ring, fz_chance($s, 0.7)
			? "UPDATE hashring.rings SET algorithm = 'vnode' WHERE ring = $r"
			: "UPDATE hashring.rings SET algorithm = 'vnode', vnodes = 100000 WHERE ring = $r");
	}
	elsif ($c == 4)
	{    # algorithm change that the new algorithm cannot represent
		my $from = fz_pick($s, @algos);
		push @it, w($ring, "SELECT hashring.ring_create($r, '$from', 40, 3, " . ($from eq 'maglev' ? 7 : 'NULL') . ")");
		my $k = 2 + fz_rand($s, 8);
		push @it, w($ring, "SELECT hashring.ring_add_node($r, 'a' || i, " . fz_pick($s, 1, 2, 1000) . ") FROM generate_series(1, $k) AS i ORDER BY i");
		push @it, w($ring, "UPDATE hashring.rings SET algorithm = '" . fz_pick($s, @algos) . "' WHERE ring = $r");
		push @it, w($ring, "UPDATE hashring.rings SET table_size = " . fz_pick($s, 2, 3, 7) . " WHERE ring = $r")
		  if fz_chance($s, 0.4);
	}
	else
	{    # contention on the hot ring: a function and plain DML in one transaction
		@it = ();
		my $hot = "'$rings[0]'";
		my @a = (
			"SELECT hashring.ring_set_state($hot, 'n" . fz_rand($s, 4) . "', '" . fz_pick($s, 'down', 'active') . "')",
			"SELECT hashring.ring_set_weight($hot, 'n" . fz_rand($s, 4) . "', " . fz_pick($s, 1, 2) . ")",
			"SELECT hashring.ring_add_node($hot, 'n" . fz_rand($s, 8) . "')");
		my $fn = fz_pick($s, @a);
		my $dml = "UPDATE hashring.nodes SET weight = " . fz_pick($s, 1, 2) . " WHERE ring = $hot";
		my @pair = fz_chance($s, 0.7) ? ($fn, $dml) : ($dml, $fn);
		push @it, w($rings[0], $pair[0]);
		push @it, w($rings[0], "SELECT pg_sleep(0.0" . fz_rand($s, 10) . ")");
		push @it, w($rings[0], $pair[1]);
		$ring = $rings[0];
	}
	push @it, check_item($s, $ring) for 1 .. 2;
	return @it;
}

# Plan the session's next unit of work into $s->{queue}.
sub plan_next
{
	my ($s) = @_;
	my $c = fz_rand($s, 100);
	my $ring = pick_ring($s);
	if ($c < 30)
	{    # autocommit statement
		push @{ $s->{queue} }, fz_chance($s, 0.5) ? w($ring, write_sql($s, $ring)) : check_item($s, $ring);
		return;
	}
	my $iso = fz_pick($s, 'READ COMMITTED', 'READ COMMITTED', 'REPEATABLE READ', 'SERIALIZABLE');
	my @body;
	if ($c < 45)
	{
		@body = shape_items($s, $ring);
	}
	else
	{
		my $len = 2 + fz_rand($s, 7);
		my $sp = 0;
		for (1 .. $len)
		{
			my $x = fz_rand($s, 10);
			$ring = pick_ring($s) if fz_chance($s, 0.2);
			if ($x < 5) { push @body, w($ring, write_sql($s, $ring)) }
			elsif ($x < 8) { push @body, check_item($s, $ring) }
			elsif ($x < 9) { $sp++; push @body, { kind => 'ctl', sql => "SAVEPOINT s$sp", savepoint => $sp } }
			elsif ($sp) { push @body, { kind => 'ctl', sql => "ROLLBACK TO SAVEPOINT s$sp" }, check_item($s, $ring) }
		}
		push @body, check_item($s, $ring);
	}
	if ($c < 40 && fz_chance($s, 0.5))
	{    # shapes in autocommit: every change its own transaction
		push @{ $s->{queue} }, @body;
		return;
	}
	my $end = fz_chance($s, 0.7) ? 'COMMIT' : 'ROLLBACK';
	push @{ $s->{queue} }, { kind => 'ctl', sql => "BEGIN ISOLATION LEVEL $iso", begin => $iso }, @body,
	  { kind => 'ctl', sql => $end, end => 1 };
	push @{ $s->{queue} }, check_item($s, $ring) if $end eq 'COMMIT';
	return;
}

# ------------------------------------------------------------------ results

sub handle_result
{
	my ($s, $item, $r) = @_;
	$stat{statements}++;
	$per_session{ $s->{name} }++;
	push @{ $s->{txn} }, $item->{sql} if $s->{iso};

	if ($r->{lost})
	{
		$s->{lost_txn} = [ @{ $s->{txn} }, $item->{sql} ];
		fail_event('connection lost (crash)', $s, $item,
			"psql lost its connection: " . substr($r->{err} =~ s/\s+/ /gr, 0, 300));
		return 'lost';
	}
	my $st = $r->{sqlstate};
	if ($item->{begin} && !$st) { $s->{iso} = $item->{begin}; $s->{txn} = [ $item->{sql} ]; $s->{failed} = 0; $s->{sp} = {} }
	if ($item->{end}) { $s->{iso} = undef; $s->{txn} = []; $s->{failed} = 0 }
	if (!$st && $item->{sql} =~ /^ROLLBACK TO/) { $s->{failed} = 0 }
	if ($item->{savepoint} && !$st) { $s->{sp}{ $item->{savepoint} } = 1 }

	if ($st)
	{
		if ($fatal_class{$st})
		{
			fail_event($fatal_class{$st}, $s, $item, "$st: $r->{message}");
		}
		elsif ($item->{kind} =~ /^(lookup|balance)$/ && $st !~ /^(40001|25P02)$/)
		{
			# the check only looks where the documentation says lookups work
			fail_event("guarded $item->{kind} check failed with $st", $s, $item, "$st: $r->{message}");
		}
		elsif ($item->{kind} eq 'history' && $st !~ /^(40001|25P02|42704)$/)
		{
			fail_event("history check failed with $st", $s, $item, "$st: $r->{message}");
		}
		elsif ($expected{$st})
		{
			$err{$st}++;
		}
		else
		{
			$unclassified{$st}[0]++;
			$unclassified{$st}[1] //= "$st: $r->{message} in: $item->{sql}";
		}
		$s->{failed} = 1 if $s->{iso} && !$item->{end};
		if ($s->{iso} && !$item->{end} && !$item->{recovery})
		{
			# Recover: back to a savepoint, or one more statement (25P02)
			# and a rollback.  Drop the rest of the transaction's plan.
			my @rest = @{ $s->{queue} };
			my $i = 0;
			$i++ while $i < @rest && !$rest[$i]{end};
			splice @rest, 0, $i + 1;
			my ($sp) = sort { $b <=> $a } keys %{ $s->{sp} };
			my $nrec = 2;
			if ($sp && fz_chance($s, 0.7))
			{
				$nrec = 3;
				unshift @rest, { kind => 'ctl', sql => "ROLLBACK TO SAVEPOINT s$sp" },
				  check_item($s, $item->{ring} // pick_ring($s)),
				  { kind => 'ctl', sql => fz_chance($s, 0.6) ? 'COMMIT' : 'ROLLBACK', end => 1 };
			}
			else
			{
				unshift @rest, check_item($s, $item->{ring} // pick_ring($s)), { kind => 'ctl', sql => 'ROLLBACK', end => 1 };
			}
			$_->{recovery} = 1 for @rest[ 0 .. $nrec - 1 ];
			$s->{queue} = \@rest;
		}
		return 'error';
	}
	return 'ok' unless $item->{kind} =~ /^(lookup|balance|diff|history)$/;

	my ($seen, $looked, $bad, $detail) = split /\|/, $r->{out}, 4;
	if (!defined $bad || $seen !~ /^\d+$/)
	{
		fail_event("unparsable $item->{kind} check", $s, $item, "output: $r->{out}");
		return 'ok';
	}
	$stat{checks}++;
	$stat{ "checks_" . $item->{kind} }++;
	$stat{lookups} += $looked if $item->{kind} =~ /^(lookup|history)$/;
	$stat{calls} += $item->{kind} =~ /^(lookup|history)$/ ? 2 * $looked : 1;
	if ($bad ne '0')
	{
		my $class = "invariant: $item->{kind}";
		$class .= " ($1)" if $detail =~ /^(\w+)/;
		$class =~ s/^invariant/snapshot/ if $s->{snap};
		fail_event($class, $s, $item, "$bad violating lookups; first: $detail");
	}
	return 'ok';
}

# ------------------------------------------------------------------ event loop

sub start_session
{
	my ($name, $i) = @_;
	my $s = { name => $name, rng => (($seed * 2654435761 + 97 * ($i + 1)) & 0xffffffff) || 1, queue => [], txn => [] };
	fz_session_start($s, $connstr) or die "cannot start session $name";
	return $s;
}

# Run sessions until $until; $next->($s) fills an idle session's queue.
sub run_loop
{
	my ($sessions, $until, $next) = @_;
	my %cur;
	my $restarts = 0;
	while (1)
	{
		my ($active, $progress) = (0, 0);
		for my $s (@$sessions)
		{
			if (!$s->{busy})
			{
				next if time >= $until && (!$s->{iso} || time >= $until + 60);
				$next->($s) unless @{ $s->{queue} };
				my $item = shift @{ $s->{queue} };
				$cur{ $s->{name} } = $item;
				fz_session_send($s, $item->{sql});
			}
			$active++;
			my $r = fz_session_poll($s);
			if (!$r)
			{
				my $t = time - $s->{sent_at};
				if ($t > $stmt_timeout + 30 && !$s->{hung_reported})
				{
					fail_event('hang: statement ignores statement_timeout', $s, $cur{ $s->{name} },
						sprintf('running for %.0f s', $t));
					$s->{hung_reported} = 1;
					$node->psql('postgres', "SELECT pg_terminate_backend($s->{pid})", timeout => 20);
				}
				next;
			}
			$s->{hung_reported} = 0;
			$progress++;
			if (handle_result($s, $cur{ $s->{name} }, $r) eq 'lost')
			{
				fz_session_stop($s);
				$s->{queue} = [];
				$s->{iso} = undef;
				$s->{txn} = [];
				$restarts++;
				$s->{old_pids}{ $s->{pid} } = $s->{lost_txn};
				fz_session_start($s, $connstr, 90) or die "server does not come back after a crash";
				collect_crashes();
			}
		}
		last unless $active;
		sleep 0.001 unless $progress;
	}
	return $restarts;
}

# Crashes in the server log since the last call: the signal, the statement
# the crashed backend was running (continuation lines of a multi-line
# statement start with a tab), the session's transaction so far, and the
# committed definition of the ring right after the crash restart (nobody
# committed anything since the crash, so that is what the statement saw
# outside its own transaction).
my ($log_offset, $crash_offset);
my @all_sessions;
sub collect_crashes
{
	my $log = slurp_file($node->logfile);
	my $new = substr($log, $crash_offset);
	$crash_offset = length $log;
	while ($new =~ /((?:server process|client backend) \(PID (\d+)\) was terminated by (?:signal|exception)[^\n]*)\n(?:[^\n]*DETAIL:\s+Failed process was running: ([^\n]*(?:\n\t[^\n]*)*))?/g)
	{
		my ($what, $pid, $stmt) = ($1, $2, $3 // '');
		my ($ring) = $stmt =~ /'(fz\d|snap)'/;
		my ($sess) = grep { $_->{old_pids}{$pid} } @all_sessions;
		my $txn = $sess ? $sess->{old_pids}{$pid} : [];
		my $pseudo = { name => $sess ? $sess->{name} : "pid $pid", txn => [ @$txn[ 0 .. $#$txn - 1 ] ],
			iso => (@$txn > 1 ? 'block' : undef) };
		fail_event('server crash (signal)', $pseudo, { sql => $stmt, ring => $ring }, $what);
	}
	return;
}

# ------------------------------------------------------------------ main phase

my $t_start = time;
$log_offset = $crash_offset = -s $node->logfile;
my @sessions = map { start_session("s$_", $_) } 1 .. $nsessions;
push @all_sessions, @sessions;
my $restarts = run_loop(\@sessions, time + $main_seconds, \&plan_next);
fz_session_stop($_) for @sessions;
my $main_elapsed = time - $t_start;

# ------------------------------------------------------------------ snapshot phase
# One writer moves `down` one node forward per commit (plain UPDATE or two
# ring_set_state calls in one transaction); readers compare ring_nodes with
# the active nodes of the same statement (autocommit, inside READ COMMITTED
# transactions, inside REPEATABLE READ transactions).

$node->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('snap', 'vnode', 160);
SELECT hashring.ring_add_node('snap', 'v' || i) FROM generate_series(0, 5) AS i ORDER BY i;
SELECT hashring.ring_set_state('snap', 'v0', 'down');
});
my %snap = (writes => 0, checks => 0, mismatching_statements => 0, mismatching_lookups => 0);
my %snap_by_mode;
my $pos = 0;
my $writer = start_session('snap-writer', 100);
my @readers = map { start_session("snap-reader$_", 100 + $_) } 1 .. 2;
$_->{snap} = 1 for @readers;
push @all_sessions, $writer, @readers;

sub snap_next
{
	my ($s) = @_;
	if ($s->{name} eq 'snap-writer')
	{
		my ($from, $to) = ("v$pos", 'v' . (($pos + 1) % 6));
		$pos = ($pos + 1) % 6;
		if (fz_chance($s, 0.5))
		{
			push @{ $s->{queue} }, { kind => 'snapw',
				sql => "UPDATE hashring.nodes SET state = CASE WHEN node = '$to' THEN 'down' ELSE 'active' END WHERE ring = 'snap'" };
		}
		else
		{
			push @{ $s->{queue} }, { kind => 'ctl', sql => 'BEGIN', begin => 'READ COMMITTED' },
			  { kind => 'snapw', sql => "SELECT hashring.ring_set_state('snap', '$from', 'active')" },
			  { kind => 'snapw', sql => "SELECT hashring.ring_set_state('snap', '$to', 'down')" },
			  { kind => 'ctl', sql => 'COMMIT', end => 1 };
		}
		return;
	}
	my $mode = fz_pick($s, 'autocommit', 'READ COMMITTED', 'READ COMMITTED', 'REPEATABLE READ');
	# A batch of check statements per round trip: the race this phase looks
	# for needs many statements.
	my @checks = map {
		my @sql = map { fz_lookup_check_sql('snap', keys_sql($s, fz_pick($s, 2, 4, 8)), fz_pick($s, 1, 3, 5, 6)) } 1 .. 10;
		{ kind => 'snapbatch', ring => 'snap', mode => $mode, n => 10, sql => join(";\n", @sql) }
	} 1 .. ($mode eq 'autocommit' ? 1 : 3);
	if ($mode eq 'autocommit') { push @{ $s->{queue} }, @checks }
	else
	{
		push @{ $s->{queue} }, { kind => 'ctl', sql => "BEGIN ISOLATION LEVEL $mode", begin => $mode }, @checks,
		  { kind => 'ctl', sql => 'COMMIT', end => 1 };
	}
	return;
}

# Reuse handle_result but count mismatches separately.
my $t_snap = time;
{
	no warnings 'redefine';
	my $orig = \&handle_result;
	local *handle_result = sub {
		my ($s, $item, $r) = @_;
		if ($item->{kind} eq 'snapbatch')
		{
			my @lines = grep { /^\d+\|/ } split /\n/, $r->{out};
			for my $line (@lines)
			{
				my (undef, $looked, $bad, $detail) = split /\|/, $line, 4;
				$snap{checks}++;
				$stat{checks}++;
				$stat{lookups} += $looked;
				$stat{calls} += 2 * $looked;
				$snap_by_mode{ $item->{mode} }{checks}++;
				next if $bad eq '0';
				$snap{mismatching_statements}++;
				$snap{mismatching_lookups} += $bad;
				$snap_by_mode{ $item->{mode} }{mismatches}++;
				fail_event('snapshot: lookup', $s, { %$item, sql => (split /;\n/, $item->{sql})[0] . ' (one of a batch of 10)' },
					"$bad violating lookups; first: $detail");
			}
			$stat{statements} += @lines - 1 if @lines;
			# an error (or fewer result lines than statements) is a failure
			return $orig->($s, { %$item, kind => 'lookup' }, $r) if $r->{sqlstate} || $r->{lost};
			fail_event('snapshot: check returned no result', $s, $item, "output: $r->{out}") if @lines != $item->{n};
			$stat{statements}++;
			$per_session{ $s->{name} } += @lines;
			push @{ $s->{txn} }, '(a batch of 10 checks)' if $s->{iso};
			return 'ok';
		}
		$snap{writes}++ if $item->{kind} eq 'snapw' && !$r->{sqlstate};
		return $orig->($s, $item, $r);
	};
	$restarts += run_loop([ $writer, @readers ], time + $snap_seconds, \&snap_next);
}
fz_session_stop($_) for $writer, @readers;
my $snap_elapsed = time - $t_snap;

# ------------------------------------------------------------------ verdict

my $alive = $node->psql('postgres', 'SELECT 1', timeout => 30) == 0;
my $log = substr(slurp_file($node->logfile), $log_offset);
collect_crashes();
my @traps = $log =~ /^.*(?:TRAP:|PANIC:).*$/mg;
fail_event('assertion / PANIC', undef, undef, $_) for @traps;

my $minutes = (time - $t_start) / 60;
note sprintf('seed %d; sessions %d (+3 in the snapshot phase); %.1f minutes (main %.0f s, snapshot %.0f s); '
	  . 'session restarts %d', $seed, $nsessions, $minutes, $main_elapsed, $snap_elapsed, $restarts);
note "statements $stat{statements}; per session: "
  . join(', ', map { "$_ $per_session{$_}" } sort keys %per_session);
note "checks $stat{checks} (" . join(', ', map { "$_ " . ($stat{"checks_$_"} // 0) } qw(lookup balance diff history))
  . "); lookups checked $stat{lookups}; hashring calls in checks about $stat{calls}";
note "expected errors by SQLSTATE: " . (join(', ', map { "$_ $err{$_}" } sort keys %err) || 'none');
note "unclassified SQLSTATEs: $_ x$unclassified{$_}[0], e.g. $unclassified{$_}[1]" for sort keys %unclassified;
note "snapshot phase: $snap{writes} committed moves, $snap{checks} reader checks, "
  . "$snap{mismatching_statements} statements ($snap{mismatching_lookups} lookups) disagreeing with their snapshot; by mode: "
  . join(', ', map { "$_ " . ($snap_by_mode{$_}{mismatches} // 0) . "/" . $snap_by_mode{$_}{checks} } sort keys %snap_by_mode);
note "failures by class: " . (join('; ', map { "$_: $fail_count{$_}" } sort keys %fail_count) || 'none');

my $sum = sub { my $re = shift; my $n = 0; $n += $fail_count{$_} for grep { /$re/ } keys %fail_count; $n };
ok($alive, 'server still accepts connections');
cmp_ok($stat{checks}, '>=', 10 * $main_seconds / 9, "enough invariant checks ran ($stat{checks})");
cmp_ok($stat{lookups}, '>=', 50 * $main_seconds / 9, "enough lookups were checked ($stat{lookups})");
cmp_ok($snap{checks}, '>=', 200, "snapshot phase ran ($snap{checks} reader checks, $snap{writes} moves)");
cmp_ok($snap{writes}, '>=', 20, 'the snapshot writer committed moves');
is($sum->(qr/^(invariant|guarded|history check)/), 0, 'no invariant violations');
is($snap{mismatching_statements}, 0, 'snapshot phase: every statement routes by the membership it sees');
is($sum->(qr/XX00/), 0, 'no internal errors (XX000/XX001/XX002)');
is($sum->(qr/crash|signal|PANIC|57P0/), 0, 'no crashes (no backend terminated by a signal, no connection lost)');
is($sum->(qr/hang/), 0, 'no hangs');
is($sum->(qr/deadlock/), 0, 'no deadlocks');
is($sum->(qr/unparsable|out of memory|no result/), 0, 'no unparsable check results or out-of-memory errors');
is(scalar(keys %unclassified), 0, 'every error has a known SQLSTATE');

$node->stop('immediate');
done_testing();
