// Signal's Double Ratchet as docs/crypto.md "Double Ratchet" and crypto/ratchet.cpp:
// same KDFs, header, padding, limits and state serialization, so a state
// written here opens in the C++ client and the other way round.
import { concat, lp, u8, u32, u64, Reader, equal, ProtoError } from './bytes.js';
import { DhKey, hkdf, hmacSha256, aeadSeal, aeadOpen, padToBucket, unpadBucket } from './primitives.js';

export const MAX_SKIP = 256;
export const MAX_SKIPPED_KEYS = 512;
export const SKIPPED_KEY_LIFETIME_STEPS = 4;
const HEADER_BYTES = 41;
const HEADER_VERSION = 1;
const utf = (s) => new TextEncoder().encode(s);
const RK_INFO = utf('HL1/dr-rk');

function kdfRoot(rootKey, self, remote) {
  const out = hkdf(rootKey, self.agree(remote), RK_INFO, 64);
  return { rootKey: out.slice(0, 32), chainKey: out.slice(32) };
}
function kdfChain(st, which) {
  const ck = st[which];
  if (ck === null) throw new Error('empty chain key');
  const mk = hmacSha256(ck, Uint8Array.of(1));
  st[which] = hmacSha256(ck, Uint8Array.of(2));
  return mk;
}

export class Ratchet {
  constructor() {
    this.ad = null;
    this.self = null;
    this.remote = null;
    this.rootKey = null;
    this.sendChain = null;
    this.recvChain = null;
    this.sendN = 0;
    this.recvN = 0;
    this.prevSend = 0;
    this.dhSteps = 0;
    this.skipped = []; // {dh, n, step, key}, oldest first
  }
  static initInitiator(sharedKey, ad, responderRatchetKey) {
    const r = new Ratchet();
    r.ad = ad;
    r.self = DhKey.generate();
    r.remote = responderRatchetKey;
    const step = kdfRoot(sharedKey, r.self, responderRatchetKey);
    r.rootKey = step.rootKey;
    r.sendChain = step.chainKey;
    return r;
  }
  static initResponder(sharedKey, ad, signedPrekey) {
    const r = new Ratchet();
    r.ad = ad;
    r.self = signedPrekey;
    r.rootKey = sharedKey;
    return r;
  }
  clone() {
    const r = new Ratchet();
    Object.assign(r, this);
    r.skipped = this.skipped.slice();
    return r;
  }
  messageAd(header) { return concat(lp(this.ad), header); }

