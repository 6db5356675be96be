// The reused writer and the generated registry, on fle's own compiled-in protos
// (the keystore API): a team's schema is loaded at run time, never compiled in.
import { describe, expect, it } from 'vitest';
import { schemaRoot } from '@fle/schema';
import { encodeMessage, encodeToBuffer } from '@fle/schema/encode';
import { GetKeyVersionRequest, KeyMaterial, KeystoreAdminServiceService, KeystoreServiceService, KeyVersionInfo } from '@fle/schema/gen/fle/keystore/v1/keystore.js';
import { messageFns, serviceDefinitions } from '@fle/schema/gen/message-registry.js';
import { serializerFor } from '@fle/schema/serializers';

const material = (i: number, payload: number) =>
  KeyMaterial.fromPartial({
    info: { tenant: `t${i}-${'é'.repeat(i % 40)}`, ring: 'r'.repeat(1 + (i % 9)), version: 1 + i, createdAtUnixMs: 1_700_000_000_000 + i, sealCount: i * 1000 },
    symmetricKey: Uint8Array.from({ length: payload }, (_, j) => (j * 31 + i) & 0xff),
    x25519PublicKey: Uint8Array.of(1, 2, i & 0xff),
  });

describe('@fle/schema/encode (one reused writer per process)', () => {
  it('gives the very bytes of encode().finish(), message after message of any size and type', () => {
    for (let i = 0; i < 60; i++) {
      const msg = material(i, [0, 16, 1024, 70_000, 300][i % 5]!);
      const expected = KeyMaterial.encode(msg).finish();
      const got = encodeMessage(KeyMaterial, msg);
      expect(got.length).toBe(expected.length);
      expect(Buffer.compare(got, expected)).toBe(0);
      // A smaller message of another type right after a large one: nothing of the previous one leaks.
      const small = GetKeyVersionRequest.fromPartial({ tenant: 't', ring: 'default', version: i + 1 });
      expect(encodeMessage(GetKeyVersionRequest, small)).toEqual(GetKeyVersionRequest.encode(small).finish());
    }
  });

  it('returns arrays of their own, and Buffers over them', () => {
    const a = encodeMessage(GetKeyVersionRequest, GetKeyVersionRequest.fromPartial({ tenant: 'a', ring: 'pci', version: 7 }));
    const copy = Uint8Array.from(a);
    const b = encodeToBuffer(GetKeyVersionRequest, GetKeyVersionRequest.fromPartial({ tenant: 'b', ring: 'default', version: 9 }));
    expect(a).toEqual(copy); // the next encode did not write into it
    expect(Buffer.isBuffer(b)).toBe(true);
    expect(GetKeyVersionRequest.decode(b)).toMatchObject({ tenant: 'b', ring: 'default', version: 9 });
  });

  it('recovers from a failed encode: the next message is encoded whole', () => {
    const bad = KeyVersionInfo.fromPartial({ tenant: 't', sealCount: -5 }); // uint64 refuses a negative number
    expect(() => encodeMessage(KeyVersionInfo, bad)).toThrow();
    const good = material(3, 64);
    expect(encodeMessage(KeyMaterial, good)).toEqual(KeyMaterial.encode(good).finish());
  });

  it('the registry names every message of the reflection schema with its ts-proto functions', () => {
    const names: string[] = [];
    const walk = (ns: { nestedArray: unknown[] }): void => {
      for (const o of ns.nestedArray as Array<{ fullName: string; fields?: unknown; nestedArray?: unknown[] }>) {
        if (o.fields !== undefined) names.push(o.fullName.slice(1));
        if (o.nestedArray) walk(o as { nestedArray: unknown[] });
      }
    };
    walk(schemaRoot());
    const ours = names.filter((n) => !n.startsWith('google.'));
    expect(Object.keys(messageFns).sort()).toEqual(ours.sort());
    expect(messageFns['fle.keystore.v1.KeyMaterial']).toBe(KeyMaterial);
    expect(serviceDefinitions).toEqual(expect.arrayContaining([KeystoreServiceService, KeystoreAdminServiceService]));
  });

  it('serializerFor: a generated definition gets the reused writer (same bytes), any other keeps its own serializer', () => {
    const def = KeystoreServiceService.getKeyVersion;
    const fast = serializerFor(def, 'fle.keystore.v1.GetKeyVersionRequest', def.requestSerialize);
    expect(fast).not.toBe(def.requestSerialize);
    const msg = GetKeyVersionRequest.fromPartial({ tenant: 't7', ring: 'pci', version: 3 });
    expect(Buffer.compare(fast(msg), def.requestSerialize(msg))).toBe(0);
    const wrapper = { ...def, requestSerialize: (v: GetKeyVersionRequest) => def.requestSerialize(v) };
    expect(serializerFor(wrapper, 'fle.keystore.v1.GetKeyVersionRequest', wrapper.requestSerialize)).toBe(wrapper.requestSerialize);
    expect(serializerFor(def, 'no.such.Type', def.requestSerialize)).toBe(def.requestSerialize);
  });
});
