#!/usr/bin/env node
// Independent reimplementation of hashring's `jump` routing with zones,
// written from docs/algorithms.md ("jump") and docs/routing-spec.md
// ("Zones", with its spread rule) only.  Used by test/t/010_node_compat.pl
// to cross-check the C extension.
//
// Usage: node jump_ring.js NODES_FILE KEYS_FILE N
//   NODES_FILE: first line "jump<TAB>RULE", RULE one of blind (zone_replicas
//               off), first (zone_replicas on, zone_spread off: 0.7) or
//               spread (both on); then, in node order (by ordinal),
//               "name<TAB>weight<TAB>state<TAB>zone" lines ("\N": no zone)
//   KEYS_FILE:  one key per line, hex-encoded bytes (an empty line is the empty key)
//   Output:     one line per key: "ring_node<TAB>ring_nodes(N) comma-joined"
'use strict';
const fs = require('fs');
const { createXXHash3 } = require('hash-wasm');

const MASK64 = (1n << 64n) - 1n;

// Guava's Hashing.consistentHash(long input, int buckets), with Java's int
// and double semantics (algorithms.md: "exactly as Guava").
function consistentHash(input, buckets) {
  let state = input & MASK64;
  let candidate = 0;
  for (;;) {
    state = (2862933555777941757n * state + 1n) & MASK64;
    const s = Number(state >> 33n);              // (int) (state >>> 33): 0 .. 2^31 - 1
    const plus1 = s + 1 === 2 ** 31 ? -(2 ** 31) : s + 1; // Java int overflow wraps
    const d = plus1 / 2 ** 31;
    const q = (candidate + 1) / d;
    // Java's (int) cast: truncation, saturating, NaN to 0
    const next = Number.isNaN(q) ? 0 : q >= 2 ** 31 - 1 ? 2 ** 31 - 1 : q <= -(2 ** 31) ? -(2 ** 31) : Math.trunc(q);
    if (next >= 0 && next < buckets) candidate = next;
    else return candidate;
  }
}

async function main() {
  const [nodesFile, keysFile, nArg] = process.argv.slice(2);
  if (!nodesFile || !keysFile || !nArg) {
    console.error('usage: node jump_ring.js NODES_FILE KEYS_FILE N');
    process.exit(2);
  }
  const n = parseInt(nArg, 10);
  const hasher = await createXXHash3(0, 0);
  // "jump": the key's hash is XXH3-64 of its bytes (seed 0)
  const H = (bytes) => BigInt('0x' + hasher.init().update(bytes).digest('hex'));

  const lines = fs.readFileSync(nodesFile, 'utf8').split('\n').filter((l) => l !== '');
  const [tag, rule] = lines[0].split('\t');
  if (tag !== 'jump' || !['blind', 'first', 'spread'].includes(rule))
    throw new Error('first line of NODES_FILE must be "jump<TAB>blind|first|spread"');
  // node order: the file's order (by ordinal)
  const nodes = lines.slice(1).map((l) => {
    const [name, , state, zone] = l.split('\t');
    return { name, live: state === 'active', zone: zone === undefined || zone === '\\N' ? null : zone };
  });
  // "Zones": each zone's nodes, all of them, in node order; a node's position there
  const members = new Map();
  for (const nd of nodes) {
    if (!members.has(nd.zone)) members.set(nd.zone, []);
    nd.zonePos = members.get(nd.zone).length;
    members.get(nd.zone).push(nd);
  }

  const out = [];
  const keys = fs.readFileSync(keysFile, 'latin1').split('\n');
  if (keys.length && keys[keys.length - 1] === '') keys.pop();
  for (const hex of keys) {
    if (!nodes.some((nd) => nd.live)) { out.push('\t'); continue; }
    // "jump": bucket b is the node of rank b; P: ranks b, b+1, ... (mod N), active only
    const b = consistentHash(H(Buffer.from(hex.trim(), 'hex')), nodes.length);
    const P = [];
    for (let k = 0; k < nodes.length; k++) {
      const nd = nodes[(b + k) % nodes.length];
      if (nd.live) P.push(nd);
    }
    let answer = P;
    if (rule !== 'blind') {
      // "Zones": zones in the order P reaches them; each gives one node F[j]
      const F = [];
      const given = new Map();
      for (const nd of P) {
        if (given.has(nd.zone)) continue;
        let pick = nd; // its first node in P
        if (rule === 'spread' && F.length > 0) {
          // the node at position c mod m of the zone's nodes, or the next active one
          const M = members.get(nd.zone);
          const c = P[0].zonePos;
          for (let k = 0; k < M.length; k++) {
            const cand = M[(c % M.length + k) % M.length];
            if (cand.live) { pick = cand; break; }
          }
        }
        given.set(nd.zone, pick);
        F.push(pick);
      }
      const R = P.filter((nd) => !F.includes(nd));
      answer = F.concat(R);
    }
    const names = answer.slice(0, n).map((nd) => nd.name);
    out.push(names[0] + '\t' + names.join(','));
  }
  process.stdout.write(out.length ? out.join('\n') + '\n' : '');
}

main().catch((e) => { console.error(e); process.exit(1); });
