// The one place libsodium is loaded (libsodium-wrappers-sumo, WebAssembly).
// Everything else calls sodium() after ready() resolved. Only functions that
// libsodium 1.0.18 also has are used, so the C++ side and the browser agree.
import _sodium from 'libsodium-wrappers-sumo';

let lib = null;
export async function ready() {
  await _sodium.ready;
  lib = _sodium;
  return lib;
}
export function sodium() {
  if (lib === null) throw new Error('libsodium used before ready()');
  return lib;
}
