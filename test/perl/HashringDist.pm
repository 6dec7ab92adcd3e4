# Helpers for the TAP tests of distributed tables (test/t/035-039): a
# coordinator and shard servers made from one initdb, where a distributed
# table's rows really are (read on the shard servers themselves, not through
# the coordinator), the state of a table (local or distributed, its rows),
# the SQLSTATE of a refusal and the partitions a plan touches.
package HashringDist;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringMove;

our @EXPORT = qw(dist_node dist_shards node_servers shard_list shard_tables
  located where_check table_state sqlstate plan_parts psql_pid_start
  wait_crash_restart kill_at_step shard_columns shard_indexes refused
  pgbench_start tps);

# initdb once per test (UTF8, C locale), then copy the fresh data directory:
# a coordinator and four shard servers start in a fraction of the time.  A
# copy gets its own port and socket directory (the last setting wins).
my $template;

sub _init_node
{
	my ($n) = @_;
	if (!$template)
	{
		$n->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
		$template = PostgreSQL::Test::Utils::tempdir('dist_template') . '/pgdata';
		PostgreSQL::Test::Utils::system_or_bail('cp', '-a', $n->data_dir, $template);
		return;
	}
	mkdir $n->basedir;
	mkdir $n->backup_dir;
	mkdir $n->archive_dir;
	PostgreSQL::Test::Utils::system_or_bail('cp', '-a', $template, $n->data_dir);
	$n->append_conf('postgresql.conf',
		"port = " . $n->port . "\nunix_socket_directories = '" . $n->host . "'\n");
	return;
}

# A started server.  %opts: preload (hashring in shared_preload_libraries),
# conf (more postgresql.conf lines), extension (CREATE EXTENSION hashring),
# fdw (CREATE EXTENSION postgres_fdw).
sub dist_node
{
	my ($name, %opts) = @_;
	my $n = PostgreSQL::Test::Cluster->new($name);
	_init_node($n);
	$n->append_conf('postgresql.conf', "shared_preload_libraries = 'hashring'")
	  if $opts{preload};
	$n->append_conf('postgresql.conf', $opts{conf}) if $opts{conf};
	$n->start;
	$n->safe_psql('postgres', 'CREATE EXTENSION hashring') if $opts{extension};
	$n->safe_psql('postgres', 'CREATE EXTENSION postgres_fdw') if $opts{fdw};
	return $n;
}

# Shard servers @names: each a fresh server, and on the coordinator a
# postgres_fdw server of the same name with a user mapping for the current
# user.  Returns { name => cluster }.
sub dist_shards
{
	my ($coord, @names) = @_;
	my %s;
	for my $name (@names)
	{
		$s{$name} = dist_node($name);
		fdw_server($coord, $name, $s{$name});
	}
	return \%s;
}

# { node => cluster } for every node of every ring whose target is one of
# the servers in %$servers.
sub node_servers
{
	my ($coord, $servers) = @_;
	my %m;
	for (split /\n/, $coord->safe_psql('postgres', 'SELECT node, target FROM hashring.nodes WHERE target IS NOT NULL'))
	{
		my ($node, $target) = split /\|/;
		next unless $servers->{$target};
		die "node $node has two targets" if $m{$node} && $m{$node} != $servers->{$target};
		$m{$node} = $servers->{$target};
	}
	return \%m;
}

# hashring.table_shards of $tbl: [ { shard, node, partition (relname),
# shard_table }, ... ] in shard order.
sub shard_list
{
	my ($coord, $tbl) = @_;
	my @l;
	for (split /\n/, $coord->safe_psql('postgres', qq{
SELECT ts.shard, ts.node, c.relname, ts.shard_table
  FROM hashring.table_shards ts JOIN pg_class c ON c.oid = ts.partition
 WHERE ts.tbl = '$tbl'::regclass ORDER BY ts.shard}))
	{
		my ($shard, $node, $part, $st) = split /\|/;
		push @l, { shard => $shard, node => $node, partition => $part, shard_table => $st };
	}
	return \@l;
}

# { node => [ shard entries of shard_list ] }
sub shard_tables
{
	my ($coord, $tbl) = @_;
	my %by;
	push @{ $by{ $_->{node} } }, $_ for @{ shard_list($coord, $tbl) };
	return \%by;
}

