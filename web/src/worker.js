// The survivor's client, in a Web Worker: libsodium, Argon2id, the WebSocket
// and every key live here, never in the page's thread, so the page never
// freezes and the page's own code holds no secret but what it shows.
//
// Page -> worker: {t:'init', orgRoot, wsUrl} | {t:'prepare'} | {t:'start', envelope, text}
//   | {t:'resume', codename} | {t:'history'} | {t:'send', text} | {t:'delete'} | {t:'wipe'}
// Worker -> page: {t:'ready'} | {t:'progress', stage} | {t:'codename', codename}
//   | {t:'opened'} | {t:'history', items, closed, claimed} | {t:'message', item}
//   | {t:'status', position, band} | {t:'claimed'} | {t:'closed', reason} | {t:'deleted'}
//   | {t:'sent', item} | {t:'error', code, where} | {t:'socket', open}
import { ready } from './proto/sodium.js';
import { toB64, fromB64, fromHex, fromUtf8, equal, ProtoError } from './proto/bytes.js';
import { DhKey } from './proto/primitives.js';
import * as trust from './proto/trust.js';
import { x3dhInitiate } from './proto/x3dh.js';
import { Ratchet } from './proto/ratchet.js';
import * as vault from './proto/vault.js';
import { proveForRoute, POW_RETRY_CODES } from './proto/pow.js';
import WORDS from 'hearth:wordlist';

const post = (m) => self.postMessage(m);
const nowSeconds = () => Math.floor(Date.now() / 1000);
const minuteNow = () => Math.floor(Date.now() / 60000) * 60;

let cfg = null; // {orgRoot: Uint8Array, wsUrl}
let sodiumReady = null;
let st = fresh();

function fresh() {
  return {
    ws: null, nextId: 1, pending: new Map(), codename: null, keys: null, keysPromise: null,
    vault: null, version: 0, caseIdx: -1, ratchets: new Map(), closed: false, writing: Promise.resolve(),
    reconnecting: false, openSent: false,
  };
}

// A reply not back in time: the connection is treated as dead (a phone that
// changed networks can leave a socket open that never answers). route and
// open_case carry the most bytes, so they get longer on a slow link.
const SLOW_OPS = new Set(['route', 'open_case', 'vault_put', 'send', 'handoff_accept']);
function timeoutFor(op) {
  const base = cfg && cfg.callTimeoutMs > 0 ? cfg.callTimeoutMs : 20000;
  return SLOW_OPS.has(op) ? base * 3 : base;
}

function dropSocket() {
  // Handled now, not when the close handshake ends (a dead link never ends it):
  // pending calls fail with 'network', a logged-in client reconnects by itself.
  const ws = st.ws;
  if (ws === null) return;
  try { ws.close(); } catch { /* closing */ }
  ws.onclose({ code: 1006 });
}

// ---------------------------------------------------------------- socket
function connect() {
  if (st.ws !== null) return st.wsOpen;
  const ws = new WebSocket(cfg.wsUrl);
  st.ws = ws;
  st.wsOpen = new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new ProtoError('network', 'cannot connect in time')); if (st.ws === ws) dropSocket(); }, timeoutFor('connect'));
    ws.onopen = () => { clearTimeout(timer); post({ t: 'socket', open: true }); resolve(); };
    ws.onerror = () => { clearTimeout(timer); reject(new ProtoError('network', 'cannot connect')); };
  });
  ws.onclose = (ev) => {
    if (st.ws !== ws) return;
    st.ws = null;
    for (const p of st.pending.values()) p.reject(new ProtoError('network', 'connection closed'));
    st.pending.clear();
    // 4001: a newer login of this vault (another tab or device) took its place.
    // Reconnecting by itself would push that one out in turn (docs/protocol.md).
    const replaced = ev.code === 4001;
    post({ t: 'socket', open: false, replaced });
    // A phone's connection drops: once logged in, log in again by itself.
    if (!replaced && st.keys !== null && st.vault !== null && st.version > 0 && !st.reconnecting) scheduleReconnect(st);
  };
  ws.onmessage = (ev) => onFrame(ev.data);
  return st.wsOpen;
}

