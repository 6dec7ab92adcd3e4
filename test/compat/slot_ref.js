#!/usr/bin/env node
// Reference answers for hashring's `slots` algorithm and ring_slot(), from the
// real npm package `cluster-key-slot` (pinned in package.json; the slot
// function of ioredis and node-redis), plus an independent JavaScript
// transcription of Redis's keyHashSlot() (src/cluster.c) and of the default
// slot allocation of `redis-cli --cluster create`.
// Used by test/t/020_client_compat.pl.
//
// Usage:
//   node slot_ref.js slots KEYS_FILE text|bytes
//     One line per key: "lib<TAB>redis"
//       lib:   calculateSlot(key) of cluster-key-slot, the key given as a JS
//              string (text: the line's bytes decoded as UTF-8; the package
//              encodes it back itself) or as a Buffer (bytes).
//       redis: keyHashSlot() on the key's bytes.
//   node slot_ref.js route NODES_FILE KEYS_FILE N...
//     NODES_FILE: "name<TAB>state[<TAB>first-last,first-last...]" lines in
//       node order. If no node has ranges: the redis-cli default allocation.
//     One line per key: "node<TAB>slot<TAB>nodes(N1)...<TAB>flags"
//       slot = keyHashSlot (Redis, the server's truth), which is
//       calculateSlot's answer except for the keys flagged "empty-tag" (see
//       below). node and nodes(n): the preference list (the slot's owner, then
//       the owners of the following slots, wrapping), minus down nodes.
//   node slot_ref.js alloc N
//     The default allocation for N masters: "i<TAB>first<TAB>last" lines.
//   node slot_ref.js cover
//     16384 keys, hex-encoded, one per line: line s is a key whose slot is s.
//
// Known divergence: cluster-key-slot 1.1.2 scans once and, after an empty tag
// "{}", keeps looking for a later "}", hashing what lies between (so
// "foo{}{bar}" gets the slot of "{bar"), while Redis hashes the whole key as
// soon as the first "{" is directly followed by "}" (cluster spec: "foo{}{bar}"
// hashes the whole key). ioredis and node-redis replaced the package with a
// fixed copy for this reason (redis/ioredis#2172, redis/node-redis#3431).
'use strict';
const fs = require('fs');
const calculateSlot = require('cluster-key-slot');

const NSLOTS = 16384;

function die(msg) {
  console.error('slot_ref.js: ' + msg);
  process.exit(2);
}

