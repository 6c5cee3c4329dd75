// Application proof-of-work before `route` — the whole of it lives here, so a
// change to the PoW protocol touches only this file.
//
// docs/protocol.md "Proof-of-work" and docs/crypto.md "Application proof-of-work":
//   pow_challenge {urgency} -> {challenge, effort, expires_in}: a challenge for this
//   connection only, used up by the next `route` whatever its outcome;
//   request_hash = BLAKE2b-256(canonical route text);
//   R = LE32(BLAKE2b-256(personal "HL1-pow", challenge ‖ u32 len("route") ‖ "route" ‖ u32 E ‖ N ‖ request_hash))
//   valid iff R × E ≤ 2^32 − 1   (93 bytes hashed per attempt); route carries pow: {challenge, nonce}.
import { concat, lp, u32, utf8, toB64, fromB64 } from './bytes.js';
import { blake2b, blake2bPersonal } from './primitives.js';
import { randomBytes } from './random.js';

export function canonicalRouteText(env) {
  return `needs=${env.needs.join(',')};urgency=${env.urgency};languages=${env.languages.join(',')};` +
    `mode=${env.mode};region=${env.region ?? ''}`;
}
export function powRequestHash(env) { return blake2b(utf8(canonicalRouteText(env)), 32); }

export function meetsEffort(r, effort) { return effort >= 1 && r * effort <= 0xffffffff; }

export function powInput(x, action, effort, requestHash) {
  const prefix = concat(x, lp(action), u32(effort));
  const input = concat(prefix, new Uint8Array(16), requestHash);
  return { input, nonceOffset: prefix.length };
}
export function powHash(input) {
  const d = blake2bPersonal(input, 32, 'HL1-pow');
  return (d[0] | (d[1] << 8) | (d[2] << 16) | (d[3] << 24)) >>> 0;
}

// Solves for the route request; onProgress(hashes) is called now and then.
export function solvePow(x, effort, requestHash, action = 'route', onProgress = null) {
  const { input, nonceOffset } = powInput(x, action, effort, requestHash);
  input.set(randomBytes(16), nonceOffset);
  for (let tries = 1; ; ++tries) {
    if (meetsEffort(powHash(input), effort)) return input.slice(nonceOffset, nonceOffset + 16);
    for (let i = nonceOffset; i < nonceOffset + 16; ++i) {
      input[i] = (input[i] + 1) & 0xff; // a 128-bit little-endian counter
      if (input[i] !== 0) break;
    }
    if (onProgress !== null && tries % 4096 === 0) onProgress(tries);
  }
}

// The client's side of the exchange: ask, solve, and return the `pow` field of `route`.
// call(op, fields) sends a request and resolves with its reply.
export async function proveForRoute(call, envelope, onProgress = null) {
  const ch = await call('pow_challenge', { urgency: envelope.urgency });
  const nonce = toB64(solvePow(fromB64(ch.challenge), ch.effort, powRequestHash(envelope), 'route', onProgress));
  return { challenge: ch.challenge, nonce };
}

// Errors of `route` after which a new challenge and a new proof are the answer.
export const POW_RETRY_CODES = ['pow_stale', 'pow_replayed'];
