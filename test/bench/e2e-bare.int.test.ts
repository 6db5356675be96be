// The end-to-end benchmark bootstraps with its bare baseline (issue 23 item 1):
// the whole stack starts (nats-server with fle's users and the bare ones,
// keystore, processor, gateways, bench/bare processes), one tiny cell runs
// per transport with all three variants in the same rounds, and every variant
// answers without an error. A run of the real benchmark takes minutes; this
// takes seconds and fails as soon as a variant cannot be called.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2eRun } from '../../bench/support/e2e-cells.js';
import { startE2eStack, type E2eStack } from '../../bench/support/e2e-stack.js';

describe('e2e benchmark with the bare baseline', () => {
  let stack: E2eStack;
  beforeAll(async () => {
    stack = await startE2eStack({ tenants: ['t0', 't1'], keyCacheTtlMs: 20_000, processorConcurrency: 8, transports: ['jetstream', 'nats'], bare: true });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it.each(['jetstream', 'nats'] as const)('runs encrypted, plaintext and bare in the same rounds over %s', async (transport) => {
    const run = new E2eRun(stack, { tenants: ['t0', 't1'], pool: 4, rounds: 6 });
    const cell = await run.cell(`smoke ${transport}`, transport, 4, 64, 48, 6);
    for (const v of [cell.encrypted, cell.plaintext, cell.bare!]) {
      expect(v.errors, `${v.variant}: ${JSON.stringify(v.errorCodes)}`).toBe(0);
      expect(v.requests).toBe(48);
      expect(v.roundRps).toHaveLength(6);
      // The bare pipeline's processes are sampled under the same names as fle's.
      expect(v.cpuUsPerRequest.gateway).toBeGreaterThanOrEqual(0);
      expect(v.cpuUsPerRequest.processor).toBeGreaterThanOrEqual(0);
    }
    expect(cell.bare!.variant).toBe('bare');
    const r = cell.bareRatios!;
    for (const x of [r.encryptedThroughput, r.plaintextThroughput, r.encryptedP50, r.plaintextP50, r.encryptedCpu, r.plaintextCpu]) expect(Number.isFinite(x) && x > 0).toBe(true);
    expect(r.encryptedThroughputCi[0]).toBeLessThanOrEqual(r.encryptedThroughputCi[1]);
    // The bare processor stored one record per request it answered (plus the other transport's, if it ran first).
    const kv = await (await stack.nats.connect('bare-processor', { inboxPrefix: '_INBOX_bare-processor' })).jetstream().views.kv('bare_authorizations');
    expect((await kv.status()).values).toBeGreaterThanOrEqual(48);
  }, 120_000);
});
