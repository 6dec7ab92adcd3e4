# Rule 8 under a real commit race (issue 8, item 4): a statement whose
# snapshot already sees a membership commit routes by it, even while that
# commit's invalidation has not been sent yet.  The window between "visible
# to new snapshots" and "invalidations sent" is held open with the fault
# injection setting hashring.inject_commit_pause, which pauses the writer in
# its commit right there.  Also: the does-not-fit WARNING is given once per
# ring version, not once per backend (item 9), and a long image build obeys
# statement_timeout and pg_cancel_backend (item 3).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use HashringTest;

my $node = hr_node('snapshot_routing', preload => 1);
$node->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('r', vnodes => 64);
SELECT hashring.ring_add_node('r', 'n' || i) FROM generate_series(1, 6) AS i;
});

# One statement: what its snapshot sees, and how it routes.
my $check = q{
SELECT (SELECT count(*) FROM hashring.nodes WHERE ring = 'r' AND state = 'active')
       || '|' || (SELECT count(*) FROM generate_series(1, 2000) AS i
                   WHERE cardinality(hashring.ring_nodes('r', 'key-' || i, 10))
                         <> (SELECT count(*) FROM hashring.nodes WHERE ring = 'r' AND state = 'active')
                      OR hashring.ring_node('r', 'key-' || i) NOT IN
                         (SELECT node FROM hashring.nodes WHERE ring = 'r' AND state = 'active'))
};

my $reader = $node->background_psql('postgres');
my $writer = $node->background_psql('postgres');

# The reader routes a few statements first, so its cache entry is checked
# and trusted, exactly as a busy application backend's would be.
is(bg_query($reader, $check), '6|0', 'reader: 6 live nodes, routing agrees') for 1 .. 3;

for my $round (1 .. 3)
{
	my $victim = "n$round";
	bg_query($writer, q{SET hashring.inject_commit_pause = '4s'});
	# the change commits at once (autocommit) and then pauses in its commit
	$writer->query_until(qr/started/,
		"\\echo started\nSELECT hashring.ring_set_state('r', '$victim', 'down');\n");
	# wait until the commit is visible to new snapshots (the pause holds
	# back only its invalidations)
	my $visible = 0;
	for (1 .. 300)
	{
		if ($node->safe_psql('postgres',
				"SELECT state FROM hashring.nodes WHERE ring = 'r' AND node = '$victim'") eq 'down')
		{
			$visible = 1;
			last;
		}
		usleep(10_000);
	}
	ok($visible, "round $round: the commit is visible while its writer is paused");
	my $live = 6 - $round;
	is(bg_query($reader, $check), "$live|0",
		"round $round: the reader's statement sees $live live nodes and routes by them");
	is( bg_query($reader, "SELECT '$victim' = ANY (hashring.ring_nodes('r', 'key-1', 10))"),
		'f', "round $round: the node set down is not among the replicas");
	# let the writer finish
	$writer->query(q{SELECT 1});
	bg_query($writer, q{RESET hashring.inject_commit_pause});
	is(bg_query($reader, $check), "$live|0", "round $round: still right after the invalidation arrived");
}
$reader->quit;
$writer->quit;

# ---------------------------------------------------------------------------
# Item 9: an image that does not fit warns once per ring version, whichever
# backend builds it (0.2 warned in every backend for every version).
# ---------------------------------------------------------------------------
my $small = hr_node('snapshot_small', preload => 1, conf => "hashring.shared_memory = '1MB'");
$small->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('big', 'vnode', 1000);
SELECT hashring.ring_add_node('big', 'big-' || i) FROM generate_series(1, 100) AS i;
});
my $warnings = 0;
for my $session (1 .. 4)
{
	my ($ret, $out, $err) = $small->psql('postgres', q{SELECT hashring.ring_node('big', 'k')});
	is($ret, 0, "session $session routes the big ring");
	$warnings += () = $err =~ /does not fit in hashring shared memory/g;
	like($err, qr/more than all of hashring\.shared_memory/, "session $session: DETAIL says the image is larger than the region")
	  if $err ne '';
}
is($warnings, 1, 'four sessions, one version: one WARNING');
$small->safe_psql('postgres', q{SELECT hashring.ring_set_weight('big', 'big-1', 2)});
$warnings = 0;
for my $session (1 .. 3)
{
	my ($ret, $out, $err) = $small->psql('postgres', q{SELECT hashring.ring_node('big', 'k')});
	$warnings += () = $err =~ /does not fit in hashring shared memory/g;
}
is($warnings, 1, 'a new version: one more WARNING');
$small->stop;

# ---------------------------------------------------------------------------
# Item 3: building a large image is interruptible.
# ---------------------------------------------------------------------------
$node->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('slow', 'maglev', table_size => 16777213);
SELECT hashring.ring_add_node('slow', 'light', 1);
SELECT hashring.ring_add_node('slow', 'heavy', 1000);
});
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET statement_timeout = '300ms'; SELECT hashring.ring_node('slow', 'k')});
like($err, qr/canceling statement due to statement timeout/, 'statement_timeout cancels a 16M-entry maglev build');
$node->stop;
done_testing();
