# Applications keep working while hashring.ring_move runs.  A coordinator and
# two shard servers hold 20,000 rows; a third shard is added and the rows
# move in small, throttled batches while two application sessions update,
# delete, insert and read through the coordinator, following the documented
# protocol: hashring.ring_placement gives the nodes where a key's row may be,
# tried in order, a new key goes to the last of them, and an operation that
# fails with 40001 (the mover deleted the row it was updating) is retried
# whole.  The sessions use disjoint keys and the test keeps a model of every
# acknowledged operation.  Afterwards: the move finished in one call, no
# acknowledged write is lost, no deleted row is back, no update, delete or
# read of an existing row missed it, and every row is once, on its owner.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use HashringTest;
use HashringMove;

my $nrows = 20000;
my $rate = 1500;     # rows_per_second of the move
my $batch = 200;
my $in_flight_ms = 80;

my $coord = hr_node('coord', preload => 1, conf => 'max_connections = 40');
$coord->safe_psql('postgres', 'CREATE EXTENSION postgres_fdw');
my @shards = map {
	hr_shard($coord, "shard$_", 'CREATE TABLE items (k text PRIMARY KEY, v integer NOT NULL)')
} 1 .. 3;

$coord->safe_psql('postgres', qq{
SELECT hashring.ring_create('r', vnodes => 64);
SELECT hashring.ring_add_node('r', 'shard' || i, target => 'shard' || i) FROM generate_series(1, 2) i;
SELECT hashring._shard_table('r', 'shard' || i, 'public.items') FROM generate_series(1, 2) i;
INSERT INTO hashring_fdw_shard1.items SELECT 'item:' || g, g FROM generate_series(1, $nrows) g WHERE hashring.ring_node('r', 'item:' || g) = 'shard1';
INSERT INTO hashring_fdw_shard2.items SELECT 'item:' || g, g FROM generate_series(1, $nrows) g WHERE hashring.ring_node('r', 'item:' || g) = 'shard2';
});
my $v0 = ring_version($coord, 'r');

# The table's first move records the version its rows are placed by (nothing
# is misplaced yet); from then on ring_placement answers by that version
# until a move starts, whatever the ring's current membership.
my ($rc, $out, $err) = $coord->psql('postgres',
	qq{CALL hashring.ring_move('r', 'public.items', 'k', from_version => $v0)});
is($rc, 0, 'the table is registered by a first move of nothing') or diag($err);
like($err, qr/done: 0 row\(s\) moved/, '... which moved no row');

