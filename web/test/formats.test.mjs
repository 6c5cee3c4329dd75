// The browser's encoders and decoders on their own: strict base64url, codename
// parsing, vault contents and blob round trips, bucket padding, the PoW check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ready } from '../src/proto/sodium.js';
import { toB64, fromB64, toHex, fromHex } from '../src/proto/bytes.js';
import { padToBucket, unpadBucket } from '../src/proto/primitives.js';
import * as vault from '../src/proto/vault.js';
import { canonicalRouteText, powInput, powHash, meetsEffort, solvePow, powRequestHash } from '../src/proto/pow.js';
import { wordlistPath } from '../wordlist.mjs';

await ready();
vault.setWordlist(vault.parseWordlistFile(readFileSync(wordlistPath(), 'utf8')));

test('base64url is strict', () => {
  for (const n of [0, 1, 2, 3, 16, 32, 64]) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);
    assert.deepEqual(fromB64(toB64(b)), b);
  }
  assert.equal(toB64(new Uint8Array(16)).length, 22);
  for (const bad of ['AA==', 'A', 'AB', 'A+B/', 'AA A', 'AAé']) assert.throws(() => fromB64(bad), /base64/);
  assert.deepEqual(fromB64('AA'), Uint8Array.of(0));
});

test('codenames: 7 list words, position named, never the word', () => {
  const c = vault.drawCodename();
  assert.equal(c.split(' ').length, 7);
  assert.equal(vault.parseCodename(`  ${c.toUpperCase()}\t`), c);
  const words = c.split(' ');
  words[3] = 'notaword';
  assert.throws(() => vault.parseCodename(words.join(' ')), (e) => e.position === 4 && !e.message.includes('notaword'));
  assert.throws(() => vault.parseCodename(c.replace(' ', '\u00a0')), /7 words|word/);
  assert.throws(() => vault.parseCodename('abacus'), /7 words/);
});

test('bucket padding', () => {
  assert.equal(padToBucket(new Uint8Array(255)).length, 256);
  assert.equal(padToBucket(new Uint8Array(256)).length, 1024);
  assert.deepEqual(unpadBucket(padToBucket(Uint8Array.of(1, 2, 0))), Uint8Array.of(1, 2, 0));
  assert.throws(() => padToBucket(new Uint8Array(65536)));
  assert.throws(() => unpadBucket(new Uint8Array(256)));
});

test('vault contents and blob round trip', () => {
  const keys = vault.keysFromMaster(new Uint8Array(32).fill(7));
  const v = {
    pin: { epoch: 3, hash: new Uint8Array(32).fill(1) },
    cases: [{
      caseId: new Uint8Array(16).fill(2), identityPrivate: new Uint8Array(32).fill(3), queue: 'shelter',
      claimedBy: null, receivedSeq: 4,
      sessions: [{ certificateHash: new Uint8Array(32).fill(5), state: Uint8Array.of(9, 9) }],
      transcript: [{ author: 1, minute: 1800000000, kind: 1, payload: new TextEncoder().encode('hola') }],
    }],
  };
  const contents = vault.encodeVaultContents(v);
  assert.deepEqual(vault.decodeVaultContents(contents), v);
  const blob = vault.sealVault(keys, 2, contents);
  assert.equal((blob.length - 48) % 4096, 0);
  const opened = vault.openVault(keys, blob);
  assert.equal(opened.version, 2);
  assert.deepEqual(opened.contents, contents);
  const tampered = blob.slice();
  tampered[7] = 3; // the version is authenticated
  assert.throws(() => vault.openVault(keys, tampered));
  assert.throws(() => vault.decodeVaultContents(Uint8Array.from([...contents, 0])), /left over/);
});

test('the largest vault blob is the one documented bound, 1,048,624 bytes', () => {
  const keys = vault.keysFromMaster(new Uint8Array(32).fill(7));
  assert.equal(vault.MAX_VAULT_BLOB_BYTES, 1048624);
  const largest = vault.sealVault(keys, 1, new Uint8Array(1024 * 1024 - 1));
  assert.equal(largest.length, vault.MAX_VAULT_BLOB_BYTES);
  assert.equal(vault.openVault(keys, largest).contents.length, 1024 * 1024 - 1);
  assert.throws(() => vault.sealVault(keys, 1, new Uint8Array(1024 * 1024)), /too large/);
  const over = new Uint8Array(largest.length + 4096);
  assert.throws(() => vault.openVault(keys, over), /too large/);
});

test('proof-of-work: canonical text and a solved proof meets its effort', () => {
  const env = { needs: ['shelter', 'legal'], urgency: 'today', languages: ['en', 'es'], mode: 'live', region: 'north' };
  assert.equal(canonicalRouteText(env), 'needs=shelter,legal;urgency=today;languages=en,es;mode=live;region=north');
  assert.equal(canonicalRouteText({ ...env, region: undefined }).endsWith(';region='), true);
  const seed = fromHex('11'.repeat(32));
  const rh = powRequestHash(env);
  const nonce = solvePow(seed, 500, rh);
  const { input, nonceOffset } = powInput(seed, 'route', 500, rh);
  input.set(nonce, nonceOffset);
  assert.ok(meetsEffort(powHash(input), 500));
  assert.ok(!meetsEffort(0xffffffff, 2));
  assert.ok(meetsEffort(0xffffffff, 1));
  assert.equal(toHex(rh).length, 64);
  // The 93-byte layout of docs/protocol.md "Proof-of-work".
  const laid = powInput(seed, 'route', 20000, rh);
  assert.equal(laid.input.length, 93);
  assert.equal(laid.nonceOffset, 45);
  assert.equal(toHex(laid.input.subarray(32, 45)), '00000005726f75746500004e20');
  assert.deepEqual(laid.input.subarray(61), rh);
});
