// What field encryption adds to each hop's own work per request (issue 7),
// in process and warm: the library steps the client, the gateway and the
// processor run for one end-to-end AuthorizeRequest (bench/e2e.bench.ts, same
// message), beside the same steps for the plaintext twin types. No network,
// no gRPC, no NATS: the difference between the two rows of a hop is the
// encrypted path's own cost, and its share of a whole pipeline's CPU is what
// bounds the e2e throughput ratio (the rest of a request costs the same in
// both variants).
//
//   client:    seal + encode the request; decode + open the response
//   gateway:   decode + check the request (tenant, every sensitive value an
//              envelope); decode + check the response
//   processor: decode + open the request; seal + encode the stored record;
//              seal + encode the response
import { checkSealed, compileSchema, FieldCipher, readTenant, StaticKeyProvider, type StaticKeyRing } from '@fle/field-crypto';
import { schemaRoot } from '@fle/schema';
import { encodeMessage, encodeToBuffer } from '@fle/schema/encode';
import {
  AuthorizationRecord,
  AuthorizationRecordPlain,
  AuthorizePlainRequest,
  AuthorizePlainResponse,
  AuthorizeRequest,
  AuthorizeResponse,
} from '@fle/schema/gen/acme/payments/v1/payments.js';
import { interleaved, pairedRatio, rowOf, type Row } from '../lib.js';
import { benchRequest } from './requests.js';

const P = 'acme.payments.v1.';
const TENANTS = ['t0', 't1', 't2', 't3'];
/** As the client SDK binds a request (replayContext): `req/<ms>/<nonce>`. */
const CONTEXT = 'req/1767225600000/q83vEjRWeJq8PwAAAAAAAA';
const POOL = 64;

function record(i: number): AuthorizationRecord {
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

function response(i: number): AuthorizeResponse {
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
  const rings: StaticKeyRing[] = TENANTS.flatMap((tenant) => ['default', 'pci'].map((ring) => ({ tenant, ring, versions: [{ version: 1, key }] })));
  const cipher = new FieldCipher({ schema, keys: new StaticKeyProvider(rings) });
  const ctx = { context: CONTEXT };
  const open = { context: CONTEXT, inPlace: true };
  const storeCtx = (i: number) => ({ context: `store/authorization/bench-${i}` });

  const requests = Array.from({ length: POOL }, (_, i) => benchRequest(TENANTS[i % TENANTS.length]!, i, 1024));
  const sealedRequests = await Promise.all(requests.map((r) => cipher.sealMessage(`${P}AuthorizeRequest`, r, ctx)));
  const requestBytes = sealedRequests.map((r) => encodeToBuffer(AuthorizeRequest, r));
  const plainRequestBytes = requests.map((r) => encodeToBuffer(AuthorizePlainRequest, r));
  const responseBytes = await Promise.all(requests.map(async (_, i) => encodeToBuffer(AuthorizeResponse, await cipher.sealMessage(`${P}AuthorizeResponse`, response(i), ctx))));
  const plainResponseBytes = requests.map((_, i) => encodeToBuffer(AuthorizePlainResponse, response(i)));

  let i = 0;
  const next = (): number => (i = (i + 1) % POOL);
  const hops = [
    {
      hop: 'client',
      encrypted: async () => {
        const n = next();
        encodeToBuffer(AuthorizeRequest, await cipher.sealMessage(`${P}AuthorizeRequest`, requests[n]!, ctx));
        return cipher.openMessage(`${P}AuthorizeResponse`, AuthorizeResponse.decode(responseBytes[n]!), open);
      },
      plaintext: async () => {
        const n = next();
        encodeToBuffer(AuthorizePlainRequest, await cipher.sealMessage(`${P}AuthorizePlainRequest`, requests[n]!, ctx));
        return cipher.openMessage(`${P}AuthorizePlainResponse`, AuthorizePlainResponse.decode(plainResponseBytes[n]!), open);
      },
    },
    {
      hop: 'gateway',
      encrypted: () => {
        const n = next();
        const req = AuthorizeRequest.decode(requestBytes[n]!);
        readTenant(schema, `${P}AuthorizeRequest`, req);
        checkSealed(schema, `${P}AuthorizeRequest`, req);
        return checkSealed(schema, `${P}AuthorizeResponse`, AuthorizeResponse.decode(responseBytes[n]!));
      },
      plaintext: () => {
        const n = next();
        const req = AuthorizePlainRequest.decode(plainRequestBytes[n]!);
        readTenant(schema, `${P}AuthorizePlainRequest`, req);
        checkSealed(schema, `${P}AuthorizePlainRequest`, req);
        return checkSealed(schema, `${P}AuthorizePlainResponse`, AuthorizePlainResponse.decode(plainResponseBytes[n]!));
      },
    },
    {
      hop: 'processor',
      encrypted: async () => {
        const n = next();
        await cipher.openMessage(`${P}AuthorizeRequest`, AuthorizeRequest.decode(requestBytes[n]!), open);
        encodeMessage(AuthorizationRecord, await cipher.sealMessage(`${P}AuthorizationRecord`, record(n), storeCtx(n)));
        return encodeToBuffer(AuthorizeResponse, await cipher.sealMessage(`${P}AuthorizeResponse`, response(n), ctx));
      },
      plaintext: async () => {
        const n = next();
        await cipher.openMessage(`${P}AuthorizePlainRequest`, AuthorizePlainRequest.decode(plainRequestBytes[n]!), open);
        encodeMessage(AuthorizationRecordPlain, await cipher.sealMessage(`${P}AuthorizationRecordPlain`, record(n), storeCtx(n)));
        return encodeToBuffer(AuthorizePlainResponse, await cipher.sealMessage(`${P}AuthorizePlainResponse`, response(n), ctx));
      },
    },
  ];
  const measured = await interleaved(
    hops.flatMap((h) => [
      { name: `${h.hop}, encrypted`, fn: h.encrypted },
      { name: `${h.hop}, plaintext twin`, fn: h.plaintext },
    ]),
    { rounds: 15, batchMs: 30 },
  );
  const extras: string[] = [];
  let total = 0;
  for (let h = 0; h < hops.length; h++) {
    const enc = measured[2 * h]!;
    const plain = measured[2 * h + 1]!;
    // Median of per-round differences: both batches of a round saw the same load.
    const diffs = enc.samples.map((s, r) => s - plain.samples[r]!).sort((a, b) => a - b);
    const extraUs = diffs[diffs.length >> 1]! / 1000;
    total += extraUs;
    extras.push(`${hops[h]!.hop} +${extraUs.toFixed(1)} µs`);
    rows.push(rowOf('per hop, one e2e request', enc, `${pairedRatio(enc, plain).toFixed(2)}x twin, +${extraUs.toFixed(1)} µs`));
    rows.push(rowOf('per hop, one e2e request', plain));
  }
  notes.push(
    `per hop, one e2e request (12 sealed values, 1 KiB biometric_template), what encryption adds, warm and in process: ${extras.join(', ')}; ` +
      `${total.toFixed(1)} µs in all (the e2e pipeline's other work per request is the same in both variants)`,
  );
}
