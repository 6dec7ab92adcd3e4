# Compatibility of the "murmur3" algorithm with Cassandra's Murmur3Partitioner
# token ring, against an independent computation (test/compat/cassandra_ref.py:
# the DataStax driver's cassandra.murmur3, Debian's python3-cassandra, which
# reproduces Cassandra's MurmurHash.hash3_x64_128, and Python's bisect):
#  - ring_hash = the key's token on 23,000 keys: random lengths 0..100 with
#    random bytes, every tail length 0..15 after 0..6 blocks with bytes
#    >= 0x80 only, the empty key (Cassandra's MINIMUM token), long keys;
#  - ring_node and ring_nodes(key, 3) on rings of explicit tokens (some equal
#    to keys' tokens, all inside [-2^62, 2^62] so that keys wrap at both
#    ends; Long.MIN_VALUE and MAX_VALUE as tokens), generated tokens
#    (vnodes 16, 256), a mix, and down nodes;
#  - ring_balance's shares against the arcs between sorted tokens.
# Every comparison counts mismatches key by key.
use strict;
use warnings;

use FindBin;
use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;

my $python = '/usr/bin/python3';
plan skip_all => 'python3-cassandra (cassandra.murmur3) is not installed'
  unless -x $python
  && system($python, '-c', 'import cassandra.murmur3') == 0;

my $dir = PostgreSQL::Test::Utils::tempdir;
my $ref = File::Spec->rel2abs("$FindBin::Bin/../compat/cassandra_ref.py");
my $nkeys = `$python $ref $dir`;
die "cassandra_ref.py failed" if $? != 0;
chomp $nkeys;
cmp_ok($nkeys, '>=', 20000, "reference computed $nkeys keys");

my $node = hr_node('cassandra', preload => 1);
my $psql = sub { $node->safe_psql('postgres', $_[0]) };

$psql->(qq{
CREATE TABLE keys (id integer PRIMARY KEY, k bytea NOT NULL, tok bigint NOT NULL);
COPY keys FROM '$dir/keys.tsv';
CREATE TABLE route (ring text, id integer, owner text, reps text, PRIMARY KEY (ring, id));
COPY route FROM '$dir/route.tsv';
CREATE TABLE shares (ring text, node text, share float8);
COPY shares FROM '$dir/shares.tsv';
});
$psql->(slurp_file("$dir/setup.sql"));

is($psql->('SELECT count(*) FROM keys'), $nkeys, 'keys loaded');
is($psql->(q{SELECT count(DISTINCT length(k) % 16) FROM keys WHERE length(k) BETWEEN 0 AND 111
              AND NOT EXISTS (SELECT 1 FROM generate_series(1, length(k)) i WHERE get_byte(k, i - 1) < 128)}),
	16, 'keys with only bytes >= 0x80 cover every tail length');

# the token function, as bytea keys and (for valid UTF-8 without NUL) as text
is($psql->(q{SELECT count(*) FROM keys WHERE hashring.ring_hash('tok_gen16', k) <> tok}),
	0, 'ring_hash(bytea) equals the Cassandra token of every key');
is($psql->(q{SELECT hashring.ring_hash('tok_gen16', ''::bytea), hashring.ring_hash('tok_gen16', ''::text)}),
	'-9223372036854775808|-9223372036854775808', 'the empty key has the minimum token');
# printable ASCII (0x20 .. 0x7e), so valid as text
my $ascii = q{encode(k, 'hex') ~ '^([2-6][0-9a-f]|7[0-9a-e])*$'};
cmp_ok($psql->("SELECT count(*) FROM keys WHERE $ascii"), '>=', 2000, 'printable ASCII keys');
is($psql->("WITH a AS MATERIALIZED (SELECT k, tok FROM keys WHERE $ascii)
             SELECT count(*) FROM a WHERE hashring.ring_hash('tok_gen16', convert_from(k, 'UTF8')) <> tok"),
	0, 'ring_hash(text) of the printable ASCII keys equals their Cassandra token');

# routing: the owner and the first three replicas, key by key
my $rings = $psql->('SELECT count(DISTINCT ring) FROM route');
cmp_ok($rings, '>=', 6, "$rings rings");
is($psql->(q{SELECT count(*) FROM route r JOIN keys USING (id)
              WHERE hashring.ring_node(r.ring, keys.k) IS DISTINCT FROM r.owner}),
	0, 'ring_node equals the owner by bisect on every ring');
is($psql->(q{SELECT count(*) FROM route r JOIN keys USING (id)
              WHERE hashring.ring_nodes(r.ring, keys.k, 3)::text IS DISTINCT FROM r.reps}),
	0, 'ring_nodes(key, 3) equals the distinct successors (SimpleStrategy)');
is($psql->(q{SELECT count(*) FROM hashring.nodes WHERE state = 'down'}), 4, 'four nodes are down');
is($psql->(q{SELECT count(*) FROM route r JOIN hashring.nodes n ON n.ring = r.ring AND n.state = 'down'
              WHERE n.node = r.owner OR n.node = ANY (r.reps::text[])}),
	0, 'down nodes own nothing and are no replicas');

cmp_ok($psql->(q{SELECT count(*) FROM route r JOIN keys USING (id) JOIN hashring.nodes n
                   ON n.ring = r.ring AND keys.tok = ANY (n.tokens)
                 WHERE r.ring = 'tok_explicit' AND n.node = r.owner}),
	'>=', 10, 'some keys have exactly a node token, and go to that node');
cmp_ok($psql->(q{SELECT count(*) FROM route r JOIN keys USING (id)
                 WHERE r.ring = 'tok_explicit' AND keys.tok > 4611686018427387904}),
	'>=', 1000, 'keys above the largest token wrap to the smallest');
cmp_ok($psql->(q{SELECT count(*) FROM route r JOIN keys USING (id)
                 WHERE r.ring = 'tok_explicit' AND keys.tok < -4611686018427387904}),
	'>=', 1000, 'keys below the smallest token go to it');

# the same lookups at the recorded version (catalog history keeps tokens)
is($psql->(q{SELECT count(*) FROM route r JOIN keys USING (id)
              WHERE r.id % 5 = 0 AND hashring.ring_node(r.ring, keys.k,
                      (SELECT version FROM hashring.rings WHERE ring = r.ring)) IS DISTINCT FROM r.owner}),
	0, 'ring_node(ring, key, version) from ring_history routes the same');

# shares: the arcs between sorted tokens
is($psql->(q{SELECT count(*) FROM shares s
              LEFT JOIN LATERAL hashring.ring_balance(s.ring) b ON b.node = s.node
              WHERE abs(coalesce(b.share, -1) - s.share) > 1e-12}),
	0, 'ring_balance shares equal the token arcs');

done_testing();
