# Shared helpers for hashring's TAP tests (test/t/0*.pl).
package HashringTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(hr_node digest_sql nodes3_sql explicit_sql
  cache_info_sql ring_version_sql clear_bg bg_query copy_ring_sql
  export_ring_sql read_lines on_path);

# A fresh cluster: UTF8/C, optionally preloading hashring, plus extra config
# lines.  Started, with the extension created in "postgres" unless
# $opts{no_extension}.
sub hr_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(
		extra => [ '--encoding=UTF8', '--locale=C' ],
		$opts{allows_streaming} ? (allows_streaming => $opts{allows_streaming}) : ());
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'hashring'")
	  if $opts{preload};
	$node->append_conf('postgresql.conf', $opts{conf}) if $opts{conf};
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION hashring')
	  unless $opts{no_extension};
	return $node;
}

# md5 over the owners of keys key-1 .. key-$n, in key order.
sub digest_sql
{
	my ($ring, $n) = @_;
	return
	  "SELECT md5(string_agg(coalesce(hashring.ring_node('$ring', 'key-' || i), '<null>'), ',' ORDER BY i)) "
	  . "FROM generate_series(1, $n) AS i";
}

# md5 over ring_nodes(ring, key, $k) of keys key-1 .. key-$n.
sub nodes3_sql
{
	my ($ring, $n, $k) = @_;
	$k //= 3;
	return
	  "SELECT md5(string_agg(hashring.ring_nodes('$ring', 'key-' || i, $k)::text, ';' ORDER BY i)) "
	  . "FROM generate_series(1, $n) AS i";
}

# A few explicit keys, including non-ASCII ones, as one "k=node|..." string.
sub explicit_sql
{
	my ($ring) = @_;
	return
	  "SELECT string_agg(k || '=' || hashring.ring_node('$ring', k), '|' ORDER BY k) "
	  . "FROM unnest(ARRAY['', 'a', 'user:42', 'order/2024/0001', chr(233) || 't' || chr(233), repeat('x', 1000)]) AS k";
}

sub cache_info_sql
{
	my ($ring) = @_;
	return
	  "SELECT version || '|' || location || '|' || local_builds FROM hashring.ring_cache_info() WHERE ring = '$ring'";
}

sub ring_version_sql
{
	my ($ring) = @_;
	return "SELECT version FROM hashring.rings WHERE ring = '$ring'";
}

# BackgroundPsql keeps stderr across queries; forget it.
sub clear_bg
{
	my ($s) = @_;
	$s->{stderr} = '';
	return;
}

# Run a query in a background session; die on error; return stdout.
sub bg_query
{
	my ($s, $sql) = @_;
	clear_bg($s);
	my $out = $s->query($sql);
	die "background query failed: $s->{stderr}\nquery: $sql"
	  if $s->{stderr} ne '';
	return $out;
}

# SQL that creates ring $dst with the same vnodes/replicas and the same
# nodes (weight, state, target, zone) and zone_replicas as ring $src, as
# currently committed.
sub copy_ring_sql
{
	my ($src, $dst) = @_;
	return qq{
SELECT hashring.ring_create('$dst', algorithm, vnodes, replicas)
  FROM hashring.rings WHERE ring = '$src';
SELECT hashring.ring_add_node('$dst', node, weight, target, zone)
  FROM hashring.nodes WHERE ring = '$src' ORDER BY ordinal;
SELECT hashring.ring_set_state('$dst', node, state)
  FROM hashring.nodes WHERE ring = '$src' AND state <> 'active' ORDER BY ordinal;
SELECT hashring.ring_set_zone_replicas('$dst', zone_replicas)
  FROM hashring.rings WHERE ring = '$src';
};
}

# SQL (for any database, e.g. on another cluster) that creates ring $dst with
# the membership ring $ring currently has in database $db of $node (its
# zone_replicas too, when its catalog has it: 0.7).
sub export_ring_sql
{
	my ($node, $db, $ring, $dst) = @_;
	my $sql = $node->safe_psql(
		$db, qq{
SELECT sql FROM (
  SELECT 0 AS phase, 0 AS ord,
         format('SELECT hashring.ring_create(%L, %L, %s, %s);', '$dst', algorithm, vnodes, replicas) AS sql
    FROM hashring.rings WHERE ring = '$ring'
  UNION ALL
  SELECT 1, ordinal,
         format('SELECT hashring.ring_add_node(%L, %L, %L::real, %L, %L);', '$dst', node, weight::text, target, zone)
    FROM hashring.nodes WHERE ring = '$ring'
  UNION ALL
  SELECT 2, ordinal, format('SELECT hashring.ring_set_state(%L, %L, %L);', '$dst', node, state)
    FROM hashring.nodes WHERE ring = '$ring' AND state <> 'active'
  UNION ALL
  SELECT 3, 0, format('SELECT hashring.ring_set_zone_replicas(%L, %s);', '$dst', to_jsonb(r) ->> 'zone_replicas')
    FROM hashring.rings AS r WHERE ring = '$ring' AND to_jsonb(r) ? 'zone_replicas'
  UNION ALL
  SELECT 4, 0, format('SELECT hashring.ring_set_zone_spread(%L, %s);', '$dst', to_jsonb(r) ->> 'zone_spread')
    FROM hashring.rings AS r WHERE ring = '$ring' AND to_jsonb(r) ? 'zone_spread'
) s ORDER BY phase, ord
});
	die "ring $ring not found in $db" if $sql eq '';
	return $sql;
}

# The lines of a file, raw bytes, without their newlines.
sub read_lines
{
	my ($file) = @_;
	open my $fh, '<:raw', $file or die "$file: $!";
	my @l = <$fh>;
	close $fh;
	chomp @l;
	return \@l;
}

# The path of an executable `$prog` on PATH, or undef.
sub on_path
{
	my ($prog) = @_;
	my ($p) =
	  grep { -x $_ && !-d $_ } map { "$_/$prog" } split /:/, ($ENV{PATH} // '');
	return $p;
}

1;
