// The example AuthorizeRequest with every shape of sensitive field, and keys for it.
import { schemaRoot } from '@fle/schema';
import type { AuthorizeRequest } from '@fle/schema/gen/acme/payments/v1/payments.js';
import { compileSchema, StaticKeyProvider, type KeyProvider, type KeyRingRef, type KeyVersionMaterial } from '../src/mod.js';
import { seq } from './helpers.js';

export const REQUEST = 'acme.payments.v1.AuthorizeRequest';
export const schema = compileSchema(schemaRoot());

export function exampleRequest(overrides: Partial<AuthorizeRequest> = {}): AuthorizeRequest {
  return {
    tenantId: 'acme-eu',
    requestId: 'req-1',
    amountMinor: 1999,
    currency: 'EUR',
    card: { number: '4111111111111111', holderName: 'Zoë Ångström', expiryMonth: 12, expiryYear: 2030, cvv: Uint8Array.of(1, 2, 3) },
    nationalId: '123-45-6789',
    biometricTemplate: seq(64, 7),
    previousAddresses: ['1 Main St', '', '2 High St 🏠'],
    items: [
      { sku: 'sku-1', quantity: 1, note: 'gift wrap' },
      { sku: 'sku-2', quantity: 2, note: '' },
    ],
    customerAttributes: { vip: 'yes', ssn: '078-05-1120', '': 'empty key', nothing: '' },
    email: 'zoe@example.com',
    phone: undefined,
    merchantId: 'm-42',
    labels: { channel: 'web' },
    ...overrides,
  };
}

export const KEYS = {
  default: { 1: seq(32, 0x10), 2: seq(32, 0x20) },
  pci: { 5: seq(32, 0x50) },
};

export function keyProvider(tenant = 'acme-eu'): StaticKeyProvider {
  return new StaticKeyProvider([
    { tenant, versions: [{ version: 1, key: KEYS.default[1] }] },
    { tenant, ring: 'pci', versions: [{ version: 5, key: KEYS.pci[5], alg: 2 }] },
  ]);
}

/** Wraps a KeyProvider and records its calls. */
export class RecordingKeys implements KeyProvider {
  readonly calls: string[] = [];
  constructor(readonly inner: KeyProvider) {}
  primaryKey(ref: KeyRingRef): Promise<KeyVersionMaterial> {
    this.calls.push(`primary ${ref.tenant}/${ref.ring}`);
    return this.inner.primaryKey(ref);
  }
  keyVersion(ref: KeyRingRef, version: number): Promise<KeyVersionMaterial> {
    this.calls.push(`version ${ref.tenant}/${ref.ring}/${version}`);
    return this.inner.keyVersion(ref, version);
  }
}

/** Deep-freezes plain objects and arrays (Uint8Arrays cannot be frozen; they are compared instead). */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
