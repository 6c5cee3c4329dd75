// The EFF large word list for codenames: Debian's diceware package, the same
// file the C++ build embeds (CMakeLists.txt HEARTH_WORDLIST). HEARTH_WORDLIST
// in the environment overrides the path. wordlistPlugin() lets esbuild bundle
// it as the module 'hearth:wordlist' (an array of the 7776 words, dice order).
import { readFileSync } from 'node:fs';
import { parseWordlistFile } from './src/proto/vault.js';

export function wordlistPath() {
  return process.env.HEARTH_WORDLIST || '/usr/lib/python3/dist-packages/diceware/wordlists/wordlist_en_eff.txt';
}

export function loadWordlist() {
  const words = parseWordlistFile(readFileSync(wordlistPath(), 'utf8'));
  if (words.length !== 7776 || new Set(words).size !== 7776) throw new Error('the word list must hold 7776 distinct words');
  return words;
}

export function wordlistPlugin() {
  const words = loadWordlist();
  return {
    name: 'hearth-wordlist',
    setup(b) {
      b.onResolve({ filter: /^hearth:wordlist$/ }, () => ({ path: 'wordlist', namespace: 'hearth' }));
      b.onLoad({ filter: /.*/, namespace: 'hearth' }, () => ({
        contents: `export default ${JSON.stringify(words.join(' '))}.split(' ');`,
        loader: 'js',
      }));
    },
  };
}
