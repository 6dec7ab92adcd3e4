# The health checker (src/checker.c) against real servers: a coordinator
# preloading hashring with the checker (switched on by a reload), four shard servers (three behind
# postgres_fdw servers with the checker role's user mappings, one reached by
# a connection string), and targets that fail in every way a target can: no
# server listening, wrong password, a TCP listener that accepts and never
# answers, a server whose probe query hangs on a lock, a name that is
# neither a server nor a connection string, and a malformed connection
# string.  A stopped shard is set down (keys go to the
# successors) and active again once it answers, by committed changes that
# ring_history names the checker's role in; a node a person set down stays
# down; with every shard stopped at most max_down_fraction of the live nodes
# go down, with a WARNING and "held" in the status; a reload retunes the
# checker; and through all of it the same worker process runs.  Every wait
# is a bounded poll for a state, never a sleep.
use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HashringTest;
use HashringMove;

# A listener that accepts TCP connections and never says a word.  The child
# records the largest number of connections it held open at one time: two
# hanging targets probed in one round are open together only if the checker
# waits for them concurrently.
my $hang_dir = PostgreSQL::Test::Utils::tempdir();
my $listener = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => 0,
	Proto => 'tcp',
	Listen => 16,
	ReuseAddr => 1) or die "listen: $!";
my $hang_port = $listener->sockport;
my $hang_pid = fork // die "fork: $!";
if ($hang_pid == 0)
{
	my $sel = IO::Select->new($listener);
	my ($open, $max) = (0, 0);
	while (1)
	{
		for my $s ($sel->can_read)
		{
			if ($s == $listener)
			{
				my $c = $listener->accept or next;
				$sel->add($c);
				$open++;
			}
			elsif (!sysread($s, my $buf, 8192))
			{
				$sel->remove($s);
				close $s;
				$open--;
			}
			if ($open > $max)
			{
				$max = $open;
				open my $fh, '>', "$hang_dir/max.tmp" or die;
				print $fh $max;
				close $fh;
				rename "$hang_dir/max.tmp", "$hang_dir/max";
			}
		}
	}
}
close $listener;
END { kill 'KILL', $hang_pid if $hang_pid; }

my $coord = hr_node(
	'coord',
	preload => 1,
	conf => q{
hashring.health_check = off
hashring.health_check_interval = 200ms
hashring.health_check_timeout = 1000ms
hashring.health_check_failures = 2
hashring.health_check_successes = 2
hashring.health_check_rings = 'main, bad'
hashring.health_check_role = 'hc_checker'
hashring.health_check_max_down_fraction = 0.5
hashring.health_check_query = 'SELECT x FROM hc_probe'
});

# preloaded and off: the worker runs, waits, and has not even connected
$coord->poll_query_until('postgres', q{SELECT status = 'off' FROM hashring.health_checker()})
  or die 'the checker is not waiting';
my $pid_off = $coord->safe_psql('postgres', q{SELECT pid FROM hashring.health_checker()});
is($coord->safe_psql('postgres', qq{SELECT count(*) FROM pg_stat_activity WHERE pid = $pid_off}),
	'0', 'while off the worker waits without a database connection');

# switched on by a reload; the role does not exist yet: the checker says so and waits
$coord->append_conf('postgresql.conf', 'hashring.health_check = on');
$coord->reload;
$coord->poll_query_until('postgres',
	q{SELECT status = 'idle' AND note = 'role "hc_checker" (hashring.health_check_role) does not exist' FROM hashring.health_checker()})
  or die 'the checker did not report its missing role';
pass('without its role the checker is idle and says why');

$coord->safe_psql('postgres', q{
CREATE EXTENSION postgres_fdw;
CREATE ROLE hc_checker;
SELECT hashring.ring_grant('hc_checker', 'change');
});

# shard1..3 behind postgres_fdw servers; shard4 by connection string
my @shards;
for my $i (1 .. 4)
{
	push @shards, hr_shard($coord, "shard$i", 'CREATE TABLE hc_probe (x integer); INSERT INTO hc_probe VALUES (1)');
	$coord->safe_psql('postgres', qq{
CREATE USER MAPPING FOR hc_checker SERVER shard$i OPTIONS (password_required 'false');
GRANT USAGE ON FOREIGN SERVER shard$i TO hc_checker;
});
}
my $conninfo4 = 'host=' . $shards[3]->host . ' port=' . $shards[3]->port . ' dbname=postgres';

