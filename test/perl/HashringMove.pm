# Helpers for the TAP tests of hashring.ring_move (test/t/03*.pl): shard
# servers behind postgres_fdw, check queries over every shard, and psql
# sessions that run in the background while the test goes on.
package HashringMove;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(hr_shard fdw_server chk_schema rows_sql psql_start
  psql_wait_out psql_finish psql_running ring_version log_offset sqlstate_psql);

# A shard server: a fresh cluster with $tables_sql run in "postgres", and on
# the coordinator a postgres_fdw server named $name with a user mapping for
# the current user.
sub hr_shard
{
	my ($coord, $name, $tables_sql, %opts) = @_;
	my $s = PostgreSQL::Test::Cluster->new($name);
	$s->init;
	$s->append_conf('postgresql.conf', $opts{conf}) if $opts{conf};
	$s->start;
	$s->safe_psql('postgres', $tables_sql) if $tables_sql;
	fdw_server($coord, $name, $s);
	return $s;
}

# A postgres_fdw server $name on the coordinator reaching database "postgres"
# of cluster $s, with a user mapping for the current user.
sub fdw_server
{
	my ($coord, $name, $s) = @_;
	my ($host, $port) = ($s->host, $s->port);
	$coord->safe_psql('postgres', qq{
CREATE SERVER "$name" FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$host', port '$port', dbname 'postgres');
CREATE USER MAPPING FOR CURRENT_USER SERVER "$name";
});
	return;
}

# The test's own view of a shard: schema $schema on the coordinator with
# foreign tables for @tables of server $server (independent of the
# hashring_fdw_* schemas that hashring._shard_table makes).
sub chk_schema
{
	my ($coord, $server, $schema, @tables) = @_;
	my $list = join(', ', @tables);
	$coord->safe_psql('postgres', qq{
CREATE SCHEMA $schema;
IMPORT FOREIGN SCHEMA public LIMIT TO ($list) FROM SERVER "$server" INTO $schema;
});
	return;
}

# SQL giving "rows|distinct keys|rows not on their owner|sum(v)" over
# table $table of the schemas in %$where (node name => schema), owners by
# ring $ring at $version (the current version when undef).
sub rows_sql
{
	my ($ring, $table, $where, $version) = @_;
	my $u = join(' UNION ALL ',
		map { "SELECT '$_' AS node, k, v FROM $where->{$_}.$table" }
		  sort keys %$where);
	my $ver = defined $version ? ", $version" : '';
	return qq{SELECT count(*) || '|' || count(DISTINCT k) || '|'
       || count(*) FILTER (WHERE node IS DISTINCT FROM hashring.ring_node('$ring', k$ver)) || '|'
       || coalesce(sum(v), 0)
  FROM ($u) s};
}

sub ring_version
{
	my ($node, $ring) = @_;
	return $node->safe_psql('postgres',
		"SELECT version FROM hashring.rings WHERE ring = '$ring'");
}

# The current length of a cluster's server log, for wait_for_log.
sub log_offset
{
	my ($node) = @_;
	return -s $node->logfile;
}

# psql running the script $sql (fed on stdin, then \q) in the background,
# with ON_ERROR_STOP (it exits at the first error).  Returns a handle for
# psql_wait_out, psql_running and psql_finish.
sub psql_start
{
	my ($node, $sql, $db) = @_;
	my $p = { in => "$sql\n\\q\n", out => '', err => '' };
	$p->{timeout} = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
	$p->{h} = IPC::Run::start(
		[
			$node->installed_command('psql'), '-XAtq', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr($db // 'postgres'), '-f', '-'
		],
		'<', \$p->{in}, '>', \$p->{out}, '2>', \$p->{err}, $p->{timeout});
	# IPC::Run moves data only when pumped: hand psql the whole script now
	while (length($p->{in}) > 0 && $p->{h}->pumpable)
	{
		$p->{h}->pump_nb;
		usleep(1000) if length($p->{in}) > 0;
	}
	return $p;
}

# Waits until the background psql's stdout matches $re; returns stdout.
sub psql_wait_out
{
	my ($p, $re) = @_;
	pump_until($p->{h}, $p->{timeout}, \$p->{out}, $re)
	  or die "background psql: timed out waiting for $re\nstdout: $p->{out}\nstderr: $p->{err}";
	return $p->{out};
}

# Whether the background psql is still running its script.
sub psql_running
{
	my ($p) = @_;
	$p->{h}->pump_nb;
	return $p->{h}->pumpable;
}

# Waits for the background psql to exit: (exit code, stdout, stderr); the
# exit code is 0 when every statement succeeded, 3 after an error, 2 when
# the connection was lost.
sub psql_finish
{
	my ($p) = @_;
	my $rc = eval { $p->{h}->finish; $p->{h}->result(0) };
	$rc = -1 unless defined $rc;
	return ($rc, $p->{out}, $p->{err});
}

# Runs $sql with VERBOSITY verbose (so each error line carries its SQLSTATE):
# (exit code, stdout, stderr).
sub sqlstate_psql
{
	my ($node, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	return ($rc, $out, $err);
}

1;
