# Distributed tables answer SQL exactly as local tables do: a differential
# test.  d_customers and d_orders, distributed by cust over three shard
# servers and colocated (one ring, 16 shards each), and l_customers and
# l_orders, plain local tables with the same rows (NULLs in every non-key
# column; integer, numeric, text, date, timestamptz and boolean columns).
# Each statement runs on both pairs on the same coordinator and the outputs
# must be equal: row for row where the statement orders its result, as
# sorted lines where it does not, and the same SQLSTATE where it fails.
# The reads (point lookups, IN lists, ranges, aggregates, grouping sets,
# ORDER BY ... LIMIT, window functions, CTEs, joins with a local table and
# between the colocated tables, subqueries, set operations, LATERAL, a
# prepared statement's generic plan) run with the planner's defaults and
# again with partitionwise join and aggregation on.  The writes (UPDATE and
# DELETE ... RETURNING, INSERT of one row, many rows and INSERT ... SELECT,
# INSERT ... ON CONFLICT DO NOTHING on the primary key (cust, oid), an UPDATE
# that moves rows to another cust, COPY, a failing INSERT, transactions
# rolled back and committed) run on both, and after each one the tables are
# compared whole.  At the end every row of the distributed tables is read
# on the shard servers: each on the shard of its key.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;
use HashringMove;
use HashringDist;

my $coord = dist_node('coord', preload => 1, extension => 1, fdw => 1);
my $srv = dist_shards($coord, qw(srv1 srv2 srv3));
$coord->safe_psql('postgres', q{
SELECT hashring.ring_create('r');
SELECT hashring.ring_add_node('r', 'n' || i, 1, 'srv' || i) FROM generate_series(1, 3) i;

CREATE TABLE regions (region text PRIMARY KEY, label text NOT NULL);
INSERT INTO regions VALUES ('north', 'North'), ('south', 'South'), ('east', 'East'), ('west', 'West'),
                           ('nowhere', 'Nowhere');

CREATE TABLE l_customers (cust integer PRIMARY KEY, name text, region text, score numeric(8,2),
                          since date, vip boolean);
INSERT INTO l_customers
  SELECT g,
         CASE WHEN g % 11 <> 0 THEN 'cust ' || g END,
         CASE WHEN g % 13 <> 0 THEN (ARRAY['north', 'south', 'east', 'west', 'central'])[1 + g % 5] END,
         CASE WHEN g % 7 <> 0 THEN round((g * 37 % 1000) / 10.0, 2) END,
         CASE WHEN g % 17 <> 0 THEN date '2020-01-01' + g % 1000 END,
         CASE WHEN g % 19 <> 0 THEN g % 3 = 0 END
    FROM generate_series(1, 1500) g;

-- customers 1501..1600 have orders but no customer row (outer joins)
CREATE TABLE l_orders (cust integer NOT NULL, oid bigint NOT NULL, amount numeric(10,2), status text,
                       qty integer, placed timestamptz, note text, PRIMARY KEY (cust, oid));
INSERT INTO l_orders
  SELECT 1 + (g * 7919) % 1600, g,
         CASE WHEN g % 23 <> 0 THEN ((g * 7907) % 100000) / 100.0 END,
         CASE WHEN g % 29 <> 0 THEN (ARRAY['new', 'paid', 'shipped', 'cancelled'])[1 + g % 4] END,
         CASE WHEN g % 31 <> 0 THEN 1 + g % 9 END,
         CASE WHEN g % 37 <> 0 THEN timestamptz '2024-01-01 00:00:00+00' + g * interval '17 minutes' END,
         CASE WHEN g % 3 <> 0 THEN md5(g::text) END
    FROM generate_series(1, 6000) g;
CREATE INDEX l_orders_status ON l_orders (status);

CREATE TABLE d_customers (LIKE l_customers INCLUDING ALL);
INSERT INTO d_customers SELECT * FROM l_customers;
CREATE TABLE d_orders (LIKE l_orders INCLUDING ALL);
INSERT INTO d_orders SELECT * FROM l_orders;
});
for my $t ('d_customers', 'd_orders')
{
	my ($rc, $out, $err) = $coord->psql('postgres', "CALL hashring.distribute_table('$t', 'cust', 'r', 16)");
	is($rc, 0, "$t distributed over 16 shards") or diag($err);
}
is($coord->safe_psql('postgres', q{
SELECT count(*) || '|' || count(*) FILTER (WHERE a.node = b.node) || '|'
       || (SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent IN ('d_customers'::regclass, 'd_orders'::regclass) AND c.relkind = 'f')
  FROM hashring.table_shards a JOIN hashring.table_shards b USING (shard)
 WHERE a.tbl = 'd_customers'::regclass AND b.tbl = 'd_orders'::regclass}), '16|16|32',
	'the two tables are colocated, 16 foreign partitions each');

