// The wire check (issue 17.1): each way of hiding plaintext from a decoder's
// view — an earlier copy of a sensitive field, an earlier copy of a nested
// message (merged), a duplicate map key, an unknown field, another wire type,
// two members of a oneof — is refused on the bytes, naming the field number;
// what a protobuf encoder writes passes, and the envelope cap bounds the work.
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { compileWireCheck, TooManyEnvelopesError, WireFormatError } from '../src/mod.js';
import { RECORD, root, TREE } from './fixtures.js';

const check = compileWireCheck(root, RECORD);
const Record = root.lookupType(RECORD);

/** Bytes of one field: tag, then the value written by `write`. */
function field(number: number, wire: number, write: (w: protobuf.Writer) => void): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((number << 3) | wire);
  write(w);
  return w.finish();
}
const str = (number: number, s: string): Uint8Array => field(number, 2, (w) => w.string(s));
const msg = (number: number, ...parts: Uint8Array[]): Uint8Array => field(number, 2, (w) => w.bytes(concat(...parts)));
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}
const ENVELOPE = 'AQEAAAABenvelope-stand-in'; // the wire check does not parse envelopes: checkSealed does

function refused(bytes: Uint8Array, fieldNumber: number, what: RegExp): void {
  let err: unknown;
  try {
    check(bytes);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(WireFormatError);
  expect((err as WireFormatError).code).toBe('WIRE_FORMAT');
  expect((err as WireFormatError).fieldNumber).toBe(fieldNumber);
  expect((err as Error).message).toMatch(what);
  expect((err as Error).message).not.toMatch(/4111|Alice/); // never a value
}

describe('compileWireCheck', () => {
  it('passes what an encoder writes and counts its sensitive values', () => {
    const bytes = Record.encode(
      Record.fromObject({
        tenantId: 't1', amount: 5, badge: { code: ENVELOPE, holder: ENVELOPE, month: 1, pin: new Uint8Array([1]) },
        nationalId: ENVELOPE, addresses: [ENVELOPE, ENVELOPE], lines: [{ sku: 'a', note: ENVELOPE }, { sku: 'b' }],
        attributes: { k1: ENVELOPE, k2: ENVELOPE }, email: ENVELOPE, labels: { a: 'b', c: 'd' },
      }),
    ).finish();
    expect(check(bytes)).toBe(10);
    expect(check(new Uint8Array(0))).toBe(0);
  });

  it('refuses an earlier copy of a sensitive singular field', () => {
    refused(concat(str(1, 't1'), str(6, '4111111111111111'), str(6, ENVELOPE)), 6, /occurs more than once/);
  });

  it('refuses an earlier copy of a nested message holding a sensitive field (a decoder merges them)', () => {
    refused(concat(str(1, 't1'), msg(5, str(1, '4111111111111111')), msg(5, str(2, ENVELOPE))), 5, /occurs more than once/);
  });

  it('refuses a duplicate map key, sensitive map or not', () => {
    const entry = (k: string, v: string) => msg(10, str(1, k), str(2, v));
    refused(concat(str(1, 't1'), entry('k', 'Alice'), entry('k', ENVELOPE)), 10, /repeats a map key/);
    const label = (k: string, v: string) => msg(14, str(1, k), str(2, v));
    refused(concat(label('x', '1'), label('x', '2')), 14, /repeats a map key/);
    // A missing key is the default key: twice is a duplicate too.
    refused(concat(msg(10, str(2, 'Alice')), msg(10, str(2, ENVELOPE))), 10, /repeats a map key/);
    refused(concat(msg(10, str(1, 'k'), str(2, 'Alice'), str(2, ENVELOPE))), 10, /two values/);
    refused(concat(msg(10, str(1, 'k'), str(3, 'Alice'))), 10, /only key 1 and value 2/);
  });

  it('compares string map keys by their text: short ASCII, non-ASCII and long keys alike', () => {
    const label = (k: string | Uint8Array, v: string) => msg(14, typeof k === 'string' ? str(1, k) : field(1, 2, (w) => w.bytes(k)), str(2, v));
    const long = 'k'.repeat(65); // past the short-key path
    expect(check(concat(label('ключ', '1'), label('key', '2'), label(long, '3'), label(`${long}x`, '4'), label('', '5')))).toBe(0);
    refused(concat(label('ключ', '1'), label('key', '2'), label('ключ', '3')), 14, /repeats a map key/);
    refused(concat(label(long, '1'), label(long, '2')), 14, /repeats a map key/);
    // The empty key, sent or left out (a decoder's default), is one key.
    refused(concat(label('', '1'), msg(14, str(2, '2'))), 14, /repeats a map key/);
    refused(label(new Uint8Array([0x6b, 0xc3]), '1'), 14, /map key that is not valid UTF-8/);
  });

  it('refuses an unknown field number, at the top and inside a nested message', () => {
    refused(concat(str(1, 't1'), str(99, '4111111111111111')), 99, /unknown field/);
    refused(concat(str(1, 't1'), msg(9, str(1, 'sku'), str(7, 'Alice'))), 7, /unknown field/);
  });

  it('refuses a known field sent with another wire type', () => {
    refused(concat(str(1, 't1'), field(6, 1, (w) => w.fixed64(0x34313131))), 6, /wire type 1, the schema's is 2/);
    refused(concat(field(3, 2, (w) => w.string('4111'))), 3, /wire type 2, the schema's is 0/);
  });

  it('refuses two members of one oneof', () => {
    refused(concat(str(1, 't1'), str(11, 'alice@example.com'), str(12, ENVELOPE)), 12, /same oneof as field 11/);
  });

  it('refuses groups, truncated bytes and invalid UTF-8 in a sensitive string', () => {
    refused(concat(str(1, 't1'), field(6, 3, () => undefined)), 6, /wire type 3/);
    expect(() => check(str(6, ENVELOPE).subarray(0, 5))).toThrow(/truncated/);
    refused(field(6, 2, (w) => w.bytes(new Uint8Array([0xff, 0xfe]))), 6, /not valid UTF-8/);
  });

  it('normalizes integer map keys as a decoder would (non-canonical varints are the same key)', () => {
    const tree = compileWireCheck(root, TREE);
    const byId = (keyBytes: number[], v: string) => msg(4, concat(new Uint8Array([0x08, ...keyBytes])), str(2, v));
    expect(tree(concat(byId([0x05], ENVELOPE), byId([0x06], ENVELOPE)))).toBe(2);
    expect(() => tree(concat(byId([0x05], 'Alice'), byId([0x85, 0x00], ENVELOPE)))).toThrow(/repeats a map key/);
  });

  it('caps the sensitive values of one message', () => {
    const capped = compileWireCheck(root, RECORD, { maxEnvelopes: 3 });
    const addresses = (n: number) => concat(...Array.from({ length: n }, () => str(8, ENVELOPE)));
    expect(capped(addresses(3))).toBe(3);
    expect(() => capped(addresses(4))).toThrow(TooManyEnvelopesError);
    expect(() => capped(addresses(4))).toThrow(/more than 3 sensitive values/);
  });
});
