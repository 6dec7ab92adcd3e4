# Compatibility of the "pg_hash" algorithm with PostgreSQL's own hash
# partitioning: real tables PARTITION BY HASH (k) with MODULUS N, N in
# {1, 2, 3, 7, 16}, for key types text (database default collation, COLLATE
# "C", and a nondeterministic ICU collation when available), integer, bigint,
# uuid, and bytea.  A pg_hash ring whose node of rank r is 'p<r>' (added in
# remainder order) must put every row's key on the partition PostgreSQL
# chose: ring_node(k) = ring_nodes(k, N)[1] = 'p' || remainder of the row's
# partition, and ring_nodes(k, N) lists remainders r, r+1, ... (mod N).
# ring_hash is checked bit for bit against satisfies_hash_partition()
# (PostgreSQL's own partition-constraint function) with three large coprime
# moduli whose product exceeds 2^64.
use strict;
use warnings;

use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $t0 = time;

# Not HashringTest::hr_node: the database default collation here is a libc
# locale other than "C" (C.UTF-8), so "default" and "C" are distinct
# collations.
my $node = PostgreSQL::Test::Cluster->new('pghash');
$node->init(extra => [ '--encoding=UTF8', '--locale=C.UTF-8' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'hashring'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION hashring');
note('database collation: '
	  . $node->safe_psql('postgres',
		'SELECT datcollate FROM pg_database WHERE datname = current_database()'));

# A nondeterministic (case-insensitive) ICU collation, if this server has ICU.
my ($icu_ret) = $node->psql('postgres',
	"CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)");
my $have_ci = $icu_ret == 0;

# Source keys per type.
# (a heredoc: the SQL has unbalanced braces)
my $keys_sql = <<'SQL';
CREATE TABLE src_text (id bigserial PRIMARY KEY, k text NOT NULL);
INSERT INTO src_text (k) SELECT 'user:' || i FROM generate_series(1, 3000) i;
INSERT INTO src_text (k) SELECT md5('pg' || i) FROM generate_series(1, 3000) i;
INSERT INTO src_text (k) SELECT upper(md5('pg' || i)) FROM generate_series(1, 1000) i;
INSERT INTO src_text (k) SELECT left(repeat(md5(i::text), 10), i % 301) FROM generate_series(1, 1500) i;
INSERT INTO src_text (k) SELECT '{user' || i || '}.following' FROM generate_series(1, 500) i;
INSERT INTO src_text (k) SELECT 'Case-' || i FROM generate_series(1, 300) i;
INSERT INTO src_text (k) SELECT 'CASE-' || i FROM generate_series(1, 300) i;
INSERT INTO src_text (k) SELECT 'case-' || i FROM generate_series(1, 300) i;
INSERT INTO src_text (k)
  SELECT 'cl' || chr(233) || '-' || chr(19968 + (i * 7919) % 20000) || chr(128512 + i % 80) || i
    FROM generate_series(1, 1000) i;
INSERT INTO src_text (k) SELECT 'CL' || chr(201) || '-' || i FROM generate_series(1, 200) i;
INSERT INTO src_text (k) SELECT 'ctl' || chr(i) || 'x' FROM generate_series(1, 31) i;
INSERT INTO src_text (k) SELECT left(repeat(md5(i::text), 170), 4000 + (i * 37) % 1200) FROM generate_series(1, 200) i;
INSERT INTO src_text (k) SELECT unnest(ARRAY[
  '', '{}', '{{a}}', 'a{}b{c}', '{user1000}.following', '{USER1000}.FOLLOWING', ' ', 'with space',
  'quote"s', 'apos''s', 'back' || chr(92) || 'slash', chr(10), chr(9), chr(233), chr(201),
  'e' || chr(769), chr(26085) || chr(26412), chr(128512), 'stra' || chr(223) || 'e', 'STRASSE',
  repeat(md5('long'), 157), repeat('a', 5000), repeat('A', 5000), repeat(chr(233), 2500),
  repeat(chr(26085), 1700)]);

CREATE TABLE src_integer (id bigserial PRIMARY KEY, k integer NOT NULL);
INSERT INTO src_integer (k) SELECT i FROM generate_series(-3000, 3000) i;
INSERT INTO src_integer (k)
  SELECT ((i::bigint * 2654435761) % 4294967296 - 2147483648)::integer FROM generate_series(1, 6000) i;
INSERT INTO src_integer (k) VALUES (-2147483648), (2147483647), (-2147483647), (2147483646),
  (65535), (65536), (-65536), (16777216);

CREATE TABLE src_bigint (id bigserial PRIMARY KEY, k bigint NOT NULL);
INSERT INTO src_bigint (k) SELECT i FROM generate_series(-2000, 2000) i;
INSERT INTO src_bigint (k)
  SELECT (i::numeric * 11400714819323198485 % 18446744073709551616 - 9223372036854775808)::bigint
    FROM generate_series(1, 7000) i;
INSERT INTO src_bigint (k)
  SELECT (i::bigint * 4294967296 + i) FROM generate_series(-500, 500) i;
INSERT INTO src_bigint (k) VALUES (-9223372036854775808), (9223372036854775807), (-9223372036854775807),
  (2147483647), (2147483648), (-2147483648), (-2147483649), (4294967295), (4294967296), (-4294967296);

CREATE TABLE src_uuid (id bigserial PRIMARY KEY, k uuid NOT NULL);
INSERT INTO src_uuid (k) SELECT md5('u' || i)::uuid FROM generate_series(1, 10000) i;
INSERT INTO src_uuid (k) SELECT gen_random_uuid() FROM generate_series(1, 1000);
INSERT INTO src_uuid (k) VALUES ('00000000-0000-0000-0000-000000000000'), ('ffffffff-ffff-ffff-ffff-ffffffffffff'),
  ('00000000-0000-0000-0000-000000000001'), ('80000000-0000-0000-0000-000000000000');

CREATE TABLE src_bytea (id bigserial PRIMARY KEY, k bytea NOT NULL);
INSERT INTO src_bytea (k) SELECT convert_to(k, 'UTF8') FROM src_text;
INSERT INTO src_bytea (k)
  SELECT substr(decode(md5(i::text) || md5((i + 1)::text) || 'ff00fe807bc07d', 'hex'), 1 + i % 7, i % 40)
    FROM generate_series(1, 2000) i;
SQL
$node->safe_psql('postgres', $keys_sql);

# key columns: [label, SQL type (with collation), source table]
my @types = (
	[ 'text',    'text',             'src_text' ],
	[ 'text_c',  'text COLLATE "C"', 'src_text' ],
	($have_ci ? ([ 'text_ci', 'text COLLATE ci', 'src_text' ]) : ()),
	[ 'integer', 'integer',          'src_integer' ],
	[ 'bigint',  'bigint',           'src_bigint' ],
	[ 'uuid',    'uuid',             'src_uuid' ],
	[ 'bytea',   'bytea',            'src_bytea' ]);
diag('no ICU: nondeterministic collation not tested') unless $have_ci;

my ($compared, $configs) = (0, 0);
for my $t (@types)
{
	my ($label, $type, $src) = @$t;
	for my $n (1, 2, 3, 7, 16)
	{
		my $t1   = time;
		my $tab  = "pt_${label}_$n";
		my $ring = "${label}_$n";
		my $parts = join '',
		  map { "CREATE TABLE ${tab}_r$_ PARTITION OF $tab FOR VALUES WITH (MODULUS $n, REMAINDER $_);\n" }
		  0 .. $n - 1;
		$node->safe_psql(
			'postgres', qq{
CREATE TABLE $tab (id bigint NOT NULL, k $type NOT NULL) PARTITION BY HASH (k);
$parts
INSERT INTO $tab SELECT id, k FROM $src;
SELECT hashring.ring_create('$ring', 'pg_hash');
SELECT hashring.ring_add_node('$ring', 'p' || r) FROM generate_series(0, $n - 1) r ORDER BY r;
});
		# partition of each row, as a remainder
		my $rows = qq{
  (SELECT t.id, t.k, substring(t.tableoid::regclass::text FROM '_r([0-9]+)\$')::int AS rem
     FROM $tab t) x};
		my $nrows = $node->safe_psql('postgres', "SELECT count(*) FROM $tab");
		my $bad_sql = qq{
SELECT x.id, x.k::text, x.rem, hashring.ring_node('$ring', x.k), hashring.ring_nodes('$ring', x.k, $n)::text,
       hashring.ring_hash('$ring', x.k)
  FROM $rows
 WHERE hashring.ring_node('$ring', x.k) IS DISTINCT FROM 'p' || x.rem
    OR (hashring.ring_nodes('$ring', x.k, $n))[1] IS DISTINCT FROM 'p' || x.rem
    OR hashring.ring_nodes('$ring', x.k, $n) IS DISTINCT FROM
       ARRAY(SELECT 'p' || ((x.rem + j) % $n) FROM generate_series(0, $n - 1) j ORDER BY j)};
		my $mis = $node->safe_psql('postgres', "SELECT count(*) FROM ($bad_sql) b");
		if ($mis ne '0')
		{
			my $sample = $node->safe_psql('postgres', "$bad_sql ORDER BY x.id LIMIT 10");
			for my $line (split /\n/, $sample)
			{
				my ($id, $k, $rem, $got, $gotn, $h) = split /\|/, $line, 6;
				$k = substr($k, 0, 40) . '...(' . length($k) . ' chars)' if length($k) > 60;
				$k =~ s/([^\x20-\x7e])/sprintf('\\x{%x}', ord $1)/ge;
				diag("pg_hash $type, MODULUS $n: key '$k': partition REMAINDER $rem (p$rem), "
					  . "ring_node '$got', ring_nodes $gotn, ring_hash $h");
			}
		}
		diag(sprintf('pg_hash %s, MODULUS %d: %d rows compared, %s mismatches (%.1f s)',
				$type, $n, $nrows, $mis, time - $t1));
		is($mis, '0', "pg_hash $type, MODULUS $n: every row's partition = ring_node = ring_nodes(...)[1]");
		$compared += $nrows;
		$configs++;

		# Every partition is used (so the comparison means something).
		is($node->safe_psql('postgres', "SELECT count(DISTINCT tableoid) FROM $tab"),
			$n, "pg_hash $type, MODULUS $n: rows in all $n partitions")
		  if $n <= 7;
	}

	# ring_hash = PostgreSQL's row hash: its residues modulo 2147483647,
	# 2147483645 and 2^30 (pairwise coprime, product > 2^64) are the
	# remainders satisfies_hash_partition accepts.
	my $tab  = "pt_${label}_16";
	my $ring = "${label}_16";
	my $bad = $node->safe_psql(
		'postgres', qq{
SELECT count(*) FROM (
  SELECT k, (hashring.ring_hash('$ring', k)::numeric + 18446744073709551616) % 18446744073709551616 AS u
    FROM $tab) s,
  unnest(ARRAY[2147483647, 2147483645, 1073741824]) AS m
 WHERE NOT satisfies_hash_partition('$tab'::regclass, m, (u % m)::int, k)});
	is($bad, '0', "pg_hash $type: ring_hash is PostgreSQL's row hash (satisfies_hash_partition, 3 moduli)");
}

# Equal keys under the nondeterministic collation go to the same node.
if ($have_ci)
{
	cmp_ok(
		$node->safe_psql(
			'postgres', q{
SELECT count(*) FROM pt_text_16 a JOIN pt_text_ci_16 b USING (id)
 WHERE substring(a.tableoid::regclass::text FROM '_r([0-9]+)$')
    <> substring(b.tableoid::regclass::text FROM '_r([0-9]+)$')}),
		'>', 5000,
		'the nondeterministic collation partitions differently from the default one');
	is( $node->safe_psql(
			'postgres', q{
SELECT count(*) FROM (VALUES ('ABC', 'abc'), ('STRASSE', 'strasse'), ('Case-1', 'CASE-1')) v(a, b)
 WHERE hashring.ring_node('text_ci_16', a COLLATE ci) IS DISTINCT FROM hashring.ring_node('text_ci_16', b COLLATE ci)}),
		'0',
		'pg_hash, nondeterministic collation: keys equal under the collation share a node');
}

# integer/bigint keys: ring_node(int) uses the integer hash, which is not the
# hash of the text form (checked so that a silent ::text fallback shows).
cmp_ok(
	$node->safe_psql(
		'postgres', q{
SELECT count(*) FROM generate_series(1, 1000) i
 WHERE hashring.ring_node('integer_16', i) IS DISTINCT FROM hashring.ring_node('integer_16', i::text)}),
	'>', 500,
	'pg_hash: integer keys are not hashed as their text form');

diag(sprintf('pg_hash: %d configurations, %d rows compared (%.1f s)', $configs, $compared, time - $t0));
cmp_ok($compared, '>=', 10000 * $configs, "at least 10,000 rows per configuration ($compared)");

$node->stop;
done_testing();
