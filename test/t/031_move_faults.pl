# hashring.ring_move under faults, on a coordinator and three real shard
# servers.  Each fault is followed by a rerun that must end with every row
# exactly once, on its owner, with its value:
#   (a) the target fails at commit (a deferred constraint trigger)
#   (b) the source fails at commit (a deferred trigger on DELETE)
#   (c) the target server stops (-m immediate) in the middle of a batch
#   (d) the coordinator backend is killed between the copy and the delete
#   (g) a CALL inside a transaction block is refused
#   (e) two nodes reaching the same table are refused before anything moves;
#       long server names that share their first 50 bytes move correctly
#   (f) a schema or a search_path prepared by a less privileged role is
#       never used by a superuser's move
#   (h) membership changes that commit while a move runs
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use HashringTest;
use HashringMove;

my $coord = hr_node('coord', preload => 1, conf => 'restart_after_crash = on');
$coord->safe_psql('postgres', 'CREATE EXTENSION postgres_fdw');

# every shard: three tables, and traps: a deferred constraint trigger that
# fails the commit of a transaction that wrote (trap_write) or deleted
# (trap_delete) one of the keys listed in those tables
my $shard_sql = q{
CREATE TABLE items (k text PRIMARY KEY, v integer NOT NULL);
CREATE TABLE items2 (k text PRIMARY KEY, v integer NOT NULL);
CREATE TABLE items3 (k text PRIMARY KEY, v integer NOT NULL);
CREATE TABLE trap_write (k text PRIMARY KEY);
CREATE TABLE trap_delete (k text PRIMARY KEY);
CREATE FUNCTION trap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM public.trap_delete t WHERE t.k = OLD.k) THEN
            RAISE EXCEPTION 'trap: delete of % refused', OLD.k;
        END IF;
    ELSIF EXISTS (SELECT 1 FROM public.trap_write t WHERE t.k = NEW.k) THEN
        RAISE EXCEPTION 'trap: write of % refused', NEW.k;
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER trap_write AFTER INSERT OR UPDATE ON items
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION trap();
CREATE CONSTRAINT TRIGGER trap_delete AFTER DELETE ON items
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION trap();
};
my @shards;
for my $i (1 .. 3)
{
	push @shards, hr_shard($coord, "shard$i", $shard_sql);
	chk_schema($coord, "shard$i", "chk_shard$i", qw(items items2 items3));
}
my %where = map { ("shard$_" => "chk_shard$_") } 1 .. 3;

$coord->safe_psql('postgres', q{
SELECT hashring.ring_create('r', vnodes => 64);
SELECT hashring.ring_add_node('r', 'shard' || i, target => 'shard' || i) FROM generate_series(1, 2) i;
INSERT INTO chk_shard1.items SELECT 'item:' || g, g FROM generate_series(1, 6000) g WHERE hashring.ring_node('r', 'item:' || g) = 'shard1';
INSERT INTO chk_shard2.items SELECT 'item:' || g, g FROM generate_series(1, 6000) g WHERE hashring.ring_node('r', 'item:' || g) = 'shard2';
});
my $exact = '6000|6000|0|18003000';    # rows|keys|misplaced|sum(v)
my $items_sql = rows_sql('r', 'items', \%where);
is($coord->safe_psql('postgres', $items_sql), $exact, 'loaded: 6,000 rows, each once, on its owner');

# rows|keys over all shards, and the keys that are on more than one shard
# with different values (a copy must carry the value)
my $dup_sql = q{
SELECT count(*) || '|' || count(DISTINCT k) || '|'
       || (SELECT count(*) FROM (SELECT k FROM (SELECT k, v FROM chk_shard1.items UNION ALL SELECT k, v FROM chk_shard2.items
                                                UNION ALL SELECT k, v FROM chk_shard3.items) a
                                  GROUP BY k HAVING count(DISTINCT v) > 1) d)
  FROM (SELECT k FROM chk_shard1.items UNION ALL SELECT k FROM chk_shard2.items UNION ALL SELECT k FROM chk_shard3.items) s};

sub moving_to
{
	return $coord->safe_psql('postgres',
		q{SELECT coalesce(moving_to::text, 'none') FROM hashring.moves WHERE ring = 'r'});
}

