# Releases that stack (issue 11): installing 0.1 and updating through every
# version gives exactly the objects a fresh install of the latest version
# creates -- functions with their definitions, tables and columns,
# constraints, indexes, triggers (and whether they fire for replicas),
# sequences, comments, grants and what pg_dump keeps -- and routing answers
# for existing rings do not change at any step.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;

my $node = hr_node('upgrade_chain', preload => 1, no_extension => 1);
my $latest = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'hashring'});
my @chain = split /\n/, $node->safe_psql('postgres',
	q{SELECT version FROM pg_available_extension_versions WHERE name = 'hashring' ORDER BY string_to_array(version, '.')::int[]});
is($chain[-1], $latest, "versions available: @chain; latest $latest");

# Every object of the extension, one line each (newlines escaped), in a
# form that does not depend on OIDs or on creation order.
my $objects_sql = q{
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'hashring'),
nsp AS (SELECT 'hashring'::regnamespace AS oid)
SELECT line FROM (
  SELECT 'member ' || pg_describe_object(d.classid, d.objid, 0) AS line
    FROM pg_depend d, ext WHERE d.refobjid = ext.oid AND d.deptype = 'e'
  UNION ALL
  SELECT 'function ' || p.oid::regprocedure || ' ' || replace(pg_get_functiondef(p.oid), E'\n', '\\n')
         || ' acl=' || coalesce(p.proacl::text, '-') || ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
    FROM pg_proc p, nsp WHERE p.pronamespace = nsp.oid
  UNION ALL
  SELECT 'relation ' || c.relname || ' kind=' || c.relkind::text || ' acl=' || coalesce(c.relacl::text, '-')
         || ' options=' || coalesce(c.reloptions::text, '-') || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '-')
    FROM pg_class c, nsp WHERE c.relnamespace = nsp.oid
  UNION ALL
  SELECT 'column ' || c.relname || '.' || lpad(a.attnum::text, 3, '0') || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END || ' identity=' || a.attidentity::text
         || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-') || ' comment=' || coalesce(col_description(c.oid, a.attnum), '-')
    FROM pg_class c JOIN nsp ON c.relnamespace = nsp.oid JOIN pg_attribute a ON a.attrelid = c.oid
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
   WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v')
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(co.oid)
         || ' deferrable=' || condeferrable || ' deferred=' || condeferred
    FROM pg_constraint co, nsp WHERE co.connamespace = nsp.oid
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid, nsp WHERE c.relnamespace = nsp.oid
  UNION ALL
  SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid, nsp WHERE c.relnamespace = nsp.oid AND NOT t.tgisinternal
  UNION ALL
  SELECT 'sequence ' || s.seqrelid::regclass || ' ' || format_type(s.seqtypid, NULL) || ' ' || s.seqstart || ' ' || s.seqincrement
         || ' ' || s.seqmax || ' ' || s.seqmin || ' ' || s.seqcache || ' ' || s.seqcycle
    FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid, nsp WHERE c.relnamespace = nsp.oid
  UNION ALL
  SELECT 'dumped ' || x::regclass || ' ' || coalesce(extcondition[i], '')
    FROM pg_extension e, unnest(e.extconfig) WITH ORDINALITY AS u(x, i) WHERE e.extname = 'hashring'
  UNION ALL
  SELECT 'schema owner-is-extension-owner=' || (n.nspowner = e.extowner) || ' acl=' || coalesce(n.nspacl::text, '-')
         || ' comment=' || coalesce(obj_description(n.oid, 'pg_namespace'), '-')
    FROM pg_namespace n, pg_extension e WHERE n.nspname = 'hashring' AND e.extname = 'hashring'
  UNION ALL
  SELECT 'extension ' || extname || ' ' || extversion || ' relocatable=' || extrelocatable FROM pg_extension WHERE extname = 'hashring'
) s ORDER BY line
};

