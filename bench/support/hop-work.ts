// What field encryption adds to each hop's own work per request (issue 7),
// in process and warm: the library steps the client, the gateway and the
// processor run for one end-to-end AuthorizeRequest (bench/e2e.bench.ts, same
// message), beside the same steps for the plaintext twin types. No network,
// no gRPC, no NATS: the difference between the two rows of a hop is the
// encrypted path's own cost, and its share of a whole pipeline's CPU is what
// bounds the e2e throughput ratio (the rest of a request costs the same in
// both variants). Measured twice: warm (batches of calls), and with cold
// caches (one call after 8 MiB of other memory was written), which is how
// each request runs in the e2e pipeline, where five processes share two cores.
//
//   client:    seal + encode the request; decode + open the response
//   gateway:   decode + check the request (tenant, every sensitive value an
//              envelope); decode + check the response
//   processor: decode + open the request; seal + encode the stored record;
//              seal + encode the response
import { checkSealed, compileSchema, FieldCipher, readTenant, StaticKeyProvider, type StaticKeyRing } from '@fle/field-crypto';
import { PAYMENTS_RECORDS_RING, paymentsSchema as schemaRoot } from '@fle-examples/payments/schema';
import { encodeMessage, encodeToBuffer, type MessageEncoder } from '@fle/schema/encode';
import {
  AuthorizationRecord,
  AuthorizationRecordPlain,
  AuthorizePlainRequest,
  AuthorizePlainResponse,
  AuthorizeRequest,
  AuthorizeResponse,
} from '@fle-examples/payments/gen/acme/payments/v1/payments.js';
import { coldInterleaved, interleaved, median, pairedRatio, rowOf, type Measurement, type Row } from '../lib.js';
import { benchRequest } from './requests.js';

/** A ts-proto message's encode/decode with its full protobuf name; a twin type is used as the encrypted one (same fields). */
interface MessageFns<T> extends MessageEncoder<T> {
  readonly name: string;
  decode(bytes: Uint8Array): T;
}
const P = 'acme.payments.v1.';
const typed = <T>(fns: { encode: MessageEncoder<never>['encode']; decode(bytes: Uint8Array): unknown }, name: string): MessageFns<T> =>
  ({ encode: fns.encode, decode: fns.decode, name: P + name }) as MessageFns<T>;
const TENANTS = ['t0', 't1', 't2', 't3'];
/** As the client SDK binds a request (replayContext): `req/<ms>/<nonce>`. */
const CONTEXT = 'req/1767225600000/q83vEjRWeJq8PwAAAAAAAA';
const POOL = 64;

function recordOf(i: number): AuthorizationRecord {
  return {
    tenantId: TENANTS[i % TENANTS.length]!,
    requestId: `bench-${i}`,
    cardToken: 'tok_q83vEjRWeJq8PwAAAAAAAAAAAAAA',
    cardNumber: '4111111111111111',
    nationalId: '123-45-6789',
    amountMinor: 1000 + i,
    currency: 'EUR',
    authorizationCode: '9F3A11C2',
    authorizedAtUnixMs: 1767225600000,
  };
}

function responseOf(i: number): AuthorizeResponse {
  return {
    tenantId: TENANTS[i % TENANTS.length]!,
    requestId: `bench-${i}`,
    approved: true,
    declineReason: '',
    cardToken: 'tok_q83vEjRWeJq8PwAAAAAAAAAAAAAA',
    cardLastFour: '1111',
    authorizationCode: '9F3A11C2',
  };
}