# The shard (of %where) that holds key $k, as "shard1,shard3" when on two.
sub where_is
{
	my ($k) = @_;
	return $coord->safe_psql('postgres', qq{
SELECT string_agg(node, ',' ORDER BY node) FROM (
  SELECT 'shard1' AS node FROM chk_shard1.items WHERE k = '$k' UNION ALL
  SELECT 'shard2' FROM chk_shard2.items WHERE k = '$k' UNION ALL
  SELECT 'shard3' FROM chk_shard3.items WHERE k = '$k') s});
}

# A rerun (from_version omitted: the interrupted move is remembered) must
# finish with every row exactly once, on its owner.
sub rerun_exact
{
	my ($what) = @_;
	my ($rc, $out, $err) = $coord->psql('postgres', q{CALL hashring.ring_move('r', 'public.items', 'k', 200)});
	is($rc, 0, "$what: the rerun completes") or diag($err);
	like($err, qr/NOTICE:\s+done: \d+ row\(s\) moved/, "$what: the rerun reports the rows moved");
	is($coord->safe_psql('postgres', $items_sql), $exact, "$what: after the rerun every row is once, on its owner, with its value");
	is(moving_to(), 'none', "$what: no move is left in progress");
	return;
}

# sanity: the traps fire at commit, and only then
my ($ret, $out, $err) = $shards[2]->psql('postgres', q{
INSERT INTO trap_write VALUES ('probe');
BEGIN;
INSERT INTO items VALUES ('probe', 0);
SELECT 'inserted';
COMMIT;});
like($err, qr/trap: write of probe refused/, 'sanity: the write trap fails the commit');
is($out, 'inserted', 'sanity: ... and not the INSERT itself (it is deferred)');
$shards[2]->safe_psql('postgres', 'DELETE FROM trap_write');

###########################################################################
# the first move of a table needs from_version
my $v0 = ring_version($coord, 'r');
$coord->safe_psql('postgres', q{SELECT hashring.ring_add_node('r', 'shard3', target => 'shard3')});
($ret, $out, $err) = sqlstate_psql($coord, q{CALL hashring.ring_move('r', 'public.items', 'k', 200)});
like($err, qr/ERROR:\s+22023:.*from_version/s, 'the first move of a table without from_version is refused (22023)');
is($coord->safe_psql('postgres', $items_sql), '6000|6000|' . $coord->safe_psql('postgres',
	qq{SELECT count(*) FROM generate_series(1, 6000) g WHERE hashring.ring_node('r', 'item:' || g) = 'shard3'}) . '|18003000',
	'... and moved nothing');

###########################################################################
# (a) the target fails at commit
my $trap_a = $coord->safe_psql('postgres', qq{
SELECT k FROM (SELECT k, v FROM chk_shard1.items UNION ALL SELECT k, v FROM chk_shard2.items) s
 WHERE hashring.ring_node('r', k) = 'shard3' ORDER BY v OFFSET 300 LIMIT 1});
my $trap_a_from = where_is($trap_a);
$shards[2]->safe_psql('postgres', "INSERT INTO trap_write VALUES ('$trap_a')");
($ret, $out, $err) = $coord->psql('postgres',
	qq{CALL hashring.ring_move('r', 'public.items', 'k', 200, from_version => $v0)});
isnt($ret, 0, '(a) target fails at commit: the move fails');
like($err, qr/trap: write of \Q$trap_a\E refused/, '(a) ... with the target\'s error');
is($coord->safe_psql('postgres', $dup_sql), '6000|6000|0',
	'(a) no row lost or duplicated: the failed batch was committed nowhere');
is($coord->safe_psql('postgres', qq{SELECT sum(v) FROM (SELECT v FROM chk_shard1.items UNION ALL SELECT v FROM chk_shard2.items UNION ALL SELECT v FROM chk_shard3.items) s}),
	'18003000', '(a) every value intact');
is(where_is($trap_a), $trap_a_from, "(a) the refused row is still on its source ($trap_a_from)");
isnt(moving_to(), 'none', '(a) the interrupted move is recorded (moving_to set)');
is($coord->safe_psql('postgres', q{SELECT running FROM hashring.ring_move_progress WHERE ring = 'r'}),
	'f', '(a) the progress view shows the failed move as interrupted, not running');
diag('(a) before the failure the new shard received '
	  . $coord->safe_psql('postgres', 'SELECT count(*) FROM chk_shard3.items') . ' rows');
$shards[2]->safe_psql('postgres', 'DELETE FROM trap_write');
rerun_exact('(a)');

