// KeystoreDeviceRegistry's cache and KeystoreSenderPolicy against a device
// list in memory; the gRPC path is covered by services/keystore/test/devices.int.test.ts.
import { UnknownSenderError, generateX25519KeyPair, parseHpkeEnvelope, sealHpkeEnvelope } from '@fle/field-crypto';
import { describe, expect, it } from 'vitest';
import { KeystoreDeviceRegistry, KeystoreSenderPolicy, type DeviceCacheOptions, type TenantDeviceList } from '../src/devices.js';
import { KeystorePermissionDeniedError, KeystoreUnavailableError } from '../src/errors.js';

const TTL = 30_000;
const key = (b: number): Uint8Array => new Uint8Array(32).fill(b);

/** GetDevices in memory: devices per tenant, an outage switch, a call count, a gate to hold fetches. */
class FakeKeystore {
  readonly devices = new Map<string, Array<{ id: string; publicKey: Uint8Array }>>();
  readonly everEnrolled = new Set<string>();
  failure: 'down' | 'denied' | undefined;
  calls = 0;
  #gate: Promise<void> | undefined;
  #release: (() => void) | undefined;

  enroll(tenant: string, id: string, b: number): void {
    this.devices.set(tenant, [...(this.devices.get(tenant) ?? []), { id, publicKey: key(b) }]);
    this.everEnrolled.add(tenant);
  }

  revoke(tenant: string, id: string): void {
    this.devices.set(tenant, (this.devices.get(tenant) ?? []).filter((d) => d.id !== id));
  }

  hold(): void {
    this.#gate = new Promise((r) => (this.#release = r));
  }

  release(): void {
    this.#release?.();
    this.#gate = undefined;
  }

