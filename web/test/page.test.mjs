// The survivor's page in Chromium (playwright-core driving Debian's chromium,
// headless) at a phone's 360×740, served by a real hearthd (web.root) with a
// real responder (hearth-console --plain):
//   language, safety, triage, first message, codename + practice, place in
//   line; the responder takes the case and replies, the page shows it; the
//   survivor answers; reload and resume by codename shows the history after
//   "is it safe to talk now?"; delete; quick exit (Esc twice, Shift three
//   times, the button) leaves one history entry and no open socket.
// Throughout, every request, cookie, storage write and service worker is
// recorded: any cookie, storage write, service worker or request to another
// origin fails the test. axe-core checks every screen, in English and Arabic.
// SCREENSHOT_DIR=<dir> also saves every screen as <lang>-<screen>.png.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { haveBinaries, startHearth, startResponder, until, buildDir } from './support/hearth.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const CHROMIUM = process.env.HEARTH_CHROMIUM || '/usr/bin/chromium';
const EXIT_URL = 'https://neutral.example/weather';
const shots = process.env.SCREENSHOT_DIR || null;

const skip = !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM}` : !haveBinaries() ? `no Hearth binaries in ${buildDir}` : false;

// Wraps every API that could leave something behind, before any page script runs.
const RECORDER = `(() => {
  const log = [];
  Object.defineProperty(window, '__hearthWrites', { value: log });
  const wrap = (obj, name, label) => {
    const orig = obj && obj[name];
    if (typeof orig !== 'function') return;
    obj[name] = function (...a) { log.push(label); return orig.apply(this, a); };
  };
  wrap(Storage.prototype, 'setItem', 'storage.setItem');
  wrap(window.indexedDB, 'open', 'indexedDB.open');
  if (navigator.serviceWorker) wrap(navigator.serviceWorker, 'register', 'serviceWorker.register');
  if (window.caches) wrap(window.caches, 'open', 'caches.open');
  wrap(history, 'pushState', 'history.pushState');
  const desc = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie');
  Object.defineProperty(document, 'cookie', { get() { return desc.get.call(document); }, set(v) { log.push('document.cookie'); desc.set.call(document, v); } });
})();`;

async function leftBehind(page) {
  return page.evaluate(async () => ({
    writes: window.__hearthWrites.slice(),
    local: localStorage.length,
    session: sessionStorage.length,
    idb: indexedDB.databases ? (await indexedDB.databases()).length : 0,
    sw: navigator.serviceWorker ? (await navigator.serviceWorker.getRegistrations()).length : 0,
    caches: window.caches ? (await caches.keys()).length : 0,
    cookie: document.cookie,
  }));
}

async function axe(page, label) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const v = r.violations.map((x) => `${x.id}: ${x.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(v, [], `axe on ${label}`);
}

async function screen(page, lang, name, checkAxe = true) {
  const sel = `#s-${name}`;
  await page.waitForSelector(`${sel}:not([hidden])`);
  if (checkAxe) await axe(page, `${lang}/${name}`);
  if (checkAxe) {
    // 200 % zoom on this phone is a 180 px wide layout: nothing may need sideways scrolling.
    await page.setViewportSize({ width: 180, height: 370 });
    const [wide, culprit] = await page.evaluate(() => {
      const over = [...document.querySelectorAll('body *')].filter((e) => e.getClientRects().length > 0 && (e.getBoundingClientRect().right > 180.5 || e.scrollWidth > e.clientWidth + 0.5))
        .map((e) => `${e.tagName}.${e.className}#${e.id}:${Math.round(e.getBoundingClientRect().right)}/${e.scrollWidth}>${e.clientWidth}`);
      return [document.documentElement.scrollWidth, over.join(' ')];
    });
    await page.setViewportSize({ width: 360, height: 740 });
    assert.ok(wide <= 180, `${lang}/${name} at 200 % zoom is ${wide} px wide (${culprit})`);
  }
  if (shots) await page.screenshot({ path: join(shots, `${lang}-${name}.png`) });
}

// Whether leaving now would make the browser ask first (the beforeunload guard).
async function guarded(page) {
  return page.evaluate(() => {
    const ev = new Event('beforeunload', { cancelable: true });
    window.dispatchEvent(ev);
    return ev.defaultPrevented;
  });
}

async function openConnections(hearth) {
  const m = /^hearth_connections_open\s+(\d+)/m.exec(await hearth.metrics());
  return m ? Number(m[1]) : -1;
}