###########################################################################
# (b) the source fails at commit: shard2 drains, its DELETE of one key fails
$coord->safe_psql('postgres', q{SELECT hashring.ring_set_state('r', 'shard2', 'down')});
my $trap_b = $coord->safe_psql('postgres', q{SELECT k FROM chk_shard2.items ORDER BY v OFFSET 500 LIMIT 1});
$shards[1]->safe_psql('postgres', "INSERT INTO trap_delete VALUES ('$trap_b')");
($ret, $out, $err) = $coord->psql('postgres', q{CALL hashring.ring_move('r', 'public.items', 'k', 200)});
isnt($ret, 0, '(b) source fails at commit: the move fails');
like($err, qr/trap: delete of \Q$trap_b\E refused/, '(b) ... with the source\'s error');
my ($rows_b, $keys_b, $diff_b) = split /\|/, $coord->safe_psql('postgres', $dup_sql);
is($keys_b, 6000, '(b) no row lost');
cmp_ok($rows_b, '>=', 6000, "(b) some rows may be on two shards ($rows_b rows)");
is($diff_b, 0, '(b) a row on two shards has the same value on both');
my $owner_b = $coord->safe_psql('postgres', "SELECT hashring.ring_node('r', '$trap_b')");
is(where_is($trap_b), join(',', sort('shard2', $owner_b)),
	'(b) the refused row was committed on its target before the source failed');
$shards[1]->safe_psql('postgres', 'DELETE FROM trap_delete');
rerun_exact('(b)');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM chk_shard2.items'), '0', '(b) the drained shard is empty');

###########################################################################
# (c) the target server stops in the middle of a batch: shard2 comes back,
# rows move to it, and it is stopped -m immediate before the target commit
$coord->safe_psql('postgres', q{SELECT hashring.ring_set_state('r', 'shard2', 'active')});
my $off = log_offset($coord);
my $mv = psql_start($coord, q{
SET hashring.inject_move_fault = 'before_target_commit:pause:4000';
CALL hashring.ring_move('r', 'public.items', 'k', 200);});
$coord->wait_for_log(qr/ring_move paused at before_target_commit/, $off);
$shards[1]->stop('immediate');
($ret, $out, $err) = psql_finish($mv);
isnt($ret, 0, '(c) target stopped mid-batch: the move fails');
diag("(c) the mover's error: " . join(' ', grep { /ERROR/ } split /\n/, $err));
$shards[1]->start;
is($coord->safe_psql('postgres', $dup_sql), '6000|6000|0', '(c) no row lost or duplicated');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM chk_shard2.items'), '0',
	'(c) the uncommitted batch is gone from the restarted target');
rerun_exact('(c)');

###########################################################################
# (d) the coordinator backend is killed after the target committed, before
# the source rows were deleted
$coord->safe_psql('postgres', q{SELECT hashring.ring_set_weight('r', 'shard3', 2)});
$off = log_offset($coord);
$mv = psql_start($coord, q{
SELECT pg_backend_pid();
SET hashring.inject_move_fault = 'after_target_commit:pause:60000';
CALL hashring.ring_move('r', 'public.items', 'k', 200);});
my ($pid) = psql_wait_out($mv, qr/^\d+$/m) =~ /^(\d+)$/m;
$coord->wait_for_log(qr/ring_move paused at after_target_commit/, $off);
my $progress = $coord->safe_psql('postgres',
	qq{SELECT pid = $pid AND to_version = (SELECT version FROM hashring.rings WHERE ring = 'r') FROM hashring.ring_move_progress WHERE ring = 'r'});
is($progress, 't', '(d) ring_move_progress shows the paused move: its backend and the version it moves to');
kill 'KILL', $pid;
psql_finish($mv);
# the crash restart has begun only once the postmaster logged the kill, and is
# over once it is ready again: a query polled before that may still reach
# the old backends, and the next one then fail in the restart
$coord->wait_for_log(qr/database system is ready to accept connections/, $off);
$coord->poll_query_until('postgres', 'SELECT true') or die 'the coordinator did not come back';
ok($coord->log_contains(qr/terminated by signal 9/, $off), '(d) the coordinator backend was killed (crash restart)');
my ($rows_d, $keys_d, $diff_d) = split /\|/, $coord->safe_psql('postgres', $dup_sql);
is($keys_d, 6000, '(d) every row present at least once');
cmp_ok($rows_d, '>', 6000, "(d) the killed batch is on both shards ($rows_d rows): copied and committed, not deleted");
is($diff_d, 0, '(d) with the same value on both');
isnt(moving_to(), 'none', '(d) the interrupted move is recorded');
rerun_exact('(d)');