/** Rows per hop (encrypted, plaintext twin) and a note with each hop's extra µs per request. */
export async function hopWorkGroup(rows: Row[], notes: string[]): Promise<void> {
  const schema = compileSchema(schemaRoot());
  const key = Uint8Array.from({ length: 32 }, (_, i) => i * 5 + 3);
  const rings: StaticKeyRing[] = TENANTS.flatMap((tenant) => ['default', 'pci', PAYMENTS_RECORDS_RING].map((ring) => ({ tenant, ring, versions: [{ version: 1, key }] })));
  const cipher = new FieldCipher({ schema, keys: new StaticKeyProvider(rings) });
  const ctx = { context: CONTEXT };
  const open = { context: CONTEXT, inPlace: true };
  const storeCtx = (i: number) => ({ context: `store/authorization/bench-${i}` });

  const requests = Array.from({ length: POOL }, (_, i) => benchRequest(TENANTS[i % TENANTS.length]!, i, 1024));
  /** One variant's types; both variants run the very same steps on them (below). */
  interface Variant {
    readonly request: MessageFns<AuthorizeRequest>;
    readonly response: MessageFns<AuthorizeResponse>;
    readonly record: MessageFns<AuthorizationRecord>;
    readonly requestBytes: Buffer[];
    readonly responseBytes: Buffer[];
  }
  async function variant(request: MessageFns<AuthorizeRequest>, response: MessageFns<AuthorizeResponse>, record: MessageFns<AuthorizationRecord>): Promise<Variant> {
    const seal = <T>(fns: MessageFns<T>, m: T) => cipher.sealMessage(fns.name, m, ctx);
    return {
      request,
      response,
      record,
      requestBytes: await Promise.all(requests.map(async (r) => encodeToBuffer(request, await seal(request, r)))),
      responseBytes: await Promise.all(requests.map(async (_, n) => encodeToBuffer(response, await seal(response, responseOf(n))))),
    };
  }
  const variants = {
    encrypted: await variant(typed(AuthorizeRequest, 'AuthorizeRequest'), typed(AuthorizeResponse, 'AuthorizeResponse'), typed(AuthorizationRecord, 'AuthorizationRecord')),
    plaintext: await variant(
      typed(AuthorizePlainRequest, 'AuthorizePlainRequest'),
      typed(AuthorizePlainResponse, 'AuthorizePlainResponse'),
      typed(AuthorizationRecordPlain, 'AuthorizationRecordPlain'),
    ),
  };

  let i = 0;
  const next = (): number => (i = (i + 1) % POOL);
  const steps: { hop: string; run: (v: Variant) => Promise<unknown> | unknown }[] = [
    {
      hop: 'client',
      run: async (v) => {
        const n = next();
        encodeToBuffer(v.request, await cipher.sealMessage(v.request.name, requests[n]!, ctx));
        return cipher.openMessage(v.response.name, v.response.decode(v.responseBytes[n]!), open);
      },
    },
    {
      hop: 'gateway',
      run: (v) => {
        const n = next();
        const req = v.request.decode(v.requestBytes[n]!);
        readTenant(schema, v.request.name, req);
        checkSealed(schema, v.request.name, req);
        return checkSealed(schema, v.response.name, v.response.decode(v.responseBytes[n]!));
      },
    },
    {
      hop: 'processor',
      run: async (v) => {
        const n = next();
        await cipher.openMessage(v.request.name, v.request.decode(v.requestBytes[n]!), open);
        encodeMessage(v.record, await cipher.sealMessage(v.record.name, recordOf(n), storeCtx(n)));
        return encodeToBuffer(v.response, await cipher.sealMessage(v.response.name, responseOf(n), ctx));
      },
    },
  ];
  const candidates = steps.flatMap((h) => [
    { name: `${h.hop}, encrypted`, fn: () => h.run(variants.encrypted) },
    { name: `${h.hop}, plaintext twin`, fn: () => h.run(variants.plaintext) },
  ]);
  const warm = await interleaved(candidates, { rounds: 15, batchMs: 30 });
  const warmExtras = perHopExtras(steps, warm, 'per hop, one e2e request', rows);
  notes.push(
    `per hop, one e2e request (12 sealed values, 1 KiB biometric_template), what encryption adds, warm and in process: ${warmExtras} ` +
      '(the e2e pipeline\'s other work per request is the same in both variants)',
  );
  // The same steps with cold caches: in the e2e pipeline five processes share
  // two cores, and each request's code and data have mostly left the core's
  // caches by the time it runs (docs/perf/journal.md, "Cold caches").
  const cold = await coldInterleaved(candidates, { rounds: 1000, evictBytes: EVICT_BYTES });
  const coldExtras = perHopExtras(steps, cold, 'per hop, one e2e request, cold caches', rows);
  notes.push(`per hop, the same steps with cold caches (${EVICT_BYTES / 2 ** 20} MiB written before each, wall time of single calls): ${coldExtras}`);
}

/** Bytes written before each cold call: more than this machine's L2 (2 MiB per core); 3 and 48 MiB gave the same figures. */
const EVICT_BYTES = 8 * 1024 * 1024;

/** Rows for each hop (encrypted, plaintext) and "client +a µs, …; b µs in all": medians of per-round differences (both of a round saw the same load). */
function perHopExtras(steps: readonly { hop: string }[], measured: readonly Measurement[], group: string, rows: Row[]): string {
  const extras: string[] = [];
  let total = 0;
  for (let h = 0; h < steps.length; h++) {
    const enc = measured[2 * h]!;
    const plain = measured[2 * h + 1]!;
    const extraUs = median(enc.samples.map((s, r) => s - plain.samples[r]!)) / 1000;
    total += extraUs;
    extras.push(`${steps[h]!.hop} +${extraUs.toFixed(1)} µs`);
    rows.push(rowOf(group, enc, `${pairedRatio(enc, plain).toFixed(2)}x twin, +${extraUs.toFixed(1)} µs`));
    rows.push(rowOf(group, plain));
  }
  return `${extras.join(', ')}; ${total.toFixed(1)} µs in all`;
}
