// A real Hearth on loopback for the web tests: `hearth-admin demo` makes an org
// with one responder (ana), hearthd serves it, and hearth-console --plain is
// the responder, driven line by line. Binaries come from $HEARTH_BUILD_DIR or
// ../build/release. Nothing here is a stand-in: the real server, the real
// responder client.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const buildDir = resolve(process.env.HEARTH_BUILD_DIR || join(here, '..', '..', '..', 'build', 'release'));
export const bin = {
  hearthd: process.env.HEARTH_HEARTHD || join(buildDir, 'server', 'hearthd'),
  admin: join(buildDir, 'admin', 'hearth-admin'),
  console: join(buildDir, 'clients', 'hearth-console'),
  survivor: join(buildDir, 'clients', 'hearth-survivor'),
};
export const haveBinaries = () => [bin.hearthd, bin.admin, bin.console].every((p) => existsSync(p));

// hearth-survivor (the C++ client) with `input` on stdin; resolves with its output.
export function runSurvivor(hearth, args, input) {
  return new Promise((resolveRun, rejectRun) => {
    const proc = spawn(bin.survivor, ['--org-root', hearth.orgRoot, '--server', hearth.wsUrl, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 60000);
    proc.on('error', rejectRun);
    proc.on('exit', (code) => { clearTimeout(timer); resolveRun({ code, out }); });
    proc.stdin.end(input);
  });
}

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

// Waits until check() returns a truthy value, polling; fails after `ms`.
export async function until(check, ms = 30000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Starts hearthd for a fresh demo org. opts.webRoot: a directory to serve as
// web.root (needs a hearthd that has it). Returns {port, url, wsUrl, orgRoot, dir, stop()}.
export async function startHearth(opts = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-web-'));
  let lastError = null;
  for (let attempt = 0; attempt < 5; ++attempt) {
    const port = await freePort();
    const metricsPort = await freePort();
    const demo = join(dir, `demo${attempt}`);
    execFileSync(bin.admin, ['demo', demo, '--port', String(port), '--metrics-port', String(metricsPort)], { stdio: 'pipe' });
    for (const r of opts.responders || []) addResponder(demo, r);
    const cfgPath = join(demo, 'server', 'hearthd.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
    if (opts.webRoot) cfg.web = { ...(cfg.web || {}), root: opts.webRoot };
    if (opts.configure) opts.configure(cfg);
    // hearthd reads web.root at start: the page's settings are written first.
    if (opts.beforeStart) opts.beforeStart({ dir: demo, orgRoot: readFileSync(join(demo, 'org', 'root.pub'), 'utf8').trim() });
    writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
    let proc = null;
    let log = '';
    let exited = false;
    const url = `http://127.0.0.1:${port}`;
    const launch = async () => {
      proc = spawn(bin.hearthd, ['--config', cfgPath], { cwd: join(demo, 'server'), stdio: ['ignore', 'pipe', 'pipe'] });
      exited = false;
      proc.stdout.on('data', (d) => { log += d; });
      proc.stderr.on('data', (d) => { log += d; });
      proc.on('exit', () => { exited = true; });
      await until(async () => {
        if (exited) throw new Error(`hearthd exited: ${log}`);
        try { return (await fetch(`${url}/healthz`)).ok; } catch { return false; }
      }, 20000, 'hearthd to listen');
    };
    const halt = async () => {
      if (!exited) {
        proc.kill('SIGTERM');
        await until(() => exited, 15000, 'hearthd to stop').catch(() => proc.kill('SIGKILL'));
      }
    };
    try {
      await launch();
    } catch (e) {
      lastError = e;
      if (proc && !exited) proc.kill('SIGKILL');
      continue;
    }
    const orgRoot = readFileSync(join(demo, 'org', 'root.pub'), 'utf8').trim();
    return {
      port, metricsPort, url, wsUrl: `ws://127.0.0.1:${port}/v1/ws`, orgRoot, dir: demo,
      log: () => log,
      // Stops hearthd (it drains) and starts it again on the same port and data.
      async restart() { await halt(); await launch(); },
      async metrics() { return (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(); },
      async stop() {
        await halt();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  throw lastError;
}

// Enrols one more responder in a demo org, the way docs/hearth-admin.md says
// (key request, certificate, install, roster), before hearthd starts.
// r = {id, queues: [...], languages: [...]}.
function addResponder(demo, r) {
  const pass = join(demo, `responder-${r.id}.passphrase`);
  writeFileSync(pass, `passphrase-of-${r.id}\n`);
  const data = join(demo, `responder-${r.id}`);
  const request = join(demo, `${r.id}.request`);
  const cert = join(demo, `${r.id}.cert`);
  execFileSync(bin.console, ['enroll', '--data', data, '--id', r.id, '--request', request, '--passphrase-file', pass], { stdio: 'pipe' });
  execFileSync(bin.admin, ['responder', 'enroll', demo, request, '--queues', r.queues.join(','), '--languages', r.languages.join(','), '--out', cert], { stdio: 'pipe' });
  execFileSync(bin.console, ['enroll', '--data', data, '--certificate', cert, '--org-root', join(demo, 'org', 'root.pub'), '--passphrase-file', pass], { stdio: 'pipe' });
  execFileSync(bin.admin, ['roster', 'sign', demo], { stdio: 'pipe' });
}

// hearth-console --plain as `id` (default ana): send(line), waitFor(text), output().
export async function startResponder(hearth, id = 'ana') {
  const proc = spawn(bin.console, ['--plain', '--data', join(hearth.dir, `responder-${id}`),
    '--passphrase-file', join(hearth.dir, `responder-${id}.passphrase`), '--server', hearth.wsUrl],
  { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  let exited = false;
  proc.on('exit', () => { exited = true; });
  const r = {
    output: () => out,
    send(line) { proc.stdin.write(`${line}\n`); },
    waitFor(text, ms = 30000, from = 0) {
      return until(() => {
        if (exited) throw new Error(`hearth-console exited: ${out}`);
        return out.indexOf(text, from) >= 0;
      }, ms, `console to print ${JSON.stringify(text)}`);
    },
    async stop() {
      if (!exited) {
        proc.stdin.write('/quit\n');
        await until(() => exited, 10000, 'console to quit').catch(() => proc.kill('SIGKILL'));
      }
    },
  };
  await r.waitFor(`Logged in as ${id}`);
  return r;
}