# Where the rows of $tbl are, read on the shard servers: [ [ key as text,
# node, shard ], ... ], one per row found.  $key is an SQL expression over
# the shard table's columns.
sub located
{
	my ($coord, $servers, $tbl, $key) = @_;
	my $nodes = node_servers($coord, $servers);
	my $by = shard_tables($coord, $tbl);
	my @rows;
	for my $node (sort keys %$by)
	{
		my $c = $nodes->{$node} or die "node $node of $tbl has no shard server in this test";
		my $sql = join("\nUNION ALL\n",
			map { "SELECT $_->{shard}, ($key)::text FROM $_->{shard_table}" } @{ $by->{$node} });
		for (split /\n/, $c->safe_psql('postgres', $sql))
		{
			my ($shard, $k) = split /\|/, $_, 2;
			push @rows, [ $k, $node, $shard ];
		}
	}
	return \@rows;
}

# "rows|distinct keys|misplaced" for $tbl: the rows found on the shard
# servers themselves, and how many of them are not in the shard whose
# partition on the coordinator PostgreSQL routes their key to, or not on
# that shard's node, or (for the keys $sample, an SQL condition on $keycol,
# selects: every key when undef) not on the node and shard that table_node
# and table_shard name.  Keys must not contain '|' or newlines.
sub where_check
{
	my ($coord, $servers, $tbl, $keycol, $sample) = @_;
	$sample //= 'true';
	my $rows = located($coord, $servers, $tbl, $keycol);
	my %shard_of = map { ($_->{partition} => $_) } @{ shard_list($coord, $tbl) };
	my %want;
	for (split /\n/, $coord->safe_psql('postgres', qq{
SELECT DISTINCT ($keycol)::text, tableoid::regclass::text,
       CASE WHEN $sample THEN hashring.table_node('$tbl', $keycol) || '|' || hashring.table_shard('$tbl', $keycol) END
  FROM $tbl}))
	{
		my ($k, $part, $node, $shard) = split /\|/;
		undef $node if defined $node && $node eq '';    # not in the sample
		$part =~ s/^.*\.//;
		my $s = $shard_of{$part};
		$want{$k} = [ $s ? ($s->{node}, $s->{shard}) : ('none', 'none'), $node, $shard ];
	}
	my ($bad, %keys) = (0);
	for my $r (@$rows)
	{
		my ($k, $node, $shard) = @$r;
		$keys{$k}++;
		my $w = $want{$k};
		if (!$w || $w->[0] ne $node || $w->[1] ne $shard
			|| (defined $w->[2] && ($w->[2] ne $node || $w->[3] ne $shard)))
		{
			diag("$tbl: key $k found on $node shard $shard; its partition's node and shard, table_node and table_shard: "
				  . ($w ? join('/', map { $_ // '-' } @$w) : 'none (not read through the coordinator)')) if $bad < 5;
			$bad++;
		}
	}
	return scalar(@$rows) . '|' . scalar(keys %keys) . "|$bad";
}

# "relkind|rows|sum(v)|partitions" of $tbl on the coordinator.
sub table_state
{
	my ($coord, $tbl, $v) = @_;
	$v //= 'v';
	return $coord->safe_psql('postgres', qq{
SELECT c.relkind::text || '|' || (SELECT count(*) FROM $tbl) || '|' || (SELECT coalesce(sum($v), 0) FROM $tbl) || '|'
       || (SELECT count(*) FROM pg_inherits WHERE inhparent = c.oid)
  FROM pg_class c WHERE c.oid = '$tbl'::regclass});
}

# The SQLSTATE of the first error in psql's stderr (VERBOSITY verbose), or
# 'none'.
sub sqlstate
{
	my ($err) = @_;
	return $err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : 'none';
}

# $sql run on $node fails with SQLSTATE $code (a check named $what);
# returns psql's stderr.
sub refused
{
	my ($node, $what, $sql, $code) = @_;
	my ($rc, $out, $err) = sqlstate_psql($node, $sql);
	is(sqlstate($err), $code, "$what: refused ($code)") or diag($err);
	return $err;
}

# pgbench's default (TPC-B-like) script through $node for $secs seconds, 2
# clients, in the background: (the IPC::Run handle, \stdout, \stderr).
sub pgbench_start
{
	my ($node, $secs) = @_;
	my ($o, $e) = ('', '');
	my $h = IPC::Run::start([ 'pgbench', '-n', '-c', '2', '-j', '2', '-T', $secs, '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$o, '2>', \$e);
	return ($h, \$o, \$e);
}

# the tps pgbench printed (from a reference to its stdout), or 'none'
sub tps { my ($o) = @_; return $$o =~ /tps = ([\d.]+)/ ? $1 : 'none'; }

# The partitions (relation names without schema) that a plan's foreign scans
# and modifications name, sorted, each once.
sub plan_parts
{
	my ($plan) = @_;
	my %p;
	$p{$1} = 1 while $plan =~ /Foreign (?:Scan|Update|Delete|Insert) on (?:\w+\.)?(\w+)/g;
	return join(',', sort keys %p);
}

# psql_start of $sql after SELECT pg_backend_pid(): ($handle, $pid).
sub psql_pid_start
{
	my ($node, $sql) = @_;
	my $p = psql_start($node, "SELECT pg_backend_pid();\n$sql");
	my ($pid) = psql_wait_out($p, qr/^\d+$/m) =~ /^(\d+)$/m;
	return ($p, $pid);
}

# After a backend of $node was killed with SIGKILL: waits for the crash
# restart to end ($off: the log offset before the kill).
sub wait_crash_restart
{
	my ($node, $off) = @_;
	# the restart has begun only once the postmaster logged the kill, and is
	# over once it is ready again: a query polled before that may reach the
	# old backends, and the next one fail in the restart
	$node->wait_for_log(qr/database system is ready to accept connections/, $off);
	$node->poll_query_until('postgres', 'SELECT true') or die "$node->{_name} did not come back";
	return;
}

# Runs $sql on $node, which must pause at injection point $step
# (hashring.inject_fault '<step>:pause:ms'), kills its backend with SIGKILL
# there and waits for the crash restart.  Returns the log offset from before
# the run.
sub kill_at_step
{
	my ($node, $step, $sql) = @_;
	my $off = log_offset($node);
	my ($p, $pid) = psql_pid_start($node, $sql);
	$node->wait_for_log(qr/paused at step \Q$step\E/, $off);
	kill 'KILL', $pid;
	psql_finish($p);
	wait_crash_restart($node, $off);
	return $off;
}

# { shard_table => "col type[ not null][ default expr], ..." } of every shard
# table of $tbl, read on the shard servers.
sub shard_columns
{
	my ($coord, $servers, $tbl) = @_;
	return _per_shard_table($coord, $servers, $tbl, q{
SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                  || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                  || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum)
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = '%s'::regclass AND a.attnum > 0 AND NOT a.attisdropped});
}

# { shard_table => "index definitions without names; ..." } of every shard
# table of $tbl.
sub shard_indexes
{
	my ($coord, $servers, $tbl) = @_;
	return _per_shard_table($coord, $servers, $tbl, q{
SELECT coalesce(string_agg(d, '; ' ORDER BY d), 'none')
  FROM (SELECT regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \S+ ON \S+ ', 'INDEX ON ') AS d
          FROM pg_index i WHERE i.indrelid = '%s'::regclass) s});
}

sub _per_shard_table
{
	my ($coord, $servers, $tbl, $fmt) = @_;
	my $nodes = node_servers($coord, $servers);
	my $by = shard_tables($coord, $tbl);
	my %r;
	for my $node (sort keys %$by)
	{
		my $sql = join("\nUNION ALL\n", map {
			(my $q = $_->{shard_table}) =~ s/'/''/g;
			"SELECT '$q', (" . sprintf($fmt, $q) . ")"
		} @{ $by->{$node} });
		for (split /\n/, $nodes->{$node}->safe_psql('postgres', $sql))
		{
			my ($st, $d) = split /\|/, $_, 2;
			$r{$st} = $d;
		}
	}
	return \%r;
}

1;