# wrong password: shard3 asks hc_pw for one, the user mapping has another
my $hba = $shards[2]->data_dir . '/pg_hba.conf';
my $hba_text = slurp_file($hba);
open my $fh, '>', $hba or die;
print $fh "local all hc_pw scram-sha-256\n$hba_text";
close $fh;
$shards[2]->reload;
$shards[2]->safe_psql('postgres', q{CREATE ROLE hc_pw LOGIN PASSWORD 'right'});
my ($h3, $p3) = ($shards[2]->host, $shards[2]->port);
my $nowhere = PostgreSQL::Test::Cluster::get_free_port();
my $nowhere_conninfo = 'host=' . $coord->host . " port=$nowhere dbname=postgres";
$coord->safe_psql('postgres', qq{
CREATE SERVER pwsrv FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$h3', port '$p3', dbname 'postgres');
CREATE USER MAPPING FOR hc_checker SERVER pwsrv OPTIONS (user 'hc_pw', password 'wrong');
GRANT USAGE ON FOREIGN SERVER pwsrv TO hc_checker;
SELECT hashring.ring_create('main', vnodes => 64);
SELECT hashring.ring_add_node('main', 'n' || i, target => 'shard' || i) FROM generate_series(1, 3) i;
SELECT hashring.ring_add_node('main', 'n4', target => '$conninfo4');
SELECT hashring.ring_add_node('main', 'n5');   -- no target: not probed, but live
SELECT hashring.ring_create('bad');
SELECT hashring.ring_add_node('bad', 'unreach', target => '$nowhere_conninfo');
SELECT hashring.ring_add_node('bad', 'badpw', target => 'pwsrv');
SELECT hashring.ring_add_node('bad', 'hang1', target => 'host=127.0.0.1 port=$hang_port dbname=postgres');
SELECT hashring.ring_add_node('bad', 'hang2', target => 'postgresql://127.0.0.1:$hang_port/postgres');
SELECT hashring.ring_add_node('bad', 'noresolve', target => 'no_such_server');
SELECT hashring.ring_add_node('bad', 'badconn', target => 'host=localhost nosuchoption=1');
SELECT hashring.ring_create('other');   -- not in hashring.health_check_rings
SELECT hashring.ring_add_node('other', 'o1', target => '$nowhere_conninfo');
});

sub q1 { return $coord->safe_psql('postgres', $_[0]); }

sub poll_ok
{
	my ($sql, $what) = @_;
	ok($coord->poll_query_until('postgres', $sql), $what)
	  or diag(q1(q{SELECT * FROM hashring.health_status ORDER BY ring, node}));
	return;
}

poll_ok(q{SELECT count(*) = 4 FROM hashring.health_status
           WHERE ring = 'main' AND consecutive_successes >= 1 AND last_error IS NULL AND latency_ms >= 0},
	'every reachable node of main is probed successfully');
my $pid = q1(q{SELECT pid FROM hashring.health_checker()});
is($pid, $pid_off, 'the worker that waited is the one that runs');
is(q1(qq{SELECT backend_type || '|' || usename FROM pg_stat_activity WHERE pid = $pid}),
	'hashring health checker|' . q1('SELECT current_user'),
	'the worker shows in pg_stat_activity');
is(q1(q{SELECT string_agg(node, ',' ORDER BY node) FROM hashring.health_status WHERE ring = 'main'}),
	'n1,n2,n3,n4', 'a node without a target is not probed');
is(q1(q{SELECT count(*) FROM hashring.health_status WHERE ring = 'other'}), '0',
	'a ring not in hashring.health_check_rings is not probed');

# every kind of broken target is reported with its error
poll_ok(q{SELECT last_error LIKE '%failed: No such file or directory%' AND consecutive_failures >= 1
            FROM hashring.health_status WHERE node = 'unreach'},
	'no server listening: the connection error is reported');
poll_ok(q{SELECT last_error LIKE '%password authentication failed for user "hc_pw"%'
            FROM hashring.health_status WHERE node = 'badpw'},
	'bad credentials: the authentication error is reported');
poll_ok(q{SELECT bool_and(last_error = 'timed out after 1000 ms connecting') AND count(*) = 2
            FROM hashring.health_status WHERE node IN ('hang1', 'hang2')},
	'a target that accepts and never answers: a timeout is reported');
poll_ok(q{SELECT last_error = 'target "no_such_server" of node "noresolve" is neither a postgres_fdw server nor a connection string'
                 AND consecutive_failures = 0 AND last_action = 'not probed: target unresolved'
            FROM hashring.health_status WHERE node = 'noresolve'},
	'a target that is neither a server nor a connection string is reported, not counted as a failure');
poll_ok(q{SELECT last_error LIKE 'invalid connection string in the target of node "badconn": invalid connection option "nosuchoption"%'
            FROM hashring.health_status WHERE node = 'badconn'},
	'a malformed connection string is reported');
