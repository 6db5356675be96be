// The Node entry's default backend (spec §4): libsodium's WASM build for
// values up to 2 KiB (sodium-aead.ts: ~1 µs per 16 B call instead of
// node:crypto's ~5 µs cipher-context setup), node:crypto above that (faster
// for large values) and until the WASM module has loaded. All three produce
// the same bytes, so which one ran never shows in an envelope.
//
// Loading starts when this module is imported and takes a few ms. The loaded
// module is used only once it passes a self-check against node:crypto; if it
// does not load or fails the check, everything stays on node:crypto, and the
// outcome is a status (fastBackendStatus / fastBackendReady) that services
// log and export as a metric: field-crypto does no I/O itself.
import type { CipherBackend } from './backend.js';
import { encodeBase64url } from './base64url.js';
import { encodeHeader, HEADER_LENGTH } from './envelope.js';
import { DecryptionError } from './errors.js';
import { nativeBackend } from './native-backend.js';
import { SodiumAead } from './sodium-aead.js';

/** The paths of SodiumAead the fast backend uses (and the self-check tests). */
export type SodiumPaths = Pick<SodiumAead, 'seal' | 'open' | 'openTransient' | 'sealText' | 'openText'>;

/** Where small values go: loading, libsodium (self-check passed), or node:crypto only (and why). */
export type FastBackendStatus =
  | { readonly state: 'loading' }
  | { readonly state: 'sodium' }
  | { readonly state: 'native-only'; readonly reason: string };

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** True when `open` refuses (DecryptionError, nothing returned). */
function refuses(open: () => unknown): boolean {
  try {
    open();
    return false;
  } catch (err) {
    return err instanceof DecryptionError;
  }
}

/**
 * Every path FieldCipher takes through the module, on both algs, against
 * node:crypto: seal gives its bytes; open and openTransient give the
 * plaintext back; sealText gives the base64url of header || nonce || its seal,
 * for ASCII and non-ASCII text; openText gives the text back; and a forged
 * tag is refused (DecryptionError) by open, openTransient and openText.
 * Returns the name of the first check that failed, undefined when all pass.
 */
export function selfCheckSodium(s: SodiumPaths): string | undefined {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
  const aad = Uint8Array.from({ length: 45 }, (_, i) => i);
  const plaintext = Uint8Array.from({ length: 100 }, (_, i) => 255 - i);
  const texts = ['self-check value', 'Zoë Ångström 日本 🦊 — self-check'];
  const utf8 = new TextEncoder();
  for (const [alg, nl] of [[1, 12], [2, 24]] as const) {
    const nonce = Uint8Array.from({ length: nl }, (_, i) => i + 3);
    const a = new Uint8Array(plaintext.length + 16);
    const b = new Uint8Array(plaintext.length + 16);
    if (!s.seal(alg, key, nonce, aad, plaintext, a, 0)) return `seal alg ${alg}: declined`;
    nativeBackend.seal(alg, key, nonce, aad, plaintext, b, 0);
    if (!sameBytes(a, b)) return `seal alg ${alg}: not the bytes of node:crypto`;
    const opened = s.open(alg, key, nonce, aad, b);
    if (!opened || !sameBytes(opened, plaintext)) return `open alg ${alg}: not the plaintext`;
    const view = s.openTransient(alg, key, nonce, aad, b);
    const viewOk = view !== undefined && sameBytes(view, plaintext);
    view?.fill(0);
    if (!viewOk) return `openTransient alg ${alg}: not the plaintext`;

    const header = encodeHeader(alg, 7);
    for (const text of texts) {
      const pt = utf8.encode(text);
      const env = new Uint8Array(HEADER_LENGTH + nl + pt.length + 16);
      env.set(header, 0);
      env.set(nonce, HEADER_LENGTH);
      nativeBackend.seal(alg, key, nonce, aad, pt, env, HEADER_LENGTH + nl);
      const want = encodeBase64url(env);
      if (s.sealText(alg, header, key, aad, text, (n) => nonce.slice(0, n)) !== want) return `sealText alg ${alg}: not the text of node:crypto's envelope`;
      if (s.openText(alg, key, want, env.length, aad) !== text) return `openText alg ${alg}: not the value`;
      env[env.length - 1]! ^= 0x01;
      if (!refuses(() => s.openText(alg, key, encodeBase64url(env), env.length, aad))) return `forged tag accepted by openText alg ${alg}`;
    }

    const forged = Uint8Array.from(b);
    forged[forged.length - 1]! ^= 0x80;
    if (!refuses(() => s.open(alg, key, nonce, aad, forged))) return `forged tag accepted by open alg ${alg}`;
    if (!refuses(() => s.openTransient(alg, key, nonce, aad, forged)?.fill(0))) return `forged tag accepted by openTransient alg ${alg}`;
  }
  return undefined;
}

export interface FastBackend {
  readonly backend: CipherBackend;
  /** Settles once the module has loaded and been checked (or failed to). */
  readonly ready: Promise<FastBackendStatus>;
  status(): FastBackendStatus;
  /** The module in use, once checked (tests look at its heap). */
  sodium(): SodiumPaths | undefined;
}

/** A fast backend over the module `load` gives (SodiumAead.load in production; tests pass broken ones). */
export function createFastBackend(load: () => Promise<SodiumPaths | undefined>): FastBackend {
  let sodium: SodiumPaths | undefined;
  let status: FastBackendStatus = { state: 'loading' };
  const ready = load().then(
    (s): FastBackendStatus => {
      if (s === undefined) return (status = { state: 'native-only', reason: 'libsodium did not load' });
      const failed = selfCheckSodium(s);
      if (failed !== undefined) return (status = { state: 'native-only', reason: `self-check failed: ${failed}` });
      sodium = s;
      return (status = { state: 'sodium' });
    },
    (): FastBackendStatus => (status = { state: 'native-only', reason: 'libsodium did not load' }),
  );
  const backend: CipherBackend = {
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
  return { backend, ready, status: () => status, sodium: () => sodium };
}

const fast = createFastBackend(() => SodiumAead.load());

/** The default fast backend (libsodium for small values once checked, node:crypto otherwise). */
export const fastBackend: CipherBackend = fast.backend;

/**
 * Settles with the fast backend's status once libsodium has loaded and passed
 * (or failed) its self-check. A service logs one warning and sets a metric
 * when it is `native-only` (everything then still works, on node:crypto).
 */
export const fastBackendReady: Promise<FastBackendStatus> = fast.ready;

/** The fast backend's status now. */
export function fastBackendStatus(): FastBackendStatus {
  return fast.status();
}

/** Resolves true once small values go through libsodium, false if they never will. */
export const sodiumReady: Promise<boolean> = fast.ready.then((s) => s.state === 'sodium');

/** The WASM heap the fast backend works in, once loaded (tests check it holds no key or plaintext). */
export function fastBackendHeapForTests(): Uint8Array | undefined {
  const s = fast.sodium();
  return s instanceof SodiumAead ? s.heapForTests() : undefined;
}