  readonly fetch = async (tenant: string): Promise<TenantDeviceList> => {
    this.calls++;
    if (this.#gate) await this.#gate;
    if (this.failure === 'down') throw new KeystoreUnavailableError(tenant, '');
    if (this.failure === 'denied') throw new KeystorePermissionDeniedError(tenant, '');
    return { tenant, devices: [...(this.devices.get(tenant) ?? [])], senderRequired: this.everEnrolled.has(tenant) };
  };
}

function setup(opts: DeviceCacheOptions = {}) {
  const ks = new FakeKeystore();
  const clock = { t: 1_000_000 };
  const registry = new KeystoreDeviceRegistry({ fetch: ks.fetch, ttlMs: TTL, now: () => clock.t, ...opts });
  return { ks, clock, registry, senders: new KeystoreSenderPolicy(registry) };
}

describe('KeystoreDeviceRegistry', () => {
  it('serves a tenant list for the TTL, then fetches it again: a revocation takes effect within the TTL', async () => {
    const { ks, clock, registry } = setup();
    ks.enroll('acme', 'dev_a', 1);
    expect(await registry.deviceOf('acme', key(1))).toBe('dev_a');
    expect(ks.calls).toBe(1);
    ks.revoke('acme', 'dev_a');
    clock.t += TTL - 1;
    expect((await registry.devices('acme')).deviceOf(key(1))).toBe('dev_a'); // still cached
    expect(ks.calls).toBe(1);
    clock.t += 1;
    const d = await registry.devices('acme');
    expect(d.deviceOf(key(1))).toBeUndefined();
    expect(d.senderRequired).toBe(true);
    expect(ks.calls).toBe(2);
  });

  it('one fetch for concurrent callers; an unknown sender refetches at most once per interval', async () => {
    const { ks, clock, registry } = setup({ unknownSenderRefetchMs: 1000 });
    ks.hold();
    const waits = Array.from({ length: 20 }, () => registry.devices('acme'));
    ks.release();
    await Promise.all(waits);
    expect(ks.calls).toBe(1);
    // A device enrolled since: not found in the cached list, found after one refetch (once the interval passed).
    ks.enroll('acme', 'dev_new', 7);
    expect(await registry.deviceOf('acme', key(7))).toBeUndefined();
    expect(ks.calls).toBe(1);
    clock.t += 1000;
    expect(await registry.deviceOf('acme', key(7))).toBe('dev_new');
    expect(ks.calls).toBe(2);
    // A flood of bogus keys: no more than one fetch per interval.
    for (let i = 0; i < 50; i++) expect(await registry.deviceOf('acme', key(100 + i))).toBeUndefined();
    expect(ks.calls).toBe(2);
    clock.t += 1000;
    for (let i = 0; i < 50; i++) await registry.deviceOf('acme', key(100 + i));
    expect(ks.calls).toBe(3);
  });

  it('outage: the last list within TTL + grace, then KeystoreUnavailableError; denied drops the list', async () => {
    const { ks, clock, registry } = setup({ graceMs: 10_000 });
    ks.enroll('acme', 'dev_a', 1);
    await registry.devices('acme');
    ks.failure = 'down';
    clock.t += TTL + 9_999;
    expect((await registry.devices('acme')).deviceOf(key(1))).toBe('dev_a');
    clock.t += 1;
    await expect(registry.devices('acme')).rejects.toBeInstanceOf(KeystoreUnavailableError);
    await expect(registry.devices('globex')).rejects.toThrow(/devices of tenant "globex"/);
    ks.failure = 'denied';
    clock.t += 10_000; // past the backoff
    await expect(registry.devices('acme')).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    expect(registry.cached('acme')).toBeUndefined();
  });
});

describe('KeystoreSenderPolicy', () => {
  it('answers field-crypto from the prepared list: registered device, unknown key, and anonymous envelopes', async () => {
    const { ks, senders } = setup();
    ks.enroll('acme', 'dev_a', 1);
    await senders.prepare('acme');
    await senders.prepare('globex');
    expect(senders.deviceOf('acme', key(1))).toBe('dev_a');
    expect(senders.deviceOf('acme', key(2))).toBeUndefined();
    expect(senders.requiresSender('acme')).toBe(true);
    expect(senders.requiresSender('globex')).toBe(false);
    // Revoking the last device keeps the tenant closed to anonymous envelopes.
    ks.revoke('acme', 'dev_a');
    expect(await senders.retryAfterUnknownSender('acme')).toBe(false); // within the refetch interval
  });

  it('fails closed without a prepared list, and after TTL + grace', async () => {
    const { ks, clock, senders } = setup({ graceMs: 0 });
    expect(senders.requiresSender('acme')).toBe(true);
    expect(senders.deviceOf('acme', key(1))).toBeUndefined();
    await senders.prepare('acme');
    expect(senders.requiresSender('acme')).toBe(false);
    clock.t += TTL;
    ks.failure = 'down';
    expect(senders.requiresSender('acme')).toBe(true);
    const lenient = new KeystoreSenderPolicy(senders.registry, { requireForRegisteredTenants: false });
    expect(lenient.requiresSender('acme')).toBe(false);
  });

  it('plugs into field-crypto: the sender of a real alg 4 envelope is known until revoked, then not after the TTL', async () => {
    const { ks, clock, senders } = setup();
    const device = generateX25519KeyPair();
    const recipient = generateX25519KeyPair();
    ks.devices.set('acme', [{ id: 'dev_phone', publicKey: device.publicKey }]);
    ks.everEnrolled.add('acme');
    const binding = { tenant: 'acme', messageType: 'shop.v1.Order', fieldPath: '1' };
    const envelope = await sealHpkeEnvelope(new TextEncoder().encode('4111'), { recipientPublicKey: recipient.publicKey, keyVersion: 1, binding, sender: device });
    const parsed = parseHpkeEnvelope(envelope);
    expect(parsed.alg).toBe(4);
    await senders.prepare('acme');
    expect(senders.deviceOf('acme', parsed.senderPublicKey!)).toBe('dev_phone');
    ks.revoke('acme', 'dev_phone');
    clock.t += TTL;
    await senders.prepare('acme');
    expect(senders.deviceOf('acme', parsed.senderPublicKey!)).toBeUndefined();
    expect(senders.requiresSender('acme')).toBe(true);
    expect(new UnknownSenderError('1', 'unregistered-device').code).toBe('UNKNOWN_SENDER');
  });
});
