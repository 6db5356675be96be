import { describe, expect, it } from 'vitest';
import { createServiceMetrics, startMetricsServer } from '../src/mod.js';

describe('metrics', () => {
  it('serves /metrics on loopback with the fle counters', async () => {
    const m = createServiceMetrics({ service: 'unit', processMetrics: false });
    m.seals.inc({ type: 'fletest.svc.v1.SubmitResponse' });
    m.deadLetters.inc({ reason: 'decryption_failed' });
    m.requests.inc({ route: 'authorize', transport: 'jetstream', outcome: 'ok' }, 3);
    const srv = await startMetricsServer({ registry: m.registry });
    try {
      const res = await fetch(`http://127.0.0.1:${srv.port}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toMatch(/fle_seals_total\{type="fletest.svc.v1.SubmitResponse",service="unit"\} 1/);
      expect(text).toMatch(/fle_dead_letters_total\{reason="decryption_failed",service="unit"\} 1/);
      expect(text).toMatch(/fle_requests_total\{route="authorize",transport="jetstream",outcome="ok",service="unit"\} 3/);
      expect((await fetch(`http://127.0.0.1:${srv.port}/other`)).status).toBe(404);
    } finally {
      await srv.close();
    }
  });
});
