// The primitives of docs/crypto.md: labelled BLAKE2b, HMAC-SHA-256 and HKDF
// (RFC 5869, any key length), X25519 and Ed25519 keys, XChaCha20-Poly1305 with
// a random nonce, ISO/IEC 7816-4 bucket padding.
import { concat, lp, utf8, ProtoError } from './bytes.js';
import { sodium } from './sodium.js';
import { randomBytes } from './random.js';

export const PAD_BUCKETS = [256, 1024, 4096, 16384, 65536];

export function blake2b(message, outLen = 32) {
  return sodium().crypto_generichash(outLen, message, null);
}
// H(label, m) = BLAKE2b-256(lp(label) ‖ m)
export function hashLabelled(label, message, outLen = 32) {
  return blake2b(concat(lp(label), message), outLen);
}
// BLAKE2b with a 16-byte personal (label zero-padded) and a zero salt.
// libsodium.js's own wrapper of this function hashes an empty message (it is
// shaped for key derivation), so the raw WebAssembly export is called here.
export function blake2bPersonal(message, outLen, personal) {
  const L = sodium().libsodium;
  const p = new Uint8Array(16);
  p.set(utf8(personal));
  const size = outLen + message.length + 32;
  const base = L._malloc(size || 1);
  try {
    const out = base, msg = base + outLen, salt = msg + message.length, pers = salt + 16;
    let heap = L.HEAPU8;
    heap.set(message, msg);
    heap.fill(0, salt, salt + 16);
    heap.set(p, pers);
    if (L._crypto_generichash_blake2b_salt_personal(out, outLen, msg, message.length, 0, 0, 0, salt, pers) !== 0)
      throw new Error('blake2b_salt_personal failed');
    heap = L.HEAPU8; // the heap may have grown
    const result = heap.slice(out, out + outLen);
    heap.fill(0, base, base + size);
    return result;
  } finally {
    L._free(base);
  }
}

export function hmacSha256(key, message) {
  const s = sodium();
  let k = key;
  if (k.length > 64) k = s.crypto_hash_sha256(k);
  const block = new Uint8Array(64);
  block.set(k);
  const ipad = block.map((x) => x ^ 0x36);
  const opad = block.map((x) => x ^ 0x5c);
  const inner = s.crypto_hash_sha256(concat(ipad, message));
  return s.crypto_hash_sha256(concat(opad, inner));
}
export function hkdf(salt, ikm, info, outLen) {
  const prk = hmacSha256(salt, ikm);
  const out = new Uint8Array(outLen);
  let t = new Uint8Array(0);
  for (let done = 0, counter = 1; done < outLen; ++counter) {
    t = hmacSha256(prk, concat(t, info, Uint8Array.of(counter)));
    const n = Math.min(32, outLen - done);
    out.set(t.subarray(0, n), done);
    done += n;
  }
  return out;
}

export class SigningKey {
  constructor(seed) {
    this.seed = seed;
    const kp = sodium().crypto_sign_seed_keypair(seed);
    this.publicKey = kp.publicKey;
    this.secretKey = kp.privateKey;
  }
  static generate() { return new SigningKey(randomBytes(32)); }
  sign(message) { return sodium().crypto_sign_detached(message, this.secretKey); }
}
export function verifySignature(publicKey, message, signature) {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    return sodium().crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    return false;
  }
}

export class DhKey {
  constructor(privateKey) {
    this.privateKey = privateKey;
    this.publicKey = sodium().crypto_scalarmult_base(privateKey);
  }
  static generate() { return new DhKey(randomBytes(32)); }
  // Throws on an all-zero result (libsodium's crypto_scalarmult returns -1).
  agree(remote) {
    let out;
    try {
      out = sodium().crypto_scalarmult(this.privateKey, remote);
    } catch {
      throw new ProtoError('auth_failed', 'X25519 gave an all-zero result');
    }
    if (out.every((x) => x === 0)) throw new ProtoError('auth_failed', 'X25519 gave an all-zero result');
    return out;
  }
}

// nonce (24) ‖ XChaCha20-Poly1305(key, plaintext, ad)
export function aeadSeal(key, plaintext, ad) {
  const nonce = randomBytes(24);
  const ct = sodium().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, null, nonce, key);
  return concat(nonce, ct);
}
export function aeadOpen(key, sealed, ad) {
  if (sealed.length < 40) throw new ProtoError('invalid', 'sealed data too short');
  try {
    return sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(
      null, sealed.subarray(24), ad, sealed.subarray(0, 24), key);
  } catch {
    throw new ProtoError('auth_failed', 'decryption failed');
  }
}

// sodium_pad: payload ‖ 0x80 ‖ zeros, to a multiple of `block` (always at least one byte added).
export function padTo(payload, total) {
  const out = new Uint8Array(total);
  out.set(payload);
  out[payload.length] = 0x80;
  return out;
}
// sodium_unpad: the 0x80 marker must sit in the last `block` bytes.
export function unpad(padded, block = padded.length) {
  let i = padded.length - 1;
  const floor = padded.length - block;
  while (i >= floor && i >= 0 && padded[i] === 0) --i;
  if (i < floor || i < 0 || padded[i] !== 0x80) throw new ProtoError('invalid', 'malformed padding');
  return padded.slice(0, i);
}
export function padToBucket(payload) {
  const bucket = PAD_BUCKETS.find((b) => b >= payload.length + 1);
  if (bucket === undefined) throw new ProtoError('limit_exceeded', 'payload larger than the largest bucket');
  return padTo(payload, bucket);
}
export function unpadBucket(padded) {
  if (!PAD_BUCKETS.includes(padded.length)) throw new ProtoError('invalid', 'padded length is not a bucket size');
  return unpad(padded);
}