function call(op, fields) {
  const id = st.nextId++;
  const frame = JSON.stringify({ v: 1, op, id, ...fields });
  return new Promise((resolve, reject) => {
    if (st.ws === null || st.ws.readyState !== WebSocket.OPEN) {
      reject(new ProtoError('network', 'not connected'));
      return;
    }
    const ws = st.ws;
    const timer = setTimeout(() => {
      if (!st.pending.has(id)) return;
      st.pending.delete(id);
      reject(new ProtoError('network', 'no reply in time'));
      if (st.ws === ws) dropSocket();
    }, timeoutFor(op));
    st.pending.set(id, {
      resolve: (v) => { clearTimeout(timer); resolve(v); },
      reject: (e) => { clearTimeout(timer); reject(e); },
    });
    ws.send(frame);
  });
}

function onFrame(text) {
  let f;
  try { f = JSON.parse(text); } catch { return; }
  if (f === null || typeof f !== 'object' || f.v !== 1) return;
  if ('re' in f) {
    const p = st.pending.get(f.re);
    if (!p) return;
    st.pending.delete(f.re);
    if (f.error) p.reject(new ProtoError(String(f.error.code), String(f.error.message)));
    else p.resolve(f);
    return;
  }
  if (typeof f.ev === 'string') {
    // Events are handled one at a time, in order: each may write the vault.
    st.writing = st.writing.then(() => onEvent(f)).catch((e) => report(e, 'event'));
  }
}

// ---------------------------------------------------------------- vault
function currentCase() { return st.vault && st.caseIdx >= 0 ? st.vault.cases[st.caseIdx] : null; }

function sealedVault(nextVersion) {
  // Keep the blob within one frame: drop the oldest transcript entries first.
  const v = st.vault;
  for (const c of v.cases) {
    c.sessions = c.sessions.map((s) => ({ certificateHash: s.certificateHash, state: st.ratchets.get(hexKey(c, s.certificateHash))?.serialize() ?? s.state }));
  }
  let contents = vault.encodeVaultContents(v);
  while (contents.length > 150 * 1024) {
    const big = v.cases.reduce((a, c) => (c.transcript.length > (a?.transcript.length ?? -1) ? c : a), null);
    if (!big || big.transcript.length === 0) break;
    big.transcript.shift();
    contents = vault.encodeVaultContents(v);
  }
  return toB64(vault.sealVault(st.keys, nextVersion, contents));
}
const hexKey = (c, h) => toB64(c.caseId) + '/' + toB64(h);

async function putVault() {
  const blob = sealedVault(st.version + 1);
  const r = await call('vault_put', { version: st.version, blob });
  st.version = r.version;
}

function loadRatchets() {
  st.ratchets.clear();
  for (const c of st.vault.cases) {
    for (const s of c.sessions) st.ratchets.set(hexKey(c, s.certificateHash), Ratchet.deserialize(s.state));
  }
}

async function reloadVault() {
  const r = await call('vault_get', {});
  st.version = r.version;
  st.vault = vault.decodeVaultContents(vault.openVault(st.keys, fromB64(r.blob)).contents);
  loadRatchets();
}

function itemOf(e) {
  return {
    author: e.author === 1 ? 'me' : 'them', minute: e.minute,
    text: e.kind === vault.KIND_TEXT ? fromUtf8(e.payload) : null,
  };
}

// ---------------------------------------------------------------- key derivation
function deriveKeys(codename) {
  post({ t: 'progress', stage: 'kdf' });
  // Argon2id (64 MiB) blocks this worker for about a second; the page stays live.
  return vault.deriveVaultKeys(codename, cfg.orgRoot);
}