###########################################################################
# (g) not inside a transaction block
($ret, $out, $err) = sqlstate_psql($coord, q{
BEGIN;
CALL hashring.ring_move('r', 'public.items', 'k');
COMMIT;});
like($err, qr/ERROR:\s+25001:.*cannot run inside a transaction block/, '(g) a CALL inside BEGIN ... COMMIT is refused (25001)');

###########################################################################
# (e) two nodes that reach the same table
# ring "same": nodes lsa and lsb both target server shard1
$shards[0]->safe_psql('postgres', q{INSERT INTO items2 SELECT 'e:' || g, g FROM generate_series(1, 3000) g});
my $shard1_items2 = q{SELECT count(*) || '|' || sum(v) FROM items2};
$coord->safe_psql('postgres', q{
SELECT hashring.ring_create('same', vnodes => 64);
SELECT hashring.ring_add_node('same', 'lsa', target => 'shard1');});
my $v_same = ring_version($coord, 'same');
$coord->safe_psql('postgres', q{SELECT hashring.ring_add_node('same', 'lsb', target => 'shard1')});
($ret, $out, $err) = $coord->psql('postgres',
	qq{CALL hashring.ring_move('same', 'public.items2', 'k', 200, from_version => $v_same)});
isnt($ret, 0, '(e) two nodes with the same target server: refused');
like($err, qr/"?lsa"?.*"?lsb"?.*same table|"?lsb"?.*"?lsa"?.*same table|same table.*(lsa.*lsb|lsb.*lsa)/s,
	'(e) ... naming both nodes and "the same table"');
is($shards[0]->safe_psql('postgres', $shard1_items2), '3000|4501500', '(e) ... before anything moved');

# ring "twin": two differently named foreign servers for shard1's database
fdw_server($coord, 'shard1_alias', $shards[0]);
$coord->safe_psql('postgres', q{
SELECT hashring.ring_create('twin', vnodes => 64);
SELECT hashring.ring_add_node('twin', 'tw1', target => 'shard1');});
my $v_twin = ring_version($coord, 'twin');
$coord->safe_psql('postgres', q{SELECT hashring.ring_add_node('twin', 'tw2', target => 'shard1_alias')});
($ret, $out, $err) = $coord->psql('postgres',
	qq{CALL hashring.ring_move('twin', 'public.items2', 'k', 200, from_version => $v_twin)});
isnt($ret, 0, '(e) two foreign servers for the same database: refused');
like($err, qr/(tw1.*tw2|tw2.*tw1).*same table|same table.*(tw1.*tw2|tw2.*tw1)/s,
	'(e) ... naming both nodes and "the same table"');
is($shards[0]->safe_psql('postgres', $shard1_items2), '3000|4501500', '(e) ... before anything moved');

# ring "long": server names over 50 bytes, equal in their first 50, for two
# different servers (0.3 mapped both to one truncated schema and lost rows)
my $prefix = 'shard_server_with_a_rather_long_name_for_the_test_';
my ($long2, $long3) = ("${prefix}two", "${prefix}three");
ok(length($prefix) == 50 && length($long2) > 50 && length($long3) <= 63, '(e) the long names share their first 50 bytes');
fdw_server($coord, $long2, $shards[1]);
fdw_server($coord, $long3, $shards[2]);
$shards[1]->safe_psql('postgres', q{INSERT INTO items2 SELECT 'l:' || g, g FROM generate_series(1, 3000) g});
$coord->safe_psql('postgres', qq{
SELECT hashring.ring_create('long', vnodes => 64);
SELECT hashring.ring_add_node('long', 'long2', target => '$long2');});
my $v_long = ring_version($coord, 'long');
$coord->safe_psql('postgres', qq{SELECT hashring.ring_add_node('long', 'long3', target => '$long3')});
($ret, $out, $err) = $coord->psql('postgres',
	qq{CALL hashring.ring_move('long', 'public.items2', 'k', 200, from_version => $v_long)});
