// Fuzzing the message walk (issue 6 item 4): sealed Records with
// hostile values planted in their sensitive fields (random text, near-base64url,
// envelopes of other fields / tenants / contexts / key versions, truncated or
// altered envelopes, values of the wrong JS type), hostile tenants, and
// protobuf wire bytes mutated then decoded. checkSealed (the gateway) and
// openMessage (the processor) may only fail with typed errors, never with a
// value in their message, and the gateway never passes what the processor
// would refuse as malformed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkSealed,
  encodeBase64url,
  FieldCipher,
  FieldCryptoError,
  lengthPrefixed,
  nativeBackend,
  sealEnvelope,
  type FieldCryptoErrorCode,
} from '../src/mod.js';
import { decodeMessage, encodeMessage, exampleRecord, KEYS, keyProvider, RECORD, schema, TENANT, type TestRecord } from './fixtures.js';

const CONTEXT = 'req/1700000000000/AAAAAAAAAAAAAAAAAAAAAA';
const CANARY = 'CANARY-7f3a9c1e';
const cipher = new FieldCipher({ schema, keys: keyProvider(TENANT) });

/** The codes each side may fail with; anything else escaping is a bug. */
const CHECK_CODES: readonly FieldCryptoErrorCode[] = ['PLAINTEXT_IN_SENSITIVE_FIELD'];
// UNKNOWN_SENDER: a well-formed alg 4 envelope (HPKE auth) names a device key the
// tenant has not registered; the sender is checked before any key is used.
const OPEN_CODES: readonly FieldCryptoErrorCode[] = ['ENVELOPE_FORMAT', 'DECRYPTION_FAILED', 'UNKNOWN_KEY_VERSION', 'UNKNOWN_KEY_RING', 'MISSING_TENANT', 'INVALID_FIELD_VALUE', 'UNKNOWN_SENDER'];

type Outcome<T> = { ok: true; value: T } | { ok: false; err: FieldCryptoError };

async function outcome<T>(f: () => T | Promise<T>, codes: readonly string[]): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await f() };
  } catch (err) {
    if (!(err instanceof FieldCryptoError) || !codes.includes(err.code)) {
      throw new Error(`untyped or unexpected failure escaped: ${(err as Error)?.name} ${String((err as Error)?.message ?? err)}`, { cause: err });
    }
    return { ok: false, err };
  }
}

/** A request whose every sensitive value carries the canary. */
function plainRequest(): TestRecord {
  const m = exampleRecord({ tenantId: TENANT });
  return {
    ...m,
    badge: { ...m.badge!, code: `4111${CANARY}`, holder: `h-${CANARY}`, pin: new TextEncoder().encode(`pin-${CANARY}`) },
    nationalId: `nid-${CANARY}`,
    blob: new TextEncoder().encode(`bio-${CANARY}`),
    addresses: [`a1-${CANARY}`, `a2-${CANARY}`],
    lines: [{ sku: 's', quantity: 1, note: `n-${CANARY}` }],
    attributes: { ssn: `ssn-${CANARY}`, vip: `vip-${CANARY}` },
    email: `e-${CANARY}`,
  };
}

const PLAIN = plainRequest();
const SEALED = await cipher.sealMessage(RECORD, PLAIN, { context: CONTEXT });
/** Envelopes that belong somewhere else: other context, other tenant, other message, unknown key version. */
const OTHER_CONTEXT = await cipher.sealMessage(RECORD, PLAIN, { context: 'req/1/other' });
const OTHER_TENANT = await new FieldCipher({ schema, keys: keyProvider('other') }).sealMessage(RECORD, { ...PLAIN, tenantId: 'other' }, { context: CONTEXT });
const binding = (fieldPath: string) => ({ tenant: TENANT, messageType: RECORD, fieldPath, context: CONTEXT });
const UNKNOWN_VERSION = sealEnvelope(new TextEncoder().encode(CANARY), { backend: nativeBackend, key: KEYS.default[1], keyVersion: 99, alg: 1, binding: binding('6') });
const ALG2_UNDER_ALG1 = sealEnvelope(new TextEncoder().encode(CANARY), { backend: nativeBackend, key: KEYS.default[1], keyVersion: 1, alg: 2, binding: binding('6') });

