// The tests' own schema (fixtures/fletest.proto) with every shape of sensitive
// field, a Record filled in every shape, keys for it, and the wire helpers
// (protobufjs reflection) the tests use to encode and decode messages.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { compileSchema, StaticKeyProvider, type KeyProvider, type KeyRingRef, type KeyVersionMaterial } from '../src/mod.js';
import { seq } from './helpers.js';

export const RECORD = 'fletest.v1.Record';
export const TREE = 'fletest.v1.Tree';
export const TENANT = 'tenant-eu';

export const root = protobuf.parse(readFileSync(new URL('./fixtures/fletest.proto', import.meta.url), 'utf8')).root;
root.resolveAll();
export const schema = compileSchema(root);

/** fletest.v1.Badge as a plain object (the ts-proto shape: camelCase, bytes = Uint8Array). */
export interface Badge {
  code: string;
  holder: string;
  month: number;
  year: number;
  pin: Uint8Array;
}

export interface Line {
  sku: string;
  quantity: number;
  note: string;
}

/** fletest.v1.Record as a plain object (oneof members and nested messages may be undefined). */
export interface TestRecord {
  tenantId: string;
  recordId: string;
  amount: number;
  currency: string;
  badge?: Badge | undefined;
  nationalId: string;
  blob: Uint8Array;
  addresses: string[];
  lines: Line[];
  attributes: { [key: string]: string };
  email?: string | undefined;
  phone?: string | undefined;
  merchant: string;
  labels: { [key: string]: string };
}

export interface Leaf {
  secret?: string;
  blob?: Uint8Array;
}

export interface Folder {
  secret?: string;
  children?: { [key: string]: Leaf };
}

/** fletest.v1.Tree as a plain object. */
export interface TestTree {
  tenantId: string;
  folders?: { [key: string]: Folder };
  byId?: { [key: string]: string };
  byNumber?: { [key: string]: Leaf };
  flags?: { [key: string]: Uint8Array };
  notes?: { [key: string]: string };
  bySigned?: { [key: string]: string };
}

export function exampleRecord(overrides: Partial<TestRecord> = {}): TestRecord {
  return {
    tenantId: TENANT,
    recordId: 'rec-1',
    amount: 1999,
    currency: 'EUR',
    badge: { code: '4111111111111111', holder: 'Zoë Ångström', month: 12, year: 2030, pin: Uint8Array.of(1, 2, 3) },
    nationalId: '123-45-6789',
    blob: seq(64, 7),
    addresses: ['1 Main St', '', '2 High St 🏠'],
    lines: [
      { sku: 'sku-1', quantity: 1, note: 'gift wrap' },
      { sku: 'sku-2', quantity: 2, note: '' },
    ],
    attributes: { vip: 'yes', ssn: '078-05-1120', '': 'empty key', nothing: '' },
    email: 'zoe@example.com',
    phone: undefined,
    merchant: 'm-42',
    labels: { channel: 'web' },
    ...overrides,
  };
}

export const KEYS = {
  default: { 1: seq(32, 0x10), 2: seq(32, 0x20) },
  pci: { 5: seq(32, 0x50) },
};

/** Ring `default`: version 1, alg 1; ring `pci`: version 5, alg 2. */
export function keyProvider(tenant = TENANT): StaticKeyProvider {
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

/** The protobuf wire bytes of a plain message of `typeName`. */
export function encodeMessage(typeName: string, message: unknown): Uint8Array {
  const type = root.lookupType(typeName);
  return type.encode(type.fromObject(message as Record<string, unknown>)).finish();
}

/**
 * A message decoded from wire bytes, as a plain object in the shape the walk
 * takes (repeated fields and maps present, unset messages and oneof members
 * absent). `bytes` fields are the decoder's own values (Node Buffer views)
 * unless `plainBytes` asks for Uint8Array copies (for comparisons).
 */
export function decodeMessage<T>(typeName: string, wire: Uint8Array, opts: { plainBytes?: boolean } = {}): T {
  const type = root.lookupType(typeName);
  const obj = type.toObject(type.decode(wire), { longs: Number, arrays: true, objects: true, defaults: true });
  return plain(obj, opts.plainBytes === true) as T;
}

function plain(value: unknown, plainBytes: boolean): unknown {
  if (value instanceof Uint8Array) return plainBytes ? new Uint8Array(value) : value;
  if (Array.isArray(value)) return value.map((v) => plain(v, plainBytes));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) out[k] = plain(v, plainBytes);
    return out;
  }
  return value;
}