// Draw the codename and derive its keys while the survivor is still writing.
function prepare() {
  if (st.keysPromise !== null) return st.keysPromise;
  const owner = st;
  st.keysPromise = sodiumReady.then(() => {
    st.codename = vault.drawCodename();
    st.keys = deriveKeys(st.codename);
    post({ t: 'progress', stage: 'done' });
    return st.keys;
  });
  // A failed derivation (out of memory on an old phone) can be tried again.
  st.keysPromise.catch(() => { if (st === owner) { st.keysPromise = null; st.codename = null; st.keys = null; } });
  return st.keysPromise;
}

// ---------------------------------------------------------------- first contact
// Once open_case has been sent, its reply can be lost after the server committed
// it (the socket drops, or never answers). The codename's keys are already
// derived, so: reconnect and vault_login. A vault holding the case means it
// opened: carry on as if the reply had come. auth_failed means no vault was made
// (login_id is free): the route died with its connection, so route and
// open_case again on the new connection, with the same codename.
async function start(envelope, text) {
  await prepare();
  for (let attempt = 0; ; ++attempt) {
    try {
      if (st.openSent && await recoverOpened()) return;
      await firstContact(envelope, text);
      return;
    } catch (e) {
      if (!st.openSent || !['network', 'conflict'].includes(e.code) || attempt >= 3) throw e;
      dropSocket();
      post({ t: 'progress', stage: 'retry' });
      await new Promise((r) => setTimeout(r, 1000 * 2 ** attempt));
    }
  }
}

// After a lost open_case reply: true if the vault exists with the case (shown
// as opened), false if nothing was stored.
async function recoverOpened() {
  await connect();
  const ch = await call('challenge', {});
  let r;
  try {
    r = await call('vault_login', { login_id: toB64(st.keys.loginId), signature: toB64(vault.signLogin(st.keys, fromB64(ch.challenge))) });
  } catch (e) {
    if (e.code === 'auth_failed') return false;
    throw e;
  }
  st.version = r.version;
  st.vault = vault.decodeVaultContents(vault.openVault(st.keys, fromB64(r.blob)).contents);
  loadRatchets();
  st.caseIdx = st.vault.cases.length - 1;
  const c = currentCase();
  const info = c && r.cases.find((x) => x.case === toB64(c.caseId));
  if (!info) throw new ProtoError('no_case', 'the vault has no open case');
  st.closed = info.closed;
  st.openSent = false;
  post({ t: 'codename', codename: st.codename });
  post({ t: 'opened', item: itemOf(c.transcript[0]) });
  if (info.claimed_by && c.claimedBy === null) await onClaimed(fromB64(info.claimed_by));
  return true;
}

async function firstContact(envelope, text) {
  await connect();
  const route = await routeWithProof(envelope);
  const now = nowSeconds();
  const verified = trust.verifyRoster(cfg.orgRoot, trust.decodeRoster(fromB64(route.roster)), now);
  const caseId = fromB64(route.case);
  const identity = DhKey.generate();
  const plaintext = vault.encodeText(text);
  const minute = minuteNow();
  const sessions = [];
  const intake = [];
  for (const b of route.bundles) {
    let bundle;
    try {
      bundle = {
        certificate: trust.decodeCert(fromB64(b.certificate)),
        signedPrekey: trust.decodeSpk(fromB64(b.signed_prekey)),
        oneTimePrekey: b.one_time_prekey ? trust.decodeOpk(fromB64(b.one_time_prekey)) : null,
      };
      const init = x3dhInitiate(verified, bundle, route.queue, identity, caseId, now);
      const ratchet = Ratchet.initInitiator(init.sharedKey, init.associatedData, init.responderRatchetKey);
      const message = ratchet.encrypt(plaintext);
      intake.push({ certificate_hash: toB64(bundle.certificate.hash), body: toB64(vault.encodeIntakeBody(init.header, message)) });
      sessions.push({ certificateHash: bundle.certificate.hash, ratchet });
    } catch {
      // An unverified bundle gets no intake copy.
    }
  }
  if (intake.length === 0) throw new ProtoError('no_verified', 'no responder could be verified');
  const c = {
    caseId, identityPrivate: identity.privateKey, queue: route.queue, claimedBy: null, receivedSeq: 0,
    sessions: sessions.map((s) => ({ certificateHash: s.certificateHash, state: s.ratchet.serialize() })),
    transcript: [{ author: 1, minute, kind: vault.KIND_TEXT, payload: plaintext.slice(1) }],
  };
  st.vault = { pin: { epoch: verified.roster.contents.epoch, hash: verified.hash }, cases: [c] };
  st.caseIdx = 0;
  st.ratchets.clear();
  for (const s of sessions) st.ratchets.set(hexKey(c, s.certificateHash), s.ratchet);
  const blob = sealedVault(1);
  post({ t: 'progress', stage: 'open' });
  const ch = await call('challenge', {});
  const signature = vault.signOpenCase(st.keys, fromB64(ch.challenge), caseId);
  st.openSent = true;
  const r = await call('open_case', {
    case: route.case,
    vault: { login_id: toB64(st.keys.loginId), login_key: toB64(st.keys.auth.publicKey), signature: toB64(signature), blob },
    intake,
  });
  st.version = r.vault_version;
  st.openSent = false;
  post({ t: 'codename', codename: st.codename });
  post({ t: 'opened', item: itemOf(c.transcript[0]) });
}

