import { describe, expect, it } from 'vitest';
import { createServiceMetrics, startMetricsServer } from '../src/mod.js';

describe('metrics', () => {
  it('serves /metrics on loopback with the fle counters', async () => {
    const m = createServiceMetrics({ service: 'unit', processMetrics: false });
    m.seals.inc({ type: 'acme.payments.v1.AuthorizeResponse' });
    m.deadLetters.inc({ reason: 'decryption_failed' });
    m.keyCache.inc({ result: 'hit' }, 3);
    m.keystoreLatency.observe({ outcome: 'ok' }, 0.004);
    const srv = await startMetricsServer({ registry: m.registry });
    try {
      const res = await fetch(`http://127.0.0.1:${srv.port}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toMatch(/fle_seals_total\{type="acme.payments.v1.AuthorizeResponse",service="unit"\} 1/);
      expect(text).toMatch(/fle_dead_letters_total\{reason="decryption_failed",service="unit"\} 1/);
      expect(text).toMatch(/fle_key_cache_total\{result="hit",service="unit"\} 3/);
      expect(text).toMatch(/fle_keystore_latency_seconds_count\{service="unit",outcome="ok"\} 1/);
      expect((await fetch(`http://127.0.0.1:${srv.port}/other`)).status).toBe(404);
    } finally {
      await srv.close();
    }
  });
});
