import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DecryptionError, UnknownKeyVersionError } from '@fle/field-crypto';
import { createLogger, RoutingError } from '../src/mod.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('redacts body-like keys at any of the first three levels', () => {
    const { lines, destination } = capture();
    const log = createLogger({ name: 'test', destination });
    log.info({ body: 'CANARY-1', nested: { plaintext: 'CANARY-2', deeper: { key: 'CANARY-3' } }, tenant: 't1', size: 42 }, 'handled');
    const out = lines.join('');
    expect(out).not.toMatch(/CANARY/);
    expect(out).toContain('"tenant":"t1"');
    expect(out).toContain('"size":42');
    expect(out).toContain('[redacted]');
  });

  it('logs typed errors by code; untyped keep their cause in the log only', () => {
    const { lines, destination } = capture();
    const log = createLogger({ name: 'test', destination });
    log.warn({ err: new RoutingError('INVALID_TENANT', 'tenant id must be a token') }, 'refused');
    log.error({ err: new Error('socket hang up') }, 'failed');
    const [a, b] = lines.map((l) => JSON.parse(l) as { err: { code: string; message: string } });
    expect(a!.err).toMatchObject({ code: 'INVALID_TENANT' });
    expect(b!.err).toMatchObject({ code: 'INTERNAL', message: 'socket hang up' });
  });

  it("keeps a typed error's cause in the log (why a decryption failed), never in its message", () => {
    const { lines, destination } = capture();
    const log = createLogger({ name: 'test', destination });
    log.warn({ err: new DecryptionError('6', { cause: new UnknownKeyVersionError('ghost', 'default', 1) }) }, 'refused');
    const line = JSON.parse(lines[0]!) as { err: { code: string; message: string; cause: { code: string; message: string } } };
    expect(line.err).toMatchObject({ code: 'DECRYPTION_FAILED', message: 'decryption failed (field 6)' });
    expect(line.err.cause).toMatchObject({ code: 'UNKNOWN_KEY_VERSION', message: 'unknown key version 1 for tenant "ghost" ring "default"' });
  });
});