test('the survivor page, end to end, at 360x740', { skip, timeout: 300000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'hearth-page-'));
  const webRoot = join(out, 'web');
  execFileSync(process.execPath, [join(here, '..', 'build.mjs'), '--out', webRoot], { stdio: 'pipe' });
  if (shots) mkdirSync(shots, { recursive: true });
  const hearth = await startHearth({
    webRoot,
    beforeStart: ({ orgRoot }) => writeFileSync(join(webRoot, 'config.json'),
      JSON.stringify({ title: 'Weather notes', exit_url: EXIT_URL, org_root: orgRoot })),
  });
  const origin = hearth.url;
  const index = await fetch(`${origin}/`);
  assert.equal(index.status, 200, 'hearthd serves web.root');

  let responder = null;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    responder = await startResponder(hearth);
    const baseline = await until(async () => (await openConnections(hearth)) === 1 && 1, 10000, 'the responder connection');
    assert.equal(baseline, 1);

    const context = await browser.newContext({ viewport: { width: 360, height: 740 }, serviceWorkers: 'allow' });
    await context.addInitScript(RECORDER);
    const requests = [];
    const foreign = [];
    context.on('request', (r) => {
      requests.push(r.url());
      if (new URL(r.url()).origin !== origin && r.url() !== EXIT_URL) foreign.push(r.url());
    });
    // The neutral site is another origin by design: answered here, never fetched.
    await context.route(EXIT_URL, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<title>weather</title>sunny' }));
    context.on('serviceworker', () => foreign.push('service worker registered'));

    for (const lang of ['en', 'ar']) {
      const page = await context.newPage();
      await page.goto(`${origin}/`);
      await screen(page, lang, 'lang');
      await page.click(`button[data-lang="${lang}"]`);
      await screen(page, lang, 'safety');
      assert.equal(await page.getAttribute('html', 'dir'), lang === 'ar' ? 'rtl' : 'ltr');
      assert.equal(await page.title(), 'Weather notes');
      await page.click('#s-safety [data-go="danger"]');
      await screen(page, lang, 'danger');
      await page.click('[data-danger="no"]');
      await screen(page, lang, 'need');
      await page.click('[data-need="shelter"]');
      await screen(page, lang, 'when');
      await page.click('[data-when="today"]');
      await screen(page, lang, 'message');
      const first = `first message in ${lang}`;
      const mark = responder.output().length;
      assert.equal(await guarded(page), false, 'nothing typed: leaving is not guarded');
      await page.fill('#first-message', first);
      assert.equal(await guarded(page), true, 'a typed first message: leaving asks first');
      await page.click('#message-form button[type=submit]');
      await screen(page, lang, 'codename');
      assert.equal(await guarded(page), true, 'the codename shown: leaving asks first');
      const codename = (await page.textContent('#codename-text')).trim();
      assert.equal(codename.split(' ').length, 7);
      await page.click('#codename-done');
      await screen(page, lang, 'practice');
      const words = codename.split(' ');
      await page.fill('#practice-input', [...words.slice(0, 6), 'wrong'].join(' '));
      await page.click('#practice-form button[type=submit]');
      await page.waitForFunction(() => document.querySelector('#practice-result').textContent.includes('7'));
      await page.fill('#practice-input', codename.toUpperCase());
      await page.click('#practice-form button[type=submit]');
      await screen(page, lang, 'chat');
      assert.equal(await guarded(page), false, 'after the practice step: not guarded');
      await page.waitForFunction(() => document.querySelector('#chat-status').textContent.trim() !== '');

      // The responder takes the case and replies; the page shows it live.
      await responder.waitFor('waiting', 30000, mark);
      responder.send('/next');
      await responder.waitFor(first, 30000, mark);
      const reply = `reply to ${lang}`;
      responder.send(reply);
      await page.waitForFunction((t) => document.querySelector('#chat-log').textContent.includes(t), reply);
      // Each message is bidi-isolated: an override inside cannot reorder the page around it.
      const bubbles = await page.$$eval('#chat-log li', (lis) => lis.map((li) => {
        const t = li.querySelector('.text');
        return t ? `${t.dir}/${getComputedStyle(t).unicodeBidi}` : 'none';
      }));
      assert.ok(bubbles.length >= 2 && bubbles.every((b) => b === 'auto/isolate'), `bubbles: ${bubbles}`);
      await page.fill('#reply', `thanks in ${lang}`);
      await page.click('#reply-form button[type=submit]');
      await page.waitForFunction((t) => document.querySelector('#chat-log').textContent.includes(t), `thanks in ${lang}`);
      await responder.waitFor(`thanks in ${lang}`, 30000, mark);
      await screen(page, lang, 'chat');

      // Reload: nothing survives in the page; the codename brings the history back.
      await page.reload();
      await screen(page, lang, 'lang', false);
      await page.click(`button[data-lang="${lang}"]`);
      await page.click('#s-safety [data-go="resume"]');
      await screen(page, lang, 'resume');
      // As a phone keyboard types it: ". " after a double space, a capital, a comma.
      await page.fill('#resume-input', ` ${codename.split(' ').map((w, i) => (i === 0 ? w[0].toUpperCase() + w.slice(1) : w)).join(lang === 'en' ? '.  ' : ', ')}. `);
      await page.click('#resume-form button[type=submit]');
      await screen(page, lang, 'safe');
      await page.click('#safe-yes');
      await screen(page, lang, 'chat');
      const log = await page.textContent('#chat-log');
      for (const t of [first, reply, `thanks in ${lang}`]) assert.ok(log.includes(t), `history has ${t}`);

      await page.click('#s-chat [data-go="confirm-delete"]');
      await screen(page, lang, 'confirm-delete');
      await page.click('#delete-yes');
      await screen(page, lang, 'deleted');
      await responder.waitFor('deleted', 30000, mark);

      const left = await leftBehind(page);
      assert.deepEqual(left, { writes: [], local: 0, session: 0, idb: 0, sw: 0, caches: 0, cookie: '' });
      await page.close();
      await until(async () => (await openConnections(hearth)) === 1, 15000, 'the page socket to close');
    }

    // Quick exit, three ways, each from a page with a live socket.
    for (const how of ['escape', 'shift', 'button']) {
      const page = await context.newPage();
      await page.goto(`${origin}/`);
      // A new tab starts on about:blank, which is an entry of its own: the visit adds one.
      const entries = await page.evaluate(() => history.length);
      if (how === 'escape') {
        // By keyboard alone: Tab past the exit link to English, Enter.
        await page.keyboard.press('Tab');
        await page.keyboard.press('Tab');
        assert.equal(await page.evaluate(() => document.activeElement.dataset.lang), 'en');
        await page.keyboard.press('Enter');
        await page.waitForSelector('#s-safety:not([hidden])');
        assert.equal(await page.evaluate(() => document.activeElement.id), 'safety-title', 'focus moves to the new screen');
      } else {
        await page.click('button[data-lang="en"]');
      }
      await page.click('#s-safety [data-go="resume"]');
      // A login attempt opens the socket; then leave.
      await page.fill('#resume-input', 'abacus abacus abacus abacus abacus abacus abacus');
      await page.click('#resume-form button[type=submit]');
      await until(async () => (await openConnections(hearth)) === 2, 20000, 'the page socket to open');
      if (how === 'escape') {
        await page.keyboard.press('Escape');
        await page.keyboard.press('Escape');
      } else if (how === 'shift') {
        for (let i = 0; i < 3; ++i) await page.keyboard.press('Shift');
      } else {
        await page.click('#exit');
      }
      await page.waitForURL(EXIT_URL);
      // The neutral site took the page's place: still one entry for the visit, and Back
      // never returns to the page.
      assert.equal(await page.evaluate(() => history.length), entries, `${how}: one history entry for the visit`);
      await page.goBack();
      assert.equal(page.url(), 'about:blank', `${how}: Back goes to the tab's start, not to the page`);
      await until(async () => (await openConnections(hearth)) === 1, 15000, `${how}: the socket to close`);
      await page.close();
    }

    // worker.js fails to load (a dropped download): the page says so and keeps the
    // message; Send again works. With the codename shown, leaving asks first (the
    // browser's own prompt), but quick exit never does.
    {
      const page = await context.newPage();
      const dialogs = [];
      page.on('dialog', (d) => { dialogs.push(d.type()); d.dismiss().catch(() => {}); });
      await page.route('**/worker.js', (r) => r.abort());
      await page.goto(`${origin}/`);
      await page.click('button[data-lang="en"]');
      await page.click('#s-safety [data-go="danger"]');
      await page.click('[data-danger="yes"]');
      await page.waitForSelector('#s-message:not([hidden])');
      const typed = 'please help, nobody is here';
      await page.fill('#first-message', typed);
      await page.click('#message-form button[type=submit]');
      await page.waitForFunction(() => /did not load/.test(document.querySelector('#message-progress').textContent), null, { timeout: 30000 });
      assert.equal(await page.inputValue('#first-message'), typed, 'the typed message stays in the box');
      assert.equal(await page.isDisabled('#message-form button[type=submit]'), false);
      await page.unroute('**/worker.js');
      await page.click('#message-form button[type=submit]');
      await page.waitForSelector('#s-codename:not([hidden])', { timeout: 60000 });
      // A real Back/close asks (the browser's own prompt; dismissed: the page stays).
      await page.close({ runBeforeUnload: true });
      await until(() => dialogs.length === 1, 15000, 'the leave prompt');
      assert.deepEqual(dialogs, ['beforeunload']);
      assert.equal(page.isClosed(), false);
      await page.keyboard.press('Escape');
      await page.keyboard.press('Escape');
      await page.waitForURL(EXIT_URL);
      assert.deepEqual(dialogs, ['beforeunload'], 'quick exit never asks');
      await page.close();
    }

    assert.deepEqual(await context.cookies(), [], 'no cookie');
    assert.deepEqual(foreign, [], 'no request to another origin, no service worker');
    const paths = new Set(requests.filter((u) => u.startsWith(origin)).map((u) => new URL(u).pathname));
    for (const p of paths) assert.ok(['/', '/style.css', '/app.js', '/worker.js', '/config.json', '/v1/ws'].includes(p) || p.startsWith('/i18n/'), `unexpected request ${p}`);
    await context.close();
  } finally {
    await browser.close();
    if (responder) await responder.stop();
    await hearth.stop();
    rmSync(out, { recursive: true, force: true });
  }
});
