// Flood drill (issue 17 item 2): four clients with valid certificates send
// 4 MiB requests whose sensitive bytes field holds a well-formed envelope
// header and a random body (the gateway passes it, the processor cannot open
// it), for FLE_FLOOD_SECONDS, against the real `npm start` stack (startStack:
// nats-server with its 1 GB JetStream store, keystore, processor, gateway, all
// real processes over mTLS). Meanwhile a well-behaved client keeps sending
// valid requests for the same tenant.
//
// Before the fix the dead-letter stream kept every 4 MiB body, filled the
// store past its 1 GB in about 20 s, JetStream switched itself off and every
// call failed UNAVAILABLE "no processor is listening" until the store was
// cleaned by hand. Now: the flood must leave valid requests served, every
// stream within its budget and the store within its limit, refusals typed
// (RESOURCE_EXHAUSTED with the true cause, or the undecryptable request's own
// PERMISSION_DENIED; never UNAVAILABLE), dead letters small, and the demo
// passing afterwards with no cleanup.
//
// Duration: FLE_FLOOD_SECONDS (default 60, the issue's own run).
// Without the limits every byte the flood offers would be kept twice (in the
// request stream until handled, then whole in the dead-letter stream), so the
// drill checks that the flood offered more than those two streams' budgets
// together: had they no limits, they would have run past them. A machine too
// slow for that fails loudly instead of passing vacuously. On an idle
// machine 30 s offers more than the whole 1 GiB store (the issue measured
// 1.06 GB in 21 s); on this project's shared two cores under load, 6-7 MB/s
// were measured, so `FLE_FLOOD_SECONDS=180` is what overruns the store there.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { FieldCipher, compileSchema } from '@fle/field-crypto';
import { PaymentsClient } from '@fle/client';
import { canaryAuthorizeRequest } from '@fle/client/testing';
import { demoTargetFromStack, runDemo, settingsFromEnv, startStack, type RunningStack } from '@fle/devstack';
import { KeystoreKeyProvider } from '@fle/keystore-client';
import { JETSTREAM_BUDGET, natsInboxPrefix } from '@fle/nats-setup';
import { channelCredentials, natsTlsOptions, spiffeId } from '@fle/pki';
import { schemaRoot } from '@fle/schema';
import { AuthorizeRequest } from '@fle/schema/gen/acme/payments/v1/payments.js';
import { newReplayStamp, stampToMetadata } from '@fle/service-kit';
import { tempDir } from '@fle/testkit';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const FLOOD_SECONDS = positiveNumber('FLE_FLOOD_SECONDS', 60);
const FLOOD_CLIENTS = 4;
/** Calls each flooding client keeps in flight: an attacker does not wait for one answer before the next request. */
const IN_FLIGHT = positiveNumber('FLE_FLOOD_IN_FLIGHT', 8);
/** The largest request the stack's gateway takes (its default grpc.maxMessageBytes, 4 MiB), nearly all of it one envelope. */
const REQUEST_BYTES = 4 * 1024 * 1024;
/** The dev stack's JetStream store (packages/devstack/src/nats-runner.ts `maxFileStore: '1GB'`; nats-server reads GB as GiB). */
const STORE_BYTES = 1024 * 1024 * 1024;
const AUTHORIZE = '/acme.payments.v1.PaymentService/Authorize';
const passthrough = (b: Buffer): Buffer => b;

function positiveNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number of seconds, got ${JSON.stringify(text)}`);
  return n;
}

interface Outcome {
  readonly status: number;
  readonly code: string;
}

let stack: RunningStack;
let admin: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  const home = join(await tempDir('fle-flood-'), 'state');
  const settings = settingsFromEnv({ FLE_HOME: home, FLE_NATS_PORT: '0', FLE_KEYSTORE_PORT: '0', FLE_PROCESSOR_PORT: '0', FLE_GATEWAY_PORT: '0' }, home);
  stack = await startStack(settings);
  // Inspection as the admin identity: JetStream account and stream info, dead letters.
  admin = await connect({ servers: [stack.info.nats], tls: natsTlsOptions(stack.pki.files('admin')), inboxPrefix: natsInboxPrefix('admin'), name: 'flood-drill-admin' });
  jsm = await admin.jetstreamManager();
});

afterAll(async () => {
  await admin?.close().catch(() => undefined);
  await stack?.stop();
});

/** One undecryptable 4 MiB request: a well-formed envelope v1 header (alg 1, key version 1) and a random body. */
function floodRequest(body: Buffer): Buffer {
  const envelope = Buffer.concat([Buffer.from([1, 1, 0, 0, 0, 1]), body]);
  return Buffer.from(AuthorizeRequest.encode(AuthorizeRequest.fromPartial({ tenantId: stack.settings.tenant, requestId: `flood-${randomBytes(6).toString('hex')}`, amountMinor: 100, currency: 'EUR', biometricTemplate: envelope })).finish());
}

function callRaw(client: Client, body: Buffer): Promise<Outcome> {
  const md = stampToMetadata(newReplayStamp(), new Metadata());
  return new Promise((resolve) => {
    client.makeUnaryRequest(AUTHORIZE, passthrough, passthrough, body, md, { deadline: Date.now() + 20_000 }, (err: ServiceError | null) => {
      if (!err) return resolve({ status: status.OK, code: 'OK' });
      const carried = err.metadata?.get('fle-error-code')[0];
      resolve({ status: err.code, code: typeof carried === 'string' ? carried : 'UNKNOWN' });
    });
  });
}

/** Every stream's bytes against its limit, and the whole account's storage. */
async function storeState(): Promise<{ storage: number; streams: Array<{ name: string; bytes: number; maxBytes: number; messages: number; maxMsgs: number }> }> {
  const account = await jsm.getAccountInfo();
  const streams = [];
  for await (const s of jsm.streams.list()) streams.push({ name: s.config.name, bytes: s.state.bytes, maxBytes: s.config.max_bytes, messages: s.state.messages, maxMsgs: s.config.max_msgs });
  return { storage: account.storage, streams };
}

describe(`flood drill: ${FLOOD_CLIENTS} clients, ${REQUEST_BYTES / 1024 / 1024} MiB undecryptable requests, ${FLOOD_SECONDS} s`, () => {
  it(
    'leaves valid requests served, the store under its limits, refusals typed, dead letters small, and the demo working afterwards',
    async () => {
      const creds = channelCredentials(stack.pki.files('client'), { expectedServerIdentity: spiffeId('gateway') });
      const channel = { 'grpc.max_send_message_length': REQUEST_BYTES + 1024, 'grpc.ssl_target_name_override': 'localhost', 'grpc.use_local_subchannel_pool': 1 };
      const flooders = Array.from({ length: FLOOD_CLIENTS }, () => new Client(stack.info.gateway, creds, channel));
      const keys = new KeystoreKeyProvider({ address: stack.info.keystore, tls: stack.pki.files('client'), channelOptions: { 'grpc.ssl_target_name_override': 'localhost' } });
      const valid = new PaymentsClient({
        address: stack.info.gateway,
        credentials: creds,
        cipher: new FieldCipher({ schema: compileSchema(schemaRoot()), keys }),
        deadlineMs: 20_000,
        channelOptions: { 'grpc.ssl_target_name_override': 'localhost', 'grpc.use_local_subchannel_pool': 1 },
      });
      // A running client has its keys cached: fetch them (and check the stack serves) before the flood.
      expect((await valid.authorize(canaryAuthorizeRequest(stack.settings.tenant).request)).approved).toBe(true);
      const body = randomBytes(REQUEST_BYTES - 1024); // room for the header and the other fields
      const floodOutcomes: Outcome[] = [];
      const validOutcomes: Array<{ ok: boolean; detail: string }> = [];
      let offered = 0;
      let maxStorage = 0;
      const stopAt = Date.now() + FLOOD_SECONDS * 1000;
      try {
        const flood = flooders.flatMap((client) =>
          Array.from({ length: IN_FLIGHT }, async () => {
            while (Date.now() < stopAt) {
              const req = floodRequest(body);
              offered += req.byteLength;
              floodOutcomes.push(await callRaw(client, req));
            }
          }),
        );
        const wellBehaved = (async () => {
          while (Date.now() < stopAt) {
            try {
              const res = await valid.authorize(canaryAuthorizeRequest(stack.settings.tenant).request);
              validOutcomes.push({ ok: res.approved, detail: res.approved ? 'approved' : `declined: ${res.declineReason}` });
            } catch (err) {
              validOutcomes.push({ ok: false, detail: String((err as Error).message) });
            }
            await new Promise((r) => setTimeout(r, 500));
          }
        })();
        // JetStream may answer slowly under the flood: a sample that times out is counted, not fatal.
        let unanswered = 0;
        const sampler = (async () => {
          while (Date.now() < stopAt) {
            try {
              maxStorage = Math.max(maxStorage, (await storeState()).storage);
            } catch {
              unanswered++;
            }
            await new Promise((r) => setTimeout(r, 1000));
          }
        })();
        await Promise.all([...flood, wellBehaved, sampler]);
        console.log(`flood: offered ${(offered / 2 ** 20).toFixed(0)} MiB in ${FLOOD_SECONDS} s (${floodOutcomes.length} requests), store peak ${(maxStorage / 2 ** 20).toFixed(0)} MiB (${unanswered} samples unanswered), valid ${validOutcomes.length}: ${JSON.stringify(validOutcomes.filter((o) => !o.ok).slice(0, 3))}`);

        // Each check reports on its own (expect.soft): a failing run shows all that went wrong.
        // The flood offered more than the request and dead-letter streams may hold together: without their limits they would have run past them.
        const streamsItWrites = JETSTREAM_BUDGET.requests.maxBytes + JETSTREAM_BUDGET.deadLetters.maxBytes;
        expect.soft(offered, `the flood offered only ${(offered / 2 ** 20).toFixed(0)} MiB in ${FLOOD_SECONDS} s: raise FLE_FLOOD_SECONDS`).toBeGreaterThan(streamsItWrites);

        // Valid requests were served throughout.
        expect.soft(validOutcomes.length).toBeGreaterThan(0);
        expect.soft(validOutcomes.filter((o) => !o.ok)).toEqual([]);

        // The flood got typed answers: refused for the resources it asked for, or undecryptable; never "unavailable".
        const byOutcome = new Map<string, number>();
        for (const o of floodOutcomes) byOutcome.set(`${status[o.status]} ${o.code}`, (byOutcome.get(`${status[o.status]} ${o.code}`) ?? 0) + 1);
        const allowed = new Set(['RESOURCE_EXHAUSTED RATE_LIMITED', 'RESOURCE_EXHAUSTED STORE_FULL', 'PERMISSION_DENIED DECRYPTION_FAILED']);
        expect.soft([...byOutcome.keys()].filter((k) => !allowed.has(k)), JSON.stringify(Object.fromEntries(byOutcome))).toEqual([]);
        expect.soft(byOutcome.get('PERMISSION_DENIED DECRYPTION_FAILED') ?? 0, 'some flood requests reached the processor').toBeGreaterThan(0);

        // Every stream stayed within its budget, the store within its limit (JetStream still answers).
        let after: Awaited<ReturnType<typeof storeState>> | undefined;
        for (let i = 0; i < 30 && !after; i++) after = await storeState().catch(() => new Promise<undefined>((r) => setTimeout(r, 1000)));
        if (!after) throw new Error('JetStream no longer answers after the flood');
        console.log(`after the flood: ${after.streams.map((s) => `${s.name} ${s.messages} msgs ${(s.bytes / 2 ** 20).toFixed(1)}/${(s.maxBytes / 2 ** 20).toFixed(0)} MiB`).join('; ')}`);
        expect.soft(maxStorage).toBeLessThan(STORE_BYTES);
        expect.soft(after.storage).toBeLessThan(STORE_BYTES);
        for (const s of after.streams) {
          expect.soft(s.maxBytes, `${s.name} has a byte limit`).toBeGreaterThan(0);
          expect.soft(s.maxMsgs, `${s.name} has a message limit`).toBeGreaterThan(0);
          expect.soft(s.bytes, s.name).toBeLessThanOrEqual(s.maxBytes);
        }

        // Dead letters are small: the reason, the subject, the headers and a bounded prefix of the body.
        const dlq = after.streams.find((s) => s.name === 'FLE_DLQ')!;
        expect(dlq.messages).toBeGreaterThan(0);
        expect.soft(dlq.bytes / dlq.messages, 'average dead letter size').toBeLessThan(8 * 1024);
        const letter = await jsm.streams.getMessage('FLE_DLQ', { last_by_subj: `fle.dlq.${stack.settings.tenant}.authorize` });
        expect.soft(letter.header.get('Fle-Dlq-Reason')).toBe('decryption_failed');
        expect.soft(Number(letter.header.get('Fle-Dlq-Size'))).toBeGreaterThan(REQUEST_BYTES - 2048);
        expect.soft(letter.data.byteLength).toBeLessThanOrEqual(1024);

        // And the demo still works on the same stack, nothing cleaned.
        const run = await runDemo(demoTargetFromStack(stack.info));
        expect(run.summary.problems).toEqual([]);
        expect(run.summary.ok).toBe(true);
      } finally {
        for (const c of flooders) c.close();
        valid.close();
        keys.close();
      }
    },
    (FLOOD_SECONDS + 240) * 1000,
  );
});
