# A hot standby follows membership changes made on the primary: the
# relcache invalidation sent by the catalog triggers is WAL-logged with the
# commit and replayed on the standby, so a standby backend that already has
# the ring cached routes by the new membership at its next statement.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;

my $primary = hr_node('standby_primary', preload => 1, allows_streaming => 1);

$primary->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('r', 'vnode', 120);
SELECT hashring.ring_add_node('r', 'shard-' || i, (1 + i % 3)::real, 'db' || i, 'zone-' || i % 2)
  FROM generate_series(1, 30) AS i ORDER BY i;
});

$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby_standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
# Keep the standby's snapshots from being cancelled by pruning on the primary
# (the REPEATABLE READ check below holds one across several changes).
$standby->append_conf('postgresql.conf', 'hot_standby_feedback = on');
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');
is($standby->safe_psql('postgres', q{SHOW shared_preload_libraries}), 'hashring',
	'standby preloads hashring');

my $N = 5000;
my $dsql = digest_sql('r', $N);
my $nsql = nodes3_sql('r', 1000);
my $esql = explicit_sql('r');

# Route on the primary and return (digest, ring_nodes digest, explicit, version).
sub primary_state
{
	return (
		$primary->safe_psql('postgres', $dsql),
		$primary->safe_psql('postgres', $nsql),
		$primary->safe_psql('postgres', $esql),
		$primary->safe_psql('postgres', ring_version_sql('r')));
}

# The long-lived standby session.
my $s = $standby->background_psql('postgres', on_error_stop => 0);

my ($pd, $pn, $pe, $pv) = primary_state();
is(bg_query($s, $dsql), $pd, 'standby session routes like the primary');
is(bg_query($s, $nsql), $pn, 'standby session: ring_nodes like the primary');
is(bg_query($s, $esql), $pe, 'standby session: explicit keys like the primary');
is(bg_query($s, cache_info_sql('r')), "$pv|shared|1",
	'standby session cached the ring in the standby\'s shared memory');

my @changes = (
	[ 'add a node', q{SELECT hashring.ring_add_node('r', 'shard-new', 2)} ],
	[ 'change a weight', q{SELECT hashring.ring_set_weight('r', 'shard-5', 4)} ],
	[ 'set a node down', q{SELECT hashring.ring_set_state('r', 'shard-12', 'down')} ],
	[ 'remove a node', q{SELECT hashring.ring_remove_node('r', 'shard-20')} ],
	[
		'several changes by plain DML in one transaction', q{
BEGIN;
UPDATE hashring.nodes SET weight = weight * 2 WHERE ring = 'r' AND node IN ('shard-1', 'shard-2');
UPDATE hashring.nodes SET state = 'active' WHERE ring = 'r' AND node = 'shard-12';
INSERT INTO hashring.nodes (ring, node, weight) VALUES ('r', 'shard-dml', 0.5);
COMMIT;}
	],);

my ($prev_d, $prev_v) = ($pd, $pv);
for my $c (@changes)
{
	my ($what, $sql) = @$c;
	$primary->safe_psql('postgres', $sql);
	$primary->wait_for_catchup($standby);
	($pd, $pn, $pe, $pv) = primary_state();
	isnt($pd, $prev_d, "$what: routing changed on the primary");
	ok($pv > $prev_v, "$what: version bumped on the primary ($prev_v -> $pv)");

	# Same standby backend, ring already cached: must see the change.
	is(bg_query($s, $dsql), $pd, "$what: same standby session routes by the new membership");
	is(bg_query($s, $nsql), $pn, "$what: same standby session, ring_nodes");
	is(bg_query($s, $esql), $pe, "$what: same standby session, explicit keys");
	like(bg_query($s, cache_info_sql('r')), qr/^$pv\|shared\|\d+$/,
		"$what: standby session cache is at version $pv");

	# A new standby session agrees.
	is($standby->safe_psql('postgres', "$dsql; $nsql"), "$pd\n$pn",
		"$what: new standby session agrees");
	($prev_d, $prev_v) = ($pd, $pv);
}

# ---------------------------------------------------------------------------
# Inside a READ COMMITTED transaction block on the standby: the next
# statement sees a change replayed meanwhile.  Under REPEATABLE READ the
# transaction keeps routing by its snapshot's membership.
# ---------------------------------------------------------------------------
bg_query($s, 'BEGIN ISOLATION LEVEL READ COMMITTED');
is(bg_query($s, $dsql), $prev_d, 'RC block on standby: routes by current membership');
my $rr = $standby->background_psql('postgres');
bg_query($rr, 'BEGIN ISOLATION LEVEL REPEATABLE READ');
is(bg_query($rr, $dsql), $prev_d, 'RR block on standby: routes by current membership');

$primary->safe_psql('postgres', q{SELECT hashring.ring_set_weight('r', 'shard-new', 0.25)});
$primary->wait_for_catchup($standby);
($pd, $pn, $pe, $pv) = primary_state();
isnt($pd, $prev_d, 'weight change altered routing on the primary');

is(bg_query($s, $dsql), $pd, 'RC block on standby: next statement routes by the replayed change');
bg_query($s, 'COMMIT');
is(bg_query($rr, $dsql), $prev_d, 'RR block on standby: still routes by its snapshot');
bg_query($rr, 'COMMIT');
is(bg_query($rr, $dsql), $pd, 'after the RR block: routes by the replayed change');
$rr->quit;

# ---------------------------------------------------------------------------
# Drop and re-create the ring under the same name on the primary.
# ---------------------------------------------------------------------------
$primary->safe_psql('postgres', q{SELECT hashring.ring_drop('r')});
$primary->wait_for_catchup($standby);
clear_bg($s);
my ($out, $err) = $s->query($dsql);
like($s->{stderr}, qr/ring "r" does not exist/,
	'standby session: dropped ring is gone');

$primary->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('r', 'vnode', 50);
SELECT hashring.ring_add_node('r', 'other-' || i) FROM generate_series(1, 7) AS i ORDER BY i;
});
$primary->wait_for_catchup($standby);
($pd, $pn, $pe, $pv) = primary_state();
is(bg_query($s, $dsql), $pd, 'standby session routes by the re-created ring');
is(bg_query($s, "SELECT count(DISTINCT hashring.ring_node('r', 'key-' || i)) FROM generate_series(1, $N) i"),
	'7', 'standby session: only the re-created ring\'s nodes own keys');
is($standby->safe_psql('postgres', $dsql), $pd, 'new standby session agrees');

# privileges are enforced on the standby exactly as on the primary, by
# EXECUTE, whatever this standby session has cached
$primary->safe_psql('postgres', q{
CREATE ROLE std_router; CREATE ROLE std_nobody;
SELECT hashring.ring_grant('std_router', 'route');
});
$primary->wait_for_catchup($standby);
is(bg_query($s, "SET ROLE std_router; SELECT hashring.ring_node('r', 'key-1') = (SELECT hashring.ring_node('r', 'key-1'))"),
	't', 'standby: a role with route routes');
clear_bg($s);
$s->query("SET ROLE std_nobody; SELECT hashring.ring_node('r', 'key-1')");
like($s->{stderr}, qr/permission denied for schema hashring/, 'standby: a role without it is refused, though this session cached the ring');
clear_bg($s);
$s->query("RESET ROLE; SET ROLE std_router; SELECT * FROM hashring.ring_balance('r')");
like($s->{stderr}, qr/permission denied for function ring_balance/, 'standby: route does not include reading balance');

$s->quit;
$standby->stop;
$primary->stop;
done_testing();