// pow_challenge, solve, route; a stale or spent challenge is asked for again (three tries).
async function routeWithProof(envelope) {
  for (let attempt = 0; ; ++attempt) {
    post({ t: 'progress', stage: 'pow' });
    const pow = await proveForRoute(call, envelope);
    post({ t: 'progress', stage: 'route' });
    try {
      return await call('route', { envelope, pow });
    } catch (e) {
      if (!POW_RETRY_CODES.includes(e.code) || attempt >= 2) throw e;
    }
  }
}

// ---------------------------------------------------------------- resume
async function resume(typed) {
  let codename;
  try {
    codename = vault.parseCodename(typed);
  } catch (e) {
    post({ t: 'error', code: 'codename', position: e.position ?? 0, words: e.words ?? 7, where: 'resume' });
    return;
  }
  await sodiumReady;
  const keysP = Promise.resolve().then(() => deriveKeys(codename));
  await connect();
  const keys = await keysP;
  const ch = await call('challenge', {});
  let r;
  try {
    r = await call('vault_login', { login_id: toB64(keys.loginId), signature: toB64(vault.signLogin(keys, fromB64(ch.challenge))) });
  } catch (e) {
    post({ t: 'error', code: e.code, where: 'resume' });
    return;
  }
  st.keys = keys;
  st.codename = codename;
  st.version = r.version;
  st.vault = vault.decodeVaultContents(vault.openVault(keys, fromB64(r.blob)).contents);
  loadRatchets();
  // The case this page shows: the newest the server still lists.
  const listed = new Map(r.cases.map((c) => [c.case, c]));
  st.caseIdx = -1;
  st.vault.cases.forEach((c, i) => { if (listed.has(toB64(c.caseId))) st.caseIdx = i; });
  const c = currentCase();
  if (c === null) {
    post({ t: 'error', code: 'no_case', where: 'resume' });
    return;
  }
  const info = listed.get(toB64(c.caseId));
  st.closed = info.closed;
  if (c.claimedBy !== null && !info.claimed_by) {
    // A finished handoff whose second vault write was lost (client-formats.md).
    c.sessions = c.sessions.filter((s) => !equal(s.certificateHash, c.claimedBy));
    st.ratchets.delete(hexKey(c, c.claimedBy));
    c.claimedBy = null;
    c.queue = info.queue;
    await putVault();
  }
  if (info.claimed_by && c.claimedBy === null) await onClaimed(fromB64(info.claimed_by));
  post({ t: 'resumed' });
  if (info.handoff_queue && !info.closed) post({ t: 'handoff', queue: info.handoff_queue });
}