/** Every sensitive location of Record, as get/set on a (copied) message. */
interface Loc {
  readonly name: string;
  readonly bytes: boolean;
  /** Key ring of the field (badge code and pin: `pci`, version 5; the rest `default`, version 1). */
  readonly ring: 'pci' | 'default';
  get(m: TestRecord): unknown;
  set(m: TestRecord, v: unknown): void;
}
const loc = (name: string, bytes: boolean, get: (m: any) => unknown, set: (m: any, v: unknown) => void): Loc => ({
  name,
  bytes,
  ring: name === 'badge.code' || name === 'badge.pin' ? 'pci' : 'default',
  get,
  set,
});
const LOCS: readonly Loc[] = [
  loc('badge.code', false, (m) => m.badge.code, (m, v) => (m.badge.code = v)),
  loc('badge.holder', false, (m) => m.badge.holder, (m, v) => (m.badge.holder = v)),
  loc('badge.pin', true, (m) => m.badge.pin, (m, v) => (m.badge.pin = v)),
  loc('nationalId', false, (m) => m.nationalId, (m, v) => (m.nationalId = v)),
  loc('blob', true, (m) => m.blob, (m, v) => (m.blob = v)),
  loc('addresses[0]', false, (m) => m.addresses[0], (m, v) => (m.addresses[0] = v)),
  loc('addresses[1]', false, (m) => m.addresses[1], (m, v) => (m.addresses[1] = v)),
  loc('lines[0].note', false, (m) => m.lines[0].note, (m, v) => (m.lines[0].note = v)),
  loc('attributes.ssn', false, (m) => m.attributes.ssn, (m, v) => (m.attributes.ssn = v)),
  loc('attributes.vip', false, (m) => m.attributes.vip, (m, v) => (m.attributes.vip = v)),
  loc('email', false, (m) => m.email, (m, v) => (m.email = v)),
];

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const nearBase64url = fc.array(fc.constantFrom(...B64.split(''), '=', '+', '/', '\u00e9'), { minLength: 30, maxLength: 90, size: 'max' }).map((a) => a.join(''));
const nearEnvelopeBytes = fc
  .tuple(fc.constantFrom(0, 1, 1, 2), fc.constantFrom(0, 1, 2, 3, 4, 5), fc.integer({ min: 0, max: 3 }), fc.uint8Array({ minLength: 0, maxLength: 100, size: 'max' }))
  .map(([v, a, k, rest]) => Uint8Array.of(v, a, 0, 0, 0, k, ...rest));
/** An envelope taken from elsewhere, in its text or binary form. */
const foreign = fc.tuple(fc.constantFrom(SEALED, OTHER_CONTEXT, OTHER_TENANT), fc.constantFrom(...LOCS)).map(([m, l]) => l.get(m) as string | Uint8Array);
const special = fc.constantFrom<string | Uint8Array>(UNKNOWN_VERSION, ALG2_UNDER_ALG1, encodeBase64url(UNKNOWN_VERSION), encodeBase64url(ALG2_UNDER_ALG1));

type Edit =
  | { kind: 'value'; at: number; value: unknown }
  | { kind: 'flip'; at: number; pos: number; bit: number }
  | { kind: 'cut'; at: number; keep: number }
  | { kind: 'swap'; at: number; with: number }
  | { kind: 'container'; which: number; value: unknown };

