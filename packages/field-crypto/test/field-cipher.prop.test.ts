// Properties of the walk over random fletest Records (every backend), and
// byte equality of the fast backend's string paths with node:crypto's.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSealed, DecryptionError, fastBackend, FieldCipher, nativeBackend, nobleBackend, sodiumReady, type CipherBackend } from '../src/mod.js';
import { counterRandom } from './helpers.js';
import { keyProvider, RECORD, schema, type TestRecord } from './fixtures.js';

const str = fc.string({ unit: 'grapheme', maxLength: 20 });
const key = fc.string({ unit: 'grapheme-ascii', maxLength: 6 }).filter((k) => k !== '__proto__');
const request: fc.Arbitrary<TestRecord> = fc.record({
  tenantId: fc.string({ minLength: 1, maxLength: 10 }),
  recordId: str,
  amount: fc.nat(),
  currency: str,
  badge: fc.option(
    fc.record({ code: str, holder: str, month: fc.nat({ max: 12 }), year: fc.nat(), pin: fc.uint8Array({ maxLength: 4 }) }),
    { nil: undefined },
  ),
  nationalId: str,
  blob: fc.uint8Array({ maxLength: 64 }),
  addresses: fc.array(str, { maxLength: 4 }),
  lines: fc.array(fc.record({ sku: str, quantity: fc.nat(), note: str }), { maxLength: 3 }),
  attributes: fc.dictionary(key, str, { maxKeys: 4 }),
  email: fc.option(str, { nil: undefined }),
  phone: fc.option(str, { nil: undefined }),
  merchant: str,
  labels: fc.dictionary(key, str, { maxKeys: 2 }),
});

const backends: [string, CipherBackend][] = [['native', nativeBackend], ['noble', nobleBackend], ['fast', fastBackend]];

beforeAll(async () => {
  expect(await sodiumReady).toBe(true);
});

describe('fast backend (libsodium, text paths for string fields) and node:crypto', () => {
  it('seal the same message to the same bytes from the same nonces, and each opens what the other sealed', async () => {
    await fc.assert(
      fc.asyncProperty(request, fc.option(str, { nil: undefined }), fc.nat(), async (m, context, seed) => {
        const fast = new FieldCipher({ schema, keys: keyProvider(m.tenantId), backend: fastBackend, random: counterRandom(seed + 1) });
        const native = new FieldCipher({ schema, keys: keyProvider(m.tenantId), backend: nativeBackend, random: counterRandom(seed + 1) });
        const byFast = await fast.sealMessage(RECORD, m, { context });
        const byNative = await native.sealMessage(RECORD, m, { context });
        expect(byFast).toEqual(byNative);
        expect(await fast.openMessage(RECORD, byNative, { context })).toEqual(m);
        expect(await native.openMessage(RECORD, byFast, { context })).toEqual(m);
      }),
      { numRuns: 60 },
    );
  });
});

describe.each(backends)('walk properties (%s)', (_name, backend) => {
  it('open(seal(m)) = m, sealed messages pass checkSealed, the input is untouched', async () => {
    await fc.assert(
      fc.asyncProperty(request, fc.option(str, { nil: undefined }), async (m, context) => {
        const c = new FieldCipher({ schema, keys: keyProvider(m.tenantId), backend });
        const before = structuredClone(m);
        const sealed = await c.sealMessage(RECORD, m, { context });
        checkSealed(schema, RECORD, sealed);
        expect(await c.openMessage(RECORD, sealed, { context })).toEqual(before);
        expect(m).toEqual(before);
      }),
      { numRuns: 60 },
    );
  });

  it('swapping two different map values between keys fails', async () => {
    await fc.assert(
      fc.asyncProperty(request, key, key, str, str, async (m, k1, k2, v1, v2) => {
        fc.pre(k1 !== k2 && v1 !== '' && v2 !== '');
        const c = new FieldCipher({ schema, keys: keyProvider(m.tenantId), backend });
        const sealed = await c.sealMessage(RECORD, { ...m, attributes: { [k1]: v1, [k2]: v2 } });
        const attrs = sealed.attributes;
        const swapped = { ...sealed, attributes: { [k1]: attrs[k2]!, [k2]: attrs[k1]! } };
        await expect(c.openMessage(RECORD, swapped)).rejects.toBeInstanceOf(DecryptionError);
      }),
      { numRuns: 40 },
    );
  });
});
