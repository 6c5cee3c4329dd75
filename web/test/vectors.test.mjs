// Reproduces tests/vectors/ byte for byte with the browser's protocol code
// (web/src/proto), in Node: the whole transcript_v1.json scenario (org, roster,
// X3DH, 20 ratcheted messages with 8 before 7, both ratchet states, the vault)
// under the same deterministic ChaCha20 random stream, and every vault_kdf.json
// vector. Run: npm test (in web/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

import { ready } from '../src/proto/sodium.js';
import { useDeterministicRandom, randomBytes } from '../src/proto/random.js';
import { toHex, fromHex, utf8, fromUtf8 } from '../src/proto/bytes.js';
import { SigningKey, DhKey } from '../src/proto/primitives.js';
import * as trust from '../src/proto/trust.js';
import { x3dhInitiate, x3dhRespond, encodeX3dhHeader } from '../src/proto/x3dh.js';
import { Ratchet } from '../src/proto/ratchet.js';
import * as vault from '../src/proto/vault.js';
import { wordlistPath } from '../wordlist.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const vectors = join(here, '..', '..', 'tests', 'vectors');
const load = (name) => JSON.parse(readFileSync(join(vectors, name), 'utf8'));

await ready();
vault.setWordlist(vault.parseWordlistFile(readFileSync(wordlistPath(), 'utf8')));

const SCRIPT = [
  [true, 'Hello. I need a safe place to stay tonight.'],
  [false, 'You reached the shelter team. You are safe to write here.'],
  [true, 'Thank you.'],
  [true, 'I can only use this phone for a few minutes.'],
  [false, 'That is fine. Reply whenever you can; your case stays open.'],
  [false, 'Is it safe for you to talk right now?'],
  [true, 'Yes, for now.'],
  [true, 'I left my passport with my employer.'],
  [false, 'Legal aid can help with documents. Do you want us to involve them?'],
  [true, 'Yes please.'],
  [false, 'We have a bed for you tonight. Can you get to the city centre?'],
  [true, 'I think so.'],
  [true, 'By bus.'],
  [false, 'Good. We will send the address in a referral card.'],
  [true, 'Ok.'],
  [false, 'If you must stop writing, just close this page. Nothing is kept.'],
  [true, 'Understood.'],
  [false, 'Take care. We are here.'],
  [true, 'Thank you so much.'],
  [false, 'Write again anytime with your codename.'],
];