# Rings whose routing must survive every update (created at the first
# version that knows their algorithm).
my @algorithms = qw(vnode ketama jump maglev rendezvous slots xor pg_hash);
my %since = (vnode => '0.1');
sub digest_all
{
	my ($db, $re) = @_;
	$re //= '';
	# one statement for every ring (a psql per ring made this test quadratic)
	my %d = map { split /\|/, $_, 2 } split /\n/, $node->safe_psql(
		$db, qq{
SELECT r.ring || '|'
       || (SELECT md5(string_agg(coalesce(hashring.ring_node(r.ring, 'key-' || i), '<null>'), ',' ORDER BY i)) FROM generate_series(1, 3000) AS i)
       || ' ' || (SELECT md5(string_agg(hashring.ring_nodes(r.ring, 'key-' || i, 3)::text, ';' ORDER BY i)) FROM generate_series(1, 1000) AS i)
  FROM hashring.rings AS r WHERE r.ring ~ '$re' ORDER BY r.ring});
	return \%d;
}

# Routing by every past version kept in ring_history ("ring@version" =>
# owners and replica sets of 300 keys): what a version meant must survive
# the updates too (0.5 converts history from jsonb).
sub past_all
{
	my ($db) = @_;
	return {} unless $node->safe_psql($db, q{SELECT to_regclass('hashring.ring_history') IS NOT NULL}) eq 't';
	my %d = map { split /\|/, $_, 2 } split /\n/, $node->safe_psql(
		$db, q{
SELECT r.ring || '@' || v.version,
       md5(string_agg(hashring.ring_node(r.ring, 'k' || i, v.version) || ':'
                      || array_to_string(hashring.ring_nodes(r.ring, 'k' || i, 3, v.version), ','), ' ' ORDER BY i))
  FROM hashring.rings r, hashring.ring_versions(r.ring) v, generate_series(1, 300) i
 WHERE v.active_nodes > 0
 GROUP BY r.ring, v.version});
	return \%d;
}

