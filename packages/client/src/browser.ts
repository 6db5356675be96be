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
// A browser cannot call the gateway itself (gRPC over mTLS needs a client
// certificate and HTTP/2 trailers); it hands `bytes` and the stamp to its own
// backend, which forwards them unchanged over mTLS gRPC with metadata
// `fle-timestamp` / `fle-nonce` (FleClient.callRaw with a passthrough codec).
import { compileSchema, encodeBase64url, HpkeSealer, StaticRecipientKeys, type CompiledSchema, type StaticRecipientKey } from '@fle/field-crypto/portable';
import { schemaRoot } from '@fle/schema';

export { generateX25519KeyPair, x25519PublicKey, encodeBase64url, decodeBase64url } from '@fle/field-crypto/portable';
export type { StaticRecipientKey } from '@fle/field-crypto/portable';

export const AUTHORIZE_REQUEST_TYPE = 'acme.payments.v1.AuthorizeRequest';

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

let compiled: CompiledSchema | undefined;
function schema(): CompiledSchema {
  compiled ??= compileSchema(schemaRoot());
  return compiled;
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
  readonly #now: () => number;

  constructor(opts: BrowserSealerOptions) {
    const device = opts.device ? { privateKey: bytesOf(opts.device.privateKey), publicKey: bytesOf(opts.device.publicKey) } : undefined;
    this.#sealer = new HpkeSealer({
      schema: schema(),
      recipients: new StaticRecipientKeys(opts.publicKeys),
      ...(device ? { sender: device } : {}),
    });
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Seals `message` (a ts-proto shaped object: camelCase fields, bytes as
   * Uint8Array) of `typeName` under a fresh stamp and encodes it as protobuf.
   */
  async seal(typeName: string, message: object): Promise<SealedRequest> {
    const stamp = newBrowserStamp(this.#now);
    const context = `req/${stamp.timestampMs}/${stamp.nonce}`;
    const sealed = await this.#sealer.sealMessage(typeName, message, { context });
    // protobufjs reflection (the schema's own descriptor): the same wire format
    // as the ts-proto codecs, without their grpc-js service stubs.
    const bytes = schemaRoot().lookupType(typeName).encode(sealed as Record<string, unknown>).finish();
    return { bytes, stamp, context };
  }

  /** seal() for acme.payments.v1.AuthorizeRequest. */
  sealAuthorizeRequest(request: object): Promise<SealedRequest> {
    return this.seal(AUTHORIZE_REQUEST_TYPE, request);
  }
}
