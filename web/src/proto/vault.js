// The survivor's codename and vault (docs/crypto.md "Survivor codename and
// vault") and the formats inside the ciphertexts (docs/client-formats.md:
// intake body, plaintext, transcript, vault contents).
import { concat, lp, u8, u32, u64, utf8, fromUtf8, Reader, ProtoError } from './bytes.js';
import { sodium } from './sodium.js';
import { randomUniform } from './random.js';
import { blake2bPersonal, SigningKey, aeadSeal, aeadOpen, padTo, unpad } from './primitives.js';
import { encodeX3dhHeader, decodeX3dhHeader } from './x3dh.js';

// ---- codename ----
let WORDS = null;
let WORD_SET = null;
export function setWordlist(words) {
  if (words.length !== 7776 || new Set(words).size !== 7776) throw new Error('word list must hold 7776 distinct words');
  WORDS = words;
  WORD_SET = new Map(words.map((w, i) => [w, i]));
}
// Parses the EFF list file ("11111<TAB>abacus" per line).
export function parseWordlistFile(text) {
  const words = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = /^[1-6]{5}\t([a-z-]+)$/.exec(line);
    if (!m) throw new Error('unexpected line in word list');
    words.push(m[1]);
  }
  return words;
}
export const CODENAME_WORDS = 7;
export function drawCodename() {
  const out = [];
  for (let i = 0; i < CODENAME_WORDS; ++i) out.push(WORDS[randomUniform(7776)]);
  return out.join(' ');
}
// Normalization of typed input; the error names the position of a bad word, never the word.
export function parseCodename(typed) {
  const lowered = typed.replace(/[A-Z]/g, (c) => c.toLowerCase());
  const tokens = lowered.split(/[ \t\n\r\v\f]+/).filter((t) => t !== '');
  if (tokens.length !== CODENAME_WORDS) {
    throw Object.assign(new ProtoError('codename', 'a codename has 7 words'), { words: tokens.length });
  }
  for (let i = 0; i < tokens.length; ++i) {
    if (!WORD_SET.has(tokens[i])) throw Object.assign(new ProtoError('codename', `word ${i + 1} is not a codename word`), { position: i + 1 });
  }
  return tokens.join(' ');
}

// ---- vault keys ----
export const ARGON_OPS = 3;
export const ARGON_MEM = 64 * 1024 * 1024;
export function vaultSalt(orgRoot) { return blake2bPersonal(orgRoot, 16, 'HL1-kdfsalt'); }
export function masterKey(codename, orgRoot) {
  return sodium().crypto_pwhash(32, utf8(codename), vaultSalt(orgRoot), ARGON_OPS, ARGON_MEM,
    sodium().crypto_pwhash_ALG_ARGON2ID13);
}
export function keysFromMaster(master) {
  const s = sodium();
  const loginId = s.crypto_kdf_derive_from_key(32, 1, 'HLVAULT1', master);
  const authSeed = s.crypto_kdf_derive_from_key(32, 2, 'HLVAULT1', master);
  const vaultKey = s.crypto_kdf_derive_from_key(32, 3, 'HLVAULT1', master);
  return { loginId, authSeed, auth: new SigningKey(authSeed), vaultKey };
}
export function deriveVaultKeys(codename, orgRoot) { return keysFromMaster(masterKey(codename, orgRoot)); }

export function signLogin(keys, challenge) { return keys.auth.sign(concat(utf8('HL1/vault-login'), challenge)); }
export function signOpenCase(keys, challenge, caseId) {
  return keys.auth.sign(concat(lp('HL1/open-case'), lp(challenge), lp(caseId), lp(keys.loginId)));
}

// ---- vault blob ----
const VAULT_BLOCK = 4096;
const MAX_VAULT_CONTENTS = 1024 * 1024 - 1;
// The one bound on a vault's size (crypto::kMaxVaultBlobBytes, docs/client-formats.md "Size").
export const MAX_VAULT_BLOB_BYTES = 48 + MAX_VAULT_CONTENTS + 1;
const blobAd = (loginId, version) => concat(utf8('HL1/vault'), loginId, u64(version));
export function sealVault(keys, version, contents) {
  if (contents.length > MAX_VAULT_CONTENTS) throw new ProtoError('limit_exceeded', 'vault contents too large');
  const padded = padTo(contents, (Math.floor(contents.length / VAULT_BLOCK) + 1) * VAULT_BLOCK);
  return concat(u64(version), aeadSeal(keys.vaultKey, padded, blobAd(keys.loginId, version)));
}
export function openVault(keys, blob) {
  if (blob.length < 8 + 40 + VAULT_BLOCK) throw new ProtoError('invalid', 'vault blob truncated');
  const paddedLen = blob.length - 48;
  if (paddedLen % VAULT_BLOCK !== 0) throw new ProtoError('invalid', 'vault blob is not whole blocks');
  if (blob.length > MAX_VAULT_BLOB_BYTES) throw new ProtoError('invalid', 'vault blob too large');
  const version = new Reader(blob.subarray(0, 8)).u64();
  const padded = aeadOpen(keys.vaultKey, blob.subarray(8), blobAd(keys.loginId, version));
  return { version, contents: unpad(padded, VAULT_BLOCK) };
}

