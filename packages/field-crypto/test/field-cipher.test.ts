// The walk (field-cipher.ts) over every shape of the fixture Record (test/fixtures/fletest.proto).
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import {
  compileSchema,
  decodeBase64url,
  DecryptionError,
  EnvelopeFormatError,
  FieldCipher,
  InvalidFieldValueError,
  MissingTenantError,
  nativeBackend,
  nobleBackend,
  openEnvelope,
  parseEnvelope,
  SchemaError,
  StaticKeyProvider,
  UnknownKeyRingError,
  UnknownKeyVersionError,
  type CipherBackend,
} from '../src/mod.js';
import { FieldCipher as PortableFieldCipher } from '../src/portable.js';
import { decodeMessage, deepFreeze, encodeMessage, exampleRecord, keyProvider, KEYS, RecordingKeys, RECORD, schema, type TestRecord } from './fixtures.js';
import { counterRandom, hex, seq } from './helpers.js';

const CONTEXT = 'req/1767225600000/q83vEjRWeJq8PwAAAAAAAA';
const backends: [string, CipherBackend][] = [['native', nativeBackend], ['noble', nobleBackend]];

function envelopeBytes(value: unknown): Uint8Array {
  return typeof value === 'string' ? decodeBase64url(value) : (value as Uint8Array);
}