is($ret, 0, '(e) long server names sharing 50 bytes: the move completes') or diag($err);
my $long_sql = rows_sql('long', 'items2', { long2 => 'chk_shard2', long3 => 'chk_shard3' });
is($coord->safe_psql('postgres', $long_sql), '3000|3000|0|4501500', '(e) ... every row once, on its owner');
my $on3 = $shards[2]->safe_psql('postgres', q{SELECT count(*) FROM items2 WHERE k LIKE 'l:%'});
cmp_ok($on3, '>', 500, "(e) ... the rows really moved to the second server ($on3 rows)");
($ret, $out, $err) = $coord->psql('postgres', q{SELECT hashring._shard_table('long', 'long2', 'public.items2')});
like($err, qr/ERROR:.*too long/, '(e) _shard_table refuses a server name whose schema name would be truncated');

###########################################################################
# (f) a less privileged role prepares traps for a superuser's move
$coord->safe_psql('postgres', q{
CREATE ROLE mallory LOGIN;
GRANT CREATE ON DATABASE postgres TO mallory;
GRANT CREATE ON SCHEMA public TO mallory;
});
fdw_server($coord, "evsrv$_", $shards[ $_ - 1 ]) for 1 .. 3;
$shards[0]->safe_psql('postgres', q{INSERT INTO items3 SELECT 'x:' || g, g FROM generate_series(1, 2000) g});
$coord->safe_psql('postgres', q{
SELECT hashring.ring_create('evil', vnodes => 64);
SELECT hashring.ring_add_node('evil', 'ev1', target => 'evsrv1');});
my $v_evil = ring_version($coord, 'evil');
$coord->safe_psql('postgres', q{SELECT hashring.ring_add_node('evil', 'ev2', target => 'evsrv2')});
# mallory's schema where 0.3 would look for the coordinator's foreign table
# of evsrv2: a local table whose trigger records who wrote into it
$coord->safe_psql('postgres', q{
SET ROLE mallory;
CREATE SCHEMA hashring_fdw_evsrv2;
CREATE TABLE hashring_fdw_evsrv2.spy_log (who text);
GRANT USAGE ON SCHEMA hashring_fdw_evsrv2 TO PUBLIC;
GRANT INSERT ON hashring_fdw_evsrv2.spy_log TO PUBLIC;
CREATE TABLE hashring_fdw_evsrv2.items3 (k text PRIMARY KEY, v integer NOT NULL);
CREATE FUNCTION hashring_fdw_evsrv2.spy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hashring_fdw_evsrv2.spy_log VALUES (current_user);
    RETURN NEW;
END
$$;
CREATE TRIGGER spy BEFORE INSERT OR UPDATE OR DELETE ON hashring_fdw_evsrv2.items3
    FOR EACH ROW EXECUTE FUNCTION hashring_fdw_evsrv2.spy();
GRANT ALL ON hashring_fdw_evsrv2.items3 TO PUBLIC;
RESET ROLE;
});
# sanity: the trap does record a superuser's write
$coord->safe_psql('postgres', q{INSERT INTO hashring_fdw_evsrv2.items3 VALUES ('probe', 0)});
is($coord->safe_psql('postgres', q{SELECT string_agg(who, ',') FROM hashring_fdw_evsrv2.spy_log}),
	'postgres', 'sanity (f): mallory\'s trigger runs as the superuser who writes');
$coord->safe_psql('postgres', q{TRUNCATE hashring_fdw_evsrv2.items3, hashring_fdw_evsrv2.spy_log});

($ret, $out, $err) = $coord->psql('postgres',
	qq{CALL hashring.ring_move('evil', 'public.items3', 'k', 200, from_version => $v_evil)});
is($ret, 0, '(f) the superuser\'s move completes') or diag($err);
is($coord->safe_psql('postgres', q{SELECT count(*) FROM hashring_fdw_evsrv2.spy_log}), '0',
	'(f) mallory\'s pre-created schema was not used: her trigger never ran');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM hashring_fdw_evsrv2.items3}), '0',
	'(f) ... and her local table received nothing');
my %evil_where = (ev1 => 'chk_shard1', ev2 => 'chk_shard2');
is($coord->safe_psql('postgres', rows_sql('evil', 'items3', \%evil_where)), '2000|2000|0|2001000',
	'(f) the rows went to the real shard: every row once, on its owner');
cmp_ok($shards[1]->safe_psql('postgres', 'SELECT count(*) FROM items3'), '>', 300, '(f) ... the second shard received rows');

