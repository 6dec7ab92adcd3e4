# Property-based fuzzing helpers for test/t/040_fuzz.pl.
#
# Sessions are psql processes driven through IPC::Run pipes from one event
# loop, so their statements really run at the same time on the server: the
# loop hands a session its next statement as soon as its previous one ends,
# and a session blocked on a lock does not stop the others.  Each statement
# is followed by a banner on stdout and stderr; what psql printed before the
# banner is that statement's result and error (VERBOSITY verbose, so the
# SQLSTATE is in the message).
#
# Every session has its own PRNG seeded from the run's seed, so the
# statements a session sends depend only on the seed and on the results it
# got back, not on how the sessions' statements interleave.
package HashringFuzz;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use Time::HiRes qw(time sleep);

our @EXPORT = qw(fz_rand fz_pick fz_chance fz_quote
  fz_session_start fz_session_send fz_session_poll fz_session_stop
  fz_lookup_check_sql fz_balance_check_sql fz_diff_check_sql
  fz_history_check_sql fz_ring_def_sql);

# ---------------------------------------------------------------- PRNG
# xorshift32, one state per session ($s->{rng}).

sub fz_rand
{
	my ($s, $n) = @_;    # integer in [0, $n)
	my $x = $s->{rng};
	$x ^= ($x << 13) & 0xffffffff;
	$x ^= $x >> 17;
	$x ^= ($x << 5) & 0xffffffff;
	$x &= 0xffffffff;
	$s->{rng} = $x;
	return $x % $n;
}

sub fz_chance
{
	my ($s, $p) = @_;
	return fz_rand($s, 1_000_000) < $p * 1_000_000;
}

sub fz_pick
{
	my ($s, @list) = @_;
	return $list[ fz_rand($s, scalar @list) ];
}

sub fz_quote
{
	my ($v) = @_;
	return 'NULL' unless defined $v;
	$v =~ s/'/''/g;
	return "'$v'";
}

# ---------------------------------------------------------------- sessions

