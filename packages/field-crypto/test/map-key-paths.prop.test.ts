// Spec §3: "a path names exactly one place in a message: no two map keys, and
// no map key and a nested path, can give the same text". Checked on random
// Trees (fixtures/fletest.proto: maps of messages inside maps, and maps under
// every key kind) whose keys are drawn from the characters that spell paths
// ([ ] . %) and from all of Unicode, and on the key encoding itself.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FieldCipher, mapKeyText } from '../src/mod.js';
import { collectSlots, slotPath, type Slot } from '../src/walk.js';
import { keyProvider, schema, TENANT, TREE, type Folder, type Leaf, type TestTree } from './fixtures.js';

/** True when `s` has a UTF-8 form (no lone surrogate). */
const wellFormed = (s: string): boolean => !/\p{Surrogate}/u.test(s);

/** Keys made of path syntax, percent signs, hex digits, unreserved and non-ASCII characters. */
const pathChars = fc.constantFrom('[', ']', '.', '%', '2', '5', 'B', 'D', 'E', 'a', 'b', '3', '1', '-', '_', '~', ' ', 'é', '🦊', '\u0000');
const stringKey = fc.oneof(
  fc.array(pathChars, { maxLength: 8 }).map((a) => a.join('')),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 4 }).filter(wellFormed),
).filter((k) => k !== '__proto__');
const int64Key = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);
const uint32Key = fc.nat({ max: 0xffff_ffff }).map(String);
const value = fc.string({ minLength: 1, maxLength: 3 });

const leaf: fc.Arbitrary<Leaf> = fc.record({ secret: value, blob: fc.uint8Array({ minLength: 1, maxLength: 2 }) });
const folder: fc.Arbitrary<Folder> = fc.record({ secret: value, children: fc.dictionary(stringKey, leaf, { maxKeys: 4 }) });
const randomTree: fc.Arbitrary<TestTree> = fc.record({
  tenantId: fc.constant(TENANT),
  folders: fc.dictionary(stringKey, folder, { maxKeys: 5 }),
  byId: fc.dictionary(int64Key, value, { maxKeys: 3 }),
  byNumber: fc.dictionary(uint32Key, leaf, { maxKeys: 3 }),
  flags: fc.dictionary(fc.constantFrom('true', 'false'), fc.uint8Array({ minLength: 1, maxLength: 2 }), { maxKeys: 2 }),
  notes: fc.dictionary(stringKey, value, { maxKeys: 5 }),
});
/**
 * Random Trees plus, for some folder k with a child c, a folder whose key is
 * `k].3[c`: written as-is, its secret (2[k].3[c].1) would sit at the same
 * text as the secret of child c of folder k.
 */
const tree: fc.Arbitrary<TestTree> = randomTree.chain((t) => {
  const pairs = Object.entries(t.folders!).flatMap(([k, f]) => Object.keys(f.children ?? {}).map((c) => `${k}].3[${c}`));
  if (pairs.length === 0) return fc.constant(t);
  return fc.subarray(pairs, { minLength: 1 }).map((keys) => {
    const folders = { ...t.folders };
    for (const key of keys) folders[key] = { secret: 'confusable' };
    return { ...t, folders };
  });
});

/** Every place of a Tree that holds a sensitive value, as the walk finds them (one slot per place: Trees have no repeated fields). */
function slotsOf(t: TestTree): Slot[] {
  const slots: Slot[] = [];
  collectSlots(schema.plan(TREE).root, t as unknown as Record<string, unknown>, undefined, false, slots);
  return slots;
}

/** Percent-decoding, the inverse of the spec's encoding, written from the spec text. */
function percentDecode(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') {
      expect(s.slice(i + 1, i + 3)).toMatch(/^[0-9A-F]{2}$/);
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      expect(s[i]).toMatch(/^[A-Za-z0-9._~-]$/);
      bytes.push(s.charCodeAt(i));
    }
  }
  return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
}

describe('map keys in paths (spec §3) on random Trees', () => {
  it('distinct places never give the same path text', () => {
    let multi = 0;
    fc.assert(
      fc.property(tree, (t) => {
        const paths = slotsOf(t).map(slotPath);
        expect(new Set(paths).size).toBe(paths.length);
        if (paths.length > 3) multi++;
      }),
      { numRuns: 1500 },
    );
    expect(multi).toBeGreaterThan(500);
  });

  it('a string key is written as its percent-encoded UTF-8: no bracket, only unreserved characters and %XX, decodable back to the key', () => {
    fc.assert(
      fc.property(stringKey, fc.string({ unit: 'grapheme', maxLength: 12 }), (k, other) => {
        const t = mapKeyText('string', k);
        expect(t).not.toMatch(/[[\]]/);
        expect(percentDecode(t!)).toBe(k);
        if (other !== k && wellFormed(other)) expect(mapKeyText('string', other)).not.toBe(t);
      }),
      { numRuns: 3000 },
    );
  });

  it('sealing and opening agree on every path: a sealed random Tree opens back to itself', async () => {
    const cipher = new FieldCipher({ schema, keys: keyProvider() });
    await fc.assert(
      fc.asyncProperty(tree, async (t) => {
        expect(await cipher.openMessage(TREE, await cipher.sealMessage(TREE, t))).toEqual(t);
      }),
      { numRuns: 200 },
    );
  });
});