# _shard_table refuses a schema it does not own (and works where it does)
($ret, $out, $err) = $coord->psql('postgres', q{SELECT hashring._shard_table('evil', 'ev2', 'public.items3')});
isnt($ret, 0, '(f) _shard_table refuses mallory\'s pre-created schema');
like($err, qr/not owned|owned by/i, '(f) ... saying who owns it') or diag($err);
my $ev1_rel = $coord->safe_psql('postgres', q{SELECT hashring._shard_table('evil', 'ev1', 'public.items3')});
is($coord->safe_psql('postgres', qq{SELECT relkind FROM pg_class WHERE oid = '$ev1_rel'::regclass}),
	'f', "(f) _shard_table still makes its own foreign table ($ev1_rel)");

# a search_path with public first, and a public.text domain whose check
# records its calls
$coord->safe_psql('postgres', q{
SET ROLE mallory;
CREATE TABLE public.spy_calls (who text);
GRANT INSERT ON public.spy_calls TO PUBLIC;
CREATE FUNCTION public.spy_text(t pg_catalog.text) RETURNS boolean LANGUAGE sql
    AS $$ INSERT INTO public.spy_calls VALUES (current_user) RETURNING true $$;
CREATE DOMAIN public.text AS pg_catalog.text CHECK (public.spy_text(VALUE));
RESET ROLE;
});
is($coord->safe_psql('postgres', q{
SET search_path = public, pg_catalog;
SELECT 'probe'::text;
SELECT count(*) FROM public.spy_calls}), "probe\n1", 'sanity (f): with public first, ::text runs mallory\'s check');
$coord->safe_psql('postgres', 'TRUNCATE public.spy_calls');
$coord->safe_psql('postgres', q{SELECT hashring.ring_add_node('evil', 'ev3', target => 'evsrv3')});
($ret, $out, $err) = $coord->psql('postgres', q{
SET search_path = public, pg_catalog;
CALL hashring.ring_move('evil', 'public.items3', 'k', 200);});
is($ret, 0, '(f) a move with public first on the search_path completes') or diag($err);
is($coord->safe_psql('postgres', 'SELECT count(*) FROM public.spy_calls'), '0',
	'(f) ... and never called the function of the public.text domain');
$evil_where{ev3} = 'chk_shard3';
is($coord->safe_psql('postgres', rows_sql('evil', 'items3', \%evil_where)), '2000|2000|0|2001000',
	'(f) ... every row once, on its owner');
$coord->safe_psql('postgres', 'DROP DOMAIN public.text; DROP FUNCTION public.spy_text(pg_catalog.text)');

###########################################################################
# (h) membership changes that commit while a move runs: 20,000 rows, a
# background session changes the ring every 0.1 s (weights) or every 0.05 s
# (a node down / active)
$coord->safe_psql('postgres', q{
INSERT INTO chk_shard1.items SELECT 'item:' || g, g FROM generate_series(6001, 20000) g WHERE hashring.ring_node('r', 'item:' || g) = 'shard1';
INSERT INTO chk_shard2.items SELECT 'item:' || g, g FROM generate_series(6001, 20000) g WHERE hashring.ring_node('r', 'item:' || g) = 'shard2';
INSERT INTO chk_shard3.items SELECT 'item:' || g, g FROM generate_series(6001, 20000) g WHERE hashring.ring_node('r', 'item:' || g) = 'shard3';
CREATE TABLE flip_stop (stop boolean);
});
$exact = '20000|20000|0|200010000';
is($coord->safe_psql('postgres', $items_sql), $exact, '(h) 20,000 rows, each once, on its owner');