ok(-f "$hang_dir/max" && slurp_file("$hang_dir/max") >= 2,
	'the two hanging targets were waited for at the same time');
# while the hanging ones time out every round, the others are probed too
my $succ = q1(q{SELECT consecutive_successes FROM hashring.health_status WHERE node = 'n1'});
poll_ok(qq{SELECT consecutive_successes >= $succ + 3 FROM hashring.health_status WHERE node = 'n1'},
	'rounds with hanging targets go on probing the other nodes');
is(q1(q{SELECT string_agg(node || '=' || state, ',' ORDER BY node) FROM hashring.nodes
         WHERE ring = 'bad' AND node IN ('noresolve', 'badconn')}),
	'badconn=active,noresolve=active', 'an unresolvable target is never set down');
# two of the four failing nodes of bad (6 live: floor(0.5 * 6) = 3) ...
poll_ok(q{SELECT count(*) = 3 FROM hashring.nodes WHERE ring = 'bad' AND state = 'down'},
	'failing nodes of ring bad are set down, up to the fraction');
is(q1(q{SELECT count(*) FROM hashring.health_status WHERE ring = 'bad' AND last_action = 'held: max_down_fraction'}),
	'1', 'the fourth failing node of bad is held');

# --- a stopped shard is set down, its keys go to the successors ------------
my $keys_sql = q{SELECT 'key-' || g AS k FROM generate_series(1, 3000) g};
q1(qq{CREATE TABLE n1_keys AS
      SELECT k, (hashring.ring_nodes('main', k, 2))[2] AS successor FROM ($keys_sql) s
       WHERE hashring.ring_node('main', k) = 'n1'});
cmp_ok(q1('SELECT count(*) FROM n1_keys'), '>', 100, 'n1 owns keys');
my $offset = log_offset($coord);
# first without the change capability: the change fails, is reported, and
# the worker goes on
q1(q{SELECT hashring.ring_revoke('hc_checker', 'change')});
$shards[0]->stop('immediate');
poll_ok(q{SELECT last_action = 'failed to set down' AND last_error LIKE 'permission denied%'
            FROM hashring.health_status WHERE node = 'n1'},
	'a change the role may not make is reported in the status');
ok($coord->wait_for_log(qr/WARNING:  health checker could not set node "n1" of ring "main" down: permission denied/, $offset),
	'and logged as a WARNING');
is(q1(q{SELECT state FROM hashring.nodes WHERE ring = 'main' AND node = 'n1'}), 'active', 'nothing changed');
q1(q{SELECT hashring.ring_grant('hc_checker', 'change')});
poll_ok(q{SELECT state = 'down' FROM hashring.nodes WHERE ring = 'main' AND node = 'n1'},
	'a stopped shard is set down');
is(q1(q{SELECT count(*) FROM n1_keys WHERE hashring.ring_node('main', k) IS DISTINCT FROM successor}),
	'0', "n1's keys route to their successors");
is(q1(q{SELECT committed_by FROM hashring.ring_versions('main') ORDER BY version DESC LIMIT 1}),
	'hc_checker', 'ring_history names the checker role');
is(q1(q{SELECT down_by_checker || '|' || last_action || '|' || (last_error LIKE '%No such file or directory%')
          FROM hashring.health_status WHERE node = 'n1'}),
	'true|set down|true', 'the status says what the checker did and why');
is(q1(q{SELECT marked_by FROM hashring.health_marks WHERE ring = 'main' AND node = 'n1'}),
	'hc_checker', 'the mark remembers the checker set it down');
ok($coord->wait_for_log(qr/health checker set node "n1" of ring "main" down after \d+ failed probes/, $offset),
	'the change is logged');
is(q1(q{SELECT string_agg(node, ',' ORDER BY node) FROM hashring.nodes WHERE ring = 'main' AND state = 'down'}),
	'n1', 'only n1 is down');

# --- started again, it is set active after the successes ------------------
$shards[0]->start;
poll_ok(q{SELECT state = 'active' FROM hashring.nodes WHERE ring = 'main' AND node = 'n1'},
	'a restarted shard is set active again');
is(q1(q{SELECT committed_by FROM hashring.ring_versions('main') ORDER BY version DESC LIMIT 1}),
	'hc_checker', 'the reactivation is the checker role\'s change too');
is(q1(q{SELECT count(*) FROM hashring.health_marks WHERE node = 'n1'}), '0', 'the mark is gone');
is(q1(q{SELECT count(*) FROM n1_keys WHERE hashring.ring_node('main', k) <> 'n1'}), '0',
	'n1 owns its keys again');