describe.each(backends)('FieldCipher with the %s backend', (_name, backend) => {
  const cipher = new FieldCipher({ schema, keys: keyProvider(), backend });

  it('round-trips every shape of Record without mutating the input', async () => {
    const input = deepFreeze(exampleRecord());
    const before = structuredClone(input);
    const sealed = await cipher.sealMessage(RECORD, input, { context: CONTEXT });
    const opened = await cipher.openMessage(RECORD, sealed, { context: CONTEXT });
    expect(opened).toEqual(before);
    expect(input).toEqual(before);
    expect(sealed).not.toBe(input);
  });

  it('opens in place when asked (the caller owns the message): same values, the same objects, nothing sealed left', async () => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    const copied = await cipher.openMessage(RECORD, structuredClone(sealed), { context: CONTEXT });
    const owned = structuredClone(sealed);
    const { badge, lines, attributes, addresses } = owned;
    const opened = await cipher.openMessage(RECORD, owned, { context: CONTEXT, inPlace: true });
    expect(opened).toBe(owned);
    expect(opened).toEqual(copied);
    expect(opened).toEqual(exampleRecord());
    expect(opened.badge).toBe(badge);
    expect(opened.lines).toBe(lines);
    expect(opened.lines[0]).toBe(lines[0]);
    expect(opened.attributes).toBe(attributes);
    expect(opened.addresses).toBe(addresses);
    // Without the option the input stays sealed.
    const input = structuredClone(sealed);
    await cipher.openMessage(RECORD, input, { context: CONTEXT });
    expect(input).toEqual(sealed);
  });

  it('seals every non-empty sensitive value as an envelope at its spec §3 path, under its ring', async () => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    const expectOpens = (value: unknown, fieldPath: string, plaintext: Uint8Array, ring: 'default' | 'pci') => {
      const env = parseEnvelope(envelopeBytes(value));
      expect(env.keyVersion).toBe(ring === 'pci' ? 5 : 1);
      expect(env.alg).toBe(ring === 'pci' ? 2 : 1);
      const key = ring === 'pci' ? KEYS.pci[5] : KEYS.default[1];
      const binding = { tenant: 'tenant-eu', messageType: RECORD, fieldPath, context: CONTEXT };
      expect(hex(openEnvelope(env, { backend, key, binding }))).toBe(hex(plaintext));
    };
    const text = (s: string) => new TextEncoder().encode(s);
    expectOpens(sealed.badge!.code, '5.1', text('4111111111111111'), 'pci');
    expectOpens(sealed.badge!.holder, '5.2', text('Zoë Ångström'), 'default');
    expectOpens(sealed.badge!.pin, '5.5', Uint8Array.of(1, 2, 3), 'pci');
    expectOpens(sealed.nationalId, '6', text('123-45-6789'), 'default');
    expectOpens(sealed.blob, '7', seq(64, 7), 'default');
    expectOpens(sealed.addresses[0], '8', text('1 Main St'), 'default');
    expectOpens(sealed.addresses[2], '8', text('2 High St 🏠'), 'default');
    expectOpens(sealed.lines[0]!.note, '9.3', text('gift wrap'), 'default');
    expectOpens(sealed.attributes['vip'], '10[vip]', text('yes'), 'default');
    expectOpens(sealed.attributes['ssn'], '10[ssn]', text('078-05-1120'), 'default');
    expectOpens(sealed.attributes[''], '10[]', text('empty key'), 'default');
    expectOpens(sealed.email, '11', text('zoe@example.com'), 'default');
    // Bytes fields hold binary envelopes, string fields base64url text (spec §5).
    expect(sealed.badge!.pin).toBeInstanceOf(Uint8Array);
    expect(sealed.nationalId).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('leaves clear fields, empty values, unset oneof members and map keys as they were', async () => {
    const input = exampleRecord();
    const sealed = await cipher.sealMessage(RECORD, input);
    expect(sealed).toMatchObject({ tenantId: 'tenant-eu', recordId: 'rec-1', amount: 1999, currency: 'EUR', merchant: 'm-42' });
    expect(sealed.labels).toEqual({ channel: 'web' });
    expect(sealed.badge).toMatchObject({ month: 12, year: 2030 });
    expect(sealed.lines.map((i) => [i.sku, i.quantity])).toEqual([['sku-1', 1], ['sku-2', 2]]);
    expect(sealed.addresses[1]).toBe('');
    expect(sealed.lines[1]!.note).toBe('');
    expect(sealed.attributes['nothing']).toBe('');
    expect(Object.keys(sealed.attributes).sort()).toEqual(['', 'nothing', 'ssn', 'vip']);
    expect(sealed.phone).toBeUndefined();
    expect(Object.keys(sealed)).toEqual(Object.keys(input));
  });

  it('handles the other oneof member, an unset nested message and empty bytes', async () => {
    const input = exampleRecord({ email: undefined, phone: '+44 20 7946 0000', badge: undefined, blob: new Uint8Array(0) });
    const sealed = await cipher.sealMessage(RECORD, input);
    expect(sealed.badge).toBeUndefined();
    expect(sealed.email).toBeUndefined();
    expect(sealed.blob.length).toBe(0);
    expect(parseEnvelope(decodeBase64url(sealed.phone!)).keyVersion).toBe(1);
    expect(await cipher.openMessage(RECORD, sealed)).toEqual(input);
  });

  it('stays valid protobuf: sealed, encoded, decoded and opened gives the original', async () => {
    const input = exampleRecord();
    const sealed = await cipher.sealMessage(RECORD, input);
    const wire = encodeMessage(RECORD, sealed);
    const decoded = decodeMessage<TestRecord>(RECORD, wire);
    const opened = await cipher.openMessage(RECORD, decoded);
    expect(decodeMessage(RECORD, encodeMessage(RECORD, opened), { plainBytes: true })).toEqual(decodeMessage(RECORD, encodeMessage(RECORD, input), { plainBytes: true }));
  });

  it('never puts a sensitive plaintext on the wire', async () => {
    const wire = Buffer.from(encodeMessage(RECORD, await cipher.sealMessage(RECORD, exampleRecord())));
    for (const secret of ['4111111111111111', '123-45-6789', '078-05-1120', 'gift wrap', 'zoe@example.com', '1 Main St']) {
      expect(wire.includes(secret)).toBe(false);
    }
    expect(wire.includes('sku-1')).toBe(true);
  });

  it('two seals of the same message differ (fresh nonces)', async () => {
    const a = await cipher.sealMessage(RECORD, exampleRecord());
    const b = await cipher.sealMessage(RECORD, exampleRecord());
    expect(a.nationalId).not.toBe(b.nationalId);
    expect(hex(a.badge!.pin)).not.toBe(hex(b.badge!.pin));
  });
});