// The scenario of tests/crypto/transcript_test.cpp, draw for draw.
function generateTranscript() {
  const seed = fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  const restore = useDeterministicRandom(seed);
  try {
    const now = 1800000000;
    const t = { seed: toHex(seed), now };
    const root = SigningKey.generate();
    const rosterKey = SigningKey.generate();
    const rkc = trust.certifyRosterKey(root, rosterKey.publicKey, now - 86400, now + 365 * 86400);
    t.org_root = { seed: toHex(root.seed), public: toHex(root.publicKey), fingerprint: trust.fingerprint(root.publicKey) };
    t.roster_key = { seed: toHex(rosterKey.seed), certificate: toHex(trust.encodeRosterKeyCert(rkc)) };

    const signing = SigningKey.generate();
    const identity = DhKey.generate();
    const cert = trust.issueCertificate(rosterKey, {
      responderId: 'ana', queues: ['legal', 'shelter'], languages: ['en', 'es'],
      signingKey: signing.publicKey, dhKey: identity.publicKey, notBefore: now - 3600,
      notAfter: now + 90 * 86400, serial: 1n,
    });
    const spkPriv = DhKey.generate();
    const spk = { id: 1, key: spkPriv.publicKey, expiresAt: now + 7 * 86400 };
    spk.signature = signing.sign(trust.spkSignedPart(spk));
    const opkPriv = DhKey.generate();
    const opk = { id: 100, key: opkPriv.publicKey };
    opk.signature = signing.sign(trust.opkSignedPart(opk));
    t.responder = {
      signing_seed: toHex(signing.seed), dh_private: toHex(identity.privateKey),
      certificate: toHex(cert.encoded), certificate_hash: toHex(cert.hash),
      signed_prekey: toHex(trust.encodeSpk(spk)), signed_prekey_private: toHex(spkPriv.privateKey),
      one_time_prekey: toHex(trust.encodeOpk(opk)), one_time_prekey_private: toHex(opkPriv.privateKey),
    };

    const contents = {
      epoch: 1, previousHash: new Uint8Array(32), issuedAt: now - 60, expiresAt: now + 14 * 86400,
      queues: [{ queue: 'legal', certificateHashes: [cert.hash] }, { queue: 'shelter', certificateHashes: [cert.hash] }],
      revoked: [],
    };
    const signed = trust.signRoster(rosterKey, rkc, contents);
    // Round-trip through the wire encoding, as the page receives it.
    const encoded = trust.encodeRoster(signed);
    const verified = trust.verifyRoster(root.publicKey, trust.decodeRoster(encoded), now);
    t.roster = { encoded: toHex(encoded), hash: toHex(verified.hash) };

    const survivorIdentity = DhKey.generate();
    const caseId = randomBytes(16);
    const bundle = {
      certificate: trust.decodeCert(cert.encoded),
      signedPrekey: trust.decodeSpk(trust.encodeSpk(spk)),
      oneTimePrekey: trust.decodeOpk(trust.encodeOpk(opk)),
    };
    const init = x3dhInitiate(verified, bundle, 'legal', survivorIdentity, caseId, now);
    t.x3dh = {
      survivor_identity_private: toHex(survivorIdentity.privateKey), case_id: toHex(caseId),
      header: toHex(encodeX3dhHeader(init.header)), shared_key: toHex(init.sharedKey),
      associated_data: toHex(init.associatedData),
    };
    const survivor = Ratchet.initInitiator(init.sharedKey, init.associatedData, init.responderRatchetKey);
    const session = x3dhRespond({ certificate: cert, identity, signedPrekey: spkPriv, oneTimePrekey: opkPriv },
      init.header, [verified.hash]);
    assert.equal(toHex(session.sharedKey), toHex(init.sharedKey));
    const responder = Ratchet.initResponder(session.sharedKey, session.associatedData, spkPriv);

    const messages = [];
    let held = [];
    SCRIPT.forEach(([fromSurvivor, text], i) => {
      const wire = (fromSurvivor ? survivor : responder).encrypt(utf8(text));
      messages.push({ from: fromSurvivor ? 'survivor' : 'responder', plaintext: text, wire: toHex(wire) });
      held.push([i, wire]);
      if (i === 6) return;
      if (held.length === 2) held = [held[1], held[0]];
      for (const [index, bytes] of held) {
        const to = SCRIPT[index][0] ? responder : survivor;
        assert.equal(fromUtf8(to.decrypt(bytes)), SCRIPT[index][1]);
      }
      held = [];
    });
    t.messages = messages;
    t.survivor_ratchet_state = toHex(survivor.serialize());
    t.responder_ratchet_state = toHex(responder.serialize());

    const codename = vault.drawCodename();
    const keys = vault.deriveVaultKeys(codename, root.publicKey);
    const state = survivor.serialize();
    const blob = vault.sealVault(keys, 1, state);
    assert.equal(toHex(vault.openVault(keys, blob).contents), toHex(state));
    t.vault = {
      codename, salt: toHex(vault.vaultSalt(root.publicKey)), login_id: toHex(keys.loginId),
      auth_public: toHex(keys.auth.publicKey), version: 1, blob: toHex(blob),
    };
    // A state written here reads back to the same bytes (the vault stores it).
    assert.equal(toHex(Ratchet.deserialize(survivor.serialize()).serialize()), t.survivor_ratchet_state);
    return t;
  } finally {
    restore();
  }
}

test('transcript_v1.json is reproduced byte for byte', () => {
  const stored = load('transcript_v1.json');
  const generated = generateTranscript();
  for (const [key, value] of Object.entries(generated)) {
    assert.deepEqual(value, stored[key], `field ${key}`);
  }
  const expectedKeys = Object.keys(stored).filter((k) => k !== 'description' && k !== 'random').sort();
  assert.deepEqual(Object.keys(generated).sort(), expectedKeys);
});

test('vault_kdf.json: every vector, every intermediate value', () => {
  const { vectors: vs } = load('vault_kdf.json');
  assert.ok(vs.length >= 3);
  for (const v of vs) {
    const codename = vault.parseCodename(v.typed);
    assert.equal(codename, v.codename);
    const root = fromHex(v.org_root_pk);
    assert.equal(toHex(vault.vaultSalt(root)), v.salt_org);
    const master = vault.masterKey(codename, root);
    assert.equal(toHex(master), v.k_master);
    const keys = vault.keysFromMaster(master);
    assert.equal(toHex(keys.loginId), v.login_id);
    assert.equal(toHex(keys.authSeed), v.auth_seed);
    assert.equal(toHex(keys.auth.publicKey), v.auth_pk);
    assert.equal(toHex(keys.vaultKey), v.k_vault);
  }
});
