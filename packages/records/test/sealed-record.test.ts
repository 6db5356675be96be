import { randomBytes } from 'node:crypto';
import { DecryptionError, EnvelopeFormatError, FieldCipher, StaticKeyProvider, type KeyProvider, type KeyRingRef, type KeyVersionMaterial } from '@fle/field-crypto';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import {
  decodeSealedRecord,
  encodeSealedRecord,
  envelopeUses,
  openRecord,
  recordContext,
  RecordFormatError,
  RecordIdentityError,
  RecordTypeError,
  sealRecord,
} from '../src/mod.js';
import { DOSSIER, Dossiers, dossier, Notes, schema, type Dossier } from './fixtures/schema.js';

const K1 = randomBytes(32);
const K2 = randomBytes(32);
const KD = randomBytes(32);

function keys(primary = 1): StaticKeyProvider {
  return new StaticKeyProvider([
    { tenant: 'ten-a', ring: 'records', versions: [{ version: 1, key: K1 }, { version: 2, key: K2, alg: 2 }], primary },
    { tenant: 'ten-a', versions: [{ version: 7, key: KD }] },
    { tenant: 'ten-b', ring: 'records', versions: [{ version: 1, key: K1 }] },
  ]);
}

/** Counts key requests, to show what is refused before any key is asked for. */
class CountingKeys implements KeyProvider {
  calls = 0;
  constructor(private readonly inner: KeyProvider) {}
  primaryKey(ref: KeyRingRef): Promise<KeyVersionMaterial> {
    this.calls++;
    return this.inner.primaryKey(ref);
  }
  keyVersion(ref: KeyRingRef, version: number): Promise<KeyVersionMaterial> {
    this.calls++;
    return this.inner.keyVersion(ref, version);
  }
}

const id = { store: 'dossiers', key: 'ten-a.42' };

describe('sealRecord / openRecord', () => {
  it('round-trips every sensitive shape and stores no plaintext', async () => {
    const cipher = new FieldCipher({ schema, keys: keys() });
    const value = dossier('ten-a', 42);
    const bytes = await sealRecord(cipher, Dossiers, id, value);
    const stored = Buffer.from(bytes);
    for (const secret of ['Subject 42', 'Long Road', 'alias-42-a', 'odd key 42', 'Old Lane']) expect(stored.includes(secret)).toBe(false);
    expect(stored.includes(Buffer.from(value.document!))).toBe(false);
    // clear fields stay readable
    expect(stored.includes('NL')).toBe(true);
    expect(decodeSealedRecord(bytes).typeName).toBe(DOSSIER);
    expect(await openRecord(cipher, Dossiers, id, bytes)).toEqual(value);
  });

  it('binds the record identity: another key or store does not open', async () => {
    const cipher = new FieldCipher({ schema, keys: keys() });
    const bytes = await sealRecord(cipher, Dossiers, id, dossier('ten-a', 1));
    await expect(openRecord(cipher, Dossiers, { ...id, key: 'ten-a.43' }, bytes)).rejects.toBeInstanceOf(DecryptionError);
    await expect(openRecord(cipher, Dossiers, { ...id, store: 'archive' }, bytes)).rejects.toBeInstanceOf(DecryptionError);
  });

  it('a field moved from one record into another does not open', async () => {
    const cipher = new FieldCipher({ schema, keys: keys() });
    const a = decodeSealedRecord(await sealRecord(cipher, Dossiers, id, dossier('ten-a', 1)));
    const otherId = { store: 'dossiers', key: 'ten-a.99' };
    const b = decodeSealedRecord(await sealRecord(cipher, Dossiers, otherId, dossier('ten-a', 2)));
    const mixed = { ...Dossiers.codec.decode(b.message), subjectName: (Dossiers.codec.decode(a.message) as Dossier).subjectName };
    const bytes = encodeSealedRecord(DOSSIER, Dossiers.codec.encode(mixed).finish());
    await expect(openRecord(cipher, Dossiers, otherId, bytes)).rejects.toBeInstanceOf(DecryptionError);
  });

  it('refuses another type, and malformed stored bytes, before asking for any key', async () => {
    const counting = new CountingKeys(keys());
    const cipher = new FieldCipher({ schema, keys: counting });
    const note = await sealRecord(new FieldCipher({ schema, keys: keys() }), Notes, id, { owner: 'ten-a', text: 't', memo: 'm' });
    await expect(openRecord(cipher, Dossiers, id, note)).rejects.toBeInstanceOf(RecordTypeError);
    for (const bad of [
      Uint8Array.of(),
      Uint8Array.of(0x0a, 0x05, 0x61), // truncated type
      encodeSealedRecord('not a name!', Uint8Array.of()),
      Uint8Array.of(...encodeSealedRecord(DOSSIER, Uint8Array.of()), 0x1a, 0x00), // unknown field 3
      Uint8Array.of(...encodeSealedRecord(DOSSIER, Uint8Array.of()), 0x0a, 0x01, 0x61), // type twice
      Uint8Array.of(0x0a, 0x01, 0x61), // message missing
    ]) {
      await expect(openRecord(cipher, Dossiers, id, bad)).rejects.toBeInstanceOf(RecordFormatError);
    }
    expect(counting.calls).toBe(0);
  });

  it('frames a record exactly as the SealedRecord message (docs/records.md), whatever its length', () => {
    // The frame's type part is built once per type: the bytes must stay those of a protobuf encoder.
    for (const length of [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152]) {
      const message = Uint8Array.from({ length }, (_, i) => (i * 31) & 0xff);
      const expected = protobuf.Writer.create().uint32((1 << 3) | 2).string(DOSSIER).uint32((2 << 3) | 2).bytes(message).finish();
      const framed = encodeSealedRecord(DOSSIER, message);
      expect(Buffer.from(framed).equals(Buffer.from(expected)), `length ${length}`).toBe(true);
      const decoded = decodeSealedRecord(framed);
      expect(decoded.typeName).toBe(DOSSIER);
      expect(Buffer.from(decoded.message).equals(Buffer.from(message))).toBe(true);
    }
  });

  it('a record whose message does not decode is a format error', async () => {
    const cipher = new FieldCipher({ schema, keys: keys() });
    const bytes = encodeSealedRecord(DOSSIER, Uint8Array.of(0xff, 0xff, 0xff, 0xff));
    await expect(openRecord(cipher, Dossiers, id, bytes)).rejects.toBeInstanceOf(RecordFormatError);
  });
});

