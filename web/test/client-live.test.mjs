// The browser's protocol client (src/worker.js, bundled as the page gets it)
// against a real hearthd and a real responder (hearth-console --plain):
// first contact with proof-of-work, route, roster and bundle checks, X3DH,
// open_case; the responder takes the case and replies; the survivor answers;
// a second client resumes with the codename and sees the whole history;
// hearth-survivor (C++) reads the vault the browser wrote, and the browser's
// client reads one hearth-survivor wrote; the case is deleted. Runs in Node (WebSocket from --experimental-websocket); the
// same code runs in the page's Web Worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { build } from 'esbuild';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wordlistPlugin } from '../wordlist.mjs';
import { existsSync } from 'node:fs';
import { haveBinaries, startHearth, startResponder, until, buildDir, bin, runSurvivor } from './support/hearth.mjs';

const here = dirname(fileURLToPath(import.meta.url));

// The worker exactly as the page gets it (an IIFE bundle), each client run with
// its own `self`, as each Web Worker has.
async function bundleWorker() {
  const r = await build({
    entryPoints: [join(here, '..', 'src', 'worker.js')], bundle: true, format: 'iife', platform: 'browser',
    write: false, plugins: [wordlistPlugin()], logLevel: 'warning', external: ['fs', 'path', 'crypto', 'url', 'worker_threads'],
  });
  return r.outputFiles[0].text;
}

async function client(code, hearth) {
  const events = [];
  const handler = { postMessage: (m) => events.push(m) };
  const traffic = { sent: 0, received: 0, frames: 0 };
  // The real WebSocket, counting the text it carries (the byte figures of docs/web.md).
  class CountingWebSocket extends WebSocket {
    constructor(url) {
      super(url);
      this.addEventListener('message', (e) => { traffic.received += Buffer.byteLength(e.data); traffic.frames += 1; });
    }
    send(data) { traffic.sent += Buffer.byteLength(data); traffic.frames += 1; super.send(data); }
  }
  // eslint-disable-next-line no-new-func
  new Function('self', 'WebSocket', code)(handler, CountingWebSocket);
  const c = {
    traffic,
    events,
    send(m) { handler.onmessage({ data: m }); },
    waitFor(pred, what, ms = 60000) { return until(() => events.find(pred), ms, what); },
    errors() { return events.filter((e) => e.t === 'error'); },
  };
  c.send({ t: 'init', orgRoot: hearth.orgRoot, wsUrl: hearth.wsUrl });
  await c.waitFor((e) => e.t === 'ready', 'libsodium');
  return c;
}

