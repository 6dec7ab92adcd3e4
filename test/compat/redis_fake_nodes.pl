#!/usr/bin/perl
# Stand-in "empty Redis Cluster nodes" for a dry run of
#   redis-cli --cluster create ADDR... --cluster-replicas 0
# answered "no" at its "Can I set the above configuration?" prompt.
#
# redis-cli plans the slot allocation (its own code, the reference for
# hashring's default "slots" layout) before it changes anything; to get that
# far it only checks that every address is an empty, cluster-enabled node:
# it sends INFO, CLUSTER NODES and CLUSTER INFO to each.  Starting hundreds of
# real redis-server processes just for that would take gigabytes, so this
# script answers those three commands on N ports with the replies a real,
# freshly started node gave (captured by the test, passed as files), with a
# distinct node id per port.  Any other command is answered with an error and
# logged to stderr, so a redis-cli that needs more fails loudly.
#
# Usage: redis_fake_nodes.pl INFO_FILE CLUSTER_INFO_FILE CLUSTER_NODES_FILE N
# Prints the N ports (one a line), then "ready"; serves until killed, or
# until its parent process exits.
use strict;
use warnings;

use Digest::SHA qw(sha1_hex);
use IO::Select;
use IO::Socket::INET;

die "usage: $0 INFO_FILE CLUSTER_INFO_FILE CLUSTER_NODES_FILE N\n"
  unless @ARGV == 4;
my ($info_file, $cinfo_file, $cnodes_file, $n) = @ARGV;

sub slurp
{
	my ($f) = @_;
	open my $fh, '<:raw', $f or die "$f: $!";
	local $/;
	my $s = <$fh>;
	close $fh;
	return $s;
}
my $info   = slurp($info_file);
my $cinfo  = slurp($cinfo_file);
my $cnodes = slurp($cnodes_file);
# A fresh node's CLUSTER NODES is one line: "<id> <ip>:<port>@<cport> myself,master ..."
die "unexpected CLUSTER NODES template: $cnodes"
  unless $cnodes =~ /^[0-9a-f]{40} \S*:\d+\@\d+ myself,master /;

my $sel = IO::Select->new;
my %listener;    # fileno -> port
my %port_of;     # socket -> port (for accepted connections)
my %buf;         # socket -> unparsed input
my @ports;
for (1 .. $n)
{
	my $l = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1',
		LocalPort => 0,
		Proto     => 'tcp',
		Listen    => 64,
		ReuseAddr => 1) or die "listen: $!";
	$listener{ fileno($l) } = $l->sockport;
	push @ports, $l->sockport;
	$sel->add($l);
}
my $ppid = getppid();
$| = 1;
print "$_\n" for @ports;
print "ready\n";

sub bulk { my ($s) = @_; return '$' . length($s) . "\r\n$s\r\n"; }

sub reply
{
	my ($port, @cmd) = @_;
	my $c = uc($cmd[0] // '');
	return bulk($info) if $c eq 'INFO';
	if ($c eq 'CLUSTER' && @cmd >= 2)
	{
		my $sub = uc $cmd[1];
		return bulk($cinfo) if $sub eq 'INFO';
		if ($sub eq 'NODES')
		{
			my $id    = sha1_hex("fake-node-$port");
			my $cport = $port + 10000 > 65535 ? 0 : $port + 10000;
			(my $line = $cnodes) =~
			  s/^[0-9a-f]{40} \S*:\d+\@\d+ /$id 127.0.0.1:$port\@$cport /;
			return bulk($line);
		}
	}
	return "+PONG\r\n" if $c eq 'PING';
	my $what = join ' ', @cmd;
	print STDERR "redis_fake_nodes: port $port: unsupported command: $what\n";
	return "-ERR redis_fake_nodes does not implement '$what'\r\n";
}

# Parses complete commands (RESP multibulk or inline) off the front of $$b.
sub commands
{
	my ($b) = @_;
	my @out;
	while (length $$b)
	{
		if (substr($$b, 0, 1) eq '*')
		{
			my $p = 0;
			my $e = index($$b, "\r\n", $p);
			last if $e < 0;
			my $argc = substr($$b, 1, $e - 1);
			$p = $e + 2;
			my @args;
			my $complete = 1;
			for (1 .. $argc)
			{
				$e = index($$b, "\r\n", $p);
				if ($e < 0) { $complete = 0; last; }
				my $len = substr($$b, $p + 1, $e - $p - 1);
				$p = $e + 2;
				if (length($$b) < $p + $len + 2) { $complete = 0; last; }
				push @args, substr($$b, $p, $len);
				$p += $len + 2;
			}
			last unless $complete;
			substr($$b, 0, $p) = '';
			push @out, \@args;
		}
		else
		{
			my $e = index($$b, "\n");
			last if $e < 0;
			my $line = substr($$b, 0, $e + 1, '');
			$line =~ s/\r?\n\z//;
			push @out, [ split ' ', $line ] if $line =~ /\S/;
		}
	}
	return @out;
}

while (1)
{
	exit 0 if getppid() != $ppid;
	for my $fh ($sel->can_read(1))
	{
		if (exists $listener{ fileno($fh) } && !exists $port_of{$fh})
		{
			my $c = $fh->accept or next;
			$port_of{$c} = $listener{ fileno($fh) };
			$buf{$c}     = '';
			$sel->add($c);
			next;
		}
		my $got = sysread($fh, my $data, 65536);
		if (!$got)
		{
			$sel->remove($fh);
			delete $port_of{$fh};
			delete $buf{$fh};
			close $fh;
			next;
		}
		$buf{$fh} .= $data;
		for my $cmd (commands(\$buf{$fh}))
		{
			my $r = reply($port_of{$fh}, @$cmd);
			my $off = 0;
			while ($off < length $r)
			{
				my $w = syswrite($fh, $r, length($r) - $off, $off);
				die "write: $!" unless defined $w;
				$off += $w;
			}
		}
	}
}