describe('FieldCipher key use', () => {
  it('asks for the primary once per ring per message, and each (ring, version) once on open', async () => {
    const keys = new RecordingKeys(keyProvider());
    const cipher = new FieldCipher({ schema, keys });
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    expect(keys.calls.sort()).toEqual(['primary tenant-eu/default', 'primary tenant-eu/pci']);
    keys.calls.length = 0;
    await cipher.openMessage(RECORD, sealed);
    expect(keys.calls.sort()).toEqual(['version tenant-eu/default/1', 'version tenant-eu/pci/5']);
  });

  it("takes keys from the provider's synchronous cache when it has them all, and falls back per message when one is missing", async () => {
    const inner = keyProvider();
    const calls: string[] = [];
    let pciCached = true;
    const keys = {
      primaryKey: (ref: { tenant: string; ring: string }) => (calls.push(`primary ${ref.ring}`), inner.primaryKey(ref)),
      keyVersion: (ref: { tenant: string; ring: string }, v: number) => (calls.push(`version ${ref.ring}/${v}`), inner.keyVersion(ref, v)),
      cachedPrimaryKey: (ref: { tenant: string; ring: string }) => (ref.ring === 'pci' && !pciCached ? undefined : inner.cachedPrimaryKey(ref)),
      cachedKeyVersion: (ref: { tenant: string; ring: string }, v: number) => (ref.ring === 'pci' && !pciCached ? undefined : inner.cachedKeyVersion(ref, v)),
    };
    const cipher = new FieldCipher({ schema, keys });
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    expect(await cipher.openMessage(RECORD, sealed)).toEqual(exampleRecord());
    expect(calls).toEqual([]);
    pciCached = false;
    const again = await cipher.sealMessage(RECORD, exampleRecord());
    expect(await cipher.openMessage(RECORD, again)).toEqual(exampleRecord());
    expect(calls.sort()).toEqual(['primary default', 'primary pci', 'version default/1', 'version pci/5']);
  });

  it('asks for no key when nothing needs sealing', async () => {
    const keys = new RecordingKeys(keyProvider());
    const cipher = new FieldCipher({ schema, keys });
    const input = { tenantId: 'tenant-eu', recordId: 'r', nationalId: '', addresses: [], lines: [], attributes: {} };
    expect(await cipher.sealMessage(RECORD, input)).toEqual(input);
    expect(keys.calls).toEqual([]);
  });

  it('opens envelopes of older key versions after rotation and seals with the new primary', async () => {
    const keys = keyProvider();
    const cipher = new FieldCipher({ schema, keys });
    const old = await cipher.sealMessage(RECORD, exampleRecord());
    keys.add({ tenant: 'tenant-eu', versions: [{ version: 1, key: KEYS.default[1] }, { version: 2, key: KEYS.default[2] }], primary: 2 });
    const fresh = await cipher.sealMessage(RECORD, exampleRecord());
    expect(parseEnvelope(decodeBase64url(fresh.nationalId)).keyVersion).toBe(2);
    expect(parseEnvelope(decodeBase64url(old.nationalId)).keyVersion).toBe(1);
    const mixed = { ...fresh, email: old.email };
    expect(await cipher.openMessage(RECORD, mixed)).toEqual(exampleRecord());
  });

  it('uses the injected random source for nonces', async () => {
    const cipher = new FieldCipher({ schema, keys: keyProvider(), random: counterRandom(1) });
    const sealed = await cipher.sealMessage(RECORD, exampleRecord({ badge: undefined, addresses: [], lines: [], attributes: {}, email: undefined, blob: new Uint8Array(0) }));
    expect(hex(parseEnvelope(decodeBase64url(sealed.nationalId)).nonce)).toBe('010000000000000000000000');
  });

  it('defaults to native+sodium (fast-backend.ts) in the Node entry and to noble in the portable entry', () => {
    expect(new FieldCipher({ schema, keys: keyProvider() }).backend.name).toBe('native+sodium');
    expect(new PortableFieldCipher({ schema, keys: keyProvider() }).backend.name).toBe('noble');
  });
});

