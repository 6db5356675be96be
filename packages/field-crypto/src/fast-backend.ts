// The Node entry's default backend (spec §4): libsodium's WASM build for
// values up to 2 KiB (sodium-aead.ts: ~1 µs per 16 B call instead of
// node:crypto's ~5 µs cipher-context setup), node:crypto above that (faster
// for large values) and until the WASM module has loaded. All three produce
// the same bytes, so which one ran never shows in an envelope.
//
// Loading starts when this module is imported and takes a few ms; if it fails
// or the loaded module disagrees with node:crypto on a self-test, everything
// stays on node:crypto.
import type { CipherBackend } from './backend.js';
import { nativeBackend } from './native-backend.js';
import { SodiumAead } from './sodium-aead.js';

let sodium: SodiumAead | undefined;

/** Same output as node:crypto for both algs, or the module is not used. */
function agreesWithNative(s: SodiumAead): boolean {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
  const aad = Uint8Array.from({ length: 45 }, (_, i) => i);
  const plaintext = Uint8Array.from({ length: 100 }, (_, i) => 255 - i);
  for (const [alg, nl] of [[1, 12], [2, 24]] as const) {
    const nonce = Uint8Array.from({ length: nl }, (_, i) => i + 3);
    const a = new Uint8Array(plaintext.length + 16);
    const b = new Uint8Array(plaintext.length + 16);
    if (!s.seal(alg, key, nonce, aad, plaintext, a, 0)) return false;
    nativeBackend.seal(alg, key, nonce, aad, plaintext, b, 0);
    if (a.some((x, i) => x !== b[i])) return false;
    const opened = s.open(alg, key, nonce, aad, b);
    if (!opened || opened.some((x, i) => x !== plaintext[i])) return false;
  }
  return true;
}

/** Resolves true once small values go through libsodium, false if they never will. */
export const sodiumReady: Promise<boolean> = SodiumAead.load().then((s) => {
  if (s && agreesWithNative(s)) sodium = s;
  return sodium !== undefined;
});

/** The WASM heap the fast backend works in, once loaded (tests check it holds no key or plaintext). */
export function fastBackendHeapForTests(): Uint8Array | undefined {
  return sodium?.heapForTests();
}

export const fastBackend: CipherBackend = {
  name: 'native+sodium',
  seal(alg, key, nonce, aad, plaintext, out, offset = 0) {
    if (sodium?.seal(alg, key, nonce, aad, plaintext, out, offset)) return;
    nativeBackend.seal(alg, key, nonce, aad, plaintext, out, offset);
  },
  open(alg, key, nonce, aad, sealed) {
    return sodium?.open(alg, key, nonce, aad, sealed) ?? nativeBackend.open(alg, key, nonce, aad, sealed);
  },
  openTransient(alg, key, nonce, aad, sealed) {
    return sodium?.openTransient(alg, key, nonce, aad, sealed) ?? nativeBackend.open(alg, key, nonce, aad, sealed);
  },
  sealText(alg, header, key, aad, text, random) {
    return sodium?.sealText(alg, header, key, aad, text, random);
  },
  openText(alg, key, text, length, aad) {
    return sodium?.openText(alg, key, text, length, aad);
  },
  allocate: nativeBackend.allocate,
};