# Runs $sql (a script) with {c} and {o} naming $side's tables; returns its
# output (sorted lines unless $ordered) or "ERROR <sqlstate>".
sub run_side
{
	my ($side, $sql, $ordered, $settings) = @_;
	(my $s = $sql) =~ s/\{c\}/${side}_customers/g;
	$s =~ s/\{o\}/${side}_orders/g;
	my ($rc, $out, $err) = $coord->psql('postgres', "\\set VERBOSITY verbose\n" . ($settings // '') . $s);
	return 'ERROR ' . sqlstate($err) if $rc != 0;
	return $ordered ? $out : join("\n", sort split /\n/, $out);
}

my $ncompared = 0;

# $sql gives the same output on both sides; $flags: 'o' the output is
# ordered, 'e' it may be empty, 'f' it fails (on both, the same way)
sub same
{
	my ($name, $sql, $flags, $settings) = @_;
	$flags //= '';
	my $ordered = $flags =~ /o/ ? 1 : 0;    # (a failed match in list context is an empty list)
	my $d = run_side('d', $sql, $ordered, $settings);
	my $l = run_side('l', $sql, $ordered, $settings);
	if ($flags =~ /f/)
	{
		like($l, qr/^ERROR /, "$name: fails on the local tables ($l)");
	}
	elsif ($flags !~ /e/)
	{
		isnt($l, '', "$name: the local tables give rows");
		unlike($l, qr/^ERROR /, "$name: the local tables give no error");
	}
	$ncompared++;
	return if is($d, $l, "$name: the distributed tables give the same");
	my @d = split /\n/, $d;
	my @l = split /\n/, $l;
	for my $i (0 .. ($#d > $#l ? $#d : $#l))
	{
		next if ($d[$i] // '<none>') eq ($l[$i] // '<none>');
		diag("first difference at line " . ($i + 1) . ": distributed '" . ($d[$i] // '<none>') . "', local '" . ($l[$i] // '<none>') . "'");
		last;
	}
	return;
}

my $whole = q{
SELECT md5(string_agg(t::text, ';' ORDER BY t.cust)) || ' ' || count(*) FROM {c} t;
SELECT md5(string_agg(t::text, ';' ORDER BY t.cust, t.oid)) || ' ' || count(*) FROM {o} t;};
same('the tables whole', $whole, 'o');

my @reads = (
	[ 'point lookup', 'SELECT * FROM {c} WHERE cust = 42' ],
	[ 'point lookup, no row', 'SELECT * FROM {c} WHERE cust = 99999', 'e' ],
	[ 'point lookup on orders', 'SELECT * FROM {o} WHERE cust = 77 ORDER BY oid', 'o' ],
	[ 'key is NULL', 'SELECT * FROM {c} WHERE cust IS NULL', 'e' ],
	[ 'IN list', 'SELECT cust, name FROM {c} WHERE cust IN (1, 2, 3, 500, 1499, 77777)' ],
	[ '= ANY (array)', q{SELECT cust, score FROM {c} WHERE cust = ANY ('{10,20,30,40,1600}')} ],
	[ 'NOT IN', 'SELECT count(*) FROM {c} WHERE cust NOT IN (1, 2, 3)' ],
	[ 'range of keys', 'SELECT cust, since FROM {c} WHERE cust BETWEEN 100 AND 140' ],
	[ 'range of another column', 'SELECT cust, score FROM {c} WHERE score > 90.5' ],
	[ 'IS NULL on a column', 'SELECT cust FROM {c} WHERE name IS NULL' ],
	[ 'IS NOT TRUE', 'SELECT count(*) FROM {c} WHERE vip IS NOT TRUE' ],
	[ 'LIKE', q{SELECT cust, name FROM {c} WHERE name LIKE 'cust 1%5'} ],
	[ 'timestamptz range',
		q{SELECT count(*), min(placed), max(placed) FROM {o} WHERE placed >= '2024-02-01' AND placed < '2024-03-01'} ],
	[ 'aggregates with NULLs', q{
SELECT count(*), count(score), sum(score), avg(score), min(since), max(since), bool_and(vip), bool_or(vip),
       stddev_samp(score), count(DISTINCT region) FROM {c}} ],
	[ 'GROUP BY ... HAVING',
		'SELECT region, count(*), sum(score), round(avg(score), 6) FROM {c} GROUP BY region HAVING count(*) > 10' ],
	[ 'GROUP BY on orders', 'SELECT status, count(*), sum(amount), count(DISTINCT cust), max(placed) FROM {o} GROUP BY status' ],
	[ 'GROUP BY the key', 'SELECT cust, count(*), sum(qty) FROM {o} GROUP BY cust HAVING sum(qty) > 20' ],
	[ 'GROUPING SETS', 'SELECT status, qty, count(*), sum(amount) FROM {o} GROUP BY GROUPING SETS ((status), (qty), ())' ],
	[ 'FILTER', q{SELECT count(*) FILTER (WHERE amount > 500), count(*) FILTER (WHERE note IS NULL), sum(qty) FILTER (WHERE status = 'paid') FROM {o}} ],
	[ 'ORDER BY ... LIMIT', 'SELECT cust, oid, amount FROM {o} ORDER BY amount DESC NULLS LAST, cust, oid LIMIT 15', 'o' ],
	[ 'ORDER BY ... OFFSET', 'SELECT cust, name FROM {c} ORDER BY name NULLS FIRST, cust LIMIT 10 OFFSET 100', 'o' ],
	[ 'DISTINCT', 'SELECT DISTINCT status FROM {o}' ],
	[ 'DISTINCT ON',
		'SELECT DISTINCT ON (cust) cust, oid, amount FROM {o} WHERE cust < 50 ORDER BY cust, amount DESC NULLS LAST, oid', 'o' ],
	[ 'window: row_number and running sum per key', q{
SELECT cust, oid, row_number() OVER (PARTITION BY cust ORDER BY oid), sum(amount) OVER (PARTITION BY cust ORDER BY oid)
  FROM {o} WHERE cust % 10 = 3} ],
	[ 'window: rank over everything', q{
SELECT cust, score, rank() OVER (ORDER BY score DESC NULLS LAST), dense_rank() OVER (PARTITION BY region ORDER BY score)
  FROM {c}} ],
	[ 'window: lag and lead', 'SELECT oid, lag(amount) OVER w, lead(status) OVER w FROM {o} WINDOW w AS (ORDER BY oid)' ],
	[ 'ordered-set aggregates', q{
SELECT region, percentile_cont(0.5) WITHIN GROUP (ORDER BY score), percentile_disc(0.9) WITHIN GROUP (ORDER BY since)
  FROM {c} GROUP BY region} ],
	[ 'CTE', q{
WITH big AS (SELECT cust, sum(amount) AS s FROM {o} GROUP BY cust)
SELECT c.region, count(*), sum(b.s) FROM big b JOIN {c} c USING (cust) GROUP BY c.region} ],
	[ 'recursive CTE', q{
WITH RECURSIVE chain(cust, depth) AS (
  SELECT 3, 1
  UNION ALL
  SELECT c.cust, ch.depth + 1 FROM chain ch JOIN {c} c ON c.cust = ch.cust * 2 WHERE ch.depth < 12)
SELECT * FROM chain} ],
	[ 'MATERIALIZED CTE', q{
WITH m AS MATERIALIZED (SELECT * FROM {o} WHERE status = 'paid') SELECT count(*), sum(qty), min(oid) FROM m} ],
	[ 'join with a local table', 'SELECT r.label, count(*), sum(c.score) FROM {c} c JOIN regions r USING (region) GROUP BY r.label' ],
	[ 'left join with a local table', 'SELECT c.cust, r.label FROM {c} c LEFT JOIN regions r USING (region) WHERE c.cust % 50 = 0' ],
	[ 'right join with a local table', 'SELECT r.region, count(c.cust) FROM {c} c RIGHT JOIN regions r USING (region) GROUP BY r.region' ],
	[ 'join of the colocated tables', q{
SELECT c.cust, c.name, count(o.oid), sum(o.amount) FROM {c} c JOIN {o} o USING (cust) GROUP BY c.cust, c.name} ],
	[ 'join of the colocated tables, every column', 'SELECT * FROM {c} c JOIN {o} o USING (cust) WHERE o.oid % 97 = 5' ],
	[ 'left join of the colocated tables (orphans)', q{
SELECT o.cust, count(*) FROM {o} o LEFT JOIN {c} c USING (cust) WHERE c.cust IS NULL GROUP BY o.cust} ],
	[ 'full join of the colocated tables', 'SELECT count(*), count(c.cust), count(o.cust), sum(o.qty) FROM {c} c FULL JOIN {o} o USING (cust)' ],
	[ 'semi join', q{
SELECT cust FROM {c} c WHERE EXISTS (SELECT 1 FROM {o} o WHERE o.cust = c.cust AND o.status = 'cancelled')} ],
	[ 'anti join', 'SELECT count(*) FROM {c} c WHERE NOT EXISTS (SELECT 1 FROM {o} o WHERE o.cust = c.cust)' ],
	[ 'join on a column that is not the key', q{
SELECT c1.cust, c2.cust FROM {c} c1 JOIN {c} c2 ON c1.score = c2.score AND c1.cust < c2.cust WHERE c1.cust < 100} ],
	[ 'join of the colocated tables, one key', 'SELECT * FROM {c} c JOIN {o} o USING (cust) WHERE cust = 123 ORDER BY oid', 'o' ],
	[ 'correlated subquery', q{
SELECT cust, (SELECT count(*) FROM {o} o WHERE o.cust = c.cust) FROM {c} c WHERE cust BETWEEN 200 AND 230} ],
	[ 'EXCEPT', q{SELECT cust FROM {c} WHERE vip EXCEPT SELECT cust FROM {o} WHERE status = 'paid'} ],
	[ 'UNION', q{SELECT cust FROM {c} WHERE score > 99 UNION SELECT cust FROM {o} WHERE amount > 995} ],
	[ 'LATERAL', q{
SELECT c.cust, l.oid, l.amount FROM {c} c,
       LATERAL (SELECT oid, amount FROM {o} o WHERE o.cust = c.cust ORDER BY amount DESC NULLS LAST, oid LIMIT 2) l
 WHERE c.cust < 60} ],
	[ 'expressions', q{
SELECT cust, upper(name), extract(year FROM since), coalesce(score, -1) * 2, to_char(since, 'YYYY-MM'), vip IS DISTINCT FROM true
  FROM {c} WHERE cust % 97 = 1} ],
	[ 'json_agg and string_agg', q{
SELECT c.region, json_agg(c.cust ORDER BY c.cust), string_agg(o.oid::text, ',' ORDER BY o.oid)
  FROM {c} c JOIN {o} o USING (cust) WHERE c.cust < 40 GROUP BY c.region} ],
	[ 'prepared, generic plan', q{
SET plan_cache_mode = force_generic_plan;
PREPARE p(integer) AS SELECT cust, name, score FROM {c} WHERE cust = $1;
EXECUTE p(5); EXECUTE p(6); EXECUTE p(7); EXECUTE p(1111); EXECUTE p(1499); EXECUTE p(1500); EXECUTE p(9999);
PREPARE po(integer, integer) AS SELECT count(*), sum(amount) FROM {o} WHERE cust = $1 OR cust = $2;
EXECUTE po(1, 2); EXECUTE po(3, 4); EXECUTE po(5, 6); EXECUTE po(7, 8); EXECUTE po(9, 10); EXECUTE po(11, 1599);}, 'o' ],
	[ 'COPY (SELECT ...) TO STDOUT', q{COPY (SELECT * FROM {o} WHERE cust < 30) TO STDOUT} ],
	[ 'a failing query', 'SELECT cust / (cust - cust) FROM {c} WHERE cust = 5', 'f' ],
);
cmp_ok(scalar(@reads), '>=', 40, scalar(@reads) . ' reads');

same("read: $_->[0]", $_->[1], $_->[2]) for @reads;
my $pw = "SET enable_partitionwise_join = on;\nSET enable_partitionwise_aggregate = on;\n";
for my $r (@reads)
{
	if ($r->[0] eq 'correlated subquery')
	{
		# PostgreSQL 15.20 fails this one at times with "epoll_ctl() failed:
		# File exists": an async Append rescanned inside a subplan while the
		# outer async scan waits on the same connection (docs/distributed.md,
		# "Limits"); without async Append it answers
		TODO:
		{
			local $TODO = 'PostgreSQL: async Append rescanned in a subplan on a shared connection';
			same("read, partitionwise: $r->[0]", $r->[1], $r->[2], $pw);
		}
		same("read, partitionwise, no async Append: $r->[0]", $r->[1], $r->[2], "${pw}SET enable_async_append = off;\n");
		next;
	}
	same("read, partitionwise: $r->[0]", $r->[1], $r->[2], $pw);
}

# the partitionwise settings really changed the plans (PostgreSQL 15's
# postgres_fdw pushes a join down when estimates from the shard servers
# say it is cheaper, as docs/distributed.md's tutorial sets up)
$coord->safe_psql('postgres', join('', map { "ALTER SERVER $_ OPTIONS (ADD use_remote_estimate 'true');" } sort keys %$srv));
like($coord->safe_psql('postgres', "${pw}EXPLAIN (VERBOSE, COSTS OFF) SELECT c.cust, count(o.oid) FROM d_customers c JOIN d_orders o USING (cust) GROUP BY c.cust"),
	qr/Relations: .*d_customers_\d+.* INNER JOIN .*d_orders_\d+/, 'with partitionwise join on, the colocated join is pushed down per shard');
$coord->safe_psql('postgres', join('', map { "ALTER SERVER $_ OPTIONS (DROP use_remote_estimate);" } sort keys %$srv));

# writes: the same on both sides, RETURNING compared, then the tables whole
my @writes = (
	[ 'UPDATE one key', q{UPDATE {o} SET status = 'paid', qty = coalesce(qty, 0) + 1 WHERE cust = 77 RETURNING cust, oid, status, qty} ],
	[ 'UPDATE by other columns', q{UPDATE {o} SET amount = amount * 2 WHERE status = 'new' AND qty > 7 RETURNING cust, oid, amount} ],
	[ 'UPDATE to NULL', 'UPDATE {c} SET score = NULL WHERE region IS NULL RETURNING cust, score' ],
	[ 'UPDATE ... FROM a local table', q{
UPDATE {c} c SET name = r.label || ' ' || c.cust FROM regions r WHERE r.region = c.region AND c.cust % 100 = 7
RETURNING c.cust, c.name} ],
	[ 'UPDATE with a subquery on the colocated table', q{
UPDATE {o} o SET note = 'vip' WHERE o.cust IN (SELECT cust FROM {c} WHERE vip) AND o.oid % 10 = 0 RETURNING o.cust, o.oid, o.note} ],
	[ 'UPDATE IN list of keys', q{UPDATE {c} SET vip = NOT vip WHERE cust IN (3, 33, 333, 1333) RETURNING cust, vip} ],
	[ 'moving rows to another key: DELETE ... RETURNING into INSERT', q{
WITH m AS (DELETE FROM {o} WHERE cust = 5 RETURNING *)
INSERT INTO {o} SELECT 1234, oid, amount, status, qty, placed, note FROM m RETURNING cust, oid, amount} ],
	[ 'DELETE one key', 'DELETE FROM {o} WHERE cust = 88 RETURNING *' ],
	[ 'DELETE by other columns', q{DELETE FROM {o} WHERE status = 'cancelled' AND amount < 100 RETURNING cust, oid} ],
	[ 'DELETE ... USING a local table', q{
DELETE FROM {c} c USING regions r WHERE c.region = r.region AND r.region = 'west' AND c.cust % 9 = 0 RETURNING c.cust} ],
	[ 'DELETE with NOT EXISTS on the colocated table',
		'DELETE FROM {c} c WHERE NOT EXISTS (SELECT 1 FROM {o} o WHERE o.cust = c.cust) RETURNING cust' ],
	[ 'INSERT one row', q{INSERT INTO {c} VALUES (5001, 'new one', 'north', 1.5, '2025-01-01', true) RETURNING *} ],
	[ 'INSERT many rows', q{
INSERT INTO {o} VALUES (5001, 90001, 10.00, 'new', 1, '2025-01-01 10:00+00', NULL),
                       (5001, 90002, NULL, NULL, NULL, NULL, 'x'),
                       (17, 90003, 3.25, 'paid', 2, '2025-01-02 11:30+00', 'y')
RETURNING cust, oid} ],
	[ 'INSERT ... SELECT', q{
INSERT INTO {o} SELECT cust, oid + 100000, amount, 'copy', qty, placed, note FROM {o} WHERE cust % 50 = 1 RETURNING cust, oid} ],
	[ 'INSERT ... SELECT from the colocated table', q{
INSERT INTO {c} (cust, name) SELECT DISTINCT o.cust, 'from orders' FROM {o} o
 WHERE NOT EXISTS (SELECT 1 FROM {c} c WHERE c.cust = o.cust) RETURNING cust, name} ],
	[ 'INSERT ... ON CONFLICT DO NOTHING', q{
INSERT INTO {o} (cust, oid, amount, status)
  SELECT cust, oid, 0, 'dup' FROM {o} WHERE cust < 20
  UNION ALL SELECT 7000 + g, g, 1, 'fresh' FROM generate_series(1, 5) g
ON CONFLICT DO NOTHING RETURNING cust, oid, status} ],
	[ 'INSERT ... ON CONFLICT DO NOTHING, customers',
		q{INSERT INTO {c} (cust, name) VALUES (1, 'dup'), (6001, 'fresh'), (2, 'dup') ON CONFLICT DO NOTHING RETURNING cust, name} ],
	[ 'a duplicate key fails', q{INSERT INTO {c} (cust, name) VALUES (6002, 'a'), (1, 'dup')}, 'f' ],
	[ 'a transaction rolled back', q{
BEGIN;
DELETE FROM {o};
INSERT INTO {c} (cust) VALUES (8888);
ROLLBACK;} , 'e' ],
	[ 'a transaction committed', q{
BEGIN;
UPDATE {c} SET vip = NOT vip WHERE cust < 100 RETURNING cust, vip;
DELETE FROM {o} WHERE cust < 10 RETURNING cust, oid;
INSERT INTO {o} (cust, oid, status) VALUES (9, 1, 'again') RETURNING cust, oid;
COMMIT;} ],
	[ 'COPY FROM STDIN', "COPY {o} FROM STDIN;\n"
		  . join('', map { join("\t", 100 + $_ % 1700, 200000 + $_, $_ % 4 ? sprintf('%.2f', $_ / 7) : '\N', $_ % 5 ? 'copied' : '\N', $_ % 9, '2024-06-01 12:00:00+00', $_ % 2 ? "c$_" : '\N') . "\n" } 1 .. 300)
		  . "\\.\n", 'e' ],
	[ 'COPY FROM STDIN, a column list', "COPY {c} (cust, name, region) FROM STDIN;\n"
		  . join('', map { "$_\tcopied $_\t" . ($_ % 2 ? 'east' : '\N') . "\n" } 8001 .. 8100) . "\\.\n", 'e' ],
);

# an UPDATE of the key would leave the rows on the shard of their old key
# (PostgreSQL moves rows out of local partitions only): it is refused and
# changes nothing, through the table and through a partition; so is an
# INSERT into a partition itself, which would store any key
my $d5 = $coord->safe_psql('postgres', 'SELECT count(*) FROM d_orders WHERE cust = 5');
my $p5 = $coord->safe_psql('postgres', q{SELECT tableoid::regclass FROM d_orders WHERE cust = 5 LIMIT 1});
my $p6 = $coord->safe_psql('postgres', q{SELECT tableoid::regclass FROM d_orders WHERE tableoid <> '} . $p5 . q{'::regclass LIMIT 1});
for my $bad (
	[ 'UPDATE of the key', 'UPDATE d_orders SET cust = 1234 WHERE cust = 5' ],
	[ 'UPDATE of the key, with other columns', 'UPDATE d_orders SET (qty, cust) = (1, cust + 1) WHERE cust = 5' ],
	[ 'UPDATE of the key through a partition', "UPDATE $p5 SET cust = 1234 WHERE cust = 5" ],
	[ 'a prepared UPDATE of the key', 'PREPARE u(integer) AS UPDATE d_orders SET cust = $1 WHERE cust = 5; EXECUTE u(1234)' ],
	[ 'INSERT into a partition itself', "INSERT INTO $p6 SELECT 9999, 1, 1, 'x', 1, now(), 'x'" ],
	[ 'COPY into a partition itself', "COPY $p6 (cust, oid) FROM STDIN;\n9999\t2\n\\.\n" ])
{
	my ($rc, $out, $err) = $coord->psql('postgres', "\\set VERBOSITY verbose\n$bad->[1]");
	is(sqlstate($err), '0A000', "$bad->[0] of a distributed table is refused (0A000)") or diag($err);
}
is($coord->safe_psql('postgres', 'SELECT count(*) FROM d_orders WHERE cust = 5') . '|'
	  . $coord->safe_psql('postgres', 'SELECT count(*) FROM d_orders WHERE cust IN (6, 1234, 9999)'),
	"$d5|" . $coord->safe_psql('postgres', 'SELECT count(*) FROM l_orders WHERE cust IN (6, 1234, 9999)'),
	'... and changes nothing');
same('an UPDATE that does not name the key', q{UPDATE {o} SET qty = qty WHERE cust = 5 RETURNING cust, oid});

for my $w (@writes)
{
	same("write: $w->[0]", $w->[1], $w->[2]);
	same("after \"$w->[0]\": the tables whole", $whole, 'o');
}

# a few reads again, after the writes
same("read after the writes: $_->[0]", $_->[1], $_->[2]) for grep { $_->[0] =~ /^(aggregates|GROUP BY on orders|join of the colocated tables|full join|anti join|window: rank)/ } @reads;
diag("$ncompared statements compared");

# every row on the shard of its key, read on the shard servers
my $cust_rows = $coord->safe_psql('postgres', 'SELECT count(*) || \'|\' || count(DISTINCT cust) FROM l_customers');
is(where_check($coord, $srv, 'd_customers', 'cust'), "$cust_rows|0", 'd_customers: every row on its shard server and shard');
my $ord_rows = $coord->safe_psql('postgres', 'SELECT count(*) || \'|\' || count(DISTINCT cust) FROM l_orders');
is(where_check($coord, $srv, 'd_orders', 'cust'), "$ord_rows|0", 'd_orders: every row on its shard server and shard');

$coord->stop;
$_->stop for values %$srv;
done_testing();
