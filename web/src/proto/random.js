// Every random draw goes through randomBytes(), so a test can replace the
// source with the same deterministic ChaCha20-IETF keystream the C++ tests use
// (docs/crypto.md "Deterministic transcripts").
import { sodium } from './sodium.js';

let source = null; // null: the system's CSPRNG

export function randomBytes(n) {
  if (source !== null) return source(n);
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}

// libsodium's randombytes_uniform, reproduced as crypto/random.cpp does.
export function randomUniform(upper) {
  if (upper < 2) return 0;
  const min = (0x100000000 - upper) % upper;
  for (;;) {
    const b = randomBytes(4);
    const r = (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
    if (r >= min) return r % upper;
  }
}

// Tests only: the ChaCha20-IETF keystream under key = seed, nonce = 12 zeros,
// counter from 0, read in order. Returns a function that restores the CSPRNG.
export function useDeterministicRandom(seed) {
  const chunk = 1 << 16;
  let stream = new Uint8Array(0);
  let pos = 0;
  let produced = 0;
  const nonce = new Uint8Array(12);
  source = (n) => {
    while (stream.length - pos < n) {
      // Extend the keystream: counter continues at produced / 64.
      const next = sodium().crypto_stream_chacha20_ietf_xor_ic(
        new Uint8Array(chunk), nonce, produced / 64, seed);
      produced += chunk;
      const merged = new Uint8Array(stream.length - pos + chunk);
      merged.set(stream.subarray(pos));
      merged.set(next, stream.length - pos);
      stream = merged;
      pos = 0;
    }
    const out = stream.slice(pos, pos + n);
    pos += n;
    return out;
  };
  return () => { source = null; };
}