# --- a node a person set down stays down ----------------------------------
q1(q{SELECT hashring.ring_set_state('main', 'n2', 'down')});
$succ = q1(q{SELECT consecutive_successes FROM hashring.health_status WHERE node = 'n2'});
poll_ok(qq{SELECT consecutive_successes >= $succ + 4 FROM hashring.health_status WHERE node = 'n2'},
	'n2 keeps answering');
is(q1(q{SELECT state FROM hashring.nodes WHERE ring = 'main' AND node = 'n2'}), 'down',
	'a node a person set down is not set active by the checker');
q1(q{SELECT hashring.ring_set_state('main', 'n2', 'active')});
poll_ok(q{SELECT consecutive_successes >= 1 FROM hashring.health_status WHERE node = 'n2'}, 'n2 is probed again');

# --- a server that accepts the connection but hangs on the probe query ----
my $locker = $shards[1]->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE hc_probe IN ACCESS EXCLUSIVE MODE');
poll_ok(q{SELECT last_error = 'timed out after 1000 ms waiting for the probe query' FROM hashring.health_status WHERE node = 'n2'},
	'a probe query that hangs times out');
poll_ok(q{SELECT state = 'down' FROM hashring.nodes WHERE ring = 'main' AND node = 'n2'},
	'and its node is set down');
ok($shards[1]->wait_for_log(qr/ERROR:  canceling statement due to statement timeout\n.*STATEMENT:  SELECT x FROM hc_probe/),
	'the shard itself cancelled the abandoned probe query (statement_timeout)');
$locker->query_safe('COMMIT');
$locker->quit;
poll_ok(q{SELECT state = 'active' FROM hashring.nodes WHERE ring = 'main' AND node = 'n2'},
	'once the query answers, the node is active again');

# --- every shard stopped: at most the fraction goes down -------------------
$offset = log_offset($coord);
$_->stop('immediate') for @shards;
# main: 5 live nodes (n5 has no target), floor(0.5 * 5) = 2 down at most
poll_ok(q{SELECT count(*) FILTER (WHERE state = 'down') = 2
                 AND count(*) FILTER (WHERE last_action = 'held: max_down_fraction') = 2
            FROM hashring.health_status WHERE ring = 'main'},
	'all shards stopped: two nodes of main set down, two held');
ok($coord->wait_for_log(qr/WARNING:  not setting 2 failing nodes of ring "main" down/, $offset),
	'the held nodes are named in a WARNING');
poll_ok(q{SELECT min(consecutive_failures) >= 6 FROM hashring.health_status WHERE ring = 'main'},
	'the probes keep failing');
is(q1(q{SELECT count(*) FROM hashring.nodes WHERE ring = 'main' AND state = 'down'}), '2',
	'still only two nodes of main are down');

# --- a reload retunes the checker -----------------------------------------
$coord->append_conf('postgresql.conf',
	"hashring.health_check_max_down_fraction = 0.8\nhashring.health_check_interval = 300ms");
$coord->reload;
poll_ok(q{SELECT interval_ms = 300 AND max_down_fraction = 0.8 FROM hashring.health_checker()},
	'the worker works with the reloaded settings');
# floor(0.8 * 5) = 4: every probed node of main
poll_ok(q{SELECT count(*) = 4 FROM hashring.nodes WHERE ring = 'main' AND state = 'down'},
	'a larger fraction lets the held nodes go down');
is(q1(q{SELECT hashring.ring_node('main', 'any key')}), 'n5', 'the live node without a target takes every key');

# --- everything back ------------------------------------------------------
$_->start for @shards;
poll_ok(q{SELECT count(*) = 0 FROM hashring.nodes WHERE ring = 'main' AND state = 'down'},
	'every shard answers again: main is whole');
is(q1(q{SELECT count(DISTINCT committed_by) || '|' || max(committed_by) FROM hashring.ring_versions('main')
         WHERE committed_at > (SELECT committed_at FROM hashring.ring_versions('main') WHERE committed_by = 'hc_checker' ORDER BY version LIMIT 1)
           AND committed_by <> current_user}),
	'1|hc_checker', 'every automatic change is the checker role\'s');
is(q1(q{SELECT state FROM hashring.nodes WHERE ring = 'other' AND node = 'o1'}), 'active',
	'a ring not checked is never changed');

is(q1(q{SELECT pid || '|' || status FROM hashring.health_checker()}), "$pid|running",
	'the same worker ran throughout');
unlike(slurp_file($coord->logfile), qr/health checker.*(exited with exit code|terminated by signal)/,
	'the worker never crashed or exited');

$coord->stop;
$_->stop for @shards;
done_testing();
