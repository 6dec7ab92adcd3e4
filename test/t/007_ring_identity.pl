# The shared image directory is cluster-wide, but rings live in a database.
# A shared (or cached) image may only be used for the ring it was built
# from: rings of two databases, a ring re-created after DROP/CREATE
# EXTENSION, and a ring restored from a dump into another database of the
# same server can all have the same (ring_id, version) with different
# membership, and each must route by its own membership.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;

my $node = hr_node('identity', preload => 1, no_extension => 1);
# Reference routing: every ring rebuilt on a separate server, where each
# gets its own ring_id.
my $ref = hr_node('identity_ref', preload => 1);
my $refn = 0;

sub ref_digest
{
	my ($db, $ring, $n) = @_;
	my $name = 'ref' . ++$refn;
	$ref->safe_psql('postgres', export_ring_sql($node, $db, $ring, $name));
	return $ref->safe_psql('postgres', digest_sql($name, $n));
}

my $ident_sql = q{SELECT ring_id || '/' || version FROM hashring.rings WHERE ring = 'r'};

# ---------------------------------------------------------------------------
# A: two databases, same ring name, same ring_id and version, different nodes
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE db1; CREATE DATABASE db2;');
for my $db ('db1', 'db2')
{
	$node->safe_psql(
		$db, qq{
CREATE EXTENSION hashring;
SELECT hashring.ring_create('r');
SELECT hashring.ring_add_node('r', '$db-' || i) FROM generate_series(1, 5) AS i ORDER BY i;
});
}
is($node->safe_psql('db1', $ident_sql), $node->safe_psql('db2', $ident_sql),
	'db1 and db2: ring r has the same ring_id/version');

my $d1 = $node->safe_psql('db1', digest_sql('r', 2000));
is($d1, ref_digest('db1', 'r', 2000), 'db1 routes by its own nodes');
my $d2 = $node->safe_psql('db2', digest_sql('r', 2000));
is($d2, ref_digest('db2', 'r', 2000), 'db2 routes by its own nodes (not db1\'s image)');
is( $node->safe_psql('db2',
		q{SELECT count(*) FROM generate_series(1, 2000) i WHERE hashring.ring_node('r', 'key-' || i) NOT LIKE 'db2-%'}),
	'0',
	'db2: no key routes to a node of db1');
is($node->safe_psql('db1', digest_sql('r', 2000)), $d1, 'db1 still routes by its own nodes');

# ---------------------------------------------------------------------------
# B: DROP EXTENSION / CREATE EXTENSION restarts the ring_id sequence; the
# re-created ring has the old ring's ring_id and version.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE db3');
$node->safe_psql(
	'db3', q{
CREATE EXTENSION hashring;
SELECT hashring.ring_create('r');
SELECT hashring.ring_add_node('r', 'old-' || i) FROM generate_series(1, 3) AS i ORDER BY i;
});
my $old_ident = $node->safe_psql('db3', $ident_sql);
my $s = $node->background_psql('db3', on_error_stop => 0);
my $old_d = bg_query($s, digest_sql('r', 2000));
is($old_d, ref_digest('db3', 'r', 2000), 'db3: old ring routes by its nodes');
$node->safe_psql(
	'db3', q{
DROP EXTENSION hashring;
CREATE EXTENSION hashring;
SELECT hashring.ring_create('r');
SELECT hashring.ring_add_node('r', 'new-' || i) FROM generate_series(1, 3) AS i ORDER BY i;
});
is($node->safe_psql('db3', $ident_sql), $old_ident,
	"re-created ring has the old ring's ring_id/version ($old_ident)");
my $new_ref = ref_digest('db3', 'r', 2000);
isnt($new_ref, $old_d, 'old and new membership route differently');
is(bg_query($s, digest_sql('r', 2000)), $new_ref,
	'same session: re-created ring routes by its new nodes');
is($node->safe_psql('db3', digest_sql('r', 2000)), $new_ref,
	'new session: re-created ring routes by its new nodes');
$s->quit;

# Same without shared memory: a backend's own cached (local) image must not
# be reused for the re-created ring either.
my $np = hr_node('identity_nopreload');
$np->safe_psql('postgres',
	q{SELECT hashring.ring_create('r'); SELECT hashring.ring_add_node('r', 'old-' || i) FROM generate_series(1, 3) AS i ORDER BY i;});
$s = $np->background_psql('postgres');
is(bg_query($s, digest_sql('r', 2000)), $old_d, 'no preload: old ring routes by its nodes');
like(bg_query($s, cache_info_sql('r')), qr/^4\|local\|1$/, 'no preload: local image of version 4');
$np->safe_psql(
	'postgres', q{
DROP EXTENSION hashring;
CREATE EXTENSION hashring;
SELECT hashring.ring_create('r');
SELECT hashring.ring_add_node('r', 'new-' || i) FROM generate_series(1, 3) AS i ORDER BY i;
});
is(bg_query($s, digest_sql('r', 2000)), $new_ref,
	'no preload, same session: re-created ring routes by its new nodes');
is($np->safe_psql('postgres', digest_sql('r', 2000)), $new_ref,
	'no preload, new session: re-created ring routes by its new nodes');
$s->quit;
$np->stop;

# ---------------------------------------------------------------------------
# C: a dump restored into another database of the same server.  The restore
# resets version (1 + number of nodes), so after one more change the copy
# has the source's ring_id/version with different membership.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE src; CREATE DATABASE copy;');
$node->safe_psql(
	'src', q{
CREATE EXTENSION hashring;
SELECT hashring.ring_create('r');
SELECT hashring.ring_add_node('r', 'm-' || i) FROM generate_series(1, 7) AS i ORDER BY i;
SELECT hashring.ring_set_weight('r', 'm-1', 3);
});
my $src_d = $node->safe_psql('src', digest_sql('r', 2000));
my $dir = PostgreSQL::Test::Utils::tempdir('identity');
$node->command_ok([ 'pg_dump', '-d', 'src', '-f', "$dir/src.sql" ], 'dump src');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'copy', '-f', "$dir/src.sql" ],
	'restore into copy');
is($node->safe_psql('copy', digest_sql('r', 2000)), $src_d, 'restored copy routes like the source');
$node->safe_psql('copy', q{SELECT hashring.ring_add_node('r', 'm-extra')});
note 'src: ' . $node->safe_psql('src', $ident_sql) . ', copy after one change: '
  . $node->safe_psql('copy', $ident_sql);
my $copy_ref = ref_digest('copy', 'r', 2000);
isnt($copy_ref, $src_d, 'the added node changes routing');
is($node->safe_psql('copy', digest_sql('r', 2000)), $copy_ref,
	'copy routes by its own membership after the change');
is($node->safe_psql('src', digest_sql('r', 2000)), $src_d, 'source routing unchanged');

$node->stop;
$ref->stop;
done_testing();
