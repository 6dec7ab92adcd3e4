#!/usr/bin/env node
// XXH3-64 (seed 0) of each key, as a signed 64-bit decimal: the `long` that
// hashring's jump algorithm hands to Guava's Hashing.consistentHash
// (docs/algorithms.md, "jump": ring_hash = XXH3-64 of the key as a signed
// bigint).  Used by test/t/022_guava_jump.pl to check ring_hash independently
// of the extension, with hash-wasm (the XXH3 reference 010_node_compat uses).
//
// Usage: node jump_xxh3.js KEYS_FILE
//   KEYS_FILE: one key per line, hex-encoded bytes (an empty line = empty key)
//   Output:    one line per key, the signed decimal hash
'use strict';
const fs = require('fs');
const { createXXHash3 } = require('hash-wasm');

async function main() {
  const [keysFile] = process.argv.slice(2);
  if (!keysFile) {
    console.error('usage: node jump_xxh3.js KEYS_FILE');
    process.exit(2);
  }
  const hasher = await createXXHash3(0, 0);
  const lines = fs.readFileSync(keysFile, 'latin1').split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const out = [];
  for (const hex of lines) {
    const bytes = Buffer.from(hex, 'hex');
    const u = BigInt('0x' + hasher.init().update(bytes).digest('hex'));
    out.push(BigInt.asIntN(64, u).toString());
  }
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