# Start psql on $connstr; wait until it answers.  Returns the session hash
# (with {pid}, the backend's pid) or undef when the server does not accept
# connections within $wait seconds.
sub fz_session_start
{
	my ($s, $connstr, $wait) = @_;
	$wait //= 60;
	my $deadline = time + $wait;
	while (time < $deadline)
	{
		@$s{qw(in out err)} = ('', '', '');
		$s->{h} = IPC::Run::start(
			[ 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=0', '-d', $connstr ],
			'<', \$s->{in}, '>', \$s->{out}, '2>', \$s->{err});
		$s->{busy} = 0;
		$s->{seq} //= 0;
		fz_session_send($s, "\\set VERBOSITY verbose\nSELECT 'pid=' || pg_backend_pid()");
		my $t0 = time;
		my $r;
		while (time - $t0 < 20)
		{
			$r = fz_session_poll($s);
			last if $r;
			sleep 0.01;
		}
		if ($r && !$r->{lost} && $r->{out} =~ /pid=(\d+)/)
		{
			$s->{pid} = $1;
			return $s;
		}
		fz_session_stop($s);
		sleep 0.5;
	}
	return undef;
}

# Send one statement (no trailing semicolon needed).
sub fz_session_send
{
	my ($s, $sql) = @_;
	my $seq = ++$s->{seq};
	$s->{banner} = "\@\@FZ $seq\@\@";
	$s->{in} .= "$sql\n;\n\\echo '$s->{banner}'\n\\warn '$s->{banner}'\n";
	$s->{busy} = 1;
	$s->{sent_at} = time;
	return;
}

# Pump; when the statement finished return { out, err, sqlstate, message,
# lost, elapsed }, else undef.  {lost} means psql exited or the connection
# went away.
sub fz_session_poll
{
	my ($s) = @_;
	return undef unless $s->{busy};
	my $alive = $s->{h}->pumpable;
	eval { $s->{h}->pump_nb if $alive; 1 } or $alive = 0;
	my $b = $s->{banner};
	my ($io, $ie) = (index($s->{out}, "$b\n"), index($s->{err}, "$b\n"));
	my $r;
	if ($io >= 0 && $ie >= 0)
	{
		$r = {
			out => substr($s->{out}, 0, $io),
			err => substr($s->{err}, 0, $ie) };
		$s->{out} = substr($s->{out}, $io + length($b) + 1);
		$s->{err} = substr($s->{err}, $ie + length($b) + 1);
	}
	elsif (!$alive || !$s->{h}->pumpable)
	{
		$r = { out => $s->{out}, err => $s->{err}, lost => 1 };
	}
	return undef unless $r;
	$s->{busy} = 0;
	$r->{elapsed} = time - $s->{sent_at};
	if ($r->{err} =~ /(?:ERROR|FATAL|PANIC):\s+([0-9A-Z]{5}):\s*([^\n]*)/)
	{
		@$r{qw(sqlstate message)} = ($1, $2);
	}
	$r->{lost} = 1
	  if $r->{err} =~ /server closed the connection unexpectedly|connection to server was lost|no connection to the server/;
	chomp $r->{out};
	return $r;
}

sub fz_session_stop
{
	my ($s) = @_;
	return unless $s->{h};
	eval {
		$s->{in} .= "\\q\n" if $s->{h}->pumpable;
		$s->{h}->finish;
		1;
	} or eval { $s->{h}->kill_kill(grace => 2); 1 };
	delete $s->{h};
	$s->{busy} = 0;
	return;
}

# ---------------------------------------------------------------- checks
#
# Every check is ONE statement, so the catalog rows it compares with and the
# routing functions see the same snapshot.  "elig" is the set of nodes an
# owner may be and ring_nodes must draw from: the active nodes, all of them
# (ring_nodes gives least(n, active nodes); on a slots ring an active node
# without slots is still a live member).  "owners" are the nodes some key
# may be routed to: every active node too, since a ring whose live nodes own
# no point, entry or slot routes to the first live node in node order (see
# docs/algorithms.md, "Preference lists").
# Lookups are guarded so that they are only made where the documentation
# says they must succeed (some owner; a ranged slots ring covers all 16384
# slots), hence any error from a check is a failure.  Each check returns
# one line:
#   ring_seen | lookups | violations | first violation
sub _state_cte
{
	my ($ring) = @_;
	my $r = fz_quote($ring);
	return qq{st AS MATERIALIZED (
  SELECT r.ring, r.algorithm AS alg, r.vnodes, r.table_size,
         ARRAY(SELECT n.node FROM hashring.nodes n WHERE n.ring = r.ring AND n.state = 'active' ORDER BY n.node COLLATE "C") AS live,
         (r.algorithm = 'slots' AND EXISTS (SELECT 1 FROM hashring.slot_ranges s WHERE s.ring = r.ring)) AS ranged,
         (SELECT coalesce(sum(s.last_slot - s.first_slot + 1), 0) FROM hashring.slot_ranges s WHERE s.ring = r.ring) AS covered,
         format('[seen: %s vnodes %s table_size %s version %s; nodes %s; ranges %s]', r.algorithm, r.vnodes,
                coalesce(r.table_size::text, 'NULL'), r.version,
                (SELECT string_agg(format('%s w=%s %s', n.node, n.weight, n.state), ', ' ORDER BY n.ordinal)
                   FROM hashring.nodes n WHERE n.ring = r.ring),
                coalesce((SELECT string_agg(format('%s-%s:%s', s.first_slot, s.last_slot, s.node), ' ' ORDER BY s.first_slot)
                   FROM hashring.slot_ranges s WHERE s.ring = r.ring), 'none')) AS def
    FROM hashring.rings r WHERE r.ring = $r),
g AS MATERIALIZED (
  SELECT st.*, live AS elig, live AS owners,
         (NOT ranged OR covered = 16384) AS mapped
    FROM st)};
}

# ring_node / ring_nodes of $keys (array ref of SQL literals) with count $n.
sub fz_lookup_check_sql
{
	my ($ring, $keys, $n) = @_;
	my $ks = join(', ', @$keys);
	my $bad = qq{NOT coalesce(o = ANY (elig) AND ns[1] = o AND ns <\@ elig
                AND cardinality(ns) = least($n, cardinality(elig))
                AND cardinality(ns) = (SELECT count(DISTINCT x) FROM unnest(ns) x), false)};
	return qq{WITH } . _state_cte($ring) . qq{,
look AS MATERIALIZED (
  SELECT k, g.elig, g.alg, hashring.ring_node(g.ring, k) AS o, hashring.ring_nodes(g.ring, k, $n) AS ns
    FROM g, unnest(ARRAY[$ks]) AS k
   WHERE cardinality(g.owners) > 0 AND g.mapped)
SELECT (SELECT count(*) FROM g) || '|' || (SELECT count(*) FROM look) || '|' ||
       (SELECT count(*) FROM look WHERE $bad) || '|' ||
       coalesce((SELECT format('%s: key %L owner %s ring_nodes(n=$n) %s eligible %s ', alg, k, o, ns, elig)
                   FROM look WHERE $bad LIMIT 1) || (SELECT def FROM g), '')};
}

# ring_balance: one row per node, shares >= 0, down nodes 0, sum 1 when
# some node is eligible.
sub fz_balance_check_sql
{
	my ($ring) = @_;
	return qq{WITH } . _state_cte($ring) . qq{,
b AS MATERIALIZED (
  SELECT g.alg, g.elig, bb.* FROM g, LATERAL hashring.ring_balance(g.ring) bb WHERE g.mapped),
n AS (SELECT n.node, n.state FROM hashring.nodes n JOIN g USING (ring)),
v AS (
  SELECT (SELECT count(*) FROM b) AS rows, (SELECT count(*) FROM n) AS nodes,
         (SELECT coalesce(sum(share), 0) FROM b) AS total,
         (SELECT count(*) FROM b WHERE share IS NULL OR share < 0 OR share > 1 + 1e-9) AS badshare,
         (SELECT count(*) FROM b JOIN n USING (node) WHERE n.state = 'down' AND b.share <> 0) AS downshare,
         (SELECT cardinality(owners) FROM g) AS nelig, (SELECT mapped FROM g) AS mapped)
SELECT (SELECT count(*) FROM g) || '|' || CASE WHEN mapped THEN 1 ELSE 0 END || '|' ||
       CASE WHEN NOT mapped THEN 0
            WHEN rows <> nodes OR badshare > 0 OR downshare > 0
              OR (nelig > 0 AND abs(total - 1) > 1e-9) OR (nelig = 0 AND total <> 0) THEN 1 ELSE 0 END || '|' ||
       format('%s: %s balance rows for %s nodes, sum %s, %s bad shares, %s down nodes with a share, %s eligible: %s %s',
              (SELECT alg FROM g), rows, nodes, total, badshare, downshare, nelig,
              (SELECT string_agg(node || '=' || share, ' ' ORDER BY node) FROM b), (SELECT def FROM g))
  FROM v};
}

# ring_diff between two committed versions picked by $fa, $fb in [0, 1):
# no internal error, shares in [0, 1], total at most 1, nothing moves
# between a version and itself.
sub fz_diff_check_sql
{
	my ($ring, $fa, $fb) = @_;
	my $r = fz_quote($ring);
	return qq{WITH v AS MATERIALIZED (
  SELECT array_agg(version ORDER BY version) AS vs FROM hashring.ring_versions($r)
   WHERE EXISTS (SELECT 1 FROM hashring.rings WHERE ring = $r)),
p AS MATERIALIZED (
  SELECT vs[1 + floor($fa * cardinality(vs))::int] AS a, vs[1 + floor($fb * cardinality(vs))::int] AS b
    FROM v WHERE cardinality(vs) > 0),
d AS MATERIALIZED (SELECT p.a, p.b, dd.* FROM p, LATERAL hashring.ring_diff($r, p.a, p.b) dd)
SELECT (SELECT count(*) FROM p) || '|' || (SELECT count(*) FROM d) || '|' ||
       CASE WHEN (SELECT count(*) FROM d WHERE share IS NULL OR share < 0 OR share > 1 + 1e-9) > 0
              OR (SELECT coalesce(sum(share), 0) FROM d) > 1 + 1e-9
              OR (SELECT coalesce(sum(share), 0) FROM d WHERE a = b) <> 0 THEN 1 ELSE 0 END || '|' ||
       coalesce((SELECT format('versions %s -> %s: %s flows, total %s', a, b,
                               (SELECT count(*) FROM d), (SELECT sum(share) FROM d)) FROM p), '')};
}

# Routing at a committed version ($f in [0, 1) picks it) against that
# version's recorded membership.
sub fz_history_check_sql
{
	my ($ring, $f, $keys, $n) = @_;
	my $r = fz_quote($ring);
	my $ks = join(', ', @$keys);
	my $bad = qq{NOT coalesce(o = ANY (live) AND ns[1] = o AND ns <\@ live
                AND cardinality(ns) = least($n, cardinality(live)), false)};
	return qq{WITH hv AS MATERIALIZED (
  SELECT h.ring, h.version, h.algorithm AS alg, format('[%s vnodes %s table_size %s nodes %s]', h.algorithm, h.vnodes, h.table_size, h.nodes) AS def,
         ARRAY(SELECT e.node FROM unnest(h.nodes) e WHERE e.state = 'active') AS live,
         cardinality(h.slot_ranges) > 0 AS ranged
    FROM hashring.ring_history h JOIN hashring.rings r USING (ring_id)
   WHERE r.ring = $r
   ORDER BY h.version
  OFFSET floor($f * (SELECT count(*) FROM hashring.ring_history h2 JOIN hashring.rings r2 USING (ring_id) WHERE r2.ring = $r))::int
   LIMIT 1),
look AS MATERIALIZED (
  SELECT k, hv.version, hv.alg, hv.live, hv.def,
         hashring.ring_node(hv.ring, k, hv.version) AS o, hashring.ring_nodes(hv.ring, k, $n, hv.version) AS ns
    FROM hv, unnest(ARRAY[$ks]) AS k
   WHERE cardinality(hv.live) > 0 AND NOT hv.ranged)
SELECT (SELECT count(*) FROM hv) || '|' || (SELECT count(*) FROM look) || '|' ||
       (SELECT count(*) FROM look WHERE $bad) || '|' ||
       coalesce((SELECT format('%s at version %s: key %L owner %s ring_nodes(n=$n) %s active then %s %s', alg, version, k, o, ns, live, def)
                   FROM look WHERE $bad LIMIT 1), '')};
}

# The committed definition of a ring, for failure reports.
sub fz_ring_def_sql
{
	my ($ring) = @_;
	my $r = fz_quote($ring);
	return qq{SELECT coalesce((SELECT format('ring %s: algorithm %s vnodes %s table_size %s version %s points_total %s',
                 ring, algorithm, vnodes, coalesce(table_size::text, 'NULL'), version, points_total)
                 FROM hashring.rings WHERE ring = $r), 'ring $ring: absent') || E'\\n' ||
       coalesce((SELECT string_agg(format('  node %s weight %s state %s ordinal %s%s', node, weight, state, ordinal,
                        coalesce(' node_id ' || encode(node_id, 'hex'), '')), E'\\n' ORDER BY ordinal)
                   FROM hashring.nodes WHERE ring = $r), '  (no nodes)') ||
       coalesce(E'\\n' || (SELECT string_agg(format('  slots %s-%s -> %s', first_slot, last_slot, node), E'\\n' ORDER BY first_slot)
                   FROM hashring.slot_ranges WHERE ring = $r), '')};
}

1;
