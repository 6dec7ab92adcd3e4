# Runs a Markdown tutorial (docs/*.md, README.md) the way a reader follows
# it, for test/t/033_tutorials.pl.  What runs is marked in the Markdown with
# HTML comments, which a rendered page does not show:
#
#   <!-- run: coordinator -->                    the next ```sql block runs
#   <!-- run: shard1, shard2 as app in app -->   ... on each server listed, as
#                                                 that role, in that database
#                                                 (default: the bootstrap
#                                                 superuser, database postgres)
#   <!-- config: coordinator -->                 the next fenced block's lines
#                                                 go into postgresql.conf of
#                                                 each server listed, which is
#                                                 then (re)started
#   <!-- varies: REGEX -->                       in the next output block,
#                                                 what REGEX matches is masked
#                                                 (on both sides) before the
#                                                 comparison
#
# A ```sql block without a run comment is not run.  A plain ``` block that
# follows a run block (only blank lines between) is its output: what psql
# prints for the block, NOTICEs and errors included, in order, when the
# block is fed to `psql -X -q` on its standard input (no command tags; the
# tutorials say so).  Lines are compared without trailing blanks, and
# without leading or trailing blank lines.  A run block must succeed
# (ON_ERROR_STOP), unless the output shown has an ERROR (psql stops there,
# and the output is compared as always).
#
# Servers are PostgreSQL::Test::Cluster nodes, created (initdb, UTF8/C) and
# started the first time a comment names them.  The only text changed
# before a block runs is the servers' addresses: host '10.0.0.N', port
# '5432' becomes the host and port of node shardN (the tutorials use those
# addresses for their shards).  A shard's pg_hba.conf lets the bootstrap
# superuser in without a password and asks every other role for one
# (scram-sha-256 on the local socket, where the coordinator's foreign
# servers connect), so the passwords of the tutorials' user mappings are
# checked as a production shard checks them; the coordinator trusts local
# connections.
package HashringTutorial;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(tutorial_steps run_tutorial);

