#!/usr/bin/python3
# Reference for test/t/025_cassandra_tokens.pl: keys, their Cassandra tokens
# and their owners on token rings, computed independently of hashring with
# the DataStax driver's cassandra.murmur3 (Debian's python3-cassandra, which
# reproduces Cassandra's MurmurHash.hash3_x64_128) and bisect.
#
# Usage: cassandra_ref.py OUTDIR
# Writes OUTDIR/keys.tsv (id, hex key, token), OUTDIR/setup.sql (the rings),
# OUTDIR/route.tsv (ring, id, owner, first 3 replicas as a text array) and
# OUTDIR/shares.tsv (ring, node, share).
import bisect
import os
import random
import sys

from cassandra.murmur3 import murmur3

MIN = -(2 ** 63)
MAX = 2 ** 63 - 1


def token(key):
    """Murmur3Partitioner.getToken: empty key MINIMUM, MIN normalised."""
    if len(key) == 0:
        return MIN
    h = murmur3(key)
    return MAX if h == MIN else h


out = sys.argv[1]
rnd = random.Random(20250601)

keys = [b'']
# random lengths 0..100, random bytes (about half >= 0x80)
for _ in range(20000):
    keys.append(bytes(rnd.randrange(256) for _ in range(rnd.randrange(101))))
# every tail length 0..15 after 0..6 blocks, with bytes only >= 0x80 and
# with the tail's last byte exactly 0x80 / 0xff
for blocks in range(7):
    for tail in range(16):
        for _ in range(10):
            keys.append(bytes(rnd.randrange(128, 256) for _ in range(16 * blocks + tail)))
        if tail:
            keys.append(bytes(rnd.randrange(256) for _ in range(16 * blocks + tail - 1)) + b'\x80')
            keys.append(bytes(rnd.randrange(256) for _ in range(16 * blocks + tail - 1)) + b'\xff')
# text-like and long keys
keys += [('user:%d' % i).encode() for i in range(2000)]
keys += [bytes([0x41 + i % 26]) * n for i, n in enumerate([1000, 4096, 10000, 65536, 100000])]
keys += [b'\x00' * n for n in range(1, 40)]
keys += [b'\xff' * n for n in range(1, 40)]
toks = [token(k) for k in keys]

# rings: name -> (vnodes, {node: tokens or None}, down nodes)
rings = {}
# explicit tokens: some of them are keys' tokens exactly; all inside
# [-2^62, 2^62], so keys wrap at both ends
explicit = {}
used = set()
for n in range(8):
    ts = []
    for _ in range(rnd.randrange(1, 33)):
        while True:
            t = toks[rnd.randrange(1, len(toks))] if rnd.random() < 0.3 else rnd.randrange(-2 ** 62, 2 ** 62)
            if -2 ** 62 <= t <= 2 ** 62 and t not in used:
                break
        used.add(t)
        ts.append(t)
    explicit['c%d' % n] = ts
rings['tok_explicit'] = (16, explicit, [])
rings['tok_explicit_down'] = (16, explicit, ['c2', 'c5'])
# the extremes as tokens
extremes = {'lo': [MIN, -1], 'mid': [0, 12345], 'hi': [MAX, MAX - 1, 2 ** 62]}
rings['tok_extremes'] = (16, extremes, [])
# generated tokens (num_tokens 16 and 256), one explicit node among them
gen = {'g%d' % n: None for n in range(6)}
rings['tok_gen16'] = (16, gen, [])
rings['tok_gen256'] = (256, gen, ['g3'])
mixed = dict(gen)
mixed['x'] = [-5, 5, 2 ** 40]
rings['tok_mixed'] = (8, mixed, ['g0'])


def ring_tokens(vnodes, nodes, down):
    pts = []
    for name, ts in nodes.items():
        if name in down:
            continue
        if ts is None:
            ts = [token(('%s-%d' % (name, j)).encode()) for j in range(vnodes)]
        pts += [(t, name) for t in ts]
    pts.sort()
    return pts


with open(os.path.join(out, 'keys.tsv'), 'w') as f:
    for i, (k, t) in enumerate(zip(keys, toks)):
        f.write('%d\t\\\\x%s\t%d\n' % (i, k.hex(), t))

with open(os.path.join(out, 'setup.sql'), 'w') as f:
    for r, (vnodes, nodes, down) in rings.items():
        f.write("SELECT hashring.ring_create('%s', 'murmur3', vnodes => %d);\n" % (r, vnodes))
        for name, ts in nodes.items():
            f.write("SELECT hashring.ring_add_node('%s', '%s');\n" % (r, name))
            if ts is not None:
                f.write("SELECT hashring.ring_set_node_tokens('%s', '%s', '{%s}');\n"
                        % (r, name, ','.join(str(t) for t in ts)))
        for name in down:
            f.write("SELECT hashring.ring_set_state('%s', '%s', 'down');\n" % (r, name))

with open(os.path.join(out, 'route.tsv'), 'w') as f, open(os.path.join(out, 'shares.tsv'), 'w') as s:
    for r, (vnodes, nodes, down) in rings.items():
        pts = ring_tokens(vnodes, nodes, down)
        vals = [t for t, _ in pts]
        for i, t in enumerate(toks):
            j = bisect.bisect_left(vals, t) % len(pts)
            reps = []
            for step in range(len(pts)):
                o = pts[(j + step) % len(pts)][1]
                if o not in reps:
                    reps.append(o)
                if len(reps) == 3:
                    break
            f.write('%s\t%d\t%s\t{%s}\n' % (r, i, reps[0], ','.join(reps)))
        # shares: token t_k owns (t_{k-1}, t_k], the first wraps over the ends
        share = {name: 0 for name in nodes}
        for k, (t, o) in enumerate(pts):
            prev = pts[k - 1][0]
            share[o] += (t - prev) % 2 ** 64 if len(pts) > 1 else 2 ** 64
        for name, v in share.items():
            s.write('%s\t%s\t%.17g\n' % (r, name, v / 2 ** 64))
print(len(keys))
