// Builds the survivor's page into a directory:
//   node web/build.mjs --out build/release/web [--org-root HEX|FILE] [--exit-url URL] [--title TEXT]
// --org-root (64 hex digits, or a file holding them such as demo/org/root.pub),
// --exit-url and --title fill config.json; without them it is copied as it is
// (no org root: the page says it is not set up).
// index.html, style.css, config.json and i18n/*.json are copied as they are
// (an org edits config.json and the catalogues in the output without
// rebuilding); app.js (the page, a few KiB) and worker.js (the protocol
// client with libsodium and the word list) are bundled by esbuild.
// Reproducible: the same sources, lock file and word list give the same bytes
// (no timestamps, no absolute paths, files written in a fixed order).
// SHA256SUMS.txt lists every file so an org can publish the hashes.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wordlistPlugin } from './wordlist.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
if (outIndex < 0 || !args[outIndex + 1]) {
  console.error('usage: node build.mjs --out <dir>');
  process.exit(2);
}
const out = resolve(args[outIndex + 1]);
const option = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };

const common = {
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  platform: 'browser',
  legalComments: 'none',
  charset: 'utf8',
  absWorkingDir: here,
  write: false,
  logLevel: 'warning',
  // libsodium's Node code paths are never taken in a browser.
  external: ['fs', 'path', 'crypto', 'url', 'worker_threads'],
};

const [page, worker] = await Promise.all([
  build({ ...common, entryPoints: ['src/page.js'] }),
  build({ ...common, entryPoints: ['src/worker.js'], plugins: [wordlistPlugin()] }),
]);

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'i18n'), { recursive: true });
const files = new Map();
files.set('app.js', page.outputFiles[0].contents);
files.set('worker.js', worker.outputFiles[0].contents);
for (const f of ['index.html', 'style.css', 'config.json']) files.set(f, readFileSync(join(here, 'static', f)));
if (option('--org-root') !== undefined || option('--exit-url') !== undefined || option('--title') !== undefined) {
  const config = JSON.parse(readFileSync(join(here, 'static', 'config.json'), 'utf8'));
  const rootArg = option('--org-root');
  if (rootArg !== undefined) {
    let hex = rootArg;
    if (!/^[0-9a-f]{64}$/.test(rootArg)) {
      try {
        hex = readFileSync(rootArg, 'utf8').trim();
      } catch (e) {
        console.error(`build: --org-root: cannot read ${rootArg} (${e.code ?? e.message})`);
        process.exit(2);
      }
    }
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      console.error('build: --org-root needs 64 hex digits or a file holding them');
      process.exit(2);
    }
    config.org_root = hex;
  }
  const exitUrl = option('--exit-url');
  if (exitUrl !== undefined) {
    if (!/^https?:\/\//.test(exitUrl)) {
      console.error('build: --exit-url must be an http(s) address');
      process.exit(2);
    }
    config.exit_url = exitUrl;
  }
  if (option('--title') !== undefined) config.title = option('--title');
  files.set('config.json', Buffer.from(`${JSON.stringify(config, null, 2)}\n`));
}
for (const f of readdirSync(join(here, 'static', 'i18n')).filter((n) => n.endsWith('.json')).sort()) {
  const text = readFileSync(join(here, 'static', 'i18n', f));
  JSON.parse(text); // a broken catalogue fails the build, not the survivor
  files.set(`i18n/${f}`, text);
}
const sums = [];
for (const [name, bytes] of [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
  writeFileSync(join(out, name), bytes);
  sums.push(`${createHash('sha256').update(bytes).digest('hex')}  ${name}`);
}
writeFileSync(join(out, 'SHA256SUMS.txt'), sums.join('\n') + '\n');
for (const line of sums) console.log(line);
console.log(`build: wrote ${files.size} files to ${relative(process.cwd(), out) || '.'}`);
