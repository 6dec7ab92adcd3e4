# META.json is a valid PGXN distribution description (spec 1.0.0,
# https://pgxn.org/meta/spec.txt) and agrees with the extension it
# describes: the control file's version, the install script it names, the
# supported PostgreSQL majors.  No server needed.
use strict;
use warnings;

use JSON::PP;
use Test::More;

my $root = '.';
open my $fh, '<:raw', "$root/META.json" or die "META.json: $!";
my $meta = eval { JSON::PP->new->utf8->decode(do { local $/; <$fh> }) };
close $fh;
ok($meta, 'META.json is well-formed JSON') or BAIL_OUT($@);

# required keys, and their types
for my $k (qw(name abstract version maintainer license provides meta-spec))
{
	ok(exists $meta->{$k}, "required key '$k' is present");
}
like($meta->{name}, qr/^[A-Za-z][A-Za-z0-9_-]*$/, 'name is a valid distribution name');
my $semver = qr/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;
like($meta->{version}, $semver, 'version is a semantic version');
ok(!ref $meta->{abstract} && length $meta->{abstract}, 'abstract is a string');
ok(ref $meta->{maintainer} eq 'ARRAY' ? @{ $meta->{maintainer} } > 0 : length $meta->{maintainer},
	'maintainer is a non-empty string or list');
my %licenses = map { $_ => 1 }
  qw(agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2 bsd freebsd gfdl_1_2 gfdl_1_3 gpl_1 gpl_2 gpl_3
  lgpl_2_1 lgpl_3_0 mit mozilla_1_0 mozilla_1_1 openssl perl_5 postgresql qpl_1_0 ssleay sun zlib
  open_source restricted unrestricted unknown);
ok((ref $meta->{license} ? !grep { !$licenses{$_} } keys %{ $meta->{license} } : $licenses{ $meta->{license} }),
	"license '" . (ref $meta->{license} ? join(',', keys %{ $meta->{license} }) : $meta->{license}) . "' is a PGXN license");
is($meta->{'meta-spec'}{version}, '1.0.0', 'meta-spec version 1.0.0');
like($meta->{'meta-spec'}{url} // '', qr{^https?://pgxn\.org/meta/spec\.txt$}, 'meta-spec url');
like($meta->{release_status} // 'stable', qr/^(stable|testing|unstable)$/, 'release_status is a PGXN status');

# provides: the extension, its version and its files
my $p = $meta->{provides}{hashring};
ok($p, 'provides the hashring extension');
like($p->{version}, $semver, 'provided version is a semantic version');
ok(-f "$root/$p->{file}", "provided file $p->{file} exists");
ok(!defined $p->{docfile} || -f "$root/$p->{docfile}", 'docfile exists');

# agreement with the control file and the scripts
open my $cf, '<', "$root/hashring.control" or die "hashring.control: $!";
my ($default) = map { /^default_version\s*=\s*'([^']+)'/ ? $1 : () } <$cf>;
close $cf;
my $ext = "$default.0";
is($p->{version}, $ext, "provided version matches default_version '$default' of hashring.control");
is($meta->{version}, $ext, 'distribution version matches too');
is($p->{file}, "sql/hashring--$default.sql", 'the file provided is the full install script of that version');

# prerequisites: PostgreSQL 15 or later, as README says
for my $phase (qw(runtime build))
{
	my $pg = $meta->{prereqs}{$phase}{requires}{PostgreSQL};
	like($pg // '', $semver, "$phase requires a PostgreSQL version ($pg)");
	ok(defined $pg && (split /\./, $pg)[0] >= 15, "$phase: PostgreSQL 15 or later");
}
done_testing();
