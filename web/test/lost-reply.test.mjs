// Lost and missing replies during first contact, against a real hearthd and a
// real responder (hearth-console --plain). The worker bundle runs with a real
// WebSocket that, on cue, closes the socket when a given reply arrives (the
// reply is lost after the server committed) or swallows it (a dead connection
// that stays open).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { build } from 'esbuild';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wordlistPlugin } from '../wordlist.mjs';
import { haveBinaries, startHearth, startResponder, until, buildDir } from './support/hearth.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ENVELOPE = { needs: ['shelter'], urgency: 'today', languages: ['en'], mode: 'live' };

async function bundleWorker() {
  const r = await build({
    entryPoints: [join(here, '..', 'src', 'worker.js')], bundle: true, format: 'iife', platform: 'browser',
    write: false, plugins: [wordlistPlugin()], logLevel: 'warning', external: ['fs', 'path', 'crypto', 'url', 'worker_threads'],
  });
  return r.outputFiles[0].text;
}

// faults: {op: ['drop' | 'swallow', ...]}, one used per reply to that op.
async function client(code, hearth, faults, callTimeoutMs) {
  const events = [];
  const handler = { postMessage: (m) => events.push(m) };
  class FaultyWebSocket extends WebSocket {
    constructor(url) { super(url); this.ops = new Map(); }
    send(data) { const f = JSON.parse(data); this.ops.set(f.id, f.op); super.send(data); }
    get onmessage() { return super.onmessage; }
    set onmessage(fn) {
      super.onmessage = (e) => {
        const f = JSON.parse(e.data);
        const op = 're' in f ? this.ops.get(f.re) : null;
        const act = op && faults[op] ? faults[op].shift() : undefined;
        if (act === 'drop') { this.close(); return; }
        if (act === 'swallow') return;
        fn(e);
      };
    }
  }
  // eslint-disable-next-line no-new-func
  new Function('self', 'WebSocket', code)(handler, FaultyWebSocket);
  const c = {
    events,
    send(m) { handler.onmessage({ data: m }); },
    waitFor(pred, what, ms = 60000) {
      return until(() => events.find(pred), ms, what).catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(events)}`); });
    },
    errors() { return events.filter((e) => e.t === 'error'); },
  };
  c.send({ t: 'init', orgRoot: hearth.orgRoot, wsUrl: hearth.wsUrl, callTimeoutMs });
  await c.waitFor((e) => e.t === 'ready', 'libsodium');
  return c;
}

test('first contact survives a lost or missing reply', { skip: !haveBinaries() && `no Hearth binaries in ${buildDir}`, timeout: 240000 }, async () => {
  if (typeof WebSocket === 'undefined') throw new Error('run with node --experimental-websocket (npm test does)');
  const file = await bundleWorker();
  const hearth = await startHearth();
  let responder = null;
  try {
    responder = await startResponder(hearth);

    // 1. open_case committed, its reply lost with the socket: the client logs in,
    // finds the case, shows the codename; the case is real and the survivor can write.
    const faults = { open_case: ['drop'] };
    const a = await client(file, hearth, faults, 2000);
    a.send({ t: 'prepare' });
    a.send({ t: 'start', envelope: ENVELOPE, text: 'lost reply, first message' });
    const cn = await a.waitFor((e) => e.t === 'codename' || e.t === 'error', 'the case to open');
    assert.equal(cn.t, 'codename', JSON.stringify(a.errors()));
    assert.ok(a.events.some((e) => e.t === 'opened'));
    await responder.waitFor('waiting');
    responder.send('/next');
    await responder.waitFor('lost reply, first message');
    responder.send('We are here.');
    await a.waitFor((e) => e.t === 'message', 'the reply');
    a.send({ t: 'send', text: 'second message after the lost reply' });
    await a.waitFor((e) => e.t === 'sent' || e.t === 'error', 'the send');
    assert.deepEqual(a.errors(), []);
    await responder.waitFor('second message after the lost reply');

    // A logged-in send whose reply never comes: it fails with 'network' (the page keeps
    // the text), the socket is dropped and the client logs in again by itself.
    faults.send = ['swallow'];
    const before = a.events.length;
    a.send({ t: 'send', text: 'sent into a dead connection' });
    await until(() => a.events.slice(before).some((e) => e.t === 'error'), 30000, 'the send to time out');
    assert.deepEqual(a.events.slice(before).filter((e) => e.t === 'error').map((e) => [e.code, e.where]), [['network', 'send']]);
    await until(() => a.events.slice(before).some((e) => e.t === 'refreshed'), 60000, 'the client to log in again');
    a.send({ t: 'delete' });
    await a.waitFor((e) => e.t === 'deleted', 'the delete');
    a.send({ t: 'wipe' });

    // 2. open_case's reply never comes on a connection that stays open: the call
    // times out, the socket is dropped, and the same recovery shows the codename.
    const b = await client(file, hearth, { open_case: ['swallow'] }, 400);
    b.send({ t: 'prepare' });
    b.send({ t: 'start', envelope: ENVELOPE, text: 'dead connection' });
    const cn2 = await b.waitFor((e) => e.t === 'codename' || e.t === 'error', 'the case to open after a timeout', 30000);
    assert.equal(cn2.t, 'codename', JSON.stringify(b.errors()));
    b.send({ t: 'delete' });
    await b.waitFor((e) => e.t === 'deleted', 'the delete');
    b.send({ t: 'wipe' });

    // 3. route's reply never comes: the call times out with 'network' (the page keeps
    // the text), and Send again opens the case with the same codename.
    const c = await client(file, hearth, { route: ['swallow'] }, 400);
    c.send({ t: 'prepare' });
    c.send({ t: 'start', envelope: ENVELOPE, text: 'route lost' });
    const err = await c.waitFor((e) => e.t === 'error' || e.t === 'codename', 'the route to time out', 30000);
    assert.deepEqual([err.t, err.code, err.where], ['error', 'network', 'start']);
    c.send({ t: 'start', envelope: ENVELOPE, text: 'route lost' });
    await c.waitFor((e) => e.t === 'codename', 'the case to open on the second try', 30000);
    c.send({ t: 'delete' });
    await c.waitFor((e) => e.t === 'deleted', 'the delete');
    c.send({ t: 'wipe' });
  } finally {
    if (responder) await responder.stop();
    await hearth.stop();
  }
});