/** Containers of sensitive fields, replaced wholesale by values of the wrong shape. */
const CONTAINERS: ReadonlyArray<(m: any, v: unknown) => void> = [
  (m, v) => (m.badge = v),
  (m, v) => (m.addresses = v),
  (m, v) => (m.lines = v),
  (m, v) => (m.lines = [v]),
  (m, v) => (m.attributes = v),
];

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: foreign },
  { weight: 2, arbitrary: special },
  { weight: 3, arbitrary: nearBase64url },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: nearEnvelopeBytes },
  { weight: 2, arbitrary: nearEnvelopeBytes.map(encodeBase64url) },
  { weight: 1, arbitrary: fc.constantFrom('', new Uint8Array(0)) },
  { weight: 2, arbitrary: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 2 }), fc.constant([CANARY]), fc.constant({ x: CANARY })) },
);
const at = fc.nat({ max: LOCS.length - 1 });
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('value' as const), at, value: hostileValue }),
  fc.record({ kind: fc.constant('flip' as const), at, pos: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('cut' as const), at, keep: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), at, with: at }),
  fc.record({
    kind: fc.constant('container' as const),
    which: fc.nat({ max: CONTAINERS.length - 1 }),
    value: fc.oneof(fc.constantFrom(5, 'x', true, [CANARY], new Uint8Array(2), new Map(), new Date(0)), fc.jsonValue({ maxDepth: 2 })),
  }),
);
const hostileTenant = fc.option(fc.oneof(fc.constantFrom('', 'other', 'tenant-EU', `${TENANT} `, 'a.b', '*'), fc.string({ maxLength: 12 }), fc.integer(), fc.constant(null)), { nil: undefined, freq: 3 });

function apply(m: TestRecord, e: Edit): void {
  if (e.kind === 'container') {
    CONTAINERS[e.which]!(m, e.value);
    return;
  }
  const l = LOCS[e.at]!;
  const v = l.get(m);
  if (e.kind === 'value') l.set(m, e.value);
  else if (e.kind === 'swap') {
    const o = LOCS[e.with]!;
    const w = o.get(m);
    o.set(m, v);
    l.set(m, w);
  } else if (typeof v === 'string' && v.length > 0) {
    if (e.kind === 'cut') l.set(m, v.slice(0, e.keep % v.length));
    else {
      // Change one character to another of the alphabet (keeps it base64url text).
      const i = e.pos % v.length;
      const c = B64[(B64.indexOf(v[i]!) + 1 + e.bit) % 64]!;
      l.set(m, v.slice(0, i) + c + v.slice(i + 1));
    }
  } else if (v instanceof Uint8Array && v.length > 0) {
    const b = e.kind === 'cut' ? v.slice(0, e.keep % v.length) : v.slice();
    if (e.kind === 'flip') b[e.pos % b.length]! ^= 1 << e.bit;
    l.set(m, b);
  }
}

/** No error message ever carries the canary or a planted value. */
function expectNoValueIn(err: FieldCryptoError, planted: readonly unknown[]): void {
  expect(err.message).not.toContain(CANARY);
  for (const p of planted) if (typeof p === 'string' && p.length >= 8) expect(err.message).not.toContain(p);
}

async function judge(m: TestRecord, planted: readonly unknown[]): Promise<{ check: Outcome<number>; open: Outcome<TestRecord> }> {
  const check = await outcome(() => checkSealed(schema, RECORD, m), CHECK_CODES);
  const open = await outcome(() => cipher.openMessage(RECORD, m, { context: CONTEXT }), OPEN_CODES);
  if (!check.ok) expectNoValueIn(check.err, planted);
  if (!open.ok) expectNoValueIn(open.err, planted);
  // What the processor opens, the gateway must have let through.
  if (open.ok) expect(check.ok).toBe(true);
  // A format problem the processor sees is one the gateway would have refused first.
  if (!open.ok && (open.err.code === 'ENVELOPE_FORMAT' || open.err.code === 'INVALID_FIELD_VALUE')) {
    const notUtf8 = open.err.message.includes('not valid UTF-8'); // only visible after decryption
    if (!notUtf8) expect(check.ok).toBe(false);
  }
  return { check, open };
}