test('survivor client against a real hearthd and hearth-console', { skip: !haveBinaries() && `no Hearth binaries in ${buildDir}`, timeout: 180000 }, async (t) => {
  if (typeof WebSocket === 'undefined') throw new Error('run with node --experimental-websocket (npm test does)');
  const file = await bundleWorker();
  const hearth = await startHearth();
  let responder = null;
  try {
    responder = await startResponder(hearth);
    const s = await client(file, hearth);
    s.send({ t: 'prepare' });
    s.send({ t: 'start', envelope: { needs: ['shelter'], urgency: 'today', languages: ['en'], mode: 'live' }, text: 'I need a safe place tonight.' });
    const cn = await s.waitFor((e) => e.t === 'codename' || e.t === 'error', 'the case to open');
    assert.equal(cn.t, 'codename', JSON.stringify(s.errors()));
    assert.equal(cn.codename.split(' ').length, 7);
    t.diagnostic(`first contact over the WebSocket: ${s.traffic.sent} bytes sent, ${s.traffic.received} received, ${s.traffic.frames} frames (one responder)`);
    await s.waitFor((e) => e.t === 'status', 'a place in line');

    await responder.waitFor('waiting');
    responder.send('/next');
    await responder.waitFor('I need a safe place tonight.');
    responder.send('You reached the shelter team.');
    await s.waitFor((e) => e.t === 'claimed', 'the claim');
    const got = await s.waitFor((e) => e.t === 'message', 'the reply');
    assert.equal(got.item.text, 'You reached the shelter team.');
    assert.equal(got.item.author, 'them');

    // hearthd restarts: the client logs in again by itself, and live delivery goes on.
    const before = s.events.length;
    await hearth.restart();
    await until(() => s.events.slice(before).some((e) => e.t === 'refreshed'), 60000, 'the client to log in again').catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(s.events.slice(before))}`); });
    const refreshed = s.events.slice(before).find((e) => e.t === 'refreshed');
    assert.deepEqual(refreshed.items.map((i) => i.text), ['I need a safe place tonight.', 'You reached the shelter team.']);
    await responder.waitFor('Logged in as ana', 60000, responder.output().lastIndexOf('Logged in as ana') + 1);
    s.send({ t: 'send', text: 'Thank you. By bus.' });
    await s.waitFor((e) => e.t === 'sent' || e.t === 'error', 'the send');
    assert.deepEqual(s.errors(), []);
    await responder.waitFor('Thank you. By bus.');
    s.send({ t: 'wipe' });

    // Another device: the codename alone brings the conversation back.
    const r = await client(file, hearth);
    r.send({ t: 'resume', codename: `  ${cn.codename.toUpperCase()} ` });
    const res = await r.waitFor((e) => e.t === 'resumed' || e.t === 'error', 'the login');
    assert.equal(res.t, 'resumed', JSON.stringify(r.errors()));
    r.send({ t: 'history' });
    const h = await r.waitFor((e) => e.t === 'history', 'the history');
    assert.deepEqual(h.items.map((i) => [i.author, i.text]), [
      ['me', 'I need a safe place tonight.'], ['them', 'You reached the shelter team.'], ['me', 'Thank you. By bus.']]);
    assert.equal(h.claimed, true);

    // The C++ client reads the vault the browser's client wrote.
    if (existsSync(bin.survivor)) {
      const cpp = await runSurvivor(hearth, ['--resume'], `${cn.codename}\n/quit\n`);
      for (const t of ['you: I need a safe place tonight.', 'You reached the shelter team.', 'you: Thank you. By bus.']) {
        assert.ok(cpp.out.includes(t), `hearth-survivor shows ${t}: ${cpp.out}`);
      }
    }

    // A wrong word is named by its position.
    const w = await client(file, hearth);
    const words = cn.codename.split(' ');
    words[2] = 'zzzz';
    w.send({ t: 'resume', codename: words.join(' ') });
    const bad = await w.waitFor((e) => e.t === 'error', 'the refusal');
    assert.equal(bad.code, 'codename');
    assert.equal(bad.position, 3);

    r.send({ t: 'delete' });
    await r.waitFor((e) => e.t === 'deleted' || e.t === 'error', 'the delete');
    assert.deepEqual(r.errors(), []);
    await responder.waitFor('deleted');
    r.send({ t: 'wipe' });

    // The vault went with its last case: the codename opens nothing now.
    const gone = await client(file, hearth);
    gone.send({ t: 'resume', codename: cn.codename });
    const g = await gone.waitFor((e) => e.t === 'error' || e.t === 'resumed', 'the refusal');
    assert.equal(g.code, 'auth_failed');
    gone.send({ t: 'wipe' });

    // And the other way: a case the C++ client opened, resumed by the browser's client.
    if (existsSync(bin.survivor)) {
      const made = await runSurvivor(hearth, [], '2\n2\nen\nhello from the terminal\n\n/quit\n');
      const m = /codename is the only way back[^\n]*\n\s*\n\s*([a-z- ]+?)\s*\n/.exec(made.out);
      assert.ok(m, `a codename in: ${made.out}`);
      const js = await client(file, hearth);
      js.send({ t: 'resume', codename: m[1] });
      const ok = await js.waitFor((e) => e.t === 'resumed' || e.t === 'error', 'the login');
      assert.equal(ok.t, 'resumed', JSON.stringify(js.errors()));
      js.send({ t: 'history' });
      const hist = await js.waitFor((e) => e.t === 'history', 'the history');
      assert.deepEqual(hist.items.map((i) => [i.author, i.text]), [['me', 'hello from the terminal']]);
      js.send({ t: 'delete' });
      await js.waitFor((e) => e.t === 'deleted', 'the delete');
      js.send({ t: 'wipe' });
    }
  } finally {
    if (responder) await responder.stop();
    await hearth.stop();
  }
});

test('a handoff to another team, accepted with the conversation', { skip: !haveBinaries() && `no Hearth binaries in ${buildDir}`, timeout: 180000 }, async () => {
  const file = await bundleWorker();
  const hearth = await startHearth({ responders: [{ id: 'bo', queues: ['legal'], languages: ['en'] }] });
  let ana = null;
  let bo = null;
  try {
    ana = await startResponder(hearth, 'ana');
    bo = await startResponder(hearth, 'bo');
    const s = await client(file, hearth);
    s.send({ t: 'start', envelope: { needs: ['shelter'], urgency: 'today', languages: ['en'], mode: 'live' }, text: 'My employer has my passport.' });
    const cn = await s.waitFor((e) => e.t === 'codename' || e.t === 'error', 'the case to open');
    assert.equal(cn.t, 'codename', JSON.stringify(s.errors()));
    await ana.waitFor('waiting');
    ana.send('/next');
    await ana.waitFor('My employer has my passport.');
    ana.send('Legal aid can help with that.');
    await s.waitFor((e) => e.t === 'message', 'ana\'s reply');
    ana.send('/handoff 1 legal');
    const proposal = await s.waitFor((e) => e.t === 'handoff', 'the proposal');
    assert.equal(proposal.queue, 'legal');
    s.send({ t: 'handoff', share: 'history' });
    const done = await s.waitFor((e) => e.t === 'handoff_done' || e.t === 'error', 'the handoff');
    assert.equal(done.t, 'handoff_done', JSON.stringify(s.errors()));
    assert.equal(done.moved, true);
    await ana.waitFor('accepted the handoff');
    await bo.waitFor('waiting');
    bo.send('/next');
    // bo's console shows the shared conversation, then bo writes.
    await bo.waitFor('My employer has my passport.');
    await bo.waitFor('Legal aid can help with that.');
    bo.send('This is the legal team.');
    await s.waitFor((e) => e.t === 'message' && e.item.text === 'This is the legal team.', 'bo\'s message');
    assert.equal(s.events.filter((e) => e.t === 'claimed').length, 2, 'claimed by ana, then by bo');
    s.send({ t: 'send', text: 'Thank you, legal team.' });
    await s.waitFor((e) => e.t === 'sent' || e.t === 'error', 'the send');
    assert.deepEqual(s.errors(), []);
    await bo.waitFor('Thank you, legal team.');
    s.send({ t: 'wipe' });

    const r = await client(file, hearth);
    r.send({ t: 'resume', codename: cn.codename });
    await r.waitFor((e) => e.t === 'resumed' || e.t === 'error', 'the login');
    r.send({ t: 'history' });
    const h = await r.waitFor((e) => e.t === 'history', 'the history');
    assert.deepEqual(h.items.map((i) => i.text), ['My employer has my passport.', 'Legal aid can help with that.',
      'This is the legal team.', 'Thank you, legal team.']);
    r.send({ t: 'delete' });
    await r.waitFor((e) => e.t === 'deleted', 'the delete');
    r.send({ t: 'wipe' });
  } finally {
    if (ana) await ana.stop();
    if (bo) await bo.stop();
    await hearth.stop();
  }
});
