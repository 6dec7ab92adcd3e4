# "A reader never sees a freed or half-built image": readers route
# continuously while one client flips a node's weight (so shared images are
# replaced and retired) and another creates, routes and drops big throwaway
# rings in a small hashring.shared_memory (so images are evicted, and some
# do not fit at all).  Every lookup must give the owner under one of the two
# memberships, one statement must route all keys by the same membership, and
# the server must not crash.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;

my $duration = 15;    # seconds of pgbench

my $node = hr_node('concurrent', preload => 1,
	conf => "hashring.shared_memory = '4MB'\nmax_connections = 20");

# Ring r: 50 nodes x 160 vnodes; node X flips between weight 1 (M1) and 2 (M2).
$node->safe_psql(
	'postgres', q{
SELECT hashring.ring_create('r', 'vnode', 160);
SELECT hashring.ring_add_node('r', 'node-' || i) FROM generate_series(1, 49) AS i ORDER BY i;
SELECT hashring.ring_add_node('r', 'X', 1);
CREATE TABLE expect (k text PRIMARY KEY, a text NOT NULL, b text NOT NULL);
INSERT INTO expect SELECT 'k-' || i, hashring.ring_node('r', 'k-' || i), '' FROM generate_series(1, 2000) AS i;
SELECT hashring.ring_set_weight('r', 'X', 2);
UPDATE expect SET b = hashring.ring_node('r', k);
SELECT hashring.ring_set_weight('r', 'X', 1);
});

my ($nmoved, $ntoX) = split /\|/, $node->safe_psql('postgres',
	q{SELECT count(*) FILTER (WHERE a <> b) || '|' || count(*) FILTER (WHERE a <> b AND b = 'X') FROM expect});
ok($nmoved > 20, "M1 and M2 differ for $nmoved of 2000 keys");
is($ntoX, $nmoved, 'every key that moves under M2 moves to X');

