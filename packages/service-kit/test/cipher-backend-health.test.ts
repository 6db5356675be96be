// Issue 18 item 7: a failing fast-backend self-check is logged once and
// exported as a metric instead of falling back silently.
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CIPHER_BACKEND_GAUGE, createLogger, watchCipherBackend } from '../src/mod.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, log: createLogger({ name: 'test', destination }) };
}

describe('watchCipherBackend', () => {
  it('self-check failed: one warning with the reason, gauge 0', async () => {
    const { lines, log } = capture();
    const registry = new Registry();
    const status = await watchCipherBackend({ log, registry, status: Promise.resolve({ state: 'native-only', reason: 'self-check failed: sealText alg 1' }) });
    expect(status.state).toBe('native-only');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, reason: 'self-check failed: sealText alg 1' });
    expect(await registry.metrics()).toMatch(new RegExp(`^${CIPHER_BACKEND_GAUGE} 0$`, 'm'));
  });

  it('libsodium in use: gauge 1, nothing logged; the real status of this process is sodium', async () => {
    const { lines, log } = capture();
    const registry = new Registry();
    expect(await watchCipherBackend({ log, registry })).toEqual({ state: 'sodium' });
    expect(lines).toEqual([]);
    expect(await registry.metrics()).toMatch(new RegExp(`^${CIPHER_BACKEND_GAUGE} 1$`, 'm'));
  });
});
