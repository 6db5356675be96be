// Fault drill (issue 6 item 2): the processor is SIGKILLed inside the handler
// while a fixed batch flows through JetStream. The processor offers no crash
// hook, so the kill is placed by its test probe: the probe line is written
// once a request is opened, right before its handler runs, so killing as soon
// as enough lines appear leaves requests between "opened" and "acked". A new
// processor takes over; every accepted request is processed, its effect (the
// sealed record in fle_authorizations) written exactly once per nonce, and the
// callers still waiting at the gateway get their answers.
import { PaymentServiceService } from '@fle/schema/gen/acme/payments/v1/payments.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthorizationLedger, DeadLetterWatch, withNonces } from '../support/jetstream-watch.js';
import { inWaves, isTransientRefusal, publishReliably, sealMany, settleEffects } from '../support/drill-traffic.js';
import { sealedRequest, settle, startReliabilityStack, waitFor, type ReliabilityStack } from '../support/reliability-stack.js';

const DIRECT = 120; // published straight to the stream
const VIA_GATEWAY = 16; // sent by clients through the JetStream route
const KILL_AFTER_OPENED = 30;

describe('drill: processor crashed inside the handler', () => {
  let stack: ReliabilityStack;
  let ledger: AuthorizationLedger;

  beforeAll(async () => {
    stack = await startReliabilityStack({
      transports: ['jetstream'],
      routeTimeoutMs: 25_000,
      processor: { core: false, concurrency: 8, jetstream: { ackWaitMs: 1500, nakBaseMs: 100, nakMaxMs: 500, maxAttempts: 20 } },
    });
    ledger = await AuthorizationLedger.open(await stack.connect('processor'));
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('redelivers what was in flight, processes every accepted request once, answers the waiting callers', async () => {
    const asGateway = await stack.connect('gateway');
    const writesBefore = await ledger.writes();
    const direct = await sealMany(stack.cipher, DIRECT);
    const viaGateway = await sealMany(stack.cipher, VIA_GATEWAY);
    const first = stack.processor;

    // Load: the whole direct batch is published at once (durable in FLE_REQUESTS) while callers wait at the gateway.
    const published = await inWaves(direct, 16, (r) => publishReliably(asGateway, r, 10_000));
    expect(published.every((p) => p.acked)).toBe(true);
    const calls = Promise.all(viaGateway.map((r) => settle(stack.clients.jetstream!.fle.callRaw(PaymentServiceService.authorize, r.sealed, r.stamp, 30_000))));

    // Kill inside the handler: as soon as enough requests have been opened.
    await waitFor('requests opened', async () => ((await first.digests()).length >= KILL_AFTER_OPENED ? true : undefined), 20_000, 5);
    await first.kill();
    const openedByFirst = new Set((await first.digests()).map((d) => d.nonce));
    const allNonces = [...direct, ...viaGateway].map((r) => r.stamp.nonce);
    const storedAtKill = (await ledger.present('t1', allNonces)).present.length;
    expect(storedAtKill).toBeLessThan(allNonces.length); // really mid-stream

    const second = await stack.startProcessor();
    stack.processor = second;

    const outcomes = await calls;
    // The callers waiting at the gateway get their answers across the crash (on a
    // heavily loaded machine the restart may outlast the route timeout: then a
    // transient DEADLINE_EXCEEDED, never anything else).
    for (const o of outcomes) if (!o.ok) expect(isTransientRefusal(o), `${o.status} ${o.code} ${o.details}`).toBe(true);
    expect(outcomes.some((o) => o.ok)).toBe(true);

    // Accepted: the whole direct batch (acknowledged by the stream) and every call answered OK.
    const answered = viaGateway.filter((_, i) => outcomes[i]!.ok).map((r) => r.stamp.nonce);
    const directNonces = direct.map((r) => r.stamp.nonce);
    const effects = await settleEffects(ledger, 't1', [...directNonces, ...answered], allNonces, writesBefore, 30_000);
    expect(effects.lost).toEqual([]);
    expect(effects.writes).toBe(effects.stored); // no record written twice

    // Requests that were opened (inside the handler) by the killed process were redelivered and resumed.
    const openedBySecond = new Set((await second.digests()).map((d) => d.nonce));
    const resumed = [...openedByFirst].filter((n) => openedBySecond.has(n));
    expect(resumed.length).toBeGreaterThan(0);
    for (const n of [...directNonces, ...answered]) expect(openedByFirst.has(n) || openedBySecond.has(n), n).toBe(true);

    // Nothing was dead-lettered, and the work queue is empty.
    expect(withNonces(await DeadLetterWatch.readAll(await stack.connect('admin')), new Set(allNonces))).toEqual([]);
    const jsm = await (await stack.connect('processor')).jetstreamManager();
    await waitFor('empty work queue', async () => ((await jsm.streams.info('FLE_REQUESTS')).state.messages === 0 ? true : undefined), 10_000);
    const metrics = await (await fetch(second.metricsUrl)).text();
    expect(metrics).toMatch(/fle_effects_total\{kind="authorization_record",result="done",service="processor"\} [1-9]/);

    // And the new processor serves new traffic normally.
    const after = await sealedRequest(stack.cipher);
    expect((await stack.clients.jetstream!.authorize(after.request)).approved).toBe(true);
  });
});
