// Byte helpers shared by the protocol code: hex, strict base64url (RFC 4648 §5,
// no padding), big-endian integers, lp() framing and an exact reader.
// Every decoder here is exact: a short field, bytes left over or a bad
// character is an error (throws ProtoError), never a partial result.

export class ProtoError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function utf8(s) { return enc.encode(s); }
export function fromUtf8(b) {
  try { return dec.decode(b); } catch { throw new ProtoError('invalid', 'not UTF-8'); }
}

export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function u8(v) { return Uint8Array.of(v & 0xff); }
export function u32(v) {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new ProtoError('invalid', 'u32 out of range');
  return Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}
// u64 from a Number (safe integers) or a BigInt; negative numbers as two's complement.
export function u64(v) {
  let b = BigInt.asUintN(64, BigInt(v));
  const out = new Uint8Array(8);
  for (let i = 7; i >= 0; --i) { out[i] = Number(b & 0xffn); b >>= 8n; }
  return out;
}
export function lp(x) {
  const b = typeof x === 'string' ? utf8(x) : x;
  return concat(u32(b.length), b);
}

export function toHex(b) {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}
export function fromHex(s) {
  if (s.length % 2 !== 0 || /[^0-9a-f]/.test(s)) throw new ProtoError('invalid', 'bad hex');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; ++i) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; ++i) B64_INDEX[B64.charCodeAt(i)] = i;

export function toB64(b) {
  let s = '';
  let i = 0;
  for (; i + 3 <= b.length; i += 3) {
    const n = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    s += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i] << 16;
    s += B64[n >> 18] + B64[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (b[i] << 16) | (b[i + 1] << 8);
    s += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63];
  }
  return s;
}

// Strict: no padding, no whitespace, nothing outside the alphabet, zero trailing bits.
export function fromB64(s) {
  if (typeof s !== 'string' || s.length % 4 === 1) throw new ProtoError('invalid', 'bad base64');
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let bits = 0, acc = 0, o = 0;
  for (let i = 0; i < s.length; ++i) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? B64_INDEX[c] : -1;
    if (v < 0) throw new ProtoError('invalid', 'bad base64');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) throw new ProtoError('invalid', 'bad base64 trailing bits');
  return out;
}

export function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; ++i) d |= a[i] ^ b[i];
  return d === 0;
}

export class Reader {
  constructor(bytes) { this.b = bytes; this.o = 0; }
  need(n) {
    if (this.o + n > this.b.length) throw new ProtoError('invalid', 'truncated');
  }
  fixed(n) { this.need(n); const v = this.b.subarray(this.o, this.o + n); this.o += n; return v; }
  u8() { this.need(1); return this.b[this.o++]; }
  flag() { const v = this.u8(); if (v > 1) throw new ProtoError('invalid', 'bad flag'); return v === 1; }
  u32() {
    this.need(4);
    const b = this.b, o = this.o;
    this.o += 4;
    return ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];
  }
  u64big() {
    this.need(8);
    let v = 0n;
    for (let i = 0; i < 8; ++i) v = (v << 8n) | BigInt(this.b[this.o + i]);
    this.o += 8;
    return v;
  }
  // A u64 as a Number; refuses values past 2^53 (times, versions and counters never get there).
  u64() {
    const v = this.u64big();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtoError('invalid', 'u64 too large');
    return Number(v);
  }
  lp(max) {
    const n = this.u32();
    if (max !== undefined && n > max) throw new ProtoError('invalid', 'field too long');
    return this.fixed(n);
  }
  lpString(max) { return fromUtf8(this.lp(max)); }
  label(text) {
    const got = this.lp(64);
    if (!equal(got, utf8(text))) throw new ProtoError('invalid', 'wrong label');
  }
  rest() { return this.b.length - this.o; }
  finish() { if (this.o !== this.b.length) throw new ProtoError('invalid', 'bytes left over'); }
}
