// Trust structures of docs/crypto.md: roster key certificate, responder
// certificate, signed roster, prekeys; their encodings, hashes and the
// client-side verification (verify_roster, verify_bundle). The encoders and
// signers exist so the Node test can rebuild tests/vectors/transcript_v1.json.
import { concat, lp, u32, u64, utf8, Reader, equal, ProtoError } from './bytes.js';
import { hashLabelled, verifySignature } from './primitives.js';

export const CLOCK_SKEW = 300;
const MAX_LIST = 256;
const MAX_NAME = 64;
const MAX_ROSTER_CERTS = 4096;

const isName = (s, extra) => s.length >= 1 && s.length <= MAX_NAME && [...s].every(
  (c) => (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || extra.includes(c));
export const isQueueName = (s) => isName(s, '-');
export const isResponderId = (s) => isName(s, '._-');
export const isLanguage = (s) => /^[a-z]{2}$/.test(s);

function strings(list) { return concat(u32(list.length), ...list.map((s) => lp(s))); }
function readStrings(r) {
  const n = r.u32();
  if (n > MAX_LIST) throw new ProtoError('invalid', 'list too long');
  const out = [];
  for (let i = 0; i < n; ++i) out.push(r.lpString(MAX_NAME));
  return out;
}
function hashes(list) { return concat(u32(list.length), ...list); }
function readHashes(r) {
  const n = r.u32();
  if (n > MAX_ROSTER_CERTS) throw new ProtoError('invalid', 'too many hashes');
  const out = [];
  for (let i = 0; i < n; ++i) out.push(r.fixed(32).slice());
  return out;
}

// --- roster key certificate ---
export function rosterKeyCertSignedPart(c) {
  return concat(lp('HL1/rsk'), c.rosterKey, u64(c.notBefore), u64(c.notAfter));
}
export function encodeRosterKeyCert(c) { return concat(rosterKeyCertSignedPart(c), c.signature); }
export function decodeRosterKeyCert(bytes) {
  const r = new Reader(bytes);
  r.label('HL1/rsk');
  const c = { rosterKey: r.fixed(32).slice(), notBefore: r.u64(), notAfter: r.u64() };
  c.signature = r.fixed(64).slice();
  r.finish();
  return c;
}
export function certifyRosterKey(root, rosterKey, notBefore, notAfter) {
  const c = { rosterKey, notBefore, notAfter };
  c.signature = root.sign(rosterKeyCertSignedPart(c));
  return c;
}

// --- responder certificate ---
function validateCert(f) {
  if (!isResponderId(f.responderId)) throw new ProtoError('invalid', 'bad responder id');
  if (f.queues.length < 1 || !f.queues.every(isQueueName)) throw new ProtoError('invalid', 'bad queues');
  if (f.languages.length < 1 || !f.languages.every(isLanguage)) throw new ProtoError('invalid', 'bad languages');
  if (f.notBefore < 0 || f.notAfter <= f.notBefore) throw new ProtoError('invalid', 'bad validity');
  if (equal(f.signingKey, f.dhKey)) throw new ProtoError('invalid', 'signing key equals DH key');
}
export function certSignedPart(f) {
  return concat(lp('HL1/cert'), lp(f.responderId), strings(f.queues), strings(f.languages),
    f.signingKey, f.dhKey, u64(f.notBefore), u64(f.notAfter), u64(f.serial));
}
export function encodeCert(c) { return concat(certSignedPart(c), c.signature); }
export function certHash(encoded) { return hashLabelled('HL1/cert-hash', encoded); }
export function decodeCert(bytes) {
  if (bytes.length > 4096) throw new ProtoError('invalid', 'certificate too large');
  const r = new Reader(bytes);
  r.label('HL1/cert');
  const c = {
    responderId: r.lpString(MAX_NAME), queues: readStrings(r), languages: readStrings(r),
    signingKey: r.fixed(32).slice(), dhKey: r.fixed(32).slice(), notBefore: r.u64(),
    notAfter: r.u64(), serial: r.u64big(),
  };
  c.signature = r.fixed(64).slice();
  r.finish();
  validateCert(c);
  c.encoded = bytes;
  c.hash = certHash(bytes);
  return c;
}
export function issueCertificate(rosterKey, fields) {
  validateCert(fields);
  const c = { ...fields };
  c.signature = rosterKey.sign(certSignedPart(c));
  c.encoded = encodeCert(c);
  c.hash = certHash(c.encoded);
  return c;
}

// --- signed roster ---
export function rosterSignedPart(c) {
  return concat(lp('HL1/roster'), u64(c.epoch), c.previousHash, u64(c.issuedAt), u64(c.expiresAt),
    u32(c.queues.length), ...c.queues.map((q) => concat(lp(q.queue), hashes(q.certificateHashes))),
    hashes(c.revoked));
}
export function encodeRoster(s) {
  return concat(lp(encodeRosterKeyCert(s.rosterKeyCert)), rosterSignedPart(s.contents), s.signature);
}
export function rosterHash(s) {
  return hashLabelled('HL1/roster-hash', concat(rosterSignedPart(s.contents), s.signature));
}
export function decodeRoster(bytes) {
  const r = new Reader(bytes);
  const rosterKeyCert = decodeRosterKeyCert(r.lp(256));
  r.label('HL1/roster');
  const c = { epoch: r.u64(), previousHash: r.fixed(32).slice(), issuedAt: r.u64(), expiresAt: r.u64(), queues: [] };
  const nq = r.u32();
  if (nq > MAX_LIST) throw new ProtoError('invalid', 'too many queues');
  for (let i = 0; i < nq; ++i) c.queues.push({ queue: r.lpString(MAX_NAME), certificateHashes: readHashes(r) });
  c.revoked = readHashes(r);
  const signature = r.fixed(64).slice();
  r.finish();
  if (!c.queues.every((q) => isQueueName(q.queue))) throw new ProtoError('invalid', 'bad queue name in roster');
  if (c.issuedAt < 0 || c.expiresAt <= c.issuedAt) throw new ProtoError('invalid', 'bad roster validity');
  return { rosterKeyCert, contents: c, signature };
}
export function signRoster(rosterKey, rosterKeyCert, contents) {
  const s = { rosterKeyCert, contents, signature: null };
  s.signature = rosterKey.sign(rosterSignedPart(contents));
  return s;
}

// verify_roster: returns {roster, hash}; pin = {epoch, hash} or null.
export function verifyRoster(orgRoot, roster, now, pin = null) {
  const rkc = roster.rosterKeyCert;
  if (!verifySignature(orgRoot, rosterKeyCertSignedPart(rkc), rkc.signature))
    throw new ProtoError('auth_failed', 'roster key is not certified by the org root');
  if (now + CLOCK_SKEW < rkc.notBefore || now >= rkc.notAfter)
    throw new ProtoError('expired', 'roster key certificate is outside its validity');
  if (!verifySignature(rkc.rosterKey, rosterSignedPart(roster.contents), roster.signature))
    throw new ProtoError('auth_failed', 'roster signature does not verify');
  if (now + CLOCK_SKEW < roster.contents.issuedAt) throw new ProtoError('expired', 'roster is issued in the future');
  if (now >= roster.contents.expiresAt) throw new ProtoError('expired', 'roster has expired');
  const hash = rosterHash(roster);
  if (pin !== null) {
    if (roster.contents.epoch < pin.epoch) throw new ProtoError('replay', 'roster rollback');
    if (roster.contents.epoch === pin.epoch && !equal(hash, pin.hash))
      throw new ProtoError('conflict', 'two different rosters for one epoch (split view)');
  }
  return { roster, hash };
}

// --- prekeys ---
export function spkSignedPart(p) { return concat(lp('HL1/spk'), u32(p.id), p.key, u64(p.expiresAt)); }
export function opkSignedPart(p) { return concat(lp('HL1/opk'), u32(p.id), p.key); }
export function encodeSpk(p) { return concat(spkSignedPart(p), p.signature); }
export function encodeOpk(p) { return concat(opkSignedPart(p), p.signature); }
export function decodeSpk(bytes) {
  const r = new Reader(bytes);
  r.label('HL1/spk');
  const p = { id: r.u32(), key: r.fixed(32).slice(), expiresAt: r.u64() };
  p.signature = r.fixed(64).slice();
  r.finish();
  return p;
}
export function decodeOpk(bytes) {
  const r = new Reader(bytes);
  r.label('HL1/opk');
  const p = { id: r.u32(), key: r.fixed(32).slice() };
  p.signature = r.fixed(64).slice();
  r.finish();
  return p;
}

// verify_bundle: the certificate is on the verified roster under `queue`, valid,
// not revoked; the prekey signatures and the signed prekey's expiry.
export function verifyBundle(verified, bundle, queue, now) {
  const { roster, hash: _ } = verified;
  const rkc = roster.rosterKeyCert;
  const c = roster.contents;
  if (now >= c.expiresAt || now + CLOCK_SKEW < c.issuedAt || now >= rkc.notAfter || now + CLOCK_SKEW < rkc.notBefore)
    throw new ProtoError('expired', 'the roster is no longer valid');
  const cert = bundle.certificate;
  if (!verifySignature(rkc.rosterKey, certSignedPart(cert), cert.signature))
    throw new ProtoError('auth_failed', 'certificate is not signed by the roster key');
  validateCert(cert);
  if (c.revoked.some((h) => equal(h, cert.hash))) throw new ProtoError('auth_failed', 'certificate revoked');
  if (now + CLOCK_SKEW < cert.notBefore || now >= cert.notAfter)
    throw new ProtoError('expired', 'certificate is outside its validity');
  const listed = c.queues.filter((q) => q.certificateHashes.some((h) => equal(h, cert.hash))).map((q) => q.queue);
  if (!listed.includes(queue)) throw new ProtoError('not_found', 'certificate is not on the roster for this queue');
  const spk = bundle.signedPrekey;
  if (!verifySignature(cert.signingKey, spkSignedPart(spk), spk.signature))
    throw new ProtoError('auth_failed', 'signed prekey is not signed by the certified key');
  if (now >= spk.expiresAt) throw new ProtoError('expired', 'signed prekey has expired');
  if (bundle.oneTimePrekey) {
    const opk = bundle.oneTimePrekey;
    if (!verifySignature(cert.signingKey, opkSignedPart(opk), opk.signature))
      throw new ProtoError('auth_failed', 'one-time prekey is not signed by the certified key');
  }
}

export function fingerprint(publicKey) {
  const hex = [...hashLabelled('HL1/fingerprint', publicKey)].map((x) => x.toString(16).padStart(2, '0')).join('');
  return hex.match(/.{4}/g).join(' ');
}
export { utf8 };
