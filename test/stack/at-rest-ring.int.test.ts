// Issue 17 item 5 on the stack `npm start` runs (the devstack, in process, on
// random ports and a temp state folder): the payments example's stored
// AuthorizationRecords are sealed under `payments-records`, a ring the keystore
// policy makes exclusive to the processor. The client identity, which seals
// requests under the demo tenant's `default` and `pci` rings, is refused that
// ring (PERMISSION_DENIED) and cannot open a record read from the KV bucket;
// the processor stored it and opens it.
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settingsFromEnv, startStack, type RunningStack } from '@fle/devstack';
import { AUTHORIZATION_RECORD, AUTHORIZATIONS_BUCKET, PaymentsClient } from '@fle-examples/payments';
import { PAYMENTS_API, PAYMENTS_RECORDS_RING, paymentsSchema } from '@fle-examples/payments/schema';
import { canaryAuthorizeRequest } from '@fle-examples/payments/testing';
import { compileSchema, FieldCipher } from '@fle/field-crypto';
import { KeystoreKeyProvider, KeystorePermissionDeniedError } from '@fle/keystore-client';
import { natsInboxPrefix } from '@fle/nats-setup';
import { SealedKv } from '@fle/records';
import { channelCredentials, natsTlsOptions, spiffeId } from '@fle/pki';
import { tempDir } from '@fle/testkit';

let stack: RunningStack;
let nc: NatsConnection | undefined;
const closers: Array<{ close(): void }> = [];
const channelOptions = { 'grpc.ssl_target_name_override': 'localhost', 'grpc.use_local_subchannel_pool': 1 };

function keysOf(identity: 'client' | 'processor'): KeystoreKeyProvider {
  const k = new KeystoreKeyProvider({ address: stack.info.keystore, tls: stack.pki.files(identity), negativeTtlMs: 0, sealReports: false, channelOptions });
  closers.push(k);
  return k;
}

beforeAll(async () => {
  const home = join(await tempDir('fle-at-rest-'), 'state');
  const settings = settingsFromEnv({ FLE_HOME: home, FLE_NATS_PORT: '0', FLE_KEYSTORE_PORT: '0', FLE_PROCESSOR_PORT: '0', FLE_GATEWAY_PORT: '0' }, home);
  stack = await startStack(settings, { api: PAYMENTS_API });
});

afterAll(async () => {
  for (const c of closers) c.close();
  await nc?.close();
  await stack?.stop();
});

describe('stored records are out of the client identity\'s reach', () => {
  it('the client seals requests but is denied the records ring; a stored record opens for the processor only', async () => {
    const tenant = stack.settings.tenant;
    const schema = compileSchema(paymentsSchema());
    const clientKeys = keysOf('client');

    // A request through the gateway: the processor stores its record.
    const payments = new PaymentsClient({
      address: stack.info.gateway,
      credentials: channelCredentials(stack.pki.files('client'), { expectedServerIdentity: spiffeId('gateway') }),
      cipher: new FieldCipher({ schema, keys: clientKeys }),
      deadlineMs: 15_000,
      channelOptions,
    });
    closers.push(payments);
    const { request } = canaryAuthorizeRequest(tenant);
    const cardNumber = request.card!.number;
    expect((await payments.authorize(request)).approved).toBe(true);

    // The keystore refuses the client the records ring, not its request rings.
    await expect(clientKeys.primaryKey({ tenant, ring: PAYMENTS_RECORDS_RING })).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    await expect(clientKeys.keyVersion({ tenant, ring: PAYMENTS_RECORDS_RING }, 1)).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    expect((await clientKeys.primaryKey({ tenant, ring: 'pci' })).version).toBeGreaterThanOrEqual(1);

    // The record as it lies in the bucket (read here over the processor's NATS
    // identity: whoever gets the bytes, the keys decide).
    nc = await connect({ servers: [stack.info.nats], tls: natsTlsOptions(stack.pki.files('processor')), inboxPrefix: natsInboxPrefix('processor'), reconnect: false });
    const kv = await nc.jetstream().views.kv(AUTHORIZATIONS_BUCKET, { bindOnly: true });
    const keys: string[] = [];
    for await (const k of await kv.keys(`${tenant}.>`)) keys.push(k);
    let stored: { key: string; bytes: Uint8Array } | undefined;
    const asProcessor = new SealedKv({ kv, store: AUTHORIZATIONS_BUCKET, type: AUTHORIZATION_RECORD, schema, keys: keysOf('processor') });
    for (const key of keys) {
      const rec = await asProcessor.get(key);
      if (rec?.value.requestId === request.requestId) {
        stored = { key, bytes: (await kv.get(key))!.value };
        // The processor, the storing service, opens it: the full card number is there.
        expect(rec.value.cardNumber).toBe(cardNumber);
        expect(rec.value.tenantId).toBe(tenant);
      }
    }
    expect(stored, 'the processor stored the request\'s record').toBeDefined();
    expect(Buffer.from(stored!.bytes).includes(Buffer.from(cardNumber)), 'the card number is sealed at rest').toBe(false);

    // The client identity's keys cannot open it.
    const asClient = new SealedKv({ kv, store: AUTHORIZATIONS_BUCKET, type: AUTHORIZATION_RECORD, schema, keys: clientKeys });
    const err = await asClient.get(stored!.key).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'the client opened a stored record').toBeDefined();
    expect(chain(err).some((e) => e instanceof KeystorePermissionDeniedError), `refused for want of the key: ${String(err)}`).toBe(true);
    expect(String(err)).not.toContain(cardNumber);
  });
});

/** The error and its causes. */
function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && out.length < 10; e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}
