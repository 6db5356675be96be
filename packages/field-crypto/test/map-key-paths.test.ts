// Map keys in field paths (spec §3, amended): a string key is percent-encoded
// (every UTF-8 byte other than A-Z a-z 0-9 - . _ ~ as %XX, uppercase hex), an
// integer key is written in decimal and a bool key as true/false, so a path
// names exactly one place. Before, a string key went in as-is, and with maps
// of messages the key `a].3[b` and the path a -> 3 -> b both gave `2[a].3[b].1`.
import { describe, expect, it } from 'vitest';
import {
  decodeBase64url,
  DecryptionError,
  FieldCipher,
  InvalidFieldValueError,
  nativeBackend,
  nobleBackend,
  openEnvelope,
  type CipherBackend,
} from '../src/mod.js';
import { decodeMessage, encodeMessage, KEYS, keyProvider, schema, TENANT, TREE, type TestTree } from './fixtures.js';

const backends: [string, CipherBackend][] = [['native', nativeBackend], ['noble', nobleBackend]];
const text = (v: unknown) => new TextDecoder().decode(typeof v === 'string' ? decodeBase64url(v) : (v as Uint8Array));

/** Opens one envelope of the Tree with the default ring's key at `fieldPath`; undefined when it does not open there. */
function openAt(value: unknown, fieldPath: string): string | undefined {
  const bytes = typeof value === 'string' ? decodeBase64url(value) : (value as Uint8Array);
  try {
    return new TextDecoder().decode(openEnvelope(bytes, { backend: nativeBackend, key: KEYS.default[1], binding: { tenant: TENANT, messageType: TREE, fieldPath } }));
  } catch (err) {
    if (err instanceof DecryptionError) return undefined;
    throw err;
  }
}

describe.each(backends)('map keys in field paths (%s backend)', (_name, backend) => {
  const cipher = new FieldCipher({ schema, keys: keyProvider(), backend });

  it('the key `a].3[b` and the path a -> 3 -> b are different places: swapping their envelopes fails authentication', async () => {
    const input: TestTree = {
      tenantId: TENANT,
      folders: {
        'a].3[b': { secret: 'under the key a].3[b' },
        a: { children: { b: { secret: 'under a, then b' } } },
      },
    };
    const sealed = await cipher.sealMessage(TREE, input);
    expect(await cipher.openMessage(TREE, sealed)).toEqual(input);
    const byKey = sealed.folders!['a].3[b']!.secret!;
    const byPath = sealed.folders!['a']!.children!['b']!.secret!;
    // Where each envelope belongs (spec §3): the key's reserved characters are percent-encoded.
    expect(openAt(byKey, '2[a%5D.3%5Bb].1')).toBe('under the key a].3[b');
    expect(openAt(byPath, '2[a].3[b].1')).toBe('under a, then b');
    expect(openAt(byKey, '2[a].3[b].1')).toBeUndefined();
    const swapped = {
      ...sealed,
      folders: {
        'a].3[b': { secret: byPath },
        a: { children: { b: { secret: byKey } } },
      },
    };
    await expect(cipher.openMessage(TREE, swapped)).rejects.toBeInstanceOf(DecryptionError);
  });

  it('writes string keys percent-encoded (UTF-8, uppercase hex), the empty key as [], unreserved keys as they are', async () => {
    const notes: Record<string, string> = { ssn: 's', 'a].3[b': 'k', é: 'e', '': 'empty', 'A-Z_a~z.09': 'dot', '100%': 'pct', ' ': 'space', '🦊': 'fox' };
    const sealed = await cipher.sealMessage(TREE, { tenantId: TENANT, notes });
    const at: Record<string, string> = {
      ssn: '7[ssn]',
      'a].3[b': '7[a%5D.3%5Bb]',
      é: '7[%C3%A9]',
      '': '7[]',
      'A-Z_a~z.09': '7[A-Z_a~z.09]',
      '100%': '7[100%25]',
      ' ': '7[%20]',
      '🦊': '7[%F0%9F%A6%8A]',
    };
    for (const [key, path] of Object.entries(at)) expect(openAt(sealed.notes![key], path), key).toBe(notes[key]);
    expect(await cipher.openMessage(TREE, sealed)).toEqual({ tenantId: TENANT, notes });
  });

  it('writes integer keys in decimal and bool keys as true/false, under maps of messages too', async () => {
    const input: TestTree = {
      tenantId: TENANT,
      byId: { '-7': 'neg', '42': 'x', '9007199254740993': 'big' },
      bySigned: { '-2147483648': 'min' },
      byNumber: { '4294967295': { secret: 'max u32', blob: Uint8Array.of(9) } },
      flags: { true: Uint8Array.of(1), false: Uint8Array.of(0) },
    };
    const sealed = await cipher.sealMessage(TREE, input);
    expect(openAt(sealed.byId!['-7'], '4[-7]')).toBe('neg');
    expect(openAt(sealed.byId!['9007199254740993'], '4[9007199254740993]')).toBe('big');
    expect(openAt(sealed.bySigned!['-2147483648'], '8[-2147483648]')).toBe('min');
    expect(openAt(sealed.byNumber!['4294967295']!.secret, '5[4294967295].1')).toBe('max u32');
    expect(openAt(sealed.flags!['true'], '6[true]')).toBe('\x01');
    expect(await cipher.openMessage(TREE, sealed)).toEqual(input);
  });

  it('a message decoded from the wire opens at the same paths it was sealed at', async () => {
    const input: TestTree = { tenantId: TENANT, folders: { 'x[1]': { secret: 's', children: { 'é.é': { secret: 't' } } } }, bySigned: { '-1': 'm' }, flags: { true: Uint8Array.of(1) } };
    const sealed = await cipher.sealMessage(TREE, input);
    const decoded = decodeMessage<TestTree>(TREE, encodeMessage(TREE, sealed));
    const opened = await cipher.openMessage(TREE, decoded);
    expect(opened.folders!['x[1]']!.children!['é.é']!.secret).toBe('t');
    expect(opened.bySigned!['-1']).toBe('m');
    expect(text(opened.flags!['true'])).toBe('\x01');
  });

  it.each([
    ['an integer key not in canonical decimal', { byId: { '07': 'x' } }, '4'],
    ['an integer key that is not a number', { byId: { abc: 'x' } }, '4'],
    ['a negative key in an unsigned map', { byNumber: { '-1': { secret: 'x' } } }, '5'],
    ['an integer key out of its type range', { bySigned: { '2147483648': 'x' } }, '8'],
    ['a bool key other than true/false', { flags: { yes: Uint8Array.of(1) } }, '6'],
    ['a string key that is not well-formed UTF-16 (no UTF-8 form)', { notes: { ['a\ud800']: 'x' } }, '7'],
  ])('refuses %s (InvalidFieldValueError naming the map, never the key)', async (_name, maps, path) => {
    const err = (await cipher.sealMessage(TREE, { tenantId: TENANT, ...maps }).catch((e: unknown) => e)) as InvalidFieldValueError;
    expect(err).toBeInstanceOf(InvalidFieldValueError);
    expect(err.fieldPath).toBe(path);
    const opened = (await cipher.openMessage(TREE, { tenantId: TENANT, ...maps }).catch((e: unknown) => e)) as InvalidFieldValueError;
    expect(opened).toBeInstanceOf(InvalidFieldValueError);
  });
});