  encrypt(plaintext) {
    if (this.sendChain === null) throw new ProtoError('invalid', 'cannot send before the first message has arrived');
    if (this.sendN === 0xffffffff) throw new ProtoError('limit_exceeded', 'sending chain exhausted');
    const padded = padToBucket(plaintext);
    const header = concat(u8(HEADER_VERSION), this.self.publicKey, u32(this.prevSend), u32(this.sendN));
    const mk = kdfChain(this, 'sendChain');
    this.sendN += 1;
    return concat(header, aeadSeal(mk, padded, this.messageAd(header)));
  }
  storeSkipped(n, key) {
    if (this.skipped.length === MAX_SKIPPED_KEYS) this.skipped.shift();
    this.skipped.push({ dh: this.remote, n, step: this.dhSteps, key });
  }
  skipUntil(until) {
    if (this.recvChain === null || until <= this.recvN) return;
    if (until - this.recvN > MAX_SKIP) throw new ProtoError('limit_exceeded', 'message is too far ahead of its chain');
    while (this.recvN < until) {
      this.storeSkipped(this.recvN, kdfChain(this, 'recvChain'));
      this.recvN += 1;
    }
  }
  dhStep(remote) {
    this.prevSend = this.sendN;
    this.sendN = 0;
    this.recvN = 0;
    this.remote = remote;
    const receiving = kdfRoot(this.rootKey, this.self, remote);
    this.recvChain = receiving.chainKey;
    this.self = DhKey.generate();
    const sending = kdfRoot(receiving.rootKey, this.self, remote);
    this.rootKey = sending.rootKey;
    this.sendChain = sending.chainKey;
    this.dhSteps += 1;
    while (this.skipped.length > 0 && this.skipped[0].step + SKIPPED_KEY_LIFETIME_STEPS < this.dhSteps) this.skipped.shift();
  }
  // Changes the state only when the message authenticates and unpads.
  decrypt(message) {
    if (message.length < HEADER_BYTES + 40) throw new ProtoError('invalid', 'message too short');
    const headerBytes = message.subarray(0, HEADER_BYTES);
    const sealed = message.subarray(HEADER_BYTES);
    const hr = new Reader(headerBytes);
    if (hr.u8() !== HEADER_VERSION) throw new ProtoError('invalid', 'unknown message version');
    const dh = hr.fixed(32).slice();
    const previous = hr.u32();
    const number = hr.u32();
    const ad = this.messageAd(headerBytes);

    const si = this.skipped.findIndex((s) => equal(s.dh, dh) && s.n === number);
    if (si >= 0) {
      const plaintext = unpadBucket(aeadOpen(this.skipped[si].key, sealed, ad));
      this.skipped.splice(si, 1);
      return plaintext;
    }
    const newChain = this.remote === null || !equal(dh, this.remote);
    if (!newChain && this.recvChain === null) throw new ProtoError('auth_failed', 'no receiving chain for this ratchet key');
    if (!newChain && number < this.recvN) throw new ProtoError('replay', 'message already received');
    if (number === 0xffffffff) throw new ProtoError('limit_exceeded', 'message number out of range');
    const next = this.clone();
    if (newChain) {
      next.skipUntil(previous);
      next.dhStep(dh);
    }
    next.skipUntil(number);
    const mk = kdfChain(next, 'recvChain');
    next.recvN += 1;
    const plaintext = unpadBucket(aeadOpen(mk, sealed, ad));
    Object.assign(this, next);
    return plaintext;
  }

  serialize() {
    const opt = (k) => (k === null ? u8(0) : concat(u8(1), k));
    return concat(lp('HL1/ratchet-state'), u8(1), lp(this.ad), this.self.privateKey,
      this.remote === null ? u8(0) : concat(u8(1), this.remote), this.rootKey,
      opt(this.sendChain), opt(this.recvChain), u32(this.sendN), u32(this.recvN), u32(this.prevSend),
      u64(this.dhSteps), u32(this.skipped.length),
      ...this.skipped.map((s) => concat(s.dh, u32(s.n), u64(s.step), s.key)));
  }
  static deserialize(bytes) {
    const rd = new Reader(bytes);
    rd.label('HL1/ratchet-state');
    if (rd.u8() !== 1) throw new ProtoError('invalid', 'unknown ratchet state version');
    const r = new Ratchet();
    r.ad = rd.lp(1024).slice();
    r.self = new DhKey(rd.fixed(32).slice());
    r.remote = rd.flag() ? rd.fixed(32).slice() : null;
    r.rootKey = rd.fixed(32).slice();
    r.sendChain = rd.flag() ? rd.fixed(32).slice() : null;
    r.recvChain = rd.flag() ? rd.fixed(32).slice() : null;
    r.sendN = rd.u32();
    r.recvN = rd.u32();
    r.prevSend = rd.u32();
    r.dhSteps = rd.u64();
    const n = rd.u32();
    if (n > MAX_SKIPPED_KEYS) throw new ProtoError('invalid', 'too many skipped keys');
    let lastStep = 0;
    for (let i = 0; i < n; ++i) {
      const s = { dh: rd.fixed(32).slice(), n: rd.u32(), step: rd.u64(), key: rd.fixed(32).slice() };
      if (s.step < lastStep || s.step > r.dhSteps || r.skipped.some((o) => equal(o.dh, s.dh) && o.n === s.n))
        throw new ProtoError('invalid', 'inconsistent skipped keys');
      lastStep = s.step;
      r.skipped.push(s);
    }
    rd.finish();
    const consistent = (r.remote !== null || r.recvChain === null) &&
      (r.dhSteps === 0 || (r.recvChain !== null && r.sendChain !== null));
    if (!consistent) throw new ProtoError('invalid', 'inconsistent ratchet state');
    return r;
  }
}
