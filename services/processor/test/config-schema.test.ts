// Issue 17 §7 for the processor: unknown keys refused with their path, and the
// test-only probe out of the production config (env FLE_TEST_PROBE instead).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pkiPaths } from '@fle/pki';
import { ConfigError } from '@fle/service-kit';
import { parseProcessorConfig } from '../src/config.js';
import { validateProcessorConfig } from '../src/config-schema.js';
import { TEST_PROBE_ENV, testProbeFromEnv, withTestHooks } from '../src/test-hooks.js';
import { AUTHORIZE_PLAIN_ROUTE, AUTHORIZE_ROUTE, PROCESSOR_MAIN, processorTestConfig } from '../src/testing.js';

const tls = { ca: 'ca.pem', cert: 'processor.pem', key: 'processor-key.pem' };
const nats = { servers: ['tls://127.0.0.1:4222'], tls };
const routes = [AUTHORIZE_ROUTE];
const good = { nats, keystore: { address: '127.0.0.1:7443', tls }, routes };

const dir = mkdtempSync(join(tmpdir(), 'fle-proc-schema-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('processor config schema', () => {
  it('refuses testProbe: a test-only setting is not part of the production config', () => {
    expect(() => parseProcessorConfig({ ...good, testProbe: { openedDigestFile: '/tmp/opened.jsonl', holdMs: 20 } }, '/srv')).toThrow(new ConfigError('unknown key testProbe'));
  });

  it.each([
    [{ ...good, grpc: { tls, maxMesageBytes: 1024 } }, 'unknown key grpc.maxMesageBytes (did you mean maxMessageBytes?)'],
    [{ ...good, grpc: { tls, allowedCaller: ['spiffe://fle.local/gateway'] } }, 'unknown key grpc.allowedCaller (did you mean allowedCallers?)'],
    [{ ...good, jetstream: { maxAtempts: 3 } }, 'unknown key jetstream.maxAtempts (did you mean maxAttempts?)'],
    [{ ...good, keystore: { address: '127.0.0.1:7443', tls, cacheTtl: 1000 } }, 'unknown key keystore.cacheTtl (did you mean cacheTtlMs?)'],
    [{ ...good, routes: [{ ...AUTHORIZE_ROUTE, timeotMs: 5 }] }, 'unknown key routes[0].timeotMs'],
    [{ ...good, replay: { windowMs: '60s' } }, 'replay.windowMs must be a number'],
    [{ ...good, hpke: { devices: [{ tenant: 'acme', id: 'x', publicKey: 'k', name: 'n' }] } }, 'unknown key hpke.devices[0].name'],
    [{ ...good, concurrency: '32' }, 'concurrency must be a number'],
  ])('refuses %j naming the key', (doc, message) => {
    expect(() => parseProcessorConfig(doc, '/srv')).toThrow(new ConfigError(message));
  });

  it('takes the keys the schema, handlers and envelope-cap work adds', () => {
    const withNew = { ...good, schema: { protoRoots: ['proto'] }, handlers: './handlers.ts', maxEnvelopes: 256 };
    expect(() => validateProcessorConfig(withNew)).not.toThrow();
    expect(() => validateProcessorConfig({ ...withNew, schema: { image: 'schema.binpb' } })).not.toThrow();
    expect(() => validateProcessorConfig({ ...withNew, schema: {} })).toThrow('schema must give exactly one of image, protoRoots');
    expect(() => validateProcessorConfig({ ...withNew, handlers: '' })).toThrow('handlers must be a non-empty string');
    expect(() => validateProcessorConfig({ ...withNew, maxEnvelopes: 0 })).toThrow('maxEnvelopes must be a number >= 1');
  });

  it('the test helper writes configs the schema takes, every option set, and never the probe', () => {
    const config = processorTestConfig({
      pki: pkiPaths('/tmp/pki'),
      natsUrls: ['tls://127.0.0.1:4222'],
      keystoreAddress: '127.0.0.1:7443',
      grpc: true,
      grpcPort: 9443,
      allowedCallers: ['spiffe://fle.local/gateway'],
      core: false,
      jetstream: { enabled: true, durable: 'd', maxAttempts: 3, ackWaitMs: 1000, nakBaseMs: 10, nakMaxMs: 100 },
      replay: { windowMs: 1000, store: 'redis', redisUrl: 'redis://127.0.0.1:6379' },
      concurrency: 4,
      keyCacheTtlMs: 1000,
      keyCacheGraceMs: 0,
      testProbe: true,
      testProbeHoldMs: 20,
      logLevel: 'warn',
      hpke: { kem: 'webcrypto', devices: [{ tenant: 'acme', id: 'ios', publicKey: 'A'.repeat(43) }], requireForRegisteredTenants: false },
      routes: [AUTHORIZE_ROUTE, AUTHORIZE_PLAIN_ROUTE],
    });
    expect(config).not.toHaveProperty('testProbe');
    expect(() => validateProcessorConfig({ ...config, portsFile: '/tmp/p.ports.json' })).not.toThrow();
  });
});

describe('FLE_TEST_PROBE (test only)', () => {
  it('is read from the environment, absolute path, holdMs defaulting to 0', () => {
    expect(testProbeFromEnv({})).toBeUndefined();
    expect(testProbeFromEnv({ [TEST_PROBE_ENV]: JSON.stringify({ openedDigestFile: '/tmp/o.jsonl', holdMs: 20 }) })).toEqual({ openedDigestFile: '/tmp/o.jsonl', holdMs: 20 });
    expect(testProbeFromEnv({ [TEST_PROBE_ENV]: JSON.stringify({ openedDigestFile: '/tmp/o.jsonl' }) })).toEqual({ openedDigestFile: '/tmp/o.jsonl', holdMs: 0 });
    const config = parseProcessorConfig(good, '/srv');
    expect(withTestHooks(config, {})).toBe(config);
    expect(withTestHooks(config, { [TEST_PROBE_ENV]: '{"openedDigestFile":"/tmp/o.jsonl"}' }).testProbe).toEqual({ openedDigestFile: '/tmp/o.jsonl', holdMs: 0 });
  });

  it('is refused when malformed, naming the variable', () => {
    expect(() => testProbeFromEnv({ [TEST_PROBE_ENV]: 'yes' })).toThrow(new ConfigError(`${TEST_PROBE_ENV} (test only) must be JSON: {"openedDigestFile": <path>, "holdMs": <ms>}`));
    expect(() => testProbeFromEnv({ [TEST_PROBE_ENV]: '{"openedDigestFile":"/x","hold":5}' })).toThrow(new ConfigError(`${TEST_PROBE_ENV} (test only): unknown key hold (did you mean holdMs?)`));
  });
});

describe('processor main with testProbe in its config', () => {
  it('exits non-zero with one line naming the file and the key', async () => {
    const file = join(dir, 'processor.yaml');
    writeFileSync(file, JSON.stringify({ ...good, testProbe: { openedDigestFile: join(dir, 'opened.jsonl') } }));
    const env = { ...process.env };
    delete env.FLE_CONFIG;
    delete env[TEST_PROBE_ENV];
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), PROCESSOR_MAIN, '--config', file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).not.toBe(0);
    expect(out).toBe(`config ${file}: unknown key testProbe\n`);
  });
});
