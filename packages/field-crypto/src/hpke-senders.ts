// Sender authentication for alg 4 (HPKE auth mode, docs/envelope-hpke.md §5):
// which device public keys may have sealed a tenant's fields, and whether the
// tenant accepts anonymous (alg 3) envelopes at all. The opener asks this
// before any decryption; HPKE itself then proves the envelope was sealed with
// the private key of that public key (RFC 9180 §5.1.3, AuthEncap).
import { decodeBase64url } from './base64url.js';
import { FieldCryptoError } from './errors.js';
import { assertX25519Key } from './hpke-suite.js';

/**
 * An envelope's sender is not allowed: an alg 4 envelope sealed with a device
 * key not registered for the tenant, or an alg 3 envelope for a tenant that
 * requires registered devices. Names the field, never the key.
 */
export class UnknownSenderError extends FieldCryptoError {
  constructor(readonly fieldPath: string | undefined, readonly reason: 'unregistered-device' | 'sender-required') {
    super(
      'UNKNOWN_SENDER',
      (reason === 'unregistered-device' ? 'envelope sealed by a device key not registered for this tenant' : 'this tenant only accepts envelopes sealed by a registered device (alg 4)') +
        (fieldPath ? ` (field ${fieldPath})` : ''),
    );
  }
}

/** What the opener needs to know about senders. */
export interface SenderPolicy {
  /** The id of the device registered for `tenant` with this X25519 public key, or undefined. */
  deviceOf(tenant: string, publicKey: Uint8Array): string | undefined;
  /** True when the tenant's alg 3/4 envelopes must be alg 4 from a registered device. */
  requiresSender(tenant: string): boolean;
}

export interface RegisteredDevice {
  readonly tenant: string;
  /** A name for logs and the handler (e.g. `ios-7f3a`); not secret. */
  readonly id: string;
  /** The device's X25519 public key: 32 bytes, or their base64url text. */
  readonly publicKey: Uint8Array | string;
}

export interface StaticSenderPolicyOptions {
  /**
   * Tenants with at least one registered device refuse alg 3 (anonymous)
   * envelopes. Default true: registering devices is how a tenant opts in, and
   * an attacker must not get around it by simply not authenticating.
   */
  readonly requireForRegisteredTenants?: boolean;
}

/** Devices from configuration (e.g. the processor's `hpke.devices` list). */
export class StaticSenderPolicy implements SenderPolicy {
  /** tenant -> base64url(public key) -> device id. */
  readonly #devices = new Map<string, Map<string, string>>();
  readonly #require: boolean;

  constructor(devices: readonly RegisteredDevice[] = [], opts: StaticSenderPolicyOptions = {}) {
    this.#require = opts.requireForRegisteredTenants ?? true;
    for (const d of devices) {
      if (typeof d.tenant !== 'string' || d.tenant === '') throw new TypeError('device tenant must be a non-empty string');
      if (typeof d.id !== 'string' || d.id === '') throw new TypeError('device id must be a non-empty string');
      const key = typeof d.publicKey === 'string' ? decodeBase64url(d.publicKey) : d.publicKey;
      assertX25519Key(key, `public key of device ${d.id}`);
      let byKey = this.#devices.get(d.tenant);
      if (!byKey) this.#devices.set(d.tenant, (byKey = new Map()));
      const k = keyText(key);
      if (byKey.has(k)) throw new TypeError(`device ${d.id}: the same public key is registered twice for tenant ${d.tenant}`);
      byKey.set(k, d.id);
    }
  }

  deviceOf(tenant: string, publicKey: Uint8Array): string | undefined {
    return this.#devices.get(tenant)?.get(keyText(publicKey));
  }

  requiresSender(tenant: string): boolean {
    return this.#require && (this.#devices.get(tenant)?.size ?? 0) > 0;
  }
}

function keyText(key: Uint8Array): string {
  let s = '';
  for (const b of key) s += b.toString(16).padStart(2, '0');
  return s;
}
