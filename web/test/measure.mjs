// Measures the page under Chromium's network emulation (default 400 kbit/s
// each way, 400 ms round trip): time until the first screen answers taps,
// time until the first message is sent (open_case answered: the codename
// shows), and the bytes each needed. A real hearthd serves the page; the
// survivor is scripted (taps and typing take no time), so the figures are
// the network's and the code's share of what a person would wait.
//   node test/measure.mjs [--kbps 400] [--rtt 400]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startHearth, startResponder } from './support/hearth.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i >= 0 ? Number(process.argv[i + 1]) : dflt; };
const kbps = arg('--kbps', 400);
const rtt = arg('--rtt', 400);
const CHROMIUM = process.env.HEARTH_CHROMIUM || '/usr/bin/chromium';

const out = mkdtempSync(join(tmpdir(), 'hearth-measure-'));
const webRoot = join(out, 'web');
execFileSync(process.execPath, [join(here, '..', 'build.mjs'), '--out', webRoot], { stdio: 'pipe' });
const hearth = await startHearth({
  webRoot,
  beforeStart: ({ orgRoot }) => writeFileSync(join(webRoot, 'config.json'),
    JSON.stringify({ title: 'Help', exit_url: 'https://www.wikipedia.org/', org_root: orgRoot })),
});
const responder = await startResponder(hearth); // someone must be online for route to succeed
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
try {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const bytesPerSecond = (kbps * 1000) / 8;
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: rtt, downloadThroughput: bytesPerSecond, uploadThroughput: bytesPerSecond,
  });
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  let t0 = Date.now();
  const received = new Map(); // requestId -> {url, bytes, done_ms}
  cdp.on('Network.requestWillBeSent', (e) => received.set(e.requestId, { url: e.request.url, bytes: 0, done_ms: null }));
  cdp.on('Network.loadingFinished', (e) => {
    const r = received.get(e.requestId);
    if (r) { r.bytes = e.encodedDataLength; r.done_ms = Date.now() - t0; }
  });
  const sumBytes = () => [...received.values()].reduce((n, r) => n + r.bytes, 0);
  // Worker requests (worker.js) are seen by Playwright even when CDP's page session is not.
  const sizes = [];
  context.on('requestfinished', async (r) => { try { sizes.push({ url: r.url(), ...(await r.sizes()) }); } catch { /* gone */ } });

  let workerReadyMs = null;
  let wsIn = 0;
  let wsOut = 0;
  page.on('worker', (w) => { w.evaluate(() => 1).then(() => { workerReadyMs = Date.now() - t0; }).catch(() => {}); });
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => { wsOut += Buffer.byteLength(f.payload); });
    ws.on('framereceived', (f) => { wsIn += Buffer.byteLength(f.payload); });
  });
  t0 = Date.now();
  await page.goto(`${hearth.url}/`, { waitUntil: 'commit' });
  await page.waitForSelector('html[data-ready="1"] #s-lang:not([hidden]) button[data-lang="en"]');
  const firstScreenMs = Date.now() - t0;
  const firstScreenBytes = sumBytes();
  await page.click('button[data-lang="en"]');
  await page.click('#s-safety [data-go="danger"]');
  await page.click('[data-danger="no"]');
  await page.click('[data-need="shelter"]');
  await page.click('[data-when="today"]');
  await page.fill('#first-message', 'I need a safe place to stay tonight.');
  await page.click('#message-form button[type=submit]');
  await page.waitForSelector('#s-codename:not([hidden])', { timeout: 120000 }).catch(async (e) => {
    throw new Error(`${e.message}; the page says: ${await page.textContent('#message-progress')}`);
  });
  const firstMessageMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 500));
  const byUrl = {};
  for (const s of sizes) {
    const p = new URL(s.url).pathname;
    byUrl[p] = (byUrl[p] ?? 0) + s.responseBodySize + s.responseHeadersSize;
  }
  const total = Object.values(byUrl).reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({
    kbps, rtt_ms: rtt, first_screen_ms: firstScreenMs, worker_running_ms: workerReadyMs, first_message_sent_ms: firstMessageMs,
    first_screen_bytes_cdp: firstScreenBytes,
    cdp_requests: [...received.values()].map((r) => ({ path: new URL(r.url).pathname, bytes: r.bytes, done_ms: r.done_ms })),
    playwright_sizes: byUrl, playwright_total: total,
    websocket_payload_in: wsIn, websocket_payload_out: wsOut,
  }, null, 2));
  // The budgets of docs/web.md: a figure past one fails the run.
  const over = [];
  if (firstScreenBytes > 25000) over.push(`first screen ${firstScreenBytes} bytes > 25000`);
  if (firstScreenMs > 3000) over.push(`first screen ${firstScreenMs} ms > 3000`);
  if (firstMessageMs > 30000) over.push(`first message ${firstMessageMs} ms > 30000`);
  if (over.length > 0) {
    console.error(`over budget: ${over.join('; ')}`);
    process.exitCode = 1;
  }
} finally {
  await browser.close();
  await responder.stop();
  await hearth.stop();
  rmSync(out, { recursive: true, force: true });
}
