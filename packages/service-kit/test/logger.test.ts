import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DecryptionError, UnknownKeyVersionError } from '@fle/field-crypto';
import { createLogger, RoutingError, scrubForLog } from '../src/mod.js';

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

  it('keeps a secret key out at any depth, in arrays, and whatever its case', () => {
    const { lines, destination } = capture();
    const log = createLogger({ name: 'test', destination });
    const fields = {
      tenant: 't1',
      a: { b: { c: { d: { e: { key: 'CANARY-DEEP-KEY' } } } } },
      hops: [{ route: 'r1', token: 'CANARY-IN-ARRAY' }],
      headers: { Authorization: 'Bearer CANARY-HEADER' },
      NonceBytes: 'CANARY-CASE',
    };
    log.info(fields, 'handled');
    const out = lines.join('');
    expect(out).not.toMatch(/CANARY/);
    const line = JSON.parse(out) as { a: { b: { c: { d: { e: { key: string } } } } }; hops: { route: string; token: string }[] };
    expect(line.a.b.c.d.e.key).toBe('[redacted]');
    expect(line.hops[0]).toEqual({ route: 'r1', token: '[redacted]' });
    // The caller's object is not changed.
    expect(fields.a.b.c.d.e.key).toBe('CANARY-DEEP-KEY');
    expect(fields.hops[0]!.token).toBe('CANARY-IN-ARRAY');
  });

  it('prints byte arrays as their length, under any key, and nothing nested too deep', () => {
    const { lines, destination } = capture();
    const log = createLogger({ name: 'test', destination });
    let deep: Record<string, unknown> = { note: 'CANARY-TOO-DEEP' };
    for (let i = 0; i < 12; i++) deep = { next: deep };
    log.info({ size: 12, frame: Buffer.from('CANARY-BYTES'), inner: { view: new TextEncoder().encode('CANARY-VIEW') }, deep }, 'handled');
    const out = lines.join('');
    expect(out).not.toMatch(/CANARY/);
    expect(out).toContain('"frame":"[12 bytes]"');
    expect(out).toContain('"view":"[11 bytes]"');
    expect(out).toContain('"size":12');
  });

  it('returns a line with nothing to hide as it is (no copy)', () => {
    const fields = { method: '/svc/M', route: 'r', tenant: 't0', size: 1900, routes: ['a->b'], at: new Date(0) };
    expect(scrubForLog(fields)).toBe(fields);
    const clean = scrubForLog({ ...fields, nested: { secret: 's' } }) as { nested: { secret: string }; routes: string[] };
    expect(clean.nested.secret).toBe('[redacted]');
    expect(clean.routes).toBe(fields.routes);
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
