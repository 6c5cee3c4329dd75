// What the strict CSP and the catalogues need, checked on the sources: no
// inline script, style or event handler (script-src/style-src 'self'); every
// data-i18n key exists in every catalogue; every catalogue has exactly the
// English keys; every control has a name; every language button has a
// catalogue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'static');
const html = readFileSync(join(root, 'index.html'), 'utf8');
const catalogues = Object.fromEntries(readdirSync(join(root, 'i18n')).filter((f) => f.endsWith('.json'))
  .map((f) => [f.slice(0, -5), JSON.parse(readFileSync(join(root, 'i18n', f), 'utf8'))]));

test('no inline script, style or handler', () => {
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'inline <script>');
  assert.doesNotMatch(html, /<style/i, '<style>');
  assert.doesNotMatch(html, /\sstyle=/i, 'style attribute');
  assert.doesNotMatch(html, /\son[a-z]+=/i, 'event handler attribute');
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\/(?!www\.wikipedia\.org\/")/i, 'other-origin resource');
});

test('catalogues are complete and consistent', () => {
  const keys = Object.keys(catalogues.en).sort();
  for (const [lang, c] of Object.entries(catalogues)) {
    assert.deepEqual(Object.keys(c).sort(), keys, `${lang} has the English keys`);
    for (const [k, v] of Object.entries(c)) assert.equal(typeof v, 'string', `${lang}.${k}`);
    assert.ok(['ltr', 'rtl'].includes(c._dir));
  }
  assert.equal(catalogues.ar._dir, 'rtl');
  for (const m of html.matchAll(/data-i18n(?:-label)?="([^"]+)"/g)) assert.ok(m[1] in catalogues.en, `key ${m[1]}`);
  const langs = [...html.matchAll(/data-lang="([a-z]{2})"/g)].map((m) => m[1]);
  assert.deepEqual(langs.sort(), Object.keys(catalogues).sort());
  for (const l of ['en', 'es', 'fr', 'ar']) assert.ok(langs.includes(l));
});

test('every control is labelled', () => {
  for (const m of html.matchAll(/<button\b([^>]*)>(.*?)<\/button>/gs)) {
    assert.ok(/data-i18n=/.test(m[1]) || m[2].replace(/<[^>]+>/g, '').trim() !== '', `button ${m[1]}`);
  }
  for (const m of html.matchAll(/<(textarea|input)\b[^>]*\bid="([^"]+)"/g)) {
    assert.match(html, new RegExp(`<label for="${m[2]}"`), `label for #${m[2]}`);
  }
});

test('every text box is kept from spell checkers and autofill; no data: URL (img-src self)', () => {
  for (const m of html.matchAll(/<(textarea|input)\b([^>]*)>/g)) {
    assert.match(m[2], /\bautocomplete="off"/, `autocomplete on ${m[2]}`);
    assert.match(m[2], /\bspellcheck="false"/, `spellcheck on ${m[2]}`);
    if (/\bdir="ltr"/.test(m[2])) { // the codename fields
      assert.match(m[2], /\bautocapitalize="off"/, `autocapitalize on ${m[2]}`);
      assert.match(m[2], /\bautocorrect="off"/, `autocorrect on ${m[2]}`);
    }
  }
  assert.doesNotMatch(html, /=\s*"data:/i, 'a data: URL breaks img-src \'self\'');
});

test('the safety screen says what quick exit cannot do', () => {
  assert.match(html, /data-i18n="safety_history"/);
  assert.match(catalogues.en.safety_history, /private or incognito/);
  assert.match(catalogues.en.safety_history, /clear the browser's history/);
  assert.match(catalogues.en.safety_watched, /browser's history/);
  // No responder: the message was not sent, and it is kept only in the box on screen.
  assert.match(catalogues.en.err_no_responder, /not sent.*still in the box while this page stays open/);
});
