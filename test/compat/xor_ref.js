#!/usr/bin/env node
// Reference answers for hashring's `xor` algorithm, from the real npm package
// `k-bucket` (pinned in package.json): KBucket.closest(SHA-1(key), n) over
// contacts {id: node id}. Used by test/t/020_client_compat.pl.
//
// Usage: node xor_ref.js NODES_FILE KEYS_FILE N...
//   NODES_FILE: first line "local<TAB>40 hex digits" (the KBucket's
//               localNodeId), then "name<TAB>id<TAB>state" lines in node order;
//               id is 40 hex digits (the node_id set in SQL) or "-" for
//               SHA-1(name); state 'active' or 'down'.
//   KEYS_FILE:  one key per line, hex-encoded bytes (empty line = '').
//   Output:     one line per key:
//     "node<TAB>ring_hash<TAB>kb(N1)...<TAB>exact(N1)...<TAB>flags"
//     kb(n): names of kbucket.closest(SHA-1(key), n), comma-joined; node is
//       the first of them. With down nodes (k-bucket has no such
//       notion): closest(id) (all contacts) minus the down nodes, cut to n.
//     exact(n): the same list ordered by the exact 160-bit XOR distance
//       (ties cannot happen between distinct ids); only computed when it can
//       differ (flag "tie") or when every line needs it (XOR_REF_EXACT=1),
//       otherwise "=".
//     ring_hash: the first 8 bytes of SHA-1(key), big-endian, signed.
//     flags: "tie" when two of the first max(N)+1 contacts have the same
//       k-bucket distance: KBucket.distance folds the 20 bytes into a JS
//       double (d = d * 256 + byte), which keeps only the top ~53 bits, and
//       closest() sorts stably by it, so such contacts come in insertion
//       order rather than in XOR order.
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const KBucket = require('k-bucket');

function die(msg) {
  console.error('xor_ref.js: ' + msg);
  process.exit(2);
}
const sha1 = (buf) => crypto.createHash('sha1').update(buf).digest();

const [nodesFile, keysFile, ...nArgs] = process.argv.slice(2);
if (!nodesFile || !keysFile || nArgs.length === 0)
  die('usage: node xor_ref.js NODES_FILE KEYS_FILE N...');
const ns = nArgs.map((s) => parseInt(s, 10));
const maxN = Math.max(...ns);
const alwaysExact = process.env.XOR_REF_EXACT === '1';

const lines = fs.readFileSync(nodesFile, 'utf8').split('\n').filter((l) => l !== '');
const [tag, localHex] = lines[0].split('\t');
if (tag !== 'local' || !/^[0-9a-f]{40}$/.test(localHex))
  die('first line of NODES_FILE must be "local<TAB>40 hex digits"');

const contacts = [];
const down = new Set();
const seenIds = new Set();
for (const line of lines.slice(1)) {
  const [name, idHex, state] = line.split('\t');
  let id;
  if (idHex === '-') id = sha1(Buffer.from(name, 'utf8'));
  else if (/^[0-9a-f]{40}$/.test(idHex)) id = Buffer.from(idHex, 'hex');
  else die(`bad id ${idHex}`);
  // Equal ids would make k-bucket replace the first contact with the second.
  if (seenIds.has(id.toString('hex'))) die(`duplicate id ${id.toString('hex')}`);
  seenIds.add(id.toString('hex'));
  if (state === 'down') down.add(name);
  else if (state !== 'active') die(`bad state ${state}`);
  contacts.push({ id: new Uint8Array(id), name, vectorClock: 0 });
}

// A bucket big enough that it never splits nor drops a contact.
const kb = new KBucket({
  localNodeId: new Uint8Array(Buffer.from(localHex, 'hex')),
  numberOfNodesPerKBucket: Math.max(1000, contacts.length + 1),
});
for (const c of contacts) kb.add(c);
if (kb.count() !== contacts.length) die('k-bucket dropped contacts');

function exactOrder(list, keyId) {
  const withDist = list.map((c) => {
    const d = Buffer.alloc(20);
    for (let i = 0; i < 20; i++) d[i] = c.id[i] ^ keyId[i];
    return [d, c];
  });
  withDist.sort((a, b) => Buffer.compare(a[0], b[0]));
  return withDist.map((x) => x[1]);
}

const keys = fs.readFileSync(keysFile, 'latin1').split('\n');
if (keys.length && keys[keys.length - 1] === '') keys.pop();
const out = [];
let checked = 0;
for (const hex of keys) {
  const digest = sha1(Buffer.from(hex.trim(), 'hex'));
  const keyId = new Uint8Array(digest);
  const hash = digest.readBigInt64BE(0);
  const kbLists = [];
  let node;
  let tie = false;
  let pool; // the contacts the compared lists are drawn from, k-bucket order
  if (down.size === 0) {
    // One bucket: closest(id, n) sorts all contacts (stable, by distance) and
    // keeps n, so closest(id, n) is a prefix of closest(id, maxN + 1). That is
    // checked literally on the first keys; later keys take the prefixes.
    pool = kb.closest(keyId, maxN + 1);
    for (const n of ns) kbLists.push(pool.slice(0, n).map((c) => c.name));
    node = pool.length ? pool[0].name : '';
    if (checked++ < 200) {
      for (let j = 0; j < ns.length; j++)
        if (kb.closest(keyId, ns[j]).map((c) => c.name).join(',') !== kbLists[j].join(','))
          die(`closest(id, ${ns[j]}) is not a prefix of closest(id, ${maxN + 1})`);
    }
  } else {
    const all = kb.closest(keyId).filter((c) => !down.has(c.name));
    for (const n of ns) kbLists.push(all.slice(0, n).map((c) => c.name));
    node = all.length ? all[0].name : '';
    pool = all.slice(0, maxN + 1);
  }
  for (let i = 1; i < pool.length; i++)
    if (KBucket.distance(pool[i - 1].id, keyId) === KBucket.distance(pool[i].id, keyId)) tie = true;

  let exactLists;
  if (tie || alwaysExact) {
    const active = contacts.filter((c) => !down.has(c.name));
    const ordered = exactOrder(active, keyId).map((c) => c.name);
    exactLists = ns.map((n) => ordered.slice(0, n).join(','));
  } else {
    exactLists = ns.map(() => '=');
  }
  out.push([node, hash.toString(), ...kbLists.map((l) => l.join(',')), ...exactLists,
    tie ? 'tie' : ''].join('\t'));
}
process.stdout.write(out.length ? out.join('\n') + '\n' : '');