function historyMessage() {
  const c = currentCase();
  return { t: 'history', items: c ? c.transcript.map(itemOf) : [], closed: st.closed, claimed: !!(c && c.claimedBy) };
}

// ---------------------------------------------------------------- events
async function onEvent(f) {
  const c = currentCase();
  if (c === null || typeof f.case !== 'string' || f.case !== toB64(c.caseId)) return;
  switch (f.ev) {
    case 'queue_status':
      post({ t: 'status', position: f.position, band: f.wait_band });
      break;
    case 'case_claimed':
      await onClaimed(fromB64(f.claimed_by));
      break;
    case 'envelope':
      if (f.kind === 'message') await onEnvelope(c, f);
      break;
    case 'case_closed':
      st.closed = true;
      post({ t: 'closed', reason: f.reason });
      break;
    case 'handoff_proposed':
      post({ t: 'handoff', queue: f.queue });
      break;
    default:
      break;
  }
}

async function onClaimed(claimedBy) {
  const c = currentCase();
  if (!c.sessions.some((s) => equal(s.certificateHash, claimedBy))) return;
  c.claimedBy = claimedBy;
  c.sessions = c.sessions.filter((s) => equal(s.certificateHash, claimedBy));
  for (const k of [...st.ratchets.keys()]) if (k !== hexKey(c, claimedBy) && k.startsWith(toB64(c.caseId))) st.ratchets.delete(k);
  await putVault().catch(async (e) => { if (e.code === 'conflict') await reloadVault(); else throw e; });
  post({ t: 'claimed' });
}

async function onEnvelope(c, f) {
  const seq = f.seq;
  if (!Number.isInteger(seq) || seq < 1) return;
  if (seq <= c.receivedSeq) {
    await call('ack', { case: f.case, seq });
    return;
  }
  const body = fromB64(f.body);
  let plain = null;
  for (const s of c.sessions) {
    if (c.claimedBy !== null && !equal(s.certificateHash, c.claimedBy)) continue;
    const r = st.ratchets.get(hexKey(c, s.certificateHash));
    try {
      plain = r.decrypt(body);
      break;
    } catch {
      // not this session
    }
  }
  if (plain === null) {
    // Can never decrypt: acknowledged so it is not pushed forever.
    await call('ack', { case: f.case, seq });
    return;
  }
  const p = vault.decodePlaintext(plain);
  const entry = { author: 2, minute: Number.isInteger(f.sent_minute) ? f.sent_minute : minuteNow(), kind: p.kind, payload: p.payload };
  c.transcript.push(entry);
  vault.trimTranscript(c.transcript);
  c.receivedSeq = seq;
  try {
    await putVault();
  } catch (e) {
    if (e.code === 'conflict') {
      await reloadVault(); // the envelope stays unacknowledged and comes back at the next login
      return;
    }
    throw e;
  }
  await call('ack', { case: f.case, seq });
  post({ t: 'message', item: itemOf(entry) });
}

// ---------------------------------------------------------------- send / delete
async function send(text) {
  const c = currentCase();
  if (c === null || c.claimedBy === null) throw new ProtoError('not_claimed', 'nobody has answered yet');
  const plaintext = vault.encodeText(text);
  const r = st.ratchets.get(hexKey(c, c.claimedBy));
  const before = r.serialize();
  const body = toB64(r.encrypt(plaintext));
  const entry = { author: 1, minute: minuteNow(), kind: vault.KIND_TEXT, payload: plaintext.slice(1) };
  c.transcript.push(entry);
  vault.trimTranscript(c.transcript);
  try {
    const reply = await call('send', { case: toB64(c.caseId), body, vault: { version: st.version, blob: sealedVault(st.version + 1) } });
    st.version = reply.vault_version;
  } catch (e) {
    c.transcript.pop();
    st.ratchets.set(hexKey(c, c.claimedBy), Ratchet.deserialize(before));
    if (e.code === 'conflict') await reloadVault();
    throw e;
  }
  post({ t: 'sent', item: itemOf(entry) });
}