describe('recordContext', () => {
  it('is rec/<store>/<key>, keys may hold slashes and dots', () => {
    expect(recordContext({ store: 'dossiers', key: 'ten-a/2024/x.1' })).toBe('rec/dossiers/ten-a/2024/x.1');
  });

  it.each([
    [{ store: 'a/b', key: 'k' }],
    [{ store: '', key: 'k' }],
    [{ store: 's', key: '' }],
    [{ store: 's', key: 'has space' }],
    [{ store: 's', key: '.leading' }],
    [{ store: 's', key: 'trailing.' }],
    [{ store: 's', key: 'wild*' }],
  ])('refuses %j', (bad) => {
    expect(() => recordContext(bad)).toThrow(RecordIdentityError);
  });
});

describe('envelopeUses', () => {
  it('lists (ring, version, alg) from the headers, without keys', async () => {
    const v1 = await new FieldCipher({ schema, keys: keys(1) }).sealMessage(DOSSIER, dossier('ten-a', 1), { context: 'x' });
    expect(envelopeUses(schema, DOSSIER, v1)).toEqual([{ ring: 'records', keyVersion: 1, alg: 1 }]);
    const v2 = await new FieldCipher({ schema, keys: keys(2) }).sealMessage(DOSSIER, dossier('ten-a', 1), { context: 'x' });
    // one field still under v1 (as if written before the rotation)
    const mixed = { ...v2, address: v1.address };
    expect(envelopeUses(schema, DOSSIER, mixed)).toEqual(
      expect.arrayContaining([
        { ring: 'records', keyVersion: 2, alg: 2 },
        { ring: 'records', keyVersion: 1, alg: 1 },
      ]),
    );
    const note = await new FieldCipher({ schema, keys: keys() }).sealMessage('fletest.records.v1.Note', { owner: 'ten-a', text: 't', memo: 'm' });
    expect(envelopeUses(schema, 'fletest.records.v1.Note', note)).toEqual(
      expect.arrayContaining([
        { ring: 'records', keyVersion: 1, alg: 1 },
        { ring: 'default', keyVersion: 7, alg: 1 },
      ]),
    );
  });

  it('finds nothing in a record with empty sensitive fields, and refuses plaintext', () => {
    expect(envelopeUses(schema, DOSSIER, { owner: 'ten-a', subjectName: '', status: 'x' })).toEqual([]);
    expect(() => envelopeUses(schema, DOSSIER, { owner: 'ten-a', subjectName: 'plain text here' })).toThrow(EnvelopeFormatError);
    expect(() => envelopeUses(schema, DOSSIER, { owner: 'ten-a', tags: { a: 'AQAAAAE' } })).toThrow(EnvelopeFormatError);
  });
});
