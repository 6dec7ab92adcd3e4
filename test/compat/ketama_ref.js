#!/usr/bin/env node
// Reference answers for hashring's `ketama` algorithm, from the real npm
// package `hashring` (3rd-Eden, pinned in package.json) with its defaults
// (md5, 'vnode count' 40, 4 replicas). Used by test/t/020_client_compat.pl.
//
// Usage: node ketama_ref.js NODES_FILE KEYS_FILE N...
//   NODES_FILE: first line "servers<TAB>array" (new HashRing([names]), every
//               weight must be 1) or "servers<TAB>object" (new HashRing({name:
//               weight})), then "name<TAB>weight<TAB>state" lines in node order
//               (state 'active' or 'down').
//   KEYS_FILE:  one key per line, hex-encoded UTF-8 bytes (empty line = '').
//   Output:     one line per key:
//               "node<TAB>hashValue<TAB>nodes(N1)<TAB>nodes(N2)...<TAB>flags"
//               nodes(n) comma-joined. With every node active, node is
//               ring.get(key) and nodes(n) is ring.range(key, n). With down
//               nodes (which the package knows nothing of), the preference
//               list ring.range(key, #servers) minus the down nodes, cut to n.
//               flags: "proto" for a key naming an Object.prototype member
//               ("__proto__", "constructor", "valueOf"...): get() is not
//               called for it, node is ring.range(key, 1)[0]. get() keeps
//               its LRU cache (simple-lru-cache 0.0.2) in a plain object, so
//               such keys find inherited members there: a lookup of
//               "__proto__" stores its answer on Object.prototype (later
//               "valueOf", "hasOwnProperty"... lookups, in any HashRing,
//               return it), and the corrupted list makes a later eviction
//               throw a TypeError once the cache is full (5000 keys).
'use strict';
const fs = require('fs');
const HashRing = require('hashring');

function die(msg) {
  console.error('ketama_ref.js: ' + msg);
  process.exit(2);
}

const [nodesFile, keysFile, ...nArgs] = process.argv.slice(2);
if (!nodesFile || !keysFile || nArgs.length === 0)
  die('usage: node ketama_ref.js NODES_FILE KEYS_FILE N...');
const ns = nArgs.map((s) => parseInt(s, 10));

const lines = fs.readFileSync(nodesFile, 'utf8').split('\n').filter((l) => l !== '');
const [tag, mode] = lines[0].split('\t');
if (tag !== 'servers' || (mode !== 'array' && mode !== 'object'))
  die('first line of NODES_FILE must be "servers<TAB>array|object"');

const names = [];
const down = new Set();
const weights = {};
for (const line of lines.slice(1)) {
  const [name, weight, state] = line.split('\t');
  if (name in weights) die(`duplicate node ${name}`);
  names.push(name);
  weights[name] = parseFloat(weight);
  if (state === 'down') down.add(name);
  else if (state !== 'active') die(`bad state ${state}`);
}

let servers;
if (mode === 'array') {
  for (const name of names)
    if (weights[name] !== 1) die(`array mode needs weight 1 (${name}: ${weights[name]})`);
  servers = names.slice();
} else {
  servers = {};
  for (const name of names) servers[name] = weights[name];
  // Integer-like property names ("42") enumerate first, in numeric order:
  // the package would then see another server order than the SQL ring.
  const order = Object.keys(servers);
  if (order.join('\n') !== names.join('\n'))
    die('Object.keys order differs from node order (integer-like names?)');
}

const ring = new HashRing(servers);
if (ring.servers.length !== names.length) die('HashRing saw another number of servers');
ring.servers.forEach((s, i) => {
  if (s.string !== names[i]) die(`server ${i} is ${s.string}, expected ${names[i]}`);
  if (s.weight !== weights[names[i]]) die(`server ${names[i]} has weight ${s.weight}`);
});

const keys = fs.readFileSync(keysFile, 'latin1').split('\n');
if (keys.length && keys[keys.length - 1] === '') keys.pop();
const protoProbe = {};
const out = [];
for (const hex of keys) {
  const bytes = Buffer.from(hex.trim(), 'hex');
  const key = bytes.toString('utf8');
  // The package hashes key + '' as UTF-8: only valid UTF-8 keys round-trip.
  if (!Buffer.from(key, 'utf8').equals(bytes)) die(`key ${hex} is not valid UTF-8`);

  const hash = ring.hashValue(key);
  const owner = ring.size ? ring.ring[ring.find(hash)].server : '';
  const flags = [];
  let node;
  const lists = [];
  if (down.size === 0) {
    if (key in protoProbe) {
      flags.push('proto');
      node = owner;
    } else {
      node = ring.get(key);
      if (node !== owner) die(`get(${hex}) is not the owner of find()'s point`);
    }
    for (const n of ns) lists.push(ring.range(key, n).join(','));
    if (ring.range(key, 1)[0] !== owner) die(`range(${hex}, 1) disagrees with find()`);
  } else {
    const pref = ring.range(key, names.length).filter((s) => !down.has(s));
    node = pref.length ? pref[0] : '';
    for (const n of ns) lists.push(pref.slice(0, n).join(','));
  }
  out.push([node, String(hash), ...lists, flags.join(',')].join('\t'));
}
process.stdout.write(out.length ? out.join('\n') + '\n' : '');
