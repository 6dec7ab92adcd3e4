# A logical-replication subscriber of the membership tables (issue 8, item
# 10).  The apply worker runs with session_replication_role = replica, so
# the ordinary triggers do not fire there; replica-enabled row triggers tell
# the subscriber's backends about every applied change, so a session that
# already routes follows the publisher's membership from its next statement
# (0.2 kept routing by its cached version forever).  Publishing
# hashring.ring_history as well gives the subscriber the history too.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;

my $pub = hr_node('lr_pub', preload => 1, allows_streaming => 'logical');
my $sub = hr_node('lr_sub', preload => 1);

$pub->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('r', vnodes => 32);
SELECT hashring.ring_add_node('r', 'n' || i) FROM generate_series(1, 4) AS i;
CREATE PUBLICATION hr FOR TABLE hashring.rings, hashring.nodes, hashring.slot_ranges, hashring.ring_history;
});
my $connstr = $pub->connstr . ' dbname=postgres';
$sub->safe_psql('postgres', "CREATE SUBSCRIPTION hr CONNECTION '$connstr' PUBLICATION hr");
$pub->wait_for_catchup('hr');
$sub->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate NOT IN ('r', 's')})
  or die 'initial sync did not finish';

my $nodes3 = nodes3_sql('r', 3000);
is($sub->safe_psql('postgres', $nodes3), $pub->safe_psql('postgres', $nodes3),
	'after the initial sync the subscriber routes like the publisher');

# a subscriber session that stays open, routing all the time
my $s = $sub->background_psql('postgres');
is(bg_query($s, $nodes3), $pub->safe_psql('postgres', $nodes3), 'open subscriber session routes like the publisher');

my @changes = (
	q{SELECT hashring.ring_set_state('r', 'n2', 'down')},
	q{SELECT hashring.ring_add_node('r', 'n5', 3)},
	q{UPDATE hashring.nodes SET weight = 2 WHERE ring = 'r' AND node = 'n1'},
	q{SELECT hashring.ring_remove_node('r', 'n3')},
	q{SELECT hashring.ring_set_state('r', 'n2', 'active')},
);
for my $change (@changes)
{
	my $before = bg_query($s, $nodes3);
	$pub->safe_psql('postgres', $change);
	$pub->wait_for_catchup('hr');
	my $want = $pub->safe_psql('postgres', $nodes3);
	isnt($want, $before, "publisher: '$change' changes replica sets");
	is(bg_query($s, $nodes3), $want, "open subscriber session follows '$change' at its next statement");
}
is( bg_query($s, q{SELECT version FROM hashring.ring_cache_info() WHERE ring = 'r'}),
	$pub->safe_psql('postgres', ring_version_sql('r')),
	'it routes by the publisher\'s version number');

# the history was published too: routing by version works on the subscriber
my $v = $pub->safe_psql('postgres', ring_version_sql('r'));
my $old = $v - 2;
my $at = "SELECT md5(string_agg(hashring.ring_node('r', 'key-' || i, $old), ',' ORDER BY i)) FROM generate_series(1, 2000) AS i";
is(bg_query($s, $at), $pub->safe_psql('postgres', $at), "routing at version $old agrees with the publisher");
is(bg_query($s, q{SELECT count(*) > 0 FROM hashring.ring_versions('r')}), 't', 'ring_versions lists the replicated history');

# dropping the ring on the publisher reaches the open session too
$pub->safe_psql('postgres', q{SELECT hashring.ring_drop('r')});
$pub->wait_for_catchup('hr');
bg_query($s, q{CREATE FUNCTION pg_temp.try_route() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN hashring.ring_node('r', 'k');
EXCEPTION WHEN undefined_object THEN
    RETURN SQLERRM;
END $$});
is(bg_query($s, q{SELECT pg_temp.try_route()}), 'ring "r" does not exist', 'the open session sees the ring dropped');
$s->quit;

$sub->safe_psql('postgres', 'DROP SUBSCRIPTION hr');
$sub->stop;
$pub->stop;
done_testing();