$node->safe_psql('postgres', 'CREATE DATABASE chain');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('chain', "CREATE EXTENSION hashring VERSION '$chain[0]'");
my ($prev, $prev_past);
my $kept = {};
for my $i (0 .. $#chain)
{
	my $v = $chain[$i];
	if ($i > 0)
	{
		$node->safe_psql('chain', "ALTER EXTENSION hashring UPDATE TO '$v'");
		is($node->safe_psql('chain', q{SELECT extversion FROM pg_extension WHERE extname = 'hashring'}), $v, "updated to $v");
		$kept = digest_all('chain');
		is_deeply($kept, $prev, "routing and replica sets of every existing ring unchanged by the update to $v");
		my $past = past_all('chain');
		my @changed = grep { ($past->{$_} // '') ne $prev_past->{$_} } sort keys %$prev_past;
		ok(!@changed, "routing by each of " . scalar(keys %$prev_past) . " past versions unchanged by the update to $v")
		  or diag("changed: @changed");
	}
	# new rings at this version: every algorithm it knows
	my $known = $node->safe_psql('chain',
		q{SELECT count(*) FROM pg_proc WHERE proname = 'ring_slot' AND pronamespace = 'hashring'::regnamespace}) > 0;
	for my $a (@algorithms)
	{
		next unless $a eq 'vnode' || $known;
		my $r = "r_${a}_" . ($v =~ s/\./_/gr);
		$node->safe_psql('chain',
			$a eq 'vnode' ? "SELECT hashring.ring_create('$r', vnodes => 40)" : "SELECT hashring.ring_create('$r', '$a')");
		my $w = ($a =~ /^(vnode|ketama|maglev|rendezvous)$/) ? 'i' : '1';
		# in two zones, which rings older than 0.7 do not use: the update to
		# 0.7 must keep their replica sets (zone_replicas false)
		$node->safe_psql('chain',
			"SELECT hashring.ring_add_node('$r', 'node-' || i, $w, zone => 'zone-' || i % 2) FROM generate_series(1, 5) AS i ORDER BY i");
		$node->safe_psql('chain', "SELECT hashring.ring_set_state('$r', 'node-2', 'down')");
	}
	# the rings made at this version join those the update kept
	$prev = { %$kept, %{ digest_all('chain', '_' . ($v =~ s/\./_/gr) . '$') } };
	$prev_past = past_all('chain');
}

is( $node->safe_psql('chain',
		q{SELECT string_agg(DISTINCT (ring ~ '_0_[78]$')::text || '=' || zone_replicas::text, ' ') FROM hashring.rings}),
	'false=false true=true',
	'rings older than the update to 0.7 stay zone-blind; rings created at 0.7 or later spread replicas over zones');
# 0.8 spreads a zone's copies over its nodes on jump, slots and pg_hash:
# rings older than the update keep 0.7's rule (zone_spread false)
is( $node->safe_psql('chain',
		q{SELECT string_agg(DISTINCT (ring ~ '_0_8$')::text || '=' || zone_spread::text, ' ') FROM hashring.rings}),
	'false=false true=true',
	'rings older than the update to 0.8 keep each zone\'s first node as its replica; rings created at 0.8 spread them');

$node->safe_psql('fresh', 'CREATE EXTENSION hashring');
is($node->safe_psql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'hashring'}), $latest, "fresh install is $latest");
my @updated = split /\n/, $node->safe_psql('chain', $objects_sql);
my @fresh = split /\n/, $node->safe_psql('fresh', $objects_sql);
cmp_ok(scalar(@fresh), '>', 150, scalar(@fresh) . ' object lines compared');
my %u = map { $_ => 1 } @updated;
my %f = map { $_ => 1 } @fresh;
my @only_updated = grep { !$f{$_} } @updated;
my @only_fresh = grep { !$u{$_} } @fresh;
diag("only after the updates: $_") for @only_updated;
diag("only in the fresh install: $_") for @only_fresh;
ok(!@only_updated && !@only_fresh, "0.1 updated through @chain has exactly the objects of a fresh $latest install");

# the fresh install routes like the updated one
$node->safe_psql('fresh', export_ring_sql($node, 'chain', $_, $_)) for sort keys %$prev;
is_deeply(digest_all('fresh'), $prev, 'the same rings created on the fresh install route identically');

# Capabilities granted before an update cover what the update adds: 0.5's
# ring_algorithms() belongs to `read`, and the update grants it to every
# role that has read (and to no one else); 0.6's ring_set_node_tokens and
# ring_add_servers belong to `change`, and 0.6 recreates ring_algorithms().
$node->safe_psql('postgres', 'CREATE DATABASE grants');
$node->safe_psql('grants', q{CREATE EXTENSION hashring VERSION '0.4'});
$node->safe_psql(
	'grants', q{
CREATE ROLE hr_up_read; CREATE ROLE hr_up_route; CREATE ROLE hr_up_change; CREATE ROLE hr_up_move;
SELECT hashring.ring_grant('hr_up_read', 'read');
SELECT hashring.ring_grant('hr_up_route', 'route');
SELECT hashring.ring_grant('hr_up_change', 'change');
SELECT hashring.ring_grant('hr_up_move', 'move');
ALTER EXTENSION hashring UPDATE;
});
is( $node->safe_psql(
		'grants', q{SELECT string_agg(r || '=' || has_function_privilege(r, 'hashring.ring_algorithms()', 'EXECUTE'), ' ' ORDER BY r)
                      FROM unnest(ARRAY['hr_up_change', 'hr_up_read', 'hr_up_route', 'public']) AS r}),
	'hr_up_change=true hr_up_read=true hr_up_route=false public=false',
	'the updates grant ring_algorithms() to the roles that hold read, only to them');
is( $node->safe_psql(
		'grants', q{SELECT string_agg(r || '=' || has_function_privilege(r, f, 'EXECUTE'), ' ' ORDER BY f, r)
                      FROM unnest(ARRAY['hr_up_change', 'hr_up_read', 'hr_up_route', 'public']) AS r,
                           unnest(ARRAY['hashring.ring_add_servers(text, text, text)',
                                        'hashring.ring_set_node_tokens(text, text, bigint[])']) AS f}),
	'hr_up_change=true hr_up_read=false hr_up_route=false public=false '
	  . 'hr_up_change=true hr_up_read=false hr_up_route=false public=false',
	'the update to 0.6 grants ring_add_servers() and ring_set_node_tokens() to the roles that hold change, only to them');
is( $node->safe_psql(
		'grants', q{SELECT string_agg(r || '=' || has_function_privilege(r, f, 'EXECUTE'), ' ' ORDER BY f, r)
                      FROM unnest(ARRAY['hr_up_change', 'hr_up_read', 'hr_up_route', 'public']) AS r,
                           unnest(ARRAY['hashring.ring_diff(text, bigint, bigint, integer)',
                                        'hashring.ring_nodes(text, integer, integer, bigint)',
                                        'hashring.ring_plan_moves(text, regclass, name, bigint, bigint, integer, integer)',
                                        'hashring.ring_set_zone_replicas(text, boolean)',
                                        'hashring.ring_zone_balance(text, integer)']) AS f}),
	'hr_up_change=true hr_up_read=true hr_up_route=false public=false '
	  . 'hr_up_change=true hr_up_read=true hr_up_route=true public=false '
	  . 'hr_up_change=true hr_up_read=true hr_up_route=false public=false '
	  . 'hr_up_change=true hr_up_read=false hr_up_route=false public=false '
	  . 'hr_up_change=true hr_up_read=true hr_up_route=false public=false',
	'the update to 0.7 gives the recreated ring_diff() and ring_plan_moves(), ring_zone_balance(), the versioned typed ring_nodes() and ring_set_zone_replicas() to the roles of their capabilities, only to them');
# 0.7's health checker status belongs to `read`
is( $node->safe_psql(
		'grants', q{SELECT string_agg(r || '=' || has_function_privilege(r, 'hashring.health_status()', 'EXECUTE')
                                      || '/' || has_table_privilege(r, 'hashring.health_status', 'SELECT'), ' ' ORDER BY r)
                      FROM unnest(ARRAY['hr_up_change', 'hr_up_read', 'hr_up_route', 'public']) AS r}),
	'hr_up_change=true/true hr_up_read=true/true hr_up_route=false/false public=false/false',
	'the update to 0.7 grants the health checker status to the roles that hold read, only to them');
is( $node->safe_psql(
		'grants', q{SELECT string_agg(r || '=' || has_table_privilege(r, 'hashring.routing_stats', 'SELECT')
                                      || '/' || has_function_privilege(r, 'hashring.ring_stats_reset(text)', 'EXECUTE'), ' ' ORDER BY r)
                      FROM unnest(ARRAY['hr_up_change', 'hr_up_read', 'hr_up_route', 'public']) AS r}),
	'hr_up_change=true/true hr_up_read=true/false hr_up_route=false/false public=false/false',
	'the update to 0.7 grants routing_stats to the roles that hold read and ring_stats_reset() to those that hold change');
# 0.8's ring_balance(ring, replicas) belongs to `read`, ring_set_zone_spread to `change`
is( $node->safe_psql(
		'grants', q{SELECT string_agg(r || '=' || has_function_privilege(r, 'hashring.ring_balance(text, integer)', 'EXECUTE')
                                      || '/' || has_function_privilege(r, 'hashring.ring_set_zone_spread(text, boolean)', 'EXECUTE'), ' ' ORDER BY r)
                      FROM unnest(ARRAY['hr_up_change', 'hr_up_read', 'hr_up_route', 'public']) AS r}),
	'hr_up_change=true/true hr_up_read=true/false hr_up_route=false/false public=false/false',
	'the update to 0.8 grants ring_balance(ring, replicas) to the roles that hold read and ring_set_zone_spread() to those that hold change');
# 0.8 recreates _move_progress (the throttle's wait, issue 26): `move` keeps it
is( $node->safe_psql(
		'grants', q{SELECT string_agg(r || '=' || has_function_privilege(r,
                          'hashring._move_progress(text, text, text, text, bigint, bigint, bigint, text, bigint, bigint, bigint)', 'EXECUTE'), ' ' ORDER BY r)
                      FROM unnest(ARRAY['hr_up_change', 'hr_up_move', 'hr_up_read', 'public']) AS r}),
	'hr_up_change=false hr_up_move=true hr_up_read=false public=false',
	'the update to 0.8 gives the recreated _move_progress() to the roles that hold move, only to them');
$node->safe_psql('grants', q{SELECT hashring.ring_revoke('hr_up_read', 'route'); SELECT hashring.ring_revoke('hr_up_route', 'route');
                             SELECT hashring.ring_revoke('hr_up_change', 'route'); SELECT hashring.ring_revoke('hr_up_move', 'route')});
$node->safe_psql('postgres', 'DROP DATABASE grants');
$node->safe_psql('postgres', 'DROP ROLE hr_up_read, hr_up_route, hr_up_change, hr_up_move');

$node->stop;
done_testing();