sub flipping_move
{
	my ($what, $change_sql, $flip_sql, $interval) = @_;
	$coord->safe_psql('postgres', "TRUNCATE flip_stop; $change_sql");
	my $v_start = ring_version($coord, 'r');
	my $flip = psql_start($coord, qq{
DO \$\$
DECLARE i integer := 0;
BEGIN
    WHILE i < 600 AND NOT EXISTS (SELECT 1 FROM flip_stop) LOOP
        PERFORM $flip_sql;
        COMMIT;
        PERFORM pg_sleep($interval);
        i := i + 1;
    END LOOP;
END
\$\$;});
	$coord->poll_query_until('postgres', "SELECT version >= $v_start + 3 FROM hashring.rings WHERE ring = 'r'")
	  or die 'the background membership changes did not start';
	my $mv = psql_start($coord,
		q{CALL hashring.ring_move('r', 'public.items', 'k', 200, rows_per_second => 2000);});
	my ($during, $samples, %pinned) = (0, 0);
	while (psql_running($mv))
	{
		my $s = $coord->safe_psql('postgres', q{
SELECT m.moving_to || '|' || r.version FROM hashring.moves m JOIN hashring.rings r ON r.ring = m.ring
 WHERE m.ring = 'r' AND m.moving_to IS NOT NULL});
		if ($s =~ /^(\d+)\|(\d+)$/)
		{
			$samples++;
			$pinned{$1} = 1;
			$during++ if $2 > $1;
		}
		usleep(100_000);
	}
	my ($rc, $out, $err) = psql_finish($mv);
	$coord->safe_psql('postgres', 'INSERT INTO flip_stop VALUES (true)');
	my ($frc, $fout, $ferr) = psql_finish($flip);
	is($frc, 0, "(h) $what: the background membership changes ran without error") or diag($ferr);
	is($rc, 0, "(h) $what: the move completes") or diag($err);
	my ($n, $to) = $err =~ /done:\s*(\d+) row\(s\) moved.*version (\d+)/;
	ok(defined $to, "(h) $what: it reports the version it moved to") or diag($err);
	$to //= -1;
	cmp_ok($during, '>', 0,
		"(h) $what: membership changes committed while it ran ($during of $samples samples saw a newer version)");
	cmp_ok($to, '>', $v_start, "(h) $what: it moved to the version current at its start ($to), not an older one");
	is(join(',', sort keys %pinned), $to, "(h) $what: the version it moved to stayed pinned while it ran");
	cmp_ok($n // 0, '>', 1000, "(h) $what: it moved many rows (" . ($n // 0) . ')');
	is($coord->safe_psql('postgres', rows_sql('r', 'items', \%where, $to)), $exact,
		"(h) $what: every row once, on its owner at version $to");
	is($coord->safe_psql('postgres', q{SELECT coalesce(moving_to::text, 'none') || '|' || settled_version FROM hashring.moves WHERE ring = 'r'}),
		"none|$to", "(h) $what: the table is recorded as placed by version $to");
	cmp_ok(ring_version($coord, 'r'), '>', $to, "(h) $what: the ring has moved on since");
	rerun_exact("(h) $what");
	return;
}

flipping_move('weights every 0.1 s',
	q{SELECT hashring.ring_set_weight('r', 'shard3', 1)},
	q{hashring.ring_set_weight('r', 'shard1', CASE WHEN i % 2 = 0 THEN 1.25 ELSE 1 END)}, 0.1);
flipping_move('down / active every 0.05 s',
	q{SELECT hashring.ring_set_weight('r', 'shard2', 2)},
	q{hashring.ring_set_state('r', 'shard1', CASE WHEN i % 2 = 0 THEN 'down' ELSE 'active' END)}, 0.05);

# (i) two moves starting together (two tables of one ring): each waits for
# the transactions older than its start, but not for the other move, which
# reads no placement (waiting for each other deadlocked).  The first is held
# between its start and its wait by the injection point.
{
	my $v = ring_version($coord, 'r');
	$coord->safe_psql('postgres', qq{SELECT hashring.ring_settle('r', 'public.items2', 'k')});
	$coord->safe_psql('postgres', q{SELECT hashring.ring_set_weight('r', 'shard2', 1.5)});
	my $off = log_offset($coord);
	my $a = psql_start($coord, q{SET hashring.inject_move_fault = 'after_start:pause:4000';
CALL hashring.ring_move('r', 'public.items', 'k', 500);});
	$coord->wait_for_log(qr/ring_move paused at after_start/, $off);
	my $t0 = time;
	my ($brc, $bout, $berr) = psql_finish(psql_start($coord, q{CALL hashring.ring_move('r', 'public.items2', 'k', 500)}));
	my $b_secs = time - $t0;
	is($brc, 0, '(i) the second move completes while the first is held after its start') or diag($berr);
	cmp_ok($b_secs, '<', 4, "(i) ... without waiting for the first ($b_secs s)");
	ok(psql_running($a), '(i) ... which was still held');
	my ($arc, $aout, $aerr) = psql_finish($a);
	is($arc, 0, '(i) the first move completes too (no deadlock)') or diag($aerr);
	like($aerr, qr/done: \d+ row\(s\) moved/, '(i) and moved its rows');
	is($coord->safe_psql('postgres', rows_sql('r', 'items', \%where, ring_version($coord, 'r'))), $exact,
		'(i) every row of the first table once, on its owner');
}

done_testing();
