# The tutorials run as a reader follows them (issue 26): README.md's quick
# start, docs/rebalancing.md, docs/hot-shard.md and docs/distributed.md, each on fresh servers
# (coordinator and shards as the text describes them), every marked block in
# order, each output the text shows compared with what psql prints.  How
# blocks are marked, and the one substitution made (the shards' addresses),
# is in test/perl/HashringTutorial.pm and docs/testing.md.  A step that
# fails, or an output that changes, fails this test.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTutorial;

# the fewest blocks each file runs: a tutorial that lost its markup fails.
# HASHRING_TUTORIALS='docs/hot-shard.md' runs only the files named (when
# writing one; HASHRING_TUTORIAL_SHOW=1 shows every block's output).
my %min = ('README.md' => 3, 'docs/rebalancing.md' => 20, 'docs/hot-shard.md' => 20, 'docs/distributed.md' => 15);
my @files = $ENV{HASHRING_TUTORIALS} ? split(' ', $ENV{HASHRING_TUTORIALS}) : sort keys %min;
for my $file (@files)
{
	my %servers;
	(my $prefix = $file) =~ s{^docs/|\.md$}{}g;
	$prefix =~ s/\W/_/g;
	my $ran = run_tutorial($file, \%servers, $prefix);
	cmp_ok($ran, '>=', $min{$file} // 1, "$file: $ran blocks ran");
	$_->stop for values %servers;
}
done_testing();
