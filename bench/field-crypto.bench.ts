// field-crypto: envelope seal/open per field at 16 B … 1 MiB on every backend
// (native = node:crypto; noble = @noble/ciphers; default = what FieldCipher
// uses in Node: libsodium WASM up to 2 KiB, node:crypto above) beside raw
// node:crypto ChaCha20-Poly1305, and sealing a whole AuthorizeRequest beside
// the raw AEAD calls for its fields and beside protobuf-encoding it.
// Then, per hop of one end-to-end request (support/hop-work.ts), what
// encryption adds to the client's, the gateway's and the processor's own work.
// Targets (issue 2), on the backend a caller gets unless they pick one:
//   16 KiB native seal+open throughput >= 80% of raw (native, as specified;
//     a bytes field's envelope: see sixteenKiBGroup for how it is measured
//     and what a string field adds);
//   one 16 B seal (default backend) <= 1.5x one raw AEAD call;
//   whole-message seal (default backend) <= 1.25x the sum of raw AEAD calls.
// The native-only ratios of the last two are printed as notes.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { paymentsSchema as schemaRoot } from '@fle-examples/payments/schema';
import { AuthorizeRequest } from '@fle-examples/payments/gen/acme/payments/v1/payments.js';
import {
  buildAad,
  checkSealed,
  compileSchema,
  defaultBackend,
  encodeHeader,
  FieldCipher,
  nativeBackend,
  nobleBackend,
  openEnvelope,
  sealEnvelope,
  sodiumReady,
  StaticKeyProvider,
  type AadBinding,
  type CipherBackend,
} from '@fle/field-crypto';
import { interleaved, pairedRatio, pairedRatioCi, rowOf, target, type BenchSuite, type Row, type Target } from './lib.js';
import { hopWorkGroup } from './support/hop-work.js';

const TYPE = 'acme.payments.v1.AuthorizeRequest';
const CONTEXT = 'req/1767225600000/q83vEjRWeJq8PwAAAAAAAA';
const KEY = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
const NONCE = new Uint8Array(12).fill(9);
/** 16 KiB has a group of its own (sixteenKiBGroup). */
const SIZES: [string, number][] = [['16 B', 16], ['1 KiB', 1024], ['1 MiB', 1024 * 1024]];
const SIXTEEN_KIB = 16 * 1024;

function rawSeal(plaintext: Uint8Array, aad: Uint8Array): [Buffer, Buffer] {
  const c = createCipheriv('chacha20-poly1305', KEY, NONCE, { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: plaintext.length });
  const ciphertext = c.update(plaintext);
  c.final();
  return [ciphertext, c.getAuthTag()];
}

function rawOpen(ciphertext: Uint8Array, tag: Uint8Array, aad: Uint8Array): Buffer {
  const d = createDecipheriv('chacha20-poly1305', KEY, NONCE, { authTagLength: 16 });
  d.setAAD(aad, { plaintextLength: ciphertext.length });
  d.setAuthTag(tag);
  const plaintext = d.update(ciphertext);
  d.final();
  return plaintext;
}

const binding: AadBinding = { tenant: 'acme-eu', messageType: TYPE, fieldPath: '7', context: CONTEXT };
/** The AAD an envelope for `binding` carries: the raw calls get one of the same length, prebuilt. */
const aadFor = (b: AadBinding) => buildAad(encodeHeader(1, 1), b);

function fleRoundTrip(backend: CipherBackend, plaintext: Uint8Array) {
  const opts = { backend, key: KEY, keyVersion: 1, alg: 1 as const, binding };
  return () => openEnvelope(sealEnvelope(plaintext, opts), { backend, key: KEY, binding });
}

function fleSeal(backend: CipherBackend, plaintext: Uint8Array) {
  const opts = { backend, key: KEY, keyVersion: 1, alg: 1 as const, binding };
  return () => sealEnvelope(plaintext, opts);
}

function exampleRequest(): AuthorizeRequest {
  return {
    tenantId: 'acme-eu',
    requestId: 'req-7f3a9c',
    amountMinor: 129_99,
    currency: 'EUR',
    card: { number: '4111111111111111', holderName: 'Zoe Angstrom', expiryMonth: 12, expiryYear: 2030, cvv: Uint8Array.of(1, 2, 3) },
    nationalId: '123-45-6789',
    biometricTemplate: Uint8Array.from({ length: 256 }, (_, i) => i),
    previousAddresses: ['1 Main St, Springfield', '22 High St, Shelbyville'],
    items: [
      { sku: 'sku-1', quantity: 1, note: 'gift wrap please' },
      { sku: 'sku-2', quantity: 2, note: 'leave at the door' },
    ],
    customerAttributes: { vip: 'gold', segment: 'returning' },
    email: 'zoe@example.com',
    phone: undefined,
    merchantId: 'm-42',
    labels: { channel: 'web' },
  };
}

