// @fle/client/browser: seal a request in a browser (or any untrusted app)
// knowing only the tenant's public keys (docs/envelope-hpke.md). No secret
// key ships with the page; what it seals only the processor can open.
//
// Bundled by `npm run build:browser -w @fle/client` (browser-build.ts) into
// one ESM file with no Node built-in. The sealing path is @fle/field-crypto's
// portable entry: HPKE from @hpke/* with @noble/curves X25519 and
// ChaCha20-Poly1305 (the @noble/ciphers code), HKDF over Web Crypto. It needs
// a secure context (https:, or http://127.0.0.1 / localhost) for crypto.subtle.
//
// A page calls the gateway's public edge itself with EdgeClient
// (edge-client.ts, docs/edge.md: Connect over HTTPS, a bearer token and/or an
// enrolled device key). Without an edge, it hands `bytes` and the stamp to its
// own backend, which forwards them unchanged over mTLS gRPC with metadata
// `fle-timestamp` / `fle-nonce` (FleClient.callRaw(path, bytes, stamp)).
//
// The page gets the team's schema as a protobufjs root or its JSON
// (`loadSchema({ image }).toJSON()` on the backend, served with the page):
// the bundle itself carries no schema.
import protobuf from 'protobufjs';
import { compileSchema, encodeBase64url, HpkeSealer, StaticRecipientKeys, type CompiledSchema, type StaticRecipientKey } from '@fle/field-crypto/portable';

export { generateX25519KeyPair, x25519PublicKey, encodeBase64url, decodeBase64url } from '@fle/field-crypto/portable';
export type { StaticRecipientKey } from '@fle/field-crypto/portable';
export { EdgeClient, EdgeCallError, type EdgeClientOptions, type EdgeResult } from './edge-client.js';

/** The replay stamp (DESIGN.md "Replay protection"): what the backend sends as `fle-timestamp` / `fle-nonce`. */
export interface BrowserStamp {
  readonly timestampMs: number;
  /** base64url (no padding) of 16 random bytes. */
  readonly nonce: string;
}

export interface SealedRequest {
  /** The request as protobuf bytes, every sensitive field an alg 3 (or 4) envelope. */
  readonly bytes: Uint8Array;
  readonly stamp: BrowserStamp;
  /** `req/<timestampMs>/<nonce>`: the context bound into every field's AAD. */
  readonly context: string;
}

/** A device key pair for auth mode (alg 4): the processor checks it is registered. */
export interface DeviceKey {
  readonly privateKey: Uint8Array | string;
  readonly publicKey: Uint8Array | string;
}

export interface BrowserSealerOptions {
  /**
   * The team's schema: a protobufjs root, or its descriptor JSON
   * (`root.toJSON()`, e.g. of `loadSchema({ image: 'schema.binpb' })` on the
   * backend). Every type the sealer seals resolves through it.
   */
  readonly schema: protobuf.Root | protobuf.INamespace;
  /**
   * Public keys of the tenant's X25519 rings (`default`, `pci`, …), as its
   * backend fetched them from the keystore (a `fetch-public` identity,
   * KeystorePublicKeyProvider): `{ tenant, ring, version, publicKey }`, the key
   * as bytes or base64url.
   */
  readonly publicKeys: readonly StaticRecipientKey[];
  /** Seal as alg 4 with this device key pair (base64url or bytes). Default: alg 3. */
  readonly device?: DeviceKey;
  /** Clock for the stamp (tests). */
  readonly now?: () => number;
}

/** Schemas compiled once per root (several sealers of one page share it). */
const compiled = new WeakMap<object, { root: protobuf.Root; schema: CompiledSchema }>();
function compiledSchema(source: protobuf.Root | protobuf.INamespace): { root: protobuf.Root; schema: CompiledSchema } {
  let c = compiled.get(source);
  if (!c) {
    const root = source instanceof protobuf.Root ? source : protobuf.Root.fromJSON(source);
    root.resolveAll();
    c = { root, schema: compileSchema(root) };
    compiled.set(source, c);
  }
  return c;
}

function bytesOf(v: Uint8Array | string): Uint8Array {
  if (typeof v !== 'string') return v;
  const bin = atob(v.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (v.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** A fresh stamp: unix ms and 16 bytes from the platform CSPRNG. */
export function newBrowserStamp(now: () => number = Date.now): BrowserStamp {
  const nonce = new Uint8Array(16);
  globalThis.crypto.getRandomValues(nonce);
  return { timestampMs: Math.floor(now()), nonce: encodeBase64url(nonce) };
}

export class BrowserSealer {
  readonly #sealer: HpkeSealer;
  readonly #root: protobuf.Root;
  readonly #now: () => number;

  constructor(opts: BrowserSealerOptions) {
    if (!opts.schema) throw new TypeError('BrowserSealer needs the schema (a protobufjs root or its JSON)');
    const { root, schema } = compiledSchema(opts.schema);
    this.#root = root;
    const device = opts.device ? { privateKey: bytesOf(opts.device.privateKey), publicKey: bytesOf(opts.device.publicKey) } : undefined;
    this.#sealer = new HpkeSealer({
      schema,
      recipients: new StaticRecipientKeys(opts.publicKeys),
      ...(device ? { sender: device } : {}),
    });
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Seals `message` (a plain object: camelCase fields, bytes as Uint8Array) of
   * `typeName` (full name in the schema) under a fresh stamp and encodes it as protobuf.
   */
  async seal(typeName: string, message: object): Promise<SealedRequest> {
    const stamp = newBrowserStamp(this.#now);
    const context = `req/${stamp.timestampMs}/${stamp.nonce}`;
    const sealed = await this.#sealer.sealMessage(typeName, message, { context });
    // protobufjs reflection over the team's schema: the same wire format as any generated codec.
    const type = this.#root.lookupType(typeName);
    const bytes = type.encode(type.fromObject(sealed as Record<string, unknown>)).finish();
    return { bytes, stamp, context };
  }
}
