#!/usr/bin/perl
# Finds node names whose ketama continua share a point, for the tie pools of
# test/t/024_ketama_refs.pl (which hard-codes names found by this script and
# checks the ties again itself).
#   perl find_ties.pl md5 PREFIX COUNT DIGESTS   MD5 points: LE32 of bytes 4r..4r+3 of
#                                                MD5("<name>-<j>"), j < DIGESTS, r < 4
#   perl find_ties.pl oaat PREFIX COUNT DIGESTS  one_at_a_time("<name>-<j>"), j < DIGESTS
# Names are PREFIX . i . suffix for i = 1 .. COUNT, where every 3rd name gets a
# longer suffix (so pairs of different lengths turn up). Prints
# "value name_a j_a.r_a name_b j_b.r_b" for every value two names share (r:
# the point of the digest, 0 for one_at_a_time); where one r is 0 the key
# "<name>-<j>" of that name hashes exactly onto the shared point.
use strict;
use warnings;
use Digest::MD5 ();

my ($kind, $prefix, $count, $digests) = @ARGV;
die "usage: $0 md5|oaat PREFIX COUNT DIGESTS\n" unless $digests;

sub oaat    # libmemcached's one_at_a_time, bytes read as signed char
{
	my $h = 0;
	for my $c (unpack 'C*', $_[0])
	{
		$h = ($h + ($c >= 128 ? 0xFFFFFF00 | $c : $c)) & 0xFFFFFFFF;
		$h = ($h + ($h << 10)) & 0xFFFFFFFF;
		$h ^= $h >> 6;
	}
	$h = ($h + ($h << 3)) & 0xFFFFFFFF;
	$h ^= $h >> 11;
	return ($h + ($h << 15)) & 0xFFFFFFFF;
}

my %seen;
for my $i (1 .. $count)
{
	my $name = $prefix . $i . ($i % 3 ? '' : '.cache.example');
	for my $j (0 .. $digests - 1)
	{
		my @v =
		  $kind eq 'md5'
		  ? unpack('V4', Digest::MD5::md5("$name-$j"))
		  : (oaat("$name-$j"));
		for my $r (0 .. $#v)
		{
			my $v = $v[$r];
			print "$v $seen{$v}[0] $seen{$v}[1] $name $j.$r\n"
			  if exists $seen{$v} && $seen{$v}[0] ne $name;
			$seen{$v} //= [ $name, "$j.$r" ];
		}
	}
}