describe('FieldCipher refuses moved or tampered envelopes', () => {
  const cipher = new FieldCipher({ schema, keys: keyProvider() });

  async function openError(message: unknown, opts?: { context?: string }, c: FieldCipher = cipher): Promise<Error> {
    try {
      await c.openMessage(RECORD, message, opts);
    } catch (err) {
      return err as Error;
    }
    throw new Error('expected openMessage to fail');
  }

  it('an envelope moved to another field fails with DecryptionError naming the target path', async () => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    const err = await openError({ ...sealed, email: sealed.nationalId });
    expect(err).toBeInstanceOf(DecryptionError);
    expect((err as DecryptionError).fieldPath).toBe('11');
    expect(err.message).toBe('decryption failed (field 11)');
  });

  it('an envelope moved to another map key fails', async () => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    const attrs = sealed.attributes;
    const err = await openError({ ...sealed, attributes: { ...attrs, vip: attrs['ssn'], ssn: attrs['vip'] } });
    expect(err).toBeInstanceOf(DecryptionError);
    expect((err as DecryptionError).fieldPath).toMatch(/^10\[(vip|ssn)\]$/);
  });

  it('an envelope moved from a nested field to a top-level field fails', async () => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    expect(await openError({ ...sealed, addresses: [sealed.lines[0]!.note] })).toBeInstanceOf(DecryptionError);
  });

  it('reordering elements of one repeated field is not detected (indexes are not in the path, spec §3)', async () => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    const swapped = { ...sealed, addresses: [...sealed.addresses].reverse() };
    const opened = await cipher.openMessage(RECORD, swapped);
    expect(opened.addresses).toEqual([...exampleRecord().addresses].reverse());
  });

  it('another context or tenant fails', async () => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    expect(await openError(sealed)).toBeInstanceOf(DecryptionError);
    expect(await openError(sealed, { context: CONTEXT + 'x' })).toBeInstanceOf(DecryptionError);
    // Same keys under another tenant: only the AAD differs.
    const other = new FieldCipher({
      schema,
      keys: new StaticKeyProvider([
        { tenant: 'tenant-us', versions: [{ version: 1, key: KEYS.default[1] }] },
        { tenant: 'tenant-us', ring: 'pci', versions: [{ version: 5, key: KEYS.pci[5], alg: 2 }] },
      ]),
    });
    expect(await openError({ ...sealed, tenantId: 'tenant-us' }, { context: CONTEXT }, other)).toBeInstanceOf(DecryptionError);
  });

  it('another message type with the same layout fails', async () => {
    const root = protobuf.parse(`syntax = "proto3"; package t.v1;
      message A { option (fle.v1.tenant_field) = "tenant_id"; string tenant_id = 1; string secret = 2 [(fle.v1.sensitive) = true]; }
      message B { option (fle.v1.tenant_field) = "tenant_id"; string tenant_id = 1; string secret = 2 [(fle.v1.sensitive) = true]; }`).root;
    const c = new FieldCipher({ schema: compileSchema(root), keys: keyProvider() });
    const sealed = await c.sealMessage('t.v1.A', { tenantId: 'tenant-eu', secret: 's' });
    expect(await c.openMessage('t.v1.A', sealed)).toEqual({ tenantId: 'tenant-eu', secret: 's' });
    await expect(c.openMessage('t.v1.B', sealed)).rejects.toBeInstanceOf(DecryptionError);
  });

  it('a wrong key fails with DecryptionError', async () => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    const wrong = new FieldCipher({
      schema,
      keys: new StaticKeyProvider([
        { tenant: 'tenant-eu', versions: [{ version: 1, key: seq(32, 0x99) }] },
        { tenant: 'tenant-eu', ring: 'pci', versions: [{ version: 5, key: KEYS.pci[5] }] },
      ]),
    });
    expect(await openError(sealed, undefined, wrong)).toBeInstanceOf(DecryptionError);
  });

  it.each([
    ['truncated', (e: Uint8Array) => e.subarray(0, 30), /too short/],
    ['unknown version', (e: Uint8Array) => Uint8Array.from(e, (b, i) => (i === 0 ? 2 : b)), /unknown envelope version 2/],
    ['unknown alg', (e: Uint8Array) => Uint8Array.from(e, (b, i) => (i === 1 ? 7 : b)), /unknown envelope alg 7/],
    ['key version 0', (e: Uint8Array) => Uint8Array.from(e, (b, i) => (i >= 2 && i < 6 ? 0 : b)), /key version 0/],
  ])('a %s envelope fails with EnvelopeFormatError before any key lookup', async (_name, mangle, message) => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    const keys = new RecordingKeys(keyProvider());
    const c = new FieldCipher({ schema, keys });
    const bad = { ...sealed, badge: { ...sealed.badge!, pin: mangle(sealed.badge!.pin) } };
    const err = await openError(bad, undefined, c);
    expect(err).toBeInstanceOf(EnvelopeFormatError);
    expect(err.message).toMatch(message);
    expect((err as EnvelopeFormatError).fieldPath).toBe('5.5');
    expect(keys.calls).toEqual([]);
  });

  it('text that is not base64url, or plaintext, in a string field fails with EnvelopeFormatError', async () => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    for (const bad of [sealed.nationalId + '=', sealed.nationalId.replace(/[-_]/g, '+') + 'A+/a', '123-45-6789', 'plaintext']) {
      const err = await openError({ ...sealed, nationalId: bad });
      expect(err).toBeInstanceOf(EnvelopeFormatError);
      expect(err.message).not.toContain('123-45');
    }
  });

  it('an unknown key version fails as a forged envelope does (DecryptionError), the provider error as its cause', async () => {
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    const env = decodeBase64url(sealed.nationalId);
    env[5] = 9;
    const { encodeBase64url } = await import('../src/mod.js');
    const err = await openError({ ...sealed, nationalId: encodeBase64url(env) });
    expect(err).toBeInstanceOf(DecryptionError);
    expect(err.message).toBe('decryption failed (field 6)');
    expect(err.cause).toBeInstanceOf(UnknownKeyVersionError);
  });
});