describe('fuzz: the walk over hostile Records', () => {
  it('the untouched sealed request opens to the original (control)', async () => {
    expect(await cipher.openMessage(RECORD, SEALED, { context: CONTEXT })).toEqual(PLAIN);
    expect(checkSealed(schema, RECORD, SEALED)).toBe(11);
  });

  it('hostile values, swaps, cuts and flips: only typed errors, none echoing a value; gateway and processor agree', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 3 }), hostileTenant, async (edits, tenant) => {
        const m = structuredClone(SEALED);
        // Field edits first, then whole-container replacements (which remove the fields).
        for (const e of edits) if (e.kind !== 'container') apply(m, e);
        for (const e of edits) if (e.kind === 'container') apply(m, e);
        if (tenant !== undefined) (m as { tenantId: unknown }).tenantId = tenant;
        const planted = edits.map((e) => (e.kind === 'value' || e.kind === 'container' ? e.value : undefined));
        const { check, open } = await judge(m, planted);
        seen.add(check.ok ? 'check:ok' : `check:${check.err.code}`);
        seen.add(open.ok ? 'open:ok' : `open:${open.err.code}`);
      }),
      { numRuns: 2500 },
    );
    // The generator reaches every outcome the walk has.
    expect([...seen].sort()).toEqual(
      expect.arrayContaining(['check:PLAINTEXT_IN_SENSITIVE_FIELD', 'check:ok', 'open:DECRYPTION_FAILED', 'open:ENVELOPE_FORMAT', 'open:INVALID_FIELD_VALUE', 'open:MISSING_TENANT', 'open:ok']),
    );
  });

  it('an envelope moved to another field, tenant or context never opens', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(OTHER_CONTEXT, OTHER_TENANT, SEALED), at, at, async (src, from, to) => {
        fc.pre(src !== SEALED || LOCS[from]!.name !== LOCS[to]!.name);
        const a = LOCS[from]!;
        const b = LOCS[to]!;
        fc.pre(a.bytes === b.bytes);
        // Elements of one repeated field are interchangeable by design (indexes are not bound, spec §3).
        fc.pre(!(src === SEALED && a.name.startsWith('addresses') && b.name.startsWith('addresses')));
        const m = structuredClone(SEALED);
        b.set(m, a.get(src));
        const { check, open } = await judge(m, []);
        expect(check.ok).toBe(true); // still a well-formed envelope: the gateway cannot tell
        // Refused as a forged envelope, whatever the reason (spec §3 binding; or, from the
        // other ring, a key version it does not have: refused before any decryption).
        expect(!open.ok && open.err.code).toBe('DECRYPTION_FAILED');
        expect(!open.ok && open.err.message).toMatch(/^decryption failed \(field [0-9.[\]a-z]+\)$/);
        if (a.ring !== b.ring) expect(!open.ok && open.err.cause).toMatchObject({ code: 'UNKNOWN_KEY_VERSION' });
      }),
      { numRuns: 600 },
    );
  });

  it('mutated protobuf wire bytes: whatever decodes is judged with typed errors only', async () => {
    const wire = encodeMessage(RECORD, SEALED);
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), pos: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
    );
    let decoded = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (muts) => {
        let b = Uint8Array.from(wire);
        for (const mu of muts) {
          const p = mu.pos % (b.length + 1);
          if (mu.kind === 'flip' && b.length > 0) b[p % b.length] = mu.value;
          else if (mu.kind === 'cut') b = b.subarray(0, p);
          else if (mu.kind === 'insert') b = Uint8Array.from([...b.subarray(0, p), ...mu.bytes, ...b.subarray(p)]);
        }
        let m: TestRecord;
        try {
          m = decodeMessage<TestRecord>(RECORD, b);
        } catch {
          return; // not protobuf: the services refuse it as BAD_PROTOBUF before the walk
        }
        decoded++;
        await judge(m, []);
      }),
      { numRuns: 2000 },
    );
    expect(decoded).toBeGreaterThan(150); // protobufjs refuses more mutations than it decodes (wrong wire types)
  });

  it('random bytes decoded as a request: typed errors only', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 120, size: 'max' }), async (b) => {
        let m: TestRecord;
        try {
          m = decodeMessage<TestRecord>(RECORD, b);
        } catch {
          return;
        }
        await judge(m, []);
      }),
      { numRuns: 1500 },
    );
  });

  it('sealMessage on hostile plaintext objects fails only with typed errors', async () => {
    const junk = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(new Uint8Array(3)), fc.constant(undefined), fc.constant(null));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...LOCS), junk, hostileTenant, async (l, value, tenant) => {
        const m = structuredClone(PLAIN);
        l.set(m, value);
        if (tenant !== undefined) (m as { tenantId: unknown }).tenantId = tenant;
        const r = await outcome(() => cipher.sealMessage(RECORD, m, { context: CONTEXT }), ['INVALID_FIELD_VALUE', 'MISSING_TENANT', 'UNKNOWN_KEY_RING']);
        if (!r.ok) expectNoValueIn(r.err, [value]);
      }),
      { numRuns: 1500 },
    );
  });

  it('map keys that name Object.prototype members round-trip (no prototype pollution)', async () => {
    const keys = fc.uniqueArray(fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'a', 'b', ''), { minLength: 1, maxLength: 5 });
    await fc.assert(
      fc.asyncProperty(keys, async (ks) => {
        const attrs: Record<string, string> = JSON.parse(JSON.stringify(Object.fromEntries(ks.map((k) => [k, `v-${k}-${CANARY}`]))));
        const m = { ...PLAIN, attributes: attrs };
        const sealed = await cipher.sealMessage(RECORD, m, { context: CONTEXT });
        expect(Object.keys(sealed.attributes).sort()).toEqual([...ks].sort());
        expect(JSON.stringify(sealed.attributes)).not.toContain(CANARY);
        expect(checkSealed(schema, RECORD, sealed)).toBe(9 + ks.length);
        const opened = await cipher.openMessage(RECORD, sealed, { context: CONTEXT });
        expect(JSON.stringify(opened.attributes)).toBe(JSON.stringify(attrs));
        expect(({} as Record<string, unknown>)['v']).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });
});