// CRC16/XMODEM (poly 0x1021, init 0, no reflection), bit by bit: independent
// of the table in cluster-key-slot.
function crc16(bytes, from, to) {
  let crc = 0;
  for (let i = from; i < to; i++) {
    crc ^= bytes[i] << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

// Redis src/cluster.c keyHashSlot().
function keyHashSlot(bytes) {
  const len = bytes.length;
  let s;
  for (s = 0; s < len; s++) if (bytes[s] === 0x7b) break;
  if (s === len) return crc16(bytes, 0, len) & 0x3fff;
  let e;
  for (e = s + 1; e < len; e++) if (bytes[e] === 0x7d) break;
  if (e === len || e === s + 1) return crc16(bytes, 0, len) & 0x3fff;
  return crc16(bytes, s + 1, e) & 0x3fff;
}

// C lround(): nearest integer, halfway cases away from zero. x is a binary32
// value below 2^24, so x + 0.5 is exact in binary64.
function lround(x) {
  return x >= 0 ? Math.floor(x + 0.5) : -Math.floor(-x + 0.5);
}

// redis-cli --cluster create (clusterManagerCommandCreate), float arithmetic
// done in binary32 as C does with FLT_EVAL_METHOD 0:
//   float slots_per_node = CLUSTER_MANAGER_SLOTS / (float) masters_count;
//   long first = 0; float cursor = 0.0f;
//   for each master i:
//     long last = lround(cursor + slots_per_node - 1);
//     if (last > CLUSTER_MANAGER_SLOTS || i == (masters_count - 1))
//       last = CLUSTER_MANAGER_SLOTS - 1;
//     if (last < first) last = first;
//     first = last + 1; cursor += slots_per_node;
function defaultAllocation(n) {
  const f = Math.fround;
  const spn = f(NSLOTS / f(n));
  const ranges = [];
  let first = 0;
  let cursor = f(0);
  for (let i = 0; i < n; i++) {
    let last = lround(f(f(cursor + spn) - 1));
    if (last > NSLOTS || i === n - 1) last = NSLOTS - 1;
    if (last < first) last = first;
    ranges.push([first, last]);
    first = last + 1;
    cursor = f(cursor + spn);
  }
  return ranges;
}

function readKeys(file) {
  const keys = fs.readFileSync(file, 'latin1').split('\n');
  if (keys.length && keys[keys.length - 1] === '') keys.pop();
  return keys.map((h) => Buffer.from(h.trim(), 'hex'));
}

function write(out) {
  process.stdout.write(out.length ? out.join('\n') + '\n' : '');
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'slots') {
  const [keysFile, kind] = args;
  if (!keysFile || (kind !== 'text' && kind !== 'bytes')) die('usage: slots KEYS_FILE text|bytes');
  const out = [];
  for (const bytes of readKeys(keysFile)) {
    let lib;
    if (kind === 'text') {
      const s = bytes.toString('utf8');
      if (!Buffer.from(s, 'utf8').equals(bytes)) die(`key ${bytes.toString('hex')} is not valid UTF-8`);
      lib = calculateSlot(s);
    } else {
      lib = calculateSlot(bytes);
    }
    out.push(lib + '\t' + keyHashSlot(bytes));
  }
  write(out);
} else if (cmd === 'route') {
  const [nodesFile, keysFile, ...nArgs] = args;
  if (!nodesFile || !keysFile || nArgs.length === 0) die('usage: route NODES_FILE KEYS_FILE N...');
  const ns = nArgs.map((s) => parseInt(s, 10));
  const nodes = fs.readFileSync(nodesFile, 'utf8').split('\n').filter((l) => l !== '')
    .map((l) => {
      const [name, state, ranges] = l.split('\t');
      if (state !== 'active' && state !== 'down') die(`bad state ${state}`);
      return { name, down: state === 'down', ranges: ranges ? ranges.split(',').map((r) => r.split('-').map(Number)) : [] };
    });
  const explicit = nodes.some((n) => n.ranges.length > 0);
  const owner = new Array(NSLOTS).fill(-1);
  const assign = (i, first, last) => {
    for (let s = first; s <= last; s++) {
      if (owner[s] !== -1) die(`slot ${s} assigned twice`);
      owner[s] = i;
    }
  };
  if (explicit) nodes.forEach((n, i) => n.ranges.forEach(([a, b]) => assign(i, a, b)));
  else defaultAllocation(nodes.length).forEach(([a, b], i) => assign(i, a, b));
  if (owner.includes(-1)) die(`slot ${owner.indexOf(-1)} has no owner`);

  // Preference list per slot: distinct owners from the slot on, wrapping.
  // Walked run by run (a run: consecutive slots of one owner); the result
  // is the same as walking slot by slot.
  const runs = [];
  const runOf = new Array(NSLOTS);
  for (let s = 0; s < NSLOTS; s++) {
    if (s === 0 || owner[s] !== owner[s - 1]) runs.push(owner[s]);
    runOf[s] = runs.length - 1;
  }
  const maxN = Math.max(...ns);
  const prefCache = new Map();
  const preference = (slot) => {
    const r0 = runOf[slot];
    let p = prefCache.get(r0);
    if (p) return p;
    p = [];
    const seen = new Set();
    for (let k = 0; k < runs.length && p.length < maxN && seen.size < nodes.length; k++) {
      const i = runs[(r0 + k) % runs.length];
      if (seen.has(i)) continue;
      seen.add(i);
      if (!nodes[i].down) p.push(nodes[i].name);
    }
    prefCache.set(r0, p);
    return p;
  };
  const out = [];
  for (const bytes of readKeys(keysFile)) {
    const slot = keyHashSlot(bytes);
    const flags = calculateSlot(bytes) === slot ? '' : 'empty-tag';
    const p = preference(slot);
    out.push([p.length ? p[0] : '', slot, ...ns.map((n) => p.slice(0, n).join(',')), flags].join('\t'));
  }
  write(out);
} else if (cmd === 'alloc') {
  const n = parseInt(args[0], 10);
  if (!(n >= 1)) die('usage: alloc N');
  write(defaultAllocation(n).map(([a, b], i) => `${i}\t${a}\t${b}`));
} else if (cmd === 'cover') {
  const keyFor = new Array(NSLOTS);
  let found = 0;
  for (let i = 0; found < NSLOTS; i++) {
    const key = Buffer.from('slot-key:' + i, 'utf8');
    const s = calculateSlot(key);
    if (s !== keyHashSlot(key)) die('cover keys must not diverge');
    if (keyFor[s] === undefined) { keyFor[s] = key; found++; }
  }
  write(keyFor.map((k) => k.toString('hex')));
} else {
  die('usage: node slot_ref.js slots|route|alloc|cover ...');
}
