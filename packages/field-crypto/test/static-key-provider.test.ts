import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SecretKey, StaticKeyProvider, UnknownKeyRingError, UnknownKeyVersionError } from '../src/mod.js';
import { seq } from './helpers.js';

describe('StaticKeyProvider', () => {
  const keys = new StaticKeyProvider([
    { tenant: 't', versions: [{ version: 1, key: seq(32, 1) }, { version: 2, key: seq(32, 2), alg: 2 }] },
    { tenant: 't', ring: 'pci', versions: [{ version: 1, key: seq(32, 3) }, { version: 4, key: seq(32, 4) }], primary: 1 },
  ]);

  it('returns the highest version as primary unless one is named', async () => {
    expect((await keys.primaryKey({ tenant: 't', ring: 'default' })).version).toBe(2);
    expect((await keys.primaryKey({ tenant: 't', ring: 'default' })).alg).toBe(2);
    expect((await keys.primaryKey({ tenant: 't', ring: 'pci' })).version).toBe(1);
    expect((await keys.keyVersion({ tenant: 't', ring: 'pci' }, 4)).key.exposeBytes()).toEqual(seq(32, 4));
  });

  it('throws typed errors for unknown rings and versions', async () => {
    await expect(keys.primaryKey({ tenant: 'u', ring: 'default' })).rejects.toBeInstanceOf(UnknownKeyRingError);
    await expect(keys.keyVersion({ tenant: 't', ring: 'pci' }, 2)).rejects.toBeInstanceOf(UnknownKeyVersionError);
    await expect(keys.keyVersion({ tenant: 't', ring: 'x' }, 1)).rejects.toMatchObject({ code: 'UNKNOWN_KEY_VERSION' });
  });

  it('refuses bad material', () => {
    expect(() => new StaticKeyProvider([{ tenant: 't', versions: [{ version: 0, key: seq(32) }] }])).toThrow(RangeError);
    expect(() => new StaticKeyProvider([{ tenant: 't', versions: [{ version: 1, key: seq(31) }] }])).toThrow(TypeError);
    expect(() => new StaticKeyProvider([{ tenant: 't', versions: [{ version: 1, key: seq(32) }], primary: 3 }])).toThrow(RangeError);
  });

  it('never shows key bytes', async () => {
    const material = await keys.keyVersion({ tenant: 't', ring: 'default' }, 1);
    const shown = [JSON.stringify(material), inspect(material), String(material.key), inspect(keys)].join(' ');
    expect(shown).not.toMatch(/1,\s*2,\s*3|0102030405/);
    expect(shown).toContain('redacted');
    expect(material.key).toBeInstanceOf(SecretKey);
  });
});