# The steps of a Markdown file: a list of hashes
#   { kind => 'run', servers => [...], role, db, sql, line, expect, varies }
#   { kind => 'config', servers => [...], text, line }
sub tutorial_steps
{
	my ($file) = @_;
	open my $fh, '<:encoding(UTF-8)', $file or die "$file: $!";
	my @lines = <$fh>;
	close $fh;
	chomp @lines;
	my (@steps, $pending);
	my $i = 0;
	# the fenced block starting at line $i: (info string, text, next line)
	my $fence = sub {
		my ($at) = @_;
		my ($ticks, $info) = $lines[$at] =~ /^(`{3,})\s*(\S*)\s*$/ or return;
		my @body;
		my $j = $at + 1;
		while ($j < @lines && $lines[$j] !~ /^\Q$ticks\E\s*$/)
		{
			push @body, $lines[$j];
			$j++;
		}
		die "$file:" . ($at + 1) . ": unterminated code block" if $j >= @lines;
		return ($info, join("\n", @body), $j + 1);
	};
	while ($i < @lines)
	{
		my $l = $lines[$i];
		if ($l =~ /^<!--\s*run:\s*(.*?)\s*-->\s*$/)
		{
			my $spec = $1;
			my ($servers, $role, $db) = $spec =~ /^([\w\s,]+?)(?:\s+as\s+(\w+))?(?:\s+in\s+(\w+))?$/
			  or die "$file:" . ($i + 1) . ": bad run comment \"$spec\"";
			$pending = {
				kind => 'run',
				servers => [ split /\s*,\s*/, $servers ],
				role => $role,
				db => $db // 'postgres',
				line => $i + 1
			};
			$i++;
			next;
		}
		if ($l =~ /^<!--\s*config:\s*(.*?)\s*-->\s*$/)
		{
			$pending = { kind => 'config', servers => [ split /\s*,\s*/, $1 ], line => $i + 1 };
			$i++;
			next;
		}
		die "$file:" . ($i + 1) . ": a varies comment belongs between a run block and its output"
		  if $l =~ /^<!--\s*varies:/;
		if ($l =~ /^```/)
		{
			my ($info, $text, $next) = $fence->($i);
			if ($pending && $pending->{kind} eq 'config')
			{
				$pending->{text} = $text;
				push @steps, $pending;
				$pending = undef;
			}
			elsif ($pending && $pending->{kind} eq 'run')
			{
				die "$file:" . ($i + 1) . ": a run comment must precede a ```sql block" unless $info eq 'sql';
				$pending->{sql} = $text;
				push @steps, $pending;
				$pending = undef;
				# its output: the next plain block, if only blank lines are between
				my $k = $next;
				my $masked;
				while ($k < @lines && ($lines[$k] =~ /^\s*$/ || $lines[$k] =~ /^<!--\s*varies:/))
				{
					($masked) = $lines[$k] =~ /^<!--\s*varies:\s*(.*?)\s*-->/ if $lines[$k] =~ /varies:/;
					$k++;
				}
				if ($k < @lines && $lines[$k] =~ /^`{3,}\s*$/)
				{
					my (undef, $out, $after) = $fence->($k);
					$steps[-1]{expect} = $out;
					$steps[-1]{expect_line} = $k + 1;
					$steps[-1]{varies} = $masked;
					$next = $after;
				}
			}
			$i = $next;
			next;
		}
		$i++;
	}
	die "$file: a run or config comment at line $pending->{line} has no block" if $pending;
	return \@steps;
}

# initdb once per test run (UTF8, C locale), then copy the fresh data
# directory: a dozen servers start in a fraction of the time.  A copy gets
# its own port (the last setting in postgresql.conf wins).
my $template;

sub tutorial_init
{
	my ($n) = @_;
	if (!$template)
	{
		$n->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
		$template = PostgreSQL::Test::Utils::tempdir('tutorial_template') . '/pgdata';
		PostgreSQL::Test::Utils::system_or_bail('cp', '-a', $n->data_dir, $template);
		return;
	}
	mkdir $n->basedir;
	mkdir $n->backup_dir;
	mkdir $n->archive_dir;
	PostgreSQL::Test::Utils::system_or_bail('cp', '-a', $template, $n->data_dir);
	$n->append_conf('postgresql.conf', "port = " . $n->port . "\nunix_socket_directories = '" . $n->host . "'\n");
	return;
}

sub normalise
{
	my ($text, $varies) = @_;
	my @l = map { s/\s+$//r } split /\n/, $text, -1;
	shift @l while @l && $l[0] eq '';
	pop @l while @l && $l[-1] eq '';
	my $t = join("\n", @l);
	$t =~ s/$varies/<varies>/g if defined $varies;
	return $t;
}

# Runs the tutorial $file.  $servers: a hash (name => Cluster) that is filled
# as servers are named.  Returns the number of blocks run.  Each block is
# one test; with HASHRING_TUTORIAL_SHOW set, every block's output is shown.
sub run_tutorial
{
	my ($file, $servers, $prefix) = @_;
	my $steps = tutorial_steps($file);
	my $ran = 0;
	my $node = sub {
		my ($name) = @_;
		return $servers->{$name} if $servers->{$name};
		die "$file: unknown server name \"$name\"" unless $name =~ /^(coordinator|shard\d+)$/;
		my $n = PostgreSQL::Test::Cluster->new("${prefix}_$name");
		tutorial_init($n);
		if ($name ne 'coordinator')
		{
			my $su = getpwuid($<);
			open my $hba, '>', $n->data_dir . '/pg_hba.conf' or die "pg_hba.conf: $!";
			print $hba "local all $su trust\nlocal all all scram-sha-256\n";
			close $hba;
		}
		$n->start;
		return $servers->{$name} = $n;
	};
	for my $s (@$steps)
	{
		if ($s->{kind} eq 'config')
		{
			for my $name (@{ $s->{servers} })
			{
				my $n = $node->($name);
				$n->append_conf('postgresql.conf', $s->{text});
				$n->restart;
			}
			next;
		}
		my $sql = $s->{sql};
		$sql =~ s{host\s+'10\.0\.0\.(\d+)',\s*port\s+'5432'}{
			my $sh = $node->("shard$1");
			"host '" . $sh->host . "', port '" . $sh->port . "'"
		}ge;
		for my $name (@{ $s->{servers} })
		{
			my $n = $node->($name);
			my @cmd = (
				'stdbuf', '-oL', $n->installed_command('psql'),
				'-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', $n->host, '-p', $n->port, '-d', $s->{db});
			push @cmd, ('-U', $s->{role}) if $s->{role};
			my $out = '';
			my $in = $sql . "\n";
			my $ok = IPC::Run::run(\@cmd, '<', \$in, '>&', \$out,
				IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
			my $where = "$file:$s->{line} on $name";
			diag("$where:\n$out") if $ENV{HASHRING_TUTORIAL_SHOW};
			# for writing a tutorial: every block's output, to paste and read
			if ($ENV{HASHRING_TUTORIAL_DUMP} && defined $s->{expect_line})
			{
				open my $d, '>>', $ENV{HASHRING_TUTORIAL_DUMP} or die "$ENV{HASHRING_TUTORIAL_DUMP}: $!";
				print $d "=== $file $s->{expect_line}\n$out";
				close $d;
			}
			# a block whose shown output ends in an error may stop there
			if (!$ok && !(defined $s->{expect} && $s->{expect} =~ /^ERROR:/m))
			{
				fail("$where: the block runs") or diag($out);
				next;
			}
			$ran++;
			if (defined $s->{expect})
			{
				is(normalise($out, $s->{varies}), normalise($s->{expect}, $s->{varies}),
					"$where: prints the output shown at line $s->{expect_line}");
			}
			else
			{
				pass("$where: the block runs");
			}
		}
	}
	return $ran;
}

1;
