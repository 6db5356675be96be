// Fault drill (issue 6 item 2): the keystore goes away during traffic. The
// processor's key cache (TTL 1 s, grace 4 s here) keeps serving the keys it
// has; once they are older than TTL + grace the callers get a typed
// UNAVAILABLE (KEYSTORE_UNAVAILABLE) with no effect done; JetStream requests
// wait (NAK with backoff) instead; when the keystore returns everything
// recovers and nothing accepted is lost or done twice.
import { status } from '@grpc/grpc-js';
import { PaymentServiceService, type AuthorizeResponse } from '@fle-examples/payments/gen/acme/payments/v1/payments.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthorizationLedger, DeadLetterWatch, withNonces } from '../support/jetstream-watch.js';
import { settleEffects } from '../support/drill-traffic.js';
import { sealedRequest, settle, startReliabilityStack, waitFor, type CallOutcome, type ReliabilityStack, type SealedRequest } from '../support/reliability-stack.js';

const TTL_MS = 1000;
const GRACE_MS = 4000;
const SYNC_ROUTES = ['grpc', 'nats'] as const;

describe('drill: keystore down during traffic', () => {
  let stack: ReliabilityStack;
  let ledger: AuthorizationLedger;

  beforeAll(async () => {
    stack = await startReliabilityStack({
      transports: ['grpc', 'nats', 'jetstream'],
      routeTimeoutMs: 25_000,
      processor: { keyCacheTtlMs: TTL_MS, keyCacheGraceMs: GRACE_MS, jetstream: { ackWaitMs: 5000, nakBaseMs: 200, nakMaxMs: 1000, maxAttempts: 60 } },
    });
    ledger = await AuthorizationLedger.open(await stack.connect('processor'));
  });

  afterAll(async () => {
    await stack?.stop();
  });

  type Sent = { route: string; request: SealedRequest; at: number; outcome: CallOutcome<AuthorizeResponse> };

  it('serves cached keys, then answers a typed UNAVAILABLE, then recovers; nothing lost or done twice', async () => {
    const writesBefore = await ledger.writes();
    const sent: Sent[] = [];
    const send = async (route: 'grpc' | 'nats' | 'jetstream', deadlineMs = 10_000): Promise<Sent> => {
      const request = await sealedRequest(stack.cipher);
      const at = Date.now();
      const outcome = await settle(stack.clients[route]!.fle.callRaw(PaymentServiceService.authorize, request.sealed, request.stamp, deadlineMs));
      const s = { route, request, at, outcome };
      sent.push(s);
      return s;
    };

    // Warm: every route works, and the processor's keys are (re)fetched just before the outage.
    for (const r of [...SYNC_ROUTES, 'jetstream'] as const) expect((await send(r)).outcome.ok, r).toBe(true);
    await new Promise((r) => setTimeout(r, TTL_MS + 100));
    expect((await send('grpc')).outcome.ok).toBe(true);
    await stack.keystore.stop();
    const down = Date.now();

    // 1. Past the TTL but inside the grace: the cached keys still serve.
    await new Promise((r) => setTimeout(r, TTL_MS + 300));
    for (const r of SYNC_ROUTES) {
      const s = await send(r);
      expect(s.outcome.ok, `${r} at +${s.at - down} ms: ${JSON.stringify(s.outcome)}`).toBe(true);
    }

    // 2. Keep going until the cache is exhausted: then a typed UNAVAILABLE, and it stays so.
    const firstRefusal = await waitFor('a typed UNAVAILABLE', async () => {
      const s = await send('grpc');
      return s.outcome.ok ? undefined : s;
    }, TTL_MS + GRACE_MS + 5000, 250);
    expect(firstRefusal.outcome).toMatchObject({ ok: false, status: status.UNAVAILABLE, code: 'KEYSTORE_UNAVAILABLE' });
    expect(firstRefusal.at - down).toBeGreaterThanOrEqual(GRACE_MS - 500); // not before the grace ran out
    for (const r of SYNC_ROUTES) {
      expect((await send(r)).outcome, r).toMatchObject({ ok: false, status: status.UNAVAILABLE, code: 'KEYSTORE_UNAVAILABLE' });
    }
    // JetStream callers wait instead: their requests are accepted and NAKed with backoff.
    const waiting = Promise.all(Array.from({ length: 4 }, () => send('jetstream', 30_000)));
    await new Promise((r) => setTimeout(r, 1500));

    // 3. The keystore returns (same address): recovery without restarting anything else.
    await stack.restartKeystore();
    const back = Date.now();
    for (const r of SYNC_ROUTES) {
      await waitFor(`${r} recovered`, async () => ((await send(r)).outcome.ok ? true : undefined), 10_000, 200);
    }
    const js = await waiting;
    for (const s of js) expect(s.outcome.ok, JSON.stringify(s.outcome)).toBe(true);
    expect(Date.now() - back).toBeLessThan(15_000);

    // Effects: one per answered request, none for a refused one, no nonce twice; nothing dead-lettered.
    const answered = sent.filter((s) => s.outcome.ok).map((s) => s.request.stamp.nonce);
    const refused = sent.filter((s) => !s.outcome.ok);
    for (const s of refused) expect(s.outcome, s.route).toMatchObject({ status: status.UNAVAILABLE, code: 'KEYSTORE_UNAVAILABLE' });
    expect(refused.length).toBeGreaterThanOrEqual(3);
    const effects = await settleEffects(ledger, 't1', answered, [], writesBefore, 10_000);
    expect(effects.lost).toEqual([]);
    expect(effects.writes).toBe(answered.length);
    expect((await ledger.present('t1', refused.map((s) => s.request.stamp.nonce))).present).toEqual([]);
    expect(withNonces(await DeadLetterWatch.readAll(await stack.connect('admin')), new Set(sent.map((s) => s.request.stamp.nonce)))).toEqual([]);

    const metrics = await (await fetch(stack.processor.metricsUrl)).text();
    expect(metrics).toMatch(/fle_requests_total\{route="authorize",transport="jetstream",outcome="retry",service="processor"\} [1-9]/);
    for (const p of stack.processes().filter((p) => p.name !== 'keystore')) expect(p.alive(), p.name).toBe(true);
  });
});