describe('FieldCipher input errors', () => {
  const cipher = new FieldCipher({ schema, keys: keyProvider() });

  it('an empty tenant is a MissingTenantError', async () => {
    await expect(cipher.sealMessage(RECORD, exampleRecord({ tenantId: '' }))).rejects.toBeInstanceOf(MissingTenantError);
    await expect(cipher.openMessage(RECORD, exampleRecord({ tenantId: '' }))).rejects.toThrow(/empty tenant field tenant_id/);
  });

  it('a tenant without keys is an UnknownKeyRingError', async () => {
    await expect(cipher.sealMessage(RECORD, exampleRecord({ tenantId: 'nobody' }))).rejects.toBeInstanceOf(UnknownKeyRingError);
  });

  it('a value of the wrong JS type is an InvalidFieldValueError naming the field, not the value', async () => {
    const bad = { ...exampleRecord(), nationalId: 12345 } as unknown;
    const err = (await cipher.sealMessage(RECORD, bad).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(InvalidFieldValueError);
    expect(err.message).toBe('field fletest.v1.Record.nationalId (6) must hold a string');
    const badMap = { ...exampleRecord(), attributes: new Map([['vip', 'yes']]) } as unknown;
    await expect(cipher.sealMessage(RECORD, badMap)).rejects.toBeInstanceOf(InvalidFieldValueError);
    const badBytes = { ...exampleRecord(), blob: 'not bytes' } as unknown;
    await expect(cipher.sealMessage(RECORD, badBytes)).rejects.toThrow(/must hold a Uint8Array/);
  });

  it('wrong JS types get the same errors whether the keys are cached (one pass) or fetched (checked before any key is asked for)', async () => {
    const bad: Array<[string, unknown]> = [
      ['a number for a string', { ...exampleRecord(), nationalId: 12345 }],
      ['a string for bytes', { ...exampleRecord(), blob: 'not bytes' }],
      ['a Map for a map', { ...exampleRecord(), attributes: new Map([['vip', 'yes']]) }],
      ['a number in a map', { ...exampleRecord(), attributes: { vip: 1 } }],
      ['a string for a repeated field', { ...exampleRecord(), addresses: 'one street' }],
      ['undefined in a repeated field', { ...exampleRecord(), addresses: ['a', undefined] }],
      ['a string for a message', { ...exampleRecord(), badge: 'a card' }],
      ['an object for repeated messages', { ...exampleRecord(), lines: { sku: 'a' } }],
      ['a number among repeated messages', { ...exampleRecord(), lines: [1] }],
      ['a wrong type in a nested message', { ...exampleRecord(), badge: { ...exampleRecord().badge, code: 4111 } }],
    ];
    for (const [what, input] of bad) {
      const fetched = new RecordingKeys(keyProvider());
      const viaFetch = (await new FieldCipher({ schema, keys: fetched }).sealMessage(RECORD, input).catch((e: unknown) => e)) as Error;
      const viaCache = (await new FieldCipher({ schema, keys: keyProvider() }).sealMessage(RECORD, input).catch((e: unknown) => e)) as Error;
      expect(viaFetch, what).toBeInstanceOf(InvalidFieldValueError);
      expect(viaCache, what).toBeInstanceOf(InvalidFieldValueError);
      expect(viaCache.message, what).toBe(viaFetch.message);
      expect(fetched.calls, what).toEqual([]);
    }
  });

  it('an unknown type or a type without a tenant field is a SchemaError', async () => {
    await expect(cipher.sealMessage('fletest.v1.Nope', {})).rejects.toBeInstanceOf(SchemaError);
    await expect(cipher.sealMessage('fletest.v1.Badge', { code: '1' })).rejects.toThrow(/names no tenant field/);
  });

  it('a type without sensitive fields is copied as is', async () => {
    const input = { sku: 'a', quantity: 1 };
    const root = protobuf.parse('syntax = "proto3"; package t.v1; message Plain { string sku = 1; uint32 quantity = 2; }').root;
    const c = new FieldCipher({ schema: compileSchema(root), keys: keyProvider() });
    const out = await c.sealMessage('t.v1.Plain', input);
    expect(out).toEqual(input);
    expect(out).not.toBe(input);
  });
});

describe('maps of messages and integer map keys', () => {
  const root = protobuf.parse(`syntax = "proto3"; package t.v1;
    message Doc { bytes blob = 1 [(fle.v1.sensitive) = true]; string title = 2; }
    message Store { option (fle.v1.tenant_field) = "tenant_id"; string tenant_id = 1;
      map<string, Doc> docs = 2; map<int64, string> by_id = 3 [(fle.v1.sensitive) = true]; map<bool, bytes> flags = 4 [(fle.v1.sensitive) = true]; }`).root;
  const s = compileSchema(root);
  const c = new FieldCipher({ schema: s, keys: keyProvider() });

  it('addresses a value in a map of messages as <map>[<key>].<field> and integer/bool keys as text', async () => {
    const input = { tenantId: 'tenant-eu', docs: { a: { blob: Uint8Array.of(1), title: 't' } }, byId: { '-7': 'neg', '42': 'x' }, flags: { true: Uint8Array.of(9) } };
    const sealed = await c.sealMessage('t.v1.Store', input);
    expect(sealed.docs['a']!.title).toBe('t');
    const open = (v: Uint8Array, fieldPath: string) =>
      openEnvelope(v, { backend: nativeBackend, key: KEYS.default[1], binding: { tenant: 'tenant-eu', messageType: 't.v1.Store', fieldPath } });
    expect(hex(open(sealed.docs['a']!.blob, '2[a].1'))).toBe('01');
    expect(new TextDecoder().decode(open(decodeBase64url(sealed.byId['-7']!), '3[-7]'))).toBe('neg');
    expect(hex(open(sealed.flags['true']!, '4[true]'))).toBe('09');
    expect(await c.openMessage('t.v1.Store', sealed)).toEqual(input);
  });
});

describe('large and non-ASCII values (scratch buffers and their one-off fallbacks)', () => {
  const cipher = new FieldCipher({ schema, keys: keyProvider() });

  it.each([
    ['a 100 KiB ASCII string', 'x'.repeat(100 * 1024)],
    ['a 30 KiB non-ASCII string', 'Zoë 🦊 日本 '.repeat(2500)],
    ['a 200-character non-ASCII string', 'ü'.repeat(200)],
  ])('round-trips %s in a string field and a map value', async (_name, text) => {
    const input = exampleRecord({ nationalId: text, attributes: { big: text } });
    const sealed = await cipher.sealMessage(RECORD, input);
    expect(sealed.nationalId).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(parseEnvelope(decodeBase64url(sealed.nationalId)).sealed.length).toBe(new TextEncoder().encode(text).length + 16);
    expect(await cipher.openMessage(RECORD, sealed)).toEqual(input);
  });

  it('round-trips a 1 MiB bytes field', async () => {
    const input = exampleRecord({ blob: seq(1024 * 1024, 3) });
    const sealed = await cipher.sealMessage(RECORD, input);
    expect(sealed.blob.length).toBe(1024 * 1024 + 34);
    expect(hex((await cipher.openMessage(RECORD, sealed)).blob.subarray(0, 64))).toBe(hex(seq(64, 3)));
  });
});

describe('a message changed while its keys are fetched', () => {
  it('fails with a typed error instead of leaving a value unsealed', async () => {
    const input = exampleRecord({ badge: { code: '', holder: 'Ann', month: 1, year: 2030, pin: new Uint8Array(0) } });
    const inner = keyProvider();
    // Only the default ring is needed at first; the caller then adds a pci value (a caller bug).
    const keys = {
      primaryKey: async (ref: { tenant: string; ring: string }) => {
        input.badge!.code = '4111111111111111';
        return inner.primaryKey(ref);
      },
      keyVersion: inner.keyVersion.bind(inner),
    };
    const c = new FieldCipher({ schema, keys });
    await expect(c.sealMessage(RECORD, input)).rejects.toMatchObject({ code: 'INVALID_FIELD_VALUE', fieldPath: '5.1' });
  });
});
