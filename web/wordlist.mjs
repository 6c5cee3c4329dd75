// Where the EFF large word list comes from: Debian's diceware package, the same
// file the C++ build embeds (CMakeLists.txt HEARTH_WORDLIST). HEARTH_WORDLIST
// in the environment overrides it.
export function wordlistPath() {
  return process.env.HEARTH_WORDLIST || '/usr/lib/python3/dist-packages/diceware/wordlists/wordlist_en_eff.txt';
}