describe('fuzz: text decoding of opened string fields (spec §5)', () => {
  const decoder = new TextDecoder('utf-8', { fatal: true });

  it('a string field opens to its UTF-8 text, or fails with EnvelopeFormatError when the plaintext is not UTF-8', async () => {
    const plaintexts = fc.oneof(
      fc.uint8Array({ maxLength: 24 }),
      fc.string({ unit: 'binary', maxLength: 12 }).map((s) => new TextEncoder().encode(s)),
      fc.constantFrom(Uint8Array.of(0xc0, 0x80), Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0xf4, 0x90, 0x80, 0x80), Uint8Array.of(0xe2, 0x82), Uint8Array.of(0xff)),
    );
    let invalid = 0;
    await fc.assert(
      fc.asyncProperty(plaintexts, async (pt) => {
        // Key version 1 of ring default is an alg 1 version (spec §4: its envelopes are alg 1).
        const env = sealEnvelope(pt, { backend: nativeBackend, key: KEYS.default[1], keyVersion: 1, alg: 1, binding: binding('6') });
        const m = { ...structuredClone(SEALED), nationalId: encodeBase64url(env) };
        const r = await outcome(() => cipher.openMessage(RECORD, m, { context: CONTEXT }), OPEN_CODES);
        let text: string | undefined;
        try {
          text = decoder.decode(pt);
        } catch {
          invalid++;
        }
        if (text !== undefined) expect(r.ok && r.value.nationalId).toBe(text);
        else expect(!r.ok && r.err.code).toBe('ENVELOPE_FORMAT');
      }),
      { numRuns: 800 },
    );
    expect(invalid).toBeGreaterThan(50);
  });

  it('lp(s) is u32be(UTF-8 length) || UTF-8(s) for every string, lone surrogates included (spec §3)', () => {
    const enc = new TextEncoder();
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme-ascii', maxLength: 300 })), (s) => {
        const utf8 = enc.encode(s);
        const want = new Uint8Array(4 + utf8.length);
        new DataView(want.buffer).setUint32(0, utf8.length);
        want.set(utf8, 4);
        expect(Buffer.from(lengthPrefixed(s)).equals(Buffer.from(want))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