async function deleteCase() {
  const c = currentCase();
  if (c === null) return;
  await call('delete_case', { case: toB64(c.caseId) });
  st.vault.cases.splice(st.caseIdx, 1);
  st.caseIdx = -1;
  if (st.vault.cases.length > 0) await putVault().catch(() => {});
  post({ t: 'deleted' });
}

// ---------------------------------------------------------------- handoff
// share: 'new-only' | 'history' (a summary needs a text box the page does not have yet), or
// null to decline. client-formats.md "Handoff plaintext" and "Survivor vault contents".
async function handoff(share) {
  const c = currentCase();
  if (c === null) return;
  const caseB64 = toB64(c.caseId);
  if (share === null) {
    await call('handoff_decline', { case: caseB64 });
    post({ t: 'handoff_done', moved: false });
    return;
  }
  const offer = await call('handoff_offer', { case: caseB64 });
  const now = nowSeconds();
  const verified = trust.verifyRoster(cfg.orgRoot, trust.decodeRoster(fromB64(offer.roster)), now, st.vault.pin);
  const identity = new DhKey(c.identityPrivate);
  const bundles = [];
  for (const b of offer.bundles) {
    try {
      bundles.push({
        certificate: trust.decodeCert(fromB64(b.certificate)),
        signedPrekey: trust.decodeSpk(fromB64(b.signed_prekey)),
        oneTimePrekey: b.one_time_prekey ? trust.decodeOpk(fromB64(b.one_time_prekey)) : null,
      });
    } catch { /* an unverifiable bundle gets no copy */ }
  }
  // Every copy must fit in one frame beside the others: bound the plaintext.
  const limit = Math.min(65535, Math.floor(150000 / Math.max(1, bundles.length)) - 400);
  let plaintext;
  if (share === 'new-only') {
    plaintext = Uint8Array.of(vault.KIND_HANDOFF, 1);
  } else {
    const entries = c.transcript.slice();
    for (;;) {
      plaintext = concatBytes(Uint8Array.of(vault.KIND_HANDOFF, 3), vault.encodeTranscriptBytes(entries));
      if (plaintext.length <= limit || entries.length === 0) break;
      entries.shift();
    }
  }
  const fresh = [];
  const intake = [];
  for (const bundle of bundles) {
    try {
      const init = x3dhInitiate(verified, bundle, offer.queue, identity, c.caseId, now);
      const ratchet = Ratchet.initInitiator(init.sharedKey, init.associatedData, init.responderRatchetKey);
      const message = ratchet.encrypt(plaintext);
      intake.push({ certificate_hash: toB64(bundle.certificate.hash), body: toB64(vault.encodeIntakeBody(init.header, message)) });
      fresh.push({ certificateHash: bundle.certificate.hash, ratchet });
    } catch { /* not verified: no copy */ }
  }
  if (intake.length === 0) throw new ProtoError('no_verified', 'no responder of the new team could be verified');
  // First write: the new team's sessions beside the current responder's.
  const keep = c.sessions.filter((s) => c.claimedBy !== null && equal(s.certificateHash, c.claimedBy));
  for (const k of [...st.ratchets.keys()]) {
    if (k.startsWith(`${caseB64}/`) && !keep.some((s) => k === hexKey(c, s.certificateHash))) st.ratchets.delete(k);
  }
  c.sessions = keep.concat(fresh.map((f) => ({ certificateHash: f.certificateHash, state: f.ratchet.serialize() })));
  for (const f of fresh) st.ratchets.set(hexKey(c, f.certificateHash), f.ratchet);
  st.vault.pin = { epoch: verified.roster.contents.epoch, hash: verified.hash };
  await putVault();
  await call('handoff_accept', { case: caseB64, share, intake });
  // Second write: the old responder's session goes, the case waits in the new queue.
  if (c.claimedBy !== null) {
    st.ratchets.delete(hexKey(c, c.claimedBy));
    c.sessions = c.sessions.filter((s) => !equal(s.certificateHash, c.claimedBy));
  }
  c.claimedBy = null;
  c.queue = offer.queue;
  await putVault().catch(() => { /* finished at the next login (resume) */ });
  post({ t: 'handoff_done', moved: true });
}

