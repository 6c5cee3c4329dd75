// X3DH, survivor side (initiate) and responder side (respond, for tests and
// the transcript), as docs/crypto.md "X3DH".
import { concat, u8, u32, utf8, Reader, equal, ProtoError } from './bytes.js';
import { DhKey, hkdf } from './primitives.js';
import { verifyBundle } from './trust.js';

const SUITE_X25519 = 1;
const VERSION = 1;

function associatedData(survivorIdentity, responderIdentity, certHash, rosterHash, caseId) {
  return concat(utf8('HL1'), survivorIdentity, responderIdentity, certHash, rosterHash, caseId);
}
function sharedKey(dhs, suite) {
  const ikm = concat(new Uint8Array(32).fill(0xff), ...dhs);
  return hkdf(new Uint8Array(32), ikm, concat(utf8('HL1/x3dh'), u8(suite)), 32);
}

export function encodeX3dhHeader(h) {
  return concat(u8(h.version), u8(h.suite), h.caseId, h.survivorIdentity, h.ephemeral,
    h.certificateHash, u32(h.signedPrekeyId),
    h.oneTimePrekeyId === null ? u8(0) : concat(u8(1), u32(h.oneTimePrekeyId)), h.rosterHash);
}
export function decodeX3dhHeader(bytes) {
  const r = new Reader(bytes);
  const h = { version: r.u8() };
  if (h.version !== VERSION) throw new ProtoError('invalid', 'unknown protocol version');
  h.suite = r.u8();
  if (h.suite !== SUITE_X25519) throw new ProtoError('invalid', 'unknown suite');
  h.caseId = r.fixed(16).slice();
  h.survivorIdentity = r.fixed(32).slice();
  h.ephemeral = r.fixed(32).slice();
  h.certificateHash = r.fixed(32).slice();
  h.signedPrekeyId = r.u32();
  h.oneTimePrekeyId = r.flag() ? r.u32() : null;
  h.rosterHash = r.fixed(32).slice();
  r.finish();
  return h;
}

// bundle = {certificate (decoded), signedPrekey, oneTimePrekey|null}
export function x3dhInitiate(verified, bundle, queue, survivorIdentity, caseId, now) {
  if (caseId.length !== 16) throw new ProtoError('invalid', 'case id must be 16 bytes');
  verifyBundle(verified, bundle, queue, now);
  const responderIdentity = bundle.certificate.dhKey;
  const spk = bundle.signedPrekey.key;
  const ephemeral = DhKey.generate();
  const dhs = [survivorIdentity.agree(spk), ephemeral.agree(responderIdentity), ephemeral.agree(spk)];
  if (bundle.oneTimePrekey) dhs.push(ephemeral.agree(bundle.oneTimePrekey.key));
  const sk = sharedKey(dhs, SUITE_X25519);
  const header = {
    version: VERSION, suite: SUITE_X25519, caseId, survivorIdentity: survivorIdentity.publicKey,
    ephemeral: ephemeral.publicKey, certificateHash: bundle.certificate.hash,
    signedPrekeyId: bundle.signedPrekey.id,
    oneTimePrekeyId: bundle.oneTimePrekey ? bundle.oneTimePrekey.id : null, rosterHash: verified.hash,
  };
  return {
    header, sharedKey: sk,
    associatedData: associatedData(survivorIdentity.publicKey, responderIdentity, header.certificateHash, verified.hash, caseId),
    responderRatchetKey: spk,
  };
}

// keys = {certificate, identity: DhKey, signedPrekey: DhKey, oneTimePrekey: DhKey|null}
export function x3dhRespond(keys, header, knownRosterHashes) {
  if (!equal(keys.certificate.hash, header.certificateHash)) throw new ProtoError('invalid', 'handshake is for another certificate');
  if (!knownRosterHashes.some((h) => equal(h, header.rosterHash))) throw new ProtoError('conflict', 'split view');
  if ((header.oneTimePrekeyId !== null) !== (keys.oneTimePrekey !== null)) throw new ProtoError('invalid', 'one-time prekey mismatch');
  const dhs = [keys.signedPrekey.agree(header.survivorIdentity), keys.identity.agree(header.ephemeral),
    keys.signedPrekey.agree(header.ephemeral)];
  if (keys.oneTimePrekey) dhs.push(keys.oneTimePrekey.agree(header.ephemeral));
  return {
    sharedKey: sharedKey(dhs, header.suite),
    associatedData: associatedData(header.survivorIdentity, keys.identity.publicKey, keys.certificate.hash, header.rosterHash, header.caseId),
  };
}
