// Alg 4 senders from a registry the boundary prepares per tenant (the devices
// enrolled in the keystore: keystore-client's KeystoreSenderPolicy, issue 22
// item 3). A stand-in policy with a mutable device list: the boundary loads it
// before opening, retries once after an unknown sender when the list changed,
// and refuses a device removed from it.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { generateX25519KeyPair, HpkeSealer, StaticKeyProvider, StaticRecipientKeys, compileSchema, type SenderKeyPair } from '@fle/field-crypto';
import { messageCodec } from '@fle/schema';
import { MemoryNonceStore, createLogger, createServiceMetrics, newReplayStamp, replayContext } from '@fle/service-kit';
import { FIXTURE_METHOD, FIXTURE_REQUEST, canaryLedgerRequest, fixtureSchema, type LedgerRequest } from '@fle/testkit';
import { describe, expect, it } from 'vitest';
import { Boundary } from '../src/boundary.js';
import type { PreparedSenderPolicy } from '../src/pipeline.js';

const schema = compileSchema(fixtureSchema());
const requestCodec = messageCodec<LedgerRequest>(fixtureSchema(), FIXTURE_REQUEST);
const rings = { default: generateX25519KeyPair(), pci: generateX25519KeyPair() };
const keys = new StaticKeyProvider(
  (['default', 'pci'] as const).map((ring) => ({ tenant: 't1', ring, versions: [{ version: 1, key: rings[ring].privateKey, alg: 3 as const }] })),
);
const recipients = new StaticRecipientKeys((['default', 'pci'] as const).map((ring) => ({ tenant: 't1', ring, version: 1, publicKey: rings[ring].publicKey })));
const silent = createLogger({ name: 'test', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

/** The registry as the boundary sees it: `published` is the keystore's list, `cached` what prepare last loaded. */
class FakeRegistry implements PreparedSenderPolicy {
  published = new Map<string, Uint8Array>();
  cached = new Map<string, Uint8Array>();
  prepares = 0;
  retries = 0;
  async prepare(): Promise<void> {
    this.prepares++;
  }
  async retryAfterUnknownSender(): Promise<boolean> {
    this.retries++;
    const changed = !sameKeys(this.cached, this.published);
    this.cached = new Map(this.published);
    return changed;
  }
  deviceOf(_tenant: string, publicKey: Uint8Array): string | undefined {
    for (const [id, k] of this.cached) if (Buffer.from(k).equals(Buffer.from(publicKey))) return id;
    return undefined;
  }
  requiresSender(): boolean {
    return true;
  }
}

function sameKeys(a: Map<string, Uint8Array>, b: Map<string, Uint8Array>): boolean {
  return a.size === b.size && [...a].every(([id, k]) => b.has(id) && Buffer.from(b.get(id)!).equals(Buffer.from(k)));
}

async function boundaryWith(senders: PreparedSenderPolicy) {
  const seen: string[] = [];
  const boundary = await Boundary.create({
    schema: fixtureSchema(),
    keys,
    handlers: {
      Submit: async (req: LedgerRequest, ctx) => {
        seen.push([...ctx.sealedBy.values()][0] ?? '');
        return { tenantId: ctx.tenant, requestId: req.requestId, approved: true, declineReason: '', cardToken: '', cardLastFour: '', authorizationCode: 'A1' };
      },
    },
    routes: [{ method: FIXTURE_METHOD, route: 'submit' }],
    nonceStore: new MemoryNonceStore(),
    hpke: { senders },
    logger: silent,
    metrics: createServiceMetrics({ service: 'test', processMetrics: false }),
  });
  return { pipeline: boundary.pipeline, seen };
}

async function request(sender: SenderKeyPair) {
  const stamp = newReplayStamp();
  const msg = await new HpkeSealer({ schema, recipients, sender }).sealMessage(FIXTURE_REQUEST, canaryLedgerRequest('t1').request, { context: replayContext(stamp) });
  return { transport: 'nats' as const, path: FIXTURE_METHOD, subjectTenant: 't1', subjectRoute: 'submit', bytes: requestCodec.encode(msg), stamp, origin: `core:${randomBytes(4).toString('hex')}` };
}

describe('Boundary hpke.senders (devices enrolled in the keystore)', () => {
  it('prepares the tenant before opening, takes a device enrolled since after one refetch, refuses it once revoked', async () => {
    const registry = new FakeRegistry();
    const { pipeline, seen } = await boundaryWith(registry);
    const phone = generateX25519KeyPair();

    // Enrolled after the list was cached: refused at first sight, found by the one retry.
    registry.published.set('dev_phone', phone.publicKey);
    const first = await pipeline.handle(await request(phone));
    await first.claim.complete();
    expect(seen).toEqual(['dev_phone']);
    expect([registry.prepares, registry.retries]).toEqual([1, 1]);

    // Cached now: no retry.
    await (await pipeline.handle(await request(phone))).claim.complete();
    expect([registry.prepares, registry.retries]).toEqual([2, 1]);

    // Revoked (the registry's list after its TTL): refused, the retry finds no change.
    registry.published.delete('dev_phone');
    registry.cached.delete('dev_phone');
    await expect(pipeline.handle(await request(phone))).rejects.toMatchObject({ code: 'UNKNOWN_SENDER' });
    expect(registry.retries).toBe(2);
    expect(seen).toHaveLength(2);
  });

  it('a stranger key is refused after at most one refetch', async () => {
    const registry = new FakeRegistry();
    const { pipeline, seen } = await boundaryWith(registry);
    await expect(pipeline.handle(await request(generateX25519KeyPair()))).rejects.toMatchObject({ code: 'UNKNOWN_SENDER' });
    expect(registry.retries).toBe(1);
    expect(seen).toHaveLength(0);
  });

  it('refuses senders and a devices list together', async () => {
    await expect(
      Boundary.create({ schema: fixtureSchema(), keys, handlers: { Submit: async () => ({}) }, nonceStore: new MemoryNonceStore(), hpke: { senders: new FakeRegistry(), devices: [] } }),
    ).rejects.toThrow(/either senders .* or a devices list/);
  });
});