$node->safe_psql(
	'postgres', q{
-- Raises if the key's owner is neither its M1 nor its M2 owner.
CREATE FUNCTION check_route(key text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    got text := hashring.ring_node('r', key);
    e expect;
BEGIN
    SELECT * INTO STRICT e FROM expect WHERE k = key;
    IF got IS NULL OR got NOT IN (e.a, e.b) THEN
        RAISE EXCEPTION 'key % routed to %, expected % or %', key, got, e.a, e.b;
    END IF;
    RETURN got;
END
$$;
-- Raises unless all keys of one statement route by the same membership.
CREATE FUNCTION check_batch(first int, n int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    bad_a int;
    bad_b int;
    total int;
BEGIN
    SELECT count(*),
           count(*) FILTER (WHERE o IS DISTINCT FROM a),
           count(*) FILTER (WHERE o IS DISTINCT FROM b)
      INTO total, bad_a, bad_b
      FROM (SELECT k, a, b, hashring.ring_node('r', k) AS o FROM expect
             ORDER BY k OFFSET first LIMIT n) s;
    IF bad_a > 0 AND bad_b > 0 THEN
        RAISE EXCEPTION 'one statement routed % keys unlike M1 and % keys unlike M2 (of %)',
            bad_a, bad_b, total;
    END IF;
    RETURN total;
END
$$;
});

# Sanity: the checks do fail when routing is wrong.
my ($ret, $out, $err) = $node->psql('postgres',
	q{BEGIN; UPDATE expect SET a = 'nobody', b = 'nobody' WHERE k = 'k-1'; SELECT check_route('k-1'); ROLLBACK;});
isnt($ret, 0, 'check_route raises for a wrong owner');
like($err, qr/key k-1 routed to/, 'check_route error message');

my $log_offset = -s $node->logfile;

my $dir = PostgreSQL::Test::Utils::tempdir('pgbench');
PostgreSQL::Test::Utils::append_to_file("$dir/reader.sql", q{
\set off random(0, 1800)
SELECT count(check_route(k)) FROM (SELECT k FROM expect ORDER BY k OFFSET :off LIMIT 200) s;
SELECT check_batch(0, 2000);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT check_batch(:off, 200);
SELECT count(check_route(k)) FROM (SELECT k FROM expect ORDER BY k OFFSET :off LIMIT 50) s;
SELECT check_batch(0, 2000);
COMMIT;
});
PostgreSQL::Test::Utils::append_to_file("$dir/flip.sql", q{
SELECT hashring.ring_set_weight('r', 'X', CASE WHEN weight = 1 THEN 2 ELSE 1 END)
  FROM hashring.nodes WHERE ring = 'r' AND node = 'X';
});
# Throwaway rings of 20k .. 400k points: images of ~0.25 .. ~5 MB in a 4 MB
# area, so they evict the other images, and the largest do not fit.
PostgreSQL::Test::Utils::append_to_file("$dir/churn.sql", q{
\set nn random(20, 100)
\set vn random(1000, 4000)
SELECT hashring.ring_create('churn', 'vnode', :vn);
SELECT hashring.ring_add_node('churn', 'c-' || i) FROM generate_series(1, :nn) AS i;
SELECT count(DISTINCT hashring.ring_node('churn', 'key-' || i)) FROM generate_series(1, 200) AS i;
SELECT hashring.ring_drop('churn');
});

my @common = ('pgbench', '-n', '-h', $node->host, '-p', $node->port, '-T', $duration);
my %runs = (
	reader => [ @common, '-c', '3', '-j', '3', '-f', "$dir/reader.sql", 'postgres' ],
	flip => [ @common, '-c', '1', '-f', "$dir/flip.sql", 'postgres' ],
	churn => [ @common, '-c', '1', '-f', "$dir/churn.sql", 'postgres' ],);
my (%h, %out, %err);
my $timer = IPC::Run::timeout($duration + $PostgreSQL::Test::Utils::timeout_default);
for my $name (sort keys %runs)
{
	($out{$name}, $err{$name}) = ('', '');
	$h{$name} = IPC::Run::start($runs{$name}, '>', \$out{$name}, '2>', \$err{$name}, $timer);
}
my %rc;
for my $name (sort keys %runs)
{
	$h{$name}->finish;
	$rc{$name} = $h{$name}->result(0);
}

my %xacts;
for my $name (sort keys %runs)
{
	is($rc{$name}, 0, "pgbench $name exited with status 0")
	  or diag "pgbench $name stdout:\n$out{$name}\nstderr:\n" . substr($err{$name}, 0, 4000);
	like($out{$name}, qr/number of failed transactions: 0 \(/, "pgbench $name: no failed transactions");
	unlike($err{$name}, qr/ERROR|FATAL|PANIC|aborted/, "pgbench $name: no errors");
	($xacts{$name}) = $out{$name} =~ /number of transactions actually processed: (\d+)/;
	$xacts{$name} //= 0;
}
note "transactions: reader $xacts{reader}, flip $xacts{flip}, churn $xacts{churn}";
ok($xacts{reader} >= 30, "readers ran ($xacts{reader} transactions)");
ok($xacts{flip} >= 30, "weight flipped many times ($xacts{flip})");
ok($xacts{churn} >= 5, "throwaway rings were churned ($xacts{churn})");
my $nowarn = () = $err{churn} =~ /does not fit in hashring shared memory/g;
note "churn rings that did not fit in shared memory: $nowarn";

# The server survived.
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server still accepts queries');
my $log = substr(slurp_file($node->logfile), $log_offset);
unlike($log, qr/terminated by signal|exited with exit code [1-9]|PANIC|TRAP:|reinitializing/,
	'no backend crashed');
unlike($log, qr/routed to|one statement routed/, 'no routing check failed');

# Final routing equals the final membership.
my $w = $node->safe_psql('postgres', q{SELECT weight FROM hashring.nodes WHERE ring = 'r' AND node = 'X'});
ok($w eq '1' || $w eq '2', "final weight of X is 1 or 2 ($w)");
my $col = $w eq '1' ? 'a' : 'b';
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM expect WHERE hashring.ring_node('r', k) IS DISTINCT FROM $col"),
	'0',
	"final routing matches the final membership (column $col) for all 2000 keys");
$node->safe_psql('postgres', copy_ring_sql('r', 'r_ref'));
is($node->safe_psql('postgres', digest_sql('r', 5000)),
	$node->safe_psql('postgres', digest_sql('r_ref', 5000)),
	'final routing equals a freshly built ring with the final membership');
my $v = $node->safe_psql('postgres', ring_version_sql('r'));
like($node->safe_psql('postgres', "SELECT hashring.ring_node('r', 'x') IS NOT NULL; " . cache_info_sql('r')),
	qr/^t\n$v\|shared\|[01]$/, 'a new session uses the shared image of the final version');

$node->stop;
done_testing();
