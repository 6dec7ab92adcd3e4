#!/usr/bin/env node
// Independent reimplementation of hashring's `vnode` routing, written from
// docs/routing-spec.md only (section names below refer to that page).
// Used by test/t/010_node_compat.pl to cross-check the C extension.
//
// Usage: node vnode_ring.js NODES_FILE KEYS_FILE N
//   NODES_FILE: first line "vnodes<TAB>V" or "vnodes<TAB>V<TAB>zones" (the
//               ring's zone_replicas is on), then "name<TAB>weight<TAB>state"
//               lines with an optional "<TAB>zone" ("\N" or absent: no zone)
//   KEYS_FILE:  one key per line, hex-encoded bytes (an empty line is the empty key)
//   Output:     one line per key: "ring_node<TAB>ring_nodes(N) comma-joined"
'use strict';
const fs = require('fs');
const { createXXHash3 } = require('hash-wasm');

// "Order": compare node names bytewise as unsigned bytes, a prefix sorts first.
// Buffer.compare does exactly that.
function cmpPoints(a, b) {
  if (a.pos !== b.pos) return a.pos < b.pos ? -1 : 1;
  return Buffer.compare(a.nameBytes, b.nameBytes);
}

// "Points": count = max(1, round_half_away_from_zero(double(w) * V)).
// Math.fround gives the exact binary32 value of w; the product is binary64.
// x - floor(x) is exact in binary64, so this rounds correctly even for
// values such as 0.49999999999999994 (where floor(x + 0.5) would give 1).
function pointCount(weight, V) {
  const x = Math.fround(weight) * V;
  let r = Math.floor(x);
  if (x - r >= 0.5) r += 1;
  return Math.max(1, r);
}

async function main() {
  const [nodesFile, keysFile, nArg] = process.argv.slice(2);
  if (!nodesFile || !keysFile || !nArg) {
    console.error('usage: node vnode_ring.js NODES_FILE KEYS_FILE N');
    process.exit(2);
  }
  const n = parseInt(nArg, 10);

  // "Hash": H(bytes) = XXH3-64, seed 0, as an unsigned 64-bit integer.
  // hash-wasm's hex digest is the canonical (big-endian) form.
  const hasher = await createXXHash3(0, 0);
  const H = (bytes) => BigInt('0x' + hasher.init().update(bytes).digest('hex'));

  const lines = fs.readFileSync(nodesFile, 'utf8').split('\n').filter((l) => l !== '');
  const [tag, vText, zonesFlag] = lines[0].split('\t');
  if (tag !== 'vnodes') throw new Error('first line of NODES_FILE must be "vnodes<TAB>V"');
  const V = parseInt(vText, 10);
  const zoneReplicas = zonesFlag === 'zones';
  // "Zones": nodes without a zone form one zone of their own.
  const zoneOf = new Map();

  // "Points" + "Order": only active nodes contribute; pos(N, i) = H(N || "#" || i).
  const points = [];
  const active = new Set();
  for (const line of lines.slice(1)) {
    const [name, weight, state, zone] = line.split('\t');
    zoneOf.set(name, zone === undefined || zone === '\\N' ? null : zone);
    if (state !== 'active') continue;
    active.add(name);
    const nameBytes = Buffer.from(name, 'utf8');
    for (let i = 0, c = pointCount(parseFloat(weight), V); i < c; i++)
      points.push({ pos: H(Buffer.concat([nameBytes, Buffer.from('#' + i, 'ascii')])), name, nameBytes });
  }
  points.sort(cmpPoints);
  const liveZones = new Set([...active].map((name) => zoneOf.get(name)));

  // "Lookup": index of the first point with pos >= h (binary search), else 0.
  function firstIndex(h) {
    let lo = 0, hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid].pos < h) lo = mid + 1; else hi = mid;
    }
    return lo === points.length ? 0 : lo;
  }

  const out = [];
  const keys = fs.readFileSync(keysFile, 'latin1').split('\n');
  if (keys.length && keys[keys.length - 1] === '') keys.pop(); // trailing newline
  for (const hex of keys) {
    if (points.length === 0) { out.push('\t'); continue; } // no active node: NULL / empty
    const start = firstIndex(H(Buffer.from(hex.trim(), 'hex')));
    // The preference list P: walk forward, wrapping once, collecting
    // distinct owners (all active nodes).  Only a prefix of P decides the
    // first n of the result: n nodes when zone-blind; with zones, n nodes
    // that also hold min(n, live zones) zones (the first node of each zone
    // in P's order comes first, so later nodes cannot change the first n).
    const pref = [];
    const seen = new Set();
    const zonesSeen = new Set();
    const zonesWanted = Math.min(n, liveZones.size);
    for (let k = 0; k < points.length && seen.size < active.size; k++) {
      const owner = points[(start + k) % points.length].name;
      if (!seen.has(owner)) { seen.add(owner); pref.push(owner); zonesSeen.add(zoneOf.get(owner)); }
      if (pref.length >= n && (!zoneReplicas || zonesSeen.size >= zonesWanted)) break;
    }
    // "Zones": with zone_replicas, the first node of each zone in P's
    // order, then the rest of P in its order.
    let owners = pref;
    if (zoneReplicas) {
      const used = new Set();
      const first = [], rest = [];
      for (const node of pref) {
        const z = zoneOf.get(node);
        if (used.has(z)) rest.push(node); else { used.add(z); first.push(node); }
      }
      owners = first.concat(rest);
    }
    owners = owners.slice(0, n);
    out.push(owners[0] + '\t' + owners.join(','));
  }
  process.stdout.write(out.length ? out.join('\n') + '\n' : '');
}

main().catch((e) => { console.error(e); process.exit(1); });