/** The sensitive values of exampleRequest() as (plaintext, path), for the raw baseline. */
function sensitiveValues(m: AuthorizeRequest): [Uint8Array, string][] {
  const t = (s: string) => new TextEncoder().encode(s);
  return [
    [t(m.card!.number), '5.1'], [t(m.card!.holderName), '5.2'], [m.card!.cvv, '5.5'], [t(m.nationalId), '6'],
    [m.biometricTemplate, '7'], ...m.previousAddresses.map((a): [Uint8Array, string] => [t(a), '8']),
    ...m.items.map((i): [Uint8Array, string] => [t(i.note), '9.3']),
    ...Object.entries(m.customerAttributes).map(([k, v]): [Uint8Array, string] => [t(v), `10[${k}]`]),
    [t(m.email!), '11'],
  ];
}

async function envelopeGroups(rows: Row[], targets: Target[], notes: string[]): Promise<void> {
  const aad = aadFor(binding);
  for (const [label, size] of SIZES) {
    const plaintext = new Uint8Array(size).fill(0x5a);
    const big = size >= 1024 * 1024;
    const rawRoundTrip = { name: 'raw node:crypto', fn: () => { const [c, t] = rawSeal(plaintext, aad); return rawOpen(c, t, aad); }, bytes: size };
    const opts = big ? { rounds: 8, batchMs: 40, warmupMs: 100 } : { rounds: 10, batchMs: 20 };
    // node:crypto-based candidates are interleaved together; noble (10-20x slower,
    // a very different memory pattern) is paired with raw in its own run.
    const [raw, native, dflt] = await interleaved(
      [
        rawRoundTrip,
        { name: 'fle native', fn: fleRoundTrip(nativeBackend, plaintext), bytes: size },
        { name: `fle default (${defaultBackend.name})`, fn: fleRoundTrip(defaultBackend, plaintext), bytes: size },
      ],
      opts,
    );
    const [rawForNoble, noble] = await interleaved(
      [rawRoundTrip, { name: 'fle noble', fn: fleRoundTrip(nobleBackend, plaintext), bytes: size }],
      { ...opts, rounds: 6, batchMs: 20 },
    );
    const group = `seal+open ${label}`;
    rows.push(rowOf(group, raw!));
    for (const m of [native!, dflt!]) rows.push(rowOf(group, m, `${pairedRatio(m, raw!).toFixed(2)}x raw`));
    rows.push(rowOf(group, noble!, `${pairedRatio(noble!, rawForNoble!).toFixed(2)}x raw`));
  }

  const small = new Uint8Array(16).fill(0x5a);
  const rawOneSeal = { name: 'raw node:crypto', fn: () => rawSeal(small, aad), bytes: 16 };
  const [raw, native, dflt] = await interleaved(
    [
      rawOneSeal,
      { name: 'fle native', fn: fleSeal(nativeBackend, small), bytes: 16 },
      { name: `fle default (${defaultBackend.name})`, fn: fleSeal(defaultBackend, small), bytes: 16 },
    ],
    { rounds: 15, batchMs: 25 },
  );
  const [rawForNoble, noble] = await interleaved([rawOneSeal, { name: 'fle noble', fn: fleSeal(nobleBackend, small), bytes: 16 }], { rounds: 6, batchMs: 20 });
  rows.push(rowOf('seal 16 B', raw!));
  for (const m of [native!, dflt!]) rows.push(rowOf('seal 16 B', m, `${pairedRatio(m, raw!).toFixed(2)}x raw`));
  rows.push(rowOf('seal 16 B', noble!, `${pairedRatio(noble!, rawForNoble!).toFixed(2)}x raw`));
  targets.push(target(`one 16 B seal (default: ${defaultBackend.name}) vs one raw AEAD call`, pairedRatio(dflt!, raw!), '<=', 1.5, 'x'));
  notes.push(`one 16 B seal, native backend: ${pairedRatio(native!, raw!).toFixed(2)}x one raw AEAD call`);
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/**
 * The 16 KiB target (issue 2, re-measured for issue 23.5): seal+open of one
 * 16 KiB value, fle's envelope beside raw node:crypto, as throughput (raw
 * time ÷ fle time). What a bytes field costs (sealEnvelope/openEnvelope: the
 * binary envelope is the field's value) is the target; a string field
 * (FieldCipher, the envelope as base64url text, spec §5: UTF-8 in, base64url
 * out and back) is measured in a run of its own beside raw (its JS garbage
 * moved its neighbours' ratios) and reported, not judged.
 *
 * How: 200 rounds of ~4 ms batches, every candidate once per round in
 * rotating order, each batch ending with a scavenge inside its timed window
 * (lib.ts scavengeInside): a candidate pays for collecting its own buffers.
 * The ratio is the median of per-round ratios with its 95% bootstrap
 * interval. Batches of 25 ms (the measurement before) allocate ~50 MB of
 * 16 KiB buffers each with little JS garbage, so V8 runs major GCs driven by
 * external memory inside some batches and not others: raw's own time moved
 * between ~20 and ~33 µs and its per-round spread reached ±13-21 %. In that
 * regime fle pays most for the one thing node:crypto makes it do beyond raw:
 * a seal cannot write into the envelope, so each one allocates a second
 * 16 KiB buffer (the envelope) and copies the ciphertext into it. The figure
 * for long batches is printed beside the target as a note: a request path
 * allocates enough JS objects that scavenges free its buffers, but where a
 * process's major GCs are driven by Buffers (README: the e2e client and
 * gateway, about one per 400 requests) part of that cost is real.
 */
async function sixteenKiBGroup(rows: Row[], targets: Target[], notes: string[]): Promise<void> {
  const aad = aadFor(binding);
  const plaintext = new Uint8Array(SIXTEEN_KIB).fill(0x5a);
  const rawRoundTrip = { name: 'raw node:crypto', fn: () => { const [c, t] = rawSeal(plaintext, aad); return rawOpen(c, t, aad); }, bytes: SIXTEEN_KIB };
  const schema = compileSchema(schemaRoot());
  const keys = new StaticKeyProvider([{ tenant: 'acme-eu', versions: [{ version: 1, key: KEY }] }]);
  const cipher = new FieldCipher({ schema, keys });
  // national_id (field 6) is a sensitive string field; 16 KiB of ASCII text.
  const text: Partial<AuthorizeRequest> = { tenantId: 'acme-eu', nationalId: 'x'.repeat(SIXTEEN_KIB) };
  const ctx = { context: CONTEXT };
  const opts = { rounds: 200, batchMs: 4, warmupMs: 300, scavengeInside: true };
  const [raw, native, dflt] = await interleaved(
    [
      rawRoundTrip,
      { name: 'fle native, bytes field (envelope)', fn: fleRoundTrip(nativeBackend, plaintext), bytes: SIXTEEN_KIB },
      { name: `fle default (${defaultBackend.name}), bytes field`, fn: fleRoundTrip(defaultBackend, plaintext), bytes: SIXTEEN_KIB },
    ],
    opts,
  );
  // The string field (3-4x slower, much JS garbage) is paired with raw in a run of its own.
  const [rawForText, str] = await interleaved(
    [
      rawRoundTrip,
      {
        name: `fle default, string field (base64url text)`,
        fn: async () => cipher.openMessage(TYPE, await cipher.sealMessage(TYPE, text, ctx), ctx),
        bytes: SIXTEEN_KIB,
      },
    ],
    { ...opts, rounds: 100 },
  );
  const group = 'seal+open 16 KiB';
  rows.push(rowOf(group, raw!));
  const shares = [
    { m: native!, ...pairedRatioCi(raw!, native!) },
    { m: dflt!, ...pairedRatioCi(raw!, dflt!) },
    { m: str!, ...pairedRatioCi(rawForText!, str!) },
  ];
  for (const { m, ratio, ci } of shares) {
    rows.push(rowOf(group, m, `${(1 / ratio).toFixed(2)}x raw`));
    notes.push(`16 KiB seal+open throughput vs raw node:crypto, ${m.name}: ${pct(ratio)} (95% CI ${pct(ci[0])}-${pct(ci[1])}; ${m.samples.length} interleaved rounds)`);
  }
  targets.push(target('16 KiB native seal+open throughput vs raw node:crypto (bytes field)', shares[0]!.ratio * 100, '>=', 80, '%'));
  // The same pair in long batches without scavenges in between (a tight loop that allocates little but buffers).
  const [rawLong, nativeLong] = await interleaved([rawRoundTrip, { name: 'fle native', fn: fleRoundTrip(nativeBackend, plaintext), bytes: SIXTEEN_KIB }], { rounds: 30, batchMs: 40 });
  const long = pairedRatioCi(rawLong!, nativeLong!);
  notes.push(
    `16 KiB, long batches (40 ms, major GCs from external memory inside them): native ${pct(long.ratio)} of raw (95% CI ${pct(long.ci[0])}-${pct(long.ci[1])}); raw ${(rawLong!.nsPerOp / 1000).toFixed(1)} µs per seal+open there against ${(raw!.nsPerOp / 1000).toFixed(1)} µs in short batches`,
  );
}

async function messageGroup(rows: Row[], targets: Target[], notes: string[]): Promise<void> {
  const schema = compileSchema(schemaRoot());
  const keys = new StaticKeyProvider([
    { tenant: 'acme-eu', versions: [{ version: 1, key: KEY }] },
    { tenant: 'acme-eu', ring: 'pci', versions: [{ version: 1, key: KEY }] },
  ]);
  const native = new FieldCipher({ schema, keys, backend: nativeBackend });
  const dflt = new FieldCipher({ schema, keys });
  // The walk alone: a backend that encrypts nothing shows what fle adds around the AEAD calls.
  const nullBackend: CipherBackend = { name: 'none', seal() {}, open: () => new Uint8Array(0) };
  const walkOnly = new FieldCipher({ schema, keys, backend: nullBackend });
  const noble = new FieldCipher({ schema, keys, backend: nobleBackend });
  const message = exampleRequest();
  const fields = sensitiveValues(message).map(([pt, fieldPath]) => [pt, aadFor({ ...binding, fieldPath })] as const);
  const sealed = await native.sealMessage(TYPE, message, { context: CONTEXT });
  const bytes = fields.reduce((n, [pt]) => n + pt.length, 0);

  const [rawSum, sealDefault, sealNative, sealNoble, openDefault, openNative, encode, check, walk] = await interleaved(
    [
      { name: `raw node:crypto x${fields.length} fields`, fn: () => { for (const [pt, aad] of fields) rawSeal(pt, aad); }, bytes },
      { name: `sealMessage default (${defaultBackend.name})`, fn: () => dflt.sealMessage(TYPE, message, { context: CONTEXT }), bytes },
      { name: 'sealMessage native', fn: () => native.sealMessage(TYPE, message, { context: CONTEXT }), bytes },
      { name: 'sealMessage noble', fn: () => noble.sealMessage(TYPE, message, { context: CONTEXT }), bytes },
      { name: `openMessage default (${defaultBackend.name})`, fn: () => dflt.openMessage(TYPE, sealed, { context: CONTEXT }), bytes },
      { name: 'openMessage native', fn: () => native.openMessage(TYPE, sealed, { context: CONTEXT }), bytes },
      { name: 'protobuf encode (clear)', fn: () => AuthorizeRequest.encode(message).finish() },
      { name: 'checkSealed (gateway)', fn: () => checkSealed(schema, TYPE, sealed) },
      { name: 'sealMessage, no-op cipher (walk only)', fn: () => walkOnly.sealMessage(TYPE, message, { context: CONTEXT }) },
    ],
    { rounds: 15, batchMs: 30 },
  );
  const group = 'AuthorizeRequest';
  rows.push(rowOf(group, rawSum!));
  for (const m of [sealDefault!, sealNative!, sealNoble!, openDefault!, openNative!, encode!, check!, walk!]) {
    rows.push(rowOf(group, m, `${pairedRatio(m, rawSum!).toFixed(2)}x raw`));
  }
  targets.push(target(`whole AuthorizeRequest seal (${fields.length} fields, default: ${defaultBackend.name}) vs sum of raw AEAD calls`, pairedRatio(sealDefault!, rawSum!), '<=', 1.25, 'x'));
  notes.push(`whole AuthorizeRequest seal, native backend: ${pairedRatio(sealNative!, rawSum!).toFixed(2)}x the sum of raw AEAD calls (walk alone ${pairedRatio(walk!, rawSum!).toFixed(2)}x)`);
}

const suite: BenchSuite = {
  description: 'envelope v1 per field (native, default, noble backends) and whole-message sealing vs raw node:crypto',
  async run() {
    // The default backend's WASM module loads asynchronously; measure it loaded.
    await sodiumReady;
    const rows: Row[] = [];
    const targets: Target[] = [];
    const notes: string[] = [];
    await envelopeGroups(rows, targets, notes);
    await sixteenKiBGroup(rows, targets, notes);
    await messageGroup(rows, targets, notes);
    await hopWorkGroup(rows, notes);
    return {
      rows,
      targets,
      notes: [
        ...notes,
        'raw = createCipheriv/createDecipheriv chacha20-poly1305 with a prebuilt AAD of the same length and a fixed nonce',
        'fle = sealEnvelope/openEnvelope: header, AAD from the binding, pooled nonce, one envelope allocation',
        '"vs" and targets are medians of per-round ratios of interleaved batches (robust to a shared, noisy machine)',
      ],
    };
  },
};
export default suite;
