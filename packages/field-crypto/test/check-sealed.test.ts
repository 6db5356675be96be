// Gateway checks without keys: checkSealed and readTenant.
import { describe, expect, it } from 'vitest';
import {
  checkSealed,
  encodeBase64url,
  FieldCipher,
  MissingTenantError,
  PlaintextInSensitiveFieldError,
  readTenant,
  SchemaError,
} from '../src/mod.js';
import { exampleRecord, keyProvider, RECORD, schema } from './fixtures.js';

const cipher = new FieldCipher({ schema, keys: keyProvider() });

function plaintextError(message: unknown): PlaintextInSensitiveFieldError {
  try {
    checkSealed(schema, RECORD, message);
  } catch (err) {
    expect(err).toBeInstanceOf(PlaintextInSensitiveFieldError);
    return err as PlaintextInSensitiveFieldError;
  }
  throw new Error('expected PlaintextInSensitiveFieldError');
}

describe('checkSealed', () => {
  it('accepts a sealed message and counts its envelopes', async () => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    expect(checkSealed(schema, RECORD, sealed)).toBe(12);
  });

  it('accepts a message whose sensitive fields are all empty or unset', () => {
    expect(checkSealed(schema, RECORD, { tenantId: 't', nationalId: '', addresses: [], lines: [], attributes: {} })).toBe(0);
  });

  it.each([
    ['a top-level string', (m: Record<string, any>) => ({ ...m, nationalId: '123-45-6789' }), '6', 'fletest.v1.Record.nationalId'],
    ['a nested string', (m: Record<string, any>) => ({ ...m, badge: { ...m['badge'], code: '4111111111111111' } }), '5.1', 'fletest.v1.Badge.code'],
    ['nested bytes', (m: Record<string, any>) => ({ ...m, badge: { ...m['badge'], pin: Uint8Array.of(1, 2, 3) } }), '5.5', 'fletest.v1.Badge.pin'],
    ['top-level bytes', (m: Record<string, any>) => ({ ...m, blob: new Uint8Array(100) }), '7', 'fletest.v1.Record.blob'],
    ['a repeated element', (m: Record<string, any>) => ({ ...m, addresses: [...m['addresses'], '9 Elm St'] }), '8', 'fletest.v1.Record.addresses'],
    ['a repeated message field', (m: Record<string, any>) => ({ ...m, lines: [{ sku: 'x', quantity: 1, note: 'call me' }] }), '9.3', 'fletest.v1.Line.note'],
    ['a map value', (m: Record<string, any>) => ({ ...m, attributes: { ...m['attributes'], vip: 'gold member' } }), '10[vip]', 'fletest.v1.Record.attributes'],
    ['a oneof member', (m: Record<string, any>) => ({ ...m, email: undefined, phone: '+1 555 0100' }), '12', 'fletest.v1.Record.phone'],
  ])('refuses plaintext in %s, naming path and field, never the value', async (_name, inject, path, field) => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    const bad = inject(sealed as unknown as Record<string, any>);
    const err = plaintextError(bad);
    expect(err.code).toBe('PLAINTEXT_IN_SENSITIVE_FIELD');
    expect(err.fieldPath).toBe(path);
    expect(err.fieldName).toBe(field);
    for (const secret of ['123-45', '4111', '9 Elm', 'call me', 'gold', '555']) expect(err.message).not.toContain(secret);
  });

  it('refuses base64url text that is not an envelope and envelopes with bad headers', async () => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    // Valid base64url of a plaintext, e.g. a client that base64-encoded instead of sealing.
    expect(plaintextError({ ...sealed, nationalId: encodeBase64url(new TextEncoder().encode('123-45-6789 but long enough to pass')) }).fieldPath).toBe('6');
    const env = Uint8Array.from(sealed.badge!.pin);
    env[2] = env[3] = env[4] = env[5] = 0;
    expect(plaintextError({ ...sealed, badge: { ...sealed.badge!, pin: env } }).fieldPath).toBe('5.5');
    // Truncated text: header fine, too short for its alg.
    expect(plaintextError({ ...sealed, email: sealed.email!.slice(0, 40) }).fieldPath).toBe('11');
    expect(plaintextError({ ...sealed, email: sealed.email + '=' }).fieldPath).toBe('11');
  });

  it('refuses a value of the wrong type in a sensitive field', async () => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    expect(plaintextError({ ...sealed, nationalId: 42 }).fieldPath).toBe('6');
    expect(plaintextError({ ...sealed, addresses: 'x' }).fieldPath).toBe('8');
  });
});

describe('readTenant', () => {
  it('reads the tenant field', () => {
    expect(readTenant(schema, RECORD, exampleRecord())).toBe('tenant-eu');
  });
  it('throws MissingTenantError for an empty tenant and SchemaError for a type with no tenant field', () => {
    expect(() => readTenant(schema, RECORD, exampleRecord({ tenantId: '' }))).toThrow(MissingTenantError);
    expect(() => readTenant(schema, 'fletest.v1.Badge', {})).toThrow(SchemaError);
  });
});