function concatBytes(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// ---------------------------------------------------------------- reconnect
// Backs off 1, 2, 4 … 30 s. The vault is read again from the server (a send whose
// reply was lost may have committed), then the page gets the conversation again.
function scheduleReconnect(owner, attempt = 0) {
  owner.reconnecting = true;
  const delay = Math.min(30000, 1000 * 2 ** attempt) * (0.75 + Math.random() / 2);
  setTimeout(() => {
    if (st !== owner || st.ws !== null) return; // wiped, or already back
    st.writing = st.writing.then(() => relogin()).then(() => {
      owner.reconnecting = false;
      if (st === owner) post({ ...historyMessage(), t: 'refreshed' });
    }).catch((e) => {
      if (st !== owner) return;
      if (e.code === 'auth_failed') { // the vault is gone (deleted from another device)
        owner.reconnecting = false;
        post({ t: 'closed', reason: 'deleted' });
        return;
      }
      if (st.ws !== null) { try { st.ws.close(); } catch { /* closing */ } st.ws = null; }
      scheduleReconnect(owner, attempt + 1);
    });
  }, delay);
}

async function relogin() {
  await connect();
  const ch = await call('challenge', {});
  const r = await call('vault_login', { login_id: toB64(st.keys.loginId), signature: toB64(vault.signLogin(st.keys, fromB64(ch.challenge))) });
  const caseId = currentCase() ? toB64(currentCase().caseId) : null;
  st.version = r.version;
  st.vault = vault.decodeVaultContents(vault.openVault(st.keys, fromB64(r.blob)).contents);
  loadRatchets();
  st.caseIdx = st.vault.cases.findIndex((c) => toB64(c.caseId) === caseId);
  const info = r.cases.find((c) => c.case === caseId);
  if (info) {
    st.closed = info.closed;
    if (info.claimed_by && currentCase().claimedBy === null) await onClaimed(fromB64(info.claimed_by));
  }
}

// ---------------------------------------------------------------- wipe
function wipe() {
  if (st.ws !== null) {
    const ws = st.ws;
    st.ws = null;
    try { ws.close(1000); } catch { /* already closed */ }
  }
  for (const k of ['keys']) {
    const v = st[k];
    if (v) for (const b of [v.loginId, v.authSeed, v.vaultKey, v.auth?.secretKey]) b?.fill(0);
  }
  st = fresh();
  post({ t: 'wiped' });
}

function report(e, where) {
  const code = e instanceof ProtoError ? e.code : 'internal';
  post({ t: 'error', code, where });
}

self.onmessage = (ev) => {
  const m = ev.data;
  const run = (where, fn) => st.writing = st.writing.then(fn).catch((e) => report(e, where));
  switch (m.t) {
    case 'init':
      cfg = { orgRoot: /^[0-9a-f]{64}$/.test(m.orgRoot) ? fromHex(m.orgRoot) : new Uint8Array(32), wsUrl: m.wsUrl, callTimeoutMs: Number(m.callTimeoutMs) || 0 };
      sodiumReady = ready().then(() => { vault.setWordlist(WORDS); post({ t: 'ready' }); });
      break;
    case 'prepare': prepare().catch((e) => report(e, 'prepare')); break;
    case 'start': run('start', () => start(m.envelope, m.text)); break;
    case 'resume': run('resume', () => resume(m.codename)); break;
    case 'history': run('history', async () => post(historyMessage())); break;
    case 'send': run('send', () => send(m.text)); break;
    case 'delete': run('delete', () => deleteCase()); break;
    case 'handoff': run('handoff', () => handoff(m.share)); break;
    case 'wipe': wipe(); break;
    default: break;
  }
};