// ---- intake body, plaintext, transcript ----
export function encodeIntakeBody(header, message) { return concat(lp(encodeX3dhHeader(header)), message); }
export function decodeIntakeBody(body) {
  const r = new Reader(body);
  const header = decodeX3dhHeader(r.lp(1024));
  const message = r.fixed(r.rest()).slice();
  if (message.length === 0) throw new ProtoError('invalid', 'empty first message');
  return { header, message };
}
export const KIND_TEXT = 1;
export const KIND_HANDOFF = 3;
export function encodeText(text) {
  const b = utf8(text);
  if (b.length === 0) throw new ProtoError('invalid', 'empty text');
  if (b.length > 65534) throw new ProtoError('limit_exceeded', 'text too long');
  return concat(u8(KIND_TEXT), b);
}
export function decodePlaintext(p) {
  if (p.length < 1) throw new ProtoError('invalid', 'empty plaintext');
  const kind = p[0];
  const payload = p.slice(1);
  if (kind === KIND_TEXT) fromUtf8(payload);
  return { kind, payload };
}

export const TRANSCRIPT_MAX_ENTRIES = 200;
export const TRANSCRIPT_MAX_BYTES = 128 * 1024;
export function trimTranscript(entries) {
  let bytes = entries.reduce((n, e) => n + e.payload.length, 0);
  while (entries.length > TRANSCRIPT_MAX_ENTRIES || bytes > TRANSCRIPT_MAX_BYTES) bytes -= entries.shift().payload.length;
}
export function encodeTranscriptBytes(entries) { return encodeTranscript(entries); }
function encodeTranscript(entries) {
  return concat(u32(entries.length), ...entries.map((e) => concat(u8(e.author), u64(e.minute), u8(e.kind), lp(e.payload))));
}
function decodeTranscript(r) {
  const n = r.u32();
  if (n > TRANSCRIPT_MAX_ENTRIES) throw new ProtoError('invalid', 'transcript too long');
  const out = [];
  for (let i = 0; i < n; ++i) {
    const e = { author: r.u8(), minute: r.u64(), kind: r.u8(), payload: r.lp(65535).slice() };
    if (e.author !== 1 && e.author !== 2) throw new ProtoError('invalid', 'bad author');
    if (e.kind === KIND_TEXT) fromUtf8(e.payload);
    out.push(e);
  }
  return out;
}

// vault = {pin: {epoch, hash}|null, cases: [{caseId, identityPrivate, queue,
//          claimedBy|null, receivedSeq, sessions: [{certificateHash, state}], transcript: []}]}
export function encodeVaultContents(v) {
  if (v.cases.length > 64) throw new ProtoError('limit_exceeded', 'too many cases');
  return concat(lp('HL1/survivor-vault'), u8(1),
    v.pin === null ? u8(0) : concat(u8(1), u64(v.pin.epoch), v.pin.hash),
    u32(v.cases.length),
    ...v.cases.map((c) => concat(c.caseId, c.identityPrivate, lp(c.queue),
      c.claimedBy === null ? u8(0) : concat(u8(1), c.claimedBy), u64(c.receivedSeq),
      u32(c.sessions.length), ...c.sessions.map((s) => concat(s.certificateHash, lp(s.state))),
      encodeTranscript(c.transcript))));
}
export function decodeVaultContents(bytes) {
  const r = new Reader(bytes);
  r.label('HL1/survivor-vault');
  if (r.u8() !== 1) throw new ProtoError('invalid', 'unknown vault version');
  const v = { pin: null, cases: [] };
  if (r.flag()) v.pin = { epoch: r.u64(), hash: r.fixed(32).slice() };
  const n = r.u32();
  if (n > 64) throw new ProtoError('invalid', 'too many cases');
  for (let i = 0; i < n; ++i) {
    const c = { caseId: r.fixed(16).slice(), identityPrivate: r.fixed(32).slice(), queue: r.lpString(64) };
    c.claimedBy = r.flag() ? r.fixed(32).slice() : null;
    c.receivedSeq = r.u64();
    const s = r.u32();
    if (s > 64) throw new ProtoError('invalid', 'too many sessions');
    c.sessions = [];
    for (let j = 0; j < s; ++j) c.sessions.push({ certificateHash: r.fixed(32).slice(), state: r.lp(65536).slice() });
    c.transcript = decodeTranscript(r);
    v.cases.push(c);
  }
  r.finish();
  return v;
}