# the application protocol, one operation per transaction, retried whole on
# 40001; each returns where it found (or put) the key, how many nodes the
# placement listed, and how often it was retried
$coord->safe_psql('postgres', q{
CREATE FUNCTION shard_rel(node text) RETURNS text LANGUAGE sql
    AS $$ SELECT hashring._shard_table('r', node, 'public.items') $$;

CREATE PROCEDURE op_write(op text, key text, val integer,
                          INOUT found_on text DEFAULT NULL, INOUT places integer DEFAULT NULL,
                          INOUT retries integer DEFAULT 0, INOUT existed boolean DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    done boolean;
    nodes text[];
    node text;
    n bigint;
BEGIN
    retries := 0;
    LOOP
        done := false;
        BEGIN
            found_on := NULL;
            existed := NULL;
            nodes := hashring.ring_placement('r', 'public.items', key);
            places := cardinality(nodes);
            IF op = 'insert' THEN
                existed := false;
                FOREACH node IN ARRAY nodes LOOP
                    EXECUTE format('SELECT count(*) FROM %s WHERE k = $1', shard_rel(node)) INTO n USING key;
                    IF n > 0 THEN
                        existed := true;
                        found_on := node;
                        EXIT;
                    END IF;
                END LOOP;
                IF NOT existed THEN
                    found_on := nodes[cardinality(nodes)];
                    EXECUTE format('INSERT INTO %s (k, v) VALUES ($1, $2)', shard_rel(found_on)) USING key, val;
                END IF;
            ELSE
                FOREACH node IN ARRAY nodes LOOP
                    IF op = 'update' THEN
                        EXECUTE format('UPDATE %s SET v = v + 1 WHERE k = $1', shard_rel(node)) USING key;
                    ELSE
                        EXECUTE format('DELETE FROM %s WHERE k = $1', shard_rel(node)) USING key;
                    END IF;
                    GET DIAGNOSTICS n = ROW_COUNT;
                    IF n > 0 THEN
                        found_on := node;
                        EXIT;
                    END IF;
                END LOOP;
            END IF;
            done := true;
        EXCEPTION WHEN serialization_failure THEN
            retries := retries + 1;
        END;
        IF done THEN
            COMMIT;
            RETURN;
        END IF;
        ROLLBACK;
        IF retries >= 100 THEN
            RAISE EXCEPTION 'op_write(%, %): still failing after % retries', op, key, retries;
        END IF;
        PERFORM pg_sleep(0.005);
    END LOOP;
END
$$;

CREATE PROCEDURE op_read(key text, INOUT val integer DEFAULT NULL, INOUT found_on text DEFAULT NULL,
                         INOUT places integer DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    nodes text[] := hashring.ring_placement('r', 'public.items', key);
    node text;
BEGIN
    places := cardinality(nodes);
    FOREACH node IN ARRAY nodes LOOP
        EXECUTE format('SELECT v FROM %s WHERE k = $1', shard_rel(node)) INTO val USING key;
        IF val IS NOT NULL THEN
            found_on := node;
            RETURN;
        END IF;
    END LOOP;
END
$$;
});

# sanity: the protocol works when nothing moves
is($coord->safe_psql('postgres', q{CALL op_write('update', 'item:1', NULL)}),
	$coord->safe_psql('postgres', q{SELECT hashring.ring_node('r', 'item:1')}) . '|1|0|',
	'sanity: op_write updates a key on its owner');
is($coord->safe_psql('postgres', q{CALL op_read('item:1')}) =~ s/\|.*//r, '2', 'sanity: op_read sees the update');
is($coord->safe_psql('postgres', q{CALL op_write('update', 'no-such-key', NULL)}), '|1|0|',
	'sanity: op_write reports a missing key');

# the keys whose owner changes when shard3 joins (the application sessions
# use them for most operations)
my %moving = map { $_ => 1 } grep { /^item:/ } split /\n/, $coord->safe_psql('postgres', qq{
BEGIN;
SELECT hashring.ring_add_node('r', 'shard3', target => 'shard3');
SELECT 'item:' || g FROM generate_series(1, $nrows) g
 WHERE hashring.ring_node('r', 'item:' || g) <> hashring.ring_node('r', 'item:' || g, $v0);
ROLLBACK;});
cmp_ok(scalar(keys %moving), '>', $nrows / 5, scalar(keys %moving) . ' keys will move to the new shard');

###########################################################################
# application sessions

# a set with O(1) add, remove and random pick
sub pool_new { return { a => [], i => {} }; }

sub pool_add
{
	my ($p, $k) = @_;
	return if exists $p->{i}{$k};
	push @{ $p->{a} }, $k;
	$p->{i}{$k} = $#{ $p->{a} };
	return;
}

sub pool_del
{
	my ($p, $k) = @_;
	my $i = delete $p->{i}{$k};
	return unless defined $i;
	my $last = pop @{ $p->{a} };
	if ($i <= $#{ $p->{a} })
	{
		$p->{a}[$i] = $last;
		$p->{i}{$last} = $i;
	}
	return;
}

sub pool_pick
{
	my ($p) = @_;
	my $n = scalar @{ $p->{a} };
	return $n ? $p->{a}[ int(rand($n)) ] : undef;
}

my %model;       # key => value, for every live key
my %gone;        # keys deleted (acknowledged)
my %uncertain;   # keys whose last operation failed
my %stats = map { $_ => 0 } qw(ops update delete insert read retries two_places
  during_move update_missing delete_missing insert_existed read_missing read_wrong read_resurrected errors);
my @errors;

my $psql = $coord->installed_command('psql');
my @sess;
for my $i (0, 1)
{
	my $s = { id => $i, in => '', out => '', err => '', seq => 0, newkeys => 0,
		live_moving => pool_new(), live_other => pool_new(), dead => pool_new() };
	for my $g (1 .. $nrows)
	{
		next unless $g % 2 == $i;
		my $k = "item:$g";
		pool_add($moving{$k} ? $s->{live_moving} : $s->{live_other}, $k);
	}
	$s->{h} = IPC::Run::start([ $psql, '-XAtq', '-d', $coord->connstr('postgres'), '-f', '-' ],
		'<', \$s->{in}, '>', \$s->{out}, '2>', \$s->{err});
	push @sess, $s;
}
$model{"item:$_"} = $_ for 1 .. $nrows;
$model{'item:1'} = 2;    # the sanity update

sub live_pick
{
	my ($s) = @_;
	my $k = rand() < 0.8 ? pool_pick($s->{live_moving}) : undef;
	return $k // pool_pick($s->{live_other}) // pool_pick($s->{live_moving});
}

sub send_op
{
	my ($s) = @_;
	my $r = rand();
	my ($op, $k, $v, $sql);
	if ($r < 0.40)
	{
		($op, $k) = ('update', live_pick($s));
		$sql = "CALL op_write('update', '$k', NULL)";
	}
	elsif ($r < 0.50)
	{
		($op, $k) = ('delete', live_pick($s));
		$sql = "CALL op_write('delete', '$k', NULL)";
	}
	elsif ($r < 0.65)
	{
		$s->{newkeys}++;
		($op, $k, $v) = ('insert', "new:$s->{id}:$s->{newkeys}", int(rand(1000)));
		$sql = "CALL op_write('insert', '$k', $v)";
	}
	else
	{
		$op = 'read';
		$k = (rand() < 0.2 ? pool_pick($s->{dead}) : undef) // live_pick($s);
		$sql = "CALL op_read('$k')";
	}
	my $n = ++$s->{seq};
	$s->{pending} = { op => $op, k => $k, v => $v, n => $n };
	$s->{in} .= "$sql;\n\\echo '\@\@$n'\n\\warn '\@\@$n'\n";
	return;
}

# the answer to the pending operation, when complete: (stdout, stderr)
sub take_answer
{
	my ($s) = @_;
	my $n = $s->{pending}{n};
	return unless $s->{out} =~ /^\@\@$n\n/m && $s->{err} =~ /^\@\@$n\n/m;
	$s->{out} =~ s/^(.*?)\@\@$n\n//s;
	my $o = $1;
	$s->{err} =~ s/^(.*?)\@\@$n\n//s;
	my $e = $1;
	chomp $o;
	return ($o, $e);
}

sub handle_answer
{
	my ($s, $o, $e, $moving_now) = @_;
	my $p = delete $s->{pending};
	my ($op, $k) = ($p->{op}, $p->{k});
	$stats{ops}++;
	$stats{$op}++;
	$stats{during_move}++ if $moving_now;
	if ($e ne '')
	{
		$stats{errors}++;
		push @errors, "$op $k: $e";
		$uncertain{$k} = 1;
		return;
	}
	my @f = split /\|/, $o, -1;
	if ($op eq 'read')
	{
		my ($val, $found, $places) = @f;
		$stats{two_places}++ if ($places // 0) == 2;
		if (exists $model{$k})
		{
			if ($found eq '') { $stats{read_missing}++; push @errors, "read $k: not found"; }
			elsif ($val != $model{$k}) { $stats{read_wrong}++; push @errors, "read $k: $val, expected $model{$k}"; }
		}
		elsif ($found ne '')
		{
			$stats{read_resurrected}++;
			push @errors, "read $k: deleted, found on $found";
		}
		return;
	}
	my ($found, $places, $retries, $existed) = @f;
	$stats{two_places}++ if ($places // 0) == 2;
	$stats{retries} += $retries // 0;
	my $pool = $moving{$k} ? $s->{live_moving} : $s->{live_other};
	if ($op eq 'update')
	{
		if ($found eq '') { $stats{update_missing}++; push @errors, "update $k: not found"; return; }
		$model{$k}++;
	}
	elsif ($op eq 'delete')
	{
		if ($found eq '') { $stats{delete_missing}++; push @errors, "delete $k: not found"; return; }
		delete $model{$k};
		$gone{$k} = 1;
		pool_del($pool, $k);
		pool_add($s->{dead}, $k);
	}
	else
	{
		if ($existed eq 't') { $stats{insert_existed}++; push @errors, "insert $k: existed on $found"; return; }
		$model{$k} = $p->{v};
		pool_add($s->{live_other}, $k);
	}
	return;
}

# Runs the sessions' operations until $until->() is false; $tick->() is
# called about every 0.2 s.
sub run_ops
{
	my ($until, $moving_now, $tick) = @_;
	my $last_tick = time;
	while ($until->())
	{
		my $progress = 0;
		for my $s (@sess)
		{
			send_op($s) unless $s->{pending};
			$s->{h}->pump_nb;
			my ($o, $e) = take_answer($s);
			if (defined $o)
			{
				handle_answer($s, $o, $e, $moving_now);
				$progress = 1;
			}
		}
		if ($tick && time - $last_tick > 0.2)
		{
			$tick->();
			$last_tick = time;
		}
		usleep(1000) unless $progress;
	}
	return;
}

# lets the pending operations finish
sub drain_ops
{
	my $deadline = time + 60;
	while (grep { $_->{pending} } @sess)
	{
		die 'application sessions did not answer' if time > $deadline;
		for my $s (grep { $_->{pending} } @sess)
		{
			$s->{h}->pump_nb;
			my ($o, $e) = take_answer($s);
			handle_answer($s, $o, $e, 0) if defined $o;
		}
		usleep(1000);
	}
	return;
}

# before any change
my $t_end = time + 1;
run_ops(sub { time < $t_end }, 0);
my $ops_before = $stats{ops};

# shard3 joins while the applications run: they keep using the version the
# table is placed by until the move starts
$coord->safe_psql('postgres', q{
SELECT hashring.ring_add_node('r', 'shard3', target => 'shard3');
SELECT hashring._shard_table('r', 'shard3', 'public.items');});
my $v1 = ring_version($coord, 'r');
$t_end = time + 0.5;
run_ops(sub { time < $t_end }, 0);
is($stats{errors} + $stats{update_missing} + $stats{delete_missing} + $stats{read_missing}, 0,
	'after the ring changed, before the move: the applications find every row') or diag(join("\n", @errors[0 .. min_idx(9)]));

sub min_idx { my ($n) = @_; return $#errors < $n ? $#errors : $n; }

# the move, in the background; each batch waits $in_flight_ms ms between
# its target's commit and the delete on its source (the rows stay locked on
# the source meanwhile), so that applications do meet rows in flight
my $mv = psql_start($coord, qq{
SELECT pg_backend_pid();
SET hashring.inject_move_fault = 'after_target_commit:pause:$in_flight_ms';
CALL hashring.ring_move('r', 'public.items', 'k', $batch, rows_per_second => $rate);});
my ($mover_pid) = psql_wait_out($mv, qr/^\d+$/m) =~ /^(\d+)$/m;
my $t_move = time;
my (@progress, $bad_progress);
my $ops_at_start = $stats{ops};
run_ops(
	sub { psql_running($mv) },
	1,
	sub {
		my $p = $coord->safe_psql('postgres', q{
SELECT pid || '|' || from_version || '|' || to_version || '|' || rows_moved || '|' || coalesce(rows_per_second, -1)
  FROM hashring.ring_move_progress WHERE ring = 'r'});
		push @progress, $p if $p ne '';
	});
my $move_secs = time - $t_move;
my $ops_during = $stats{ops} - $ops_at_start;
($rc, $out, $err) = psql_finish($mv);
$t_end = time + 0.5;
run_ops(sub { time < $t_end }, 0);
drain_ops();
for my $s (@sess)
{
	$s->{in} .= "\\q\n";
	$s->{h}->finish;
}

diag(sprintf('the move took %.1f s; %d operations before it, %d during, %d in all; stats: %s',
	$move_secs, $ops_before, $ops_during, $stats{ops},
	join(', ', map { "$_=$stats{$_}" } sort keys %stats)));
is($rc, 0, 'the move finished in one call, without error') or diag($err);
like($err, qr/done: \d+ row\(s\) moved; .*placed by version $v1\b/, 'it reports the rows moved and the version');
cmp_ok($ops_during, '>=', 200, "the applications ran while the rows moved ($ops_during operations)");
cmp_ok($stats{two_places}, '>', 0, "... and saw two places for keys during the move ($stats{two_places} operations)");

# what the move reported while it ran
my @mine = grep { /^$mover_pid\|$v0\|$v1\|\d+\|/ } @progress;
cmp_ok(scalar(@mine), '>', 0, 'ring_move_progress showed the move (its backend, from and to versions)')
  or diag(join("\n", @progress));
my @moved = map { (split /\|/)[3] } @mine;
ok(!(grep { $moved[$_] < $moved[ $_ - 1 ] } 1 .. $#moved), '... with rows_moved never going down');
diag('progress samples (pid|from|to|rows_moved|rows_per_second): ' . join(' ', @progress[0 .. ($#progress < 4 ? $#progress : 4)]));
my ($mretries, $mrows) = split /\|/, $coord->safe_psql('postgres', q{SELECT retries || '|' || rows_moved FROM hashring.moves WHERE ring = 'r'});
diag("the mover retried $mretries time(s) (hashring.moves.retries); the applications retried $stats{retries} time(s) after 40001");
ok($mretries == 0 || $err =~ /retr/i, 'the mover\'s retries, if any, were reported by NOTICE') or diag($err);
cmp_ok($stats{retries}, '>', 0, "the applications met rows in flight: $stats{retries} operation(s) failed with 40001 and were retried");
my $rows_per_sec = $mrows / ($move_secs || 1);
cmp_ok($rows_per_sec, '<=', $rate * 1.5, sprintf('the move kept to rows_per_second (%.0f rows/s)', $rows_per_sec));

# the operations
is($stats{errors}, 0, 'no application operation failed') or diag(join("\n", @errors[0 .. min_idx(9)]));
is($stats{update_missing}, 0, 'no update of an existing row reported "not found"');
is($stats{delete_missing}, 0, 'no delete of an existing row reported "not found"');
is($stats{read_missing} + $stats{read_wrong}, 0, 'every read of an existing row found it, with its current value');
is($stats{read_resurrected}, 0, 'no read found a deleted row');
is($stats{insert_existed}, 0, 'no new key was found before its insert');

# the data against the model
my %seen;
my ($dups, $lost, $wrong, $back, $extra) = (0, 0, 0, 0, 0);
for my $line (split /\n/, $coord->safe_psql('postgres', q{
SELECT k || '|' || v FROM hashring_fdw_shard1.items UNION ALL
SELECT k || '|' || v FROM hashring_fdw_shard2.items UNION ALL
SELECT k || '|' || v FROM hashring_fdw_shard3.items}))
{
	my ($k, $v) = split /\|/, $line;
	$dups++ if $seen{$k}++;
	next if $uncertain{$k};
	if ($gone{$k}) { $back++; }
	elsif (!exists $model{$k}) { $extra++; }
	elsif ($model{$k} != $v) { $wrong++; }
}
for my $k (keys %model)
{
	$lost++ unless $seen{$k} || $uncertain{$k};
}
cmp_ok(scalar(keys %gone), '>', 50, scalar(keys %gone) . ' rows deleted, ' . $stats{insert} . ' inserted by the applications');
is($lost, 0, 'no acknowledged row lost');
is($wrong, 0, 'every row has the value of its last acknowledged update');
is($back, 0, 'no deleted row is back');
is($extra, 0, 'no row that the applications do not know of');
is($dups, 0, 'no row on two shards');
is($coord->safe_psql('postgres', q{
SELECT count(*) FROM (
  SELECT 'shard1' AS node, k FROM hashring_fdw_shard1.items UNION ALL
  SELECT 'shard2', k FROM hashring_fdw_shard2.items UNION ALL
  SELECT 'shard3', k FROM hashring_fdw_shard3.items) s
 WHERE node <> hashring.ring_node('r', k)}), '0', 'every row on its owner');

done_testing();
