// Issue 17 §7: a gateway config with a misspelt key was accepted (`allowedCaller:`
// left any certificate of the CA free to call; `maxMesageBytes`, `timeotMs` fell
// back to their defaults). Now the file is refused, naming the key and the file.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pkiPaths } from '@fle/pki';
import { ConfigError } from '@fle/service-kit';
import { parseGatewayConfig } from '../src/config.js';
import { validateGatewayConfig } from '../src/config-schema.js';
import { GATEWAY_MAIN, gatewayTestConfig, methodRoute } from '../src/testing.js';

const tls = { ca: 'certs/ca.pem', cert: 'certs/gateway.pem', key: 'certs/gateway-key.pem' };
const route = { method: '/fletest.svc.v1.LedgerService/Submit', route: 'submit', transport: 'jetstream', timeoutMs: 5000 };
const good = {
  grpc: { listen: '127.0.0.1:0', tls, maxMessageBytes: 65536, allowedCallers: ['spiffe://fle.local/client'] },
  nats: { servers: ['tls://127.0.0.1:4222'], tls },
  routes: [route],
};

const dir = mkdtempSync(join(tmpdir(), 'fle-gw-schema-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gateway config schema', () => {
  it.each([
    ['grpc.allowedCaller', { ...good, grpc: { listen: '127.0.0.1:0', tls, allowedCaller: ['spiffe://fle.local/client'] } }, 'unknown key grpc.allowedCaller (did you mean allowedCallers?)'],
    ['grpc.maxMesageBytes', { ...good, grpc: { tls, maxMesageBytes: 1024 } }, 'unknown key grpc.maxMesageBytes (did you mean maxMessageBytes?)'],
    ['routes[0].timeotMs', { ...good, routes: [{ ...route, timeoutMs: undefined, timeotMs: 100 }] }, 'unknown key routes[0].timeotMs (did you mean timeoutMs?)'],
    ['routes[0].allowedCaller', { ...good, routes: [{ ...route, allowedCaller: ['x'] }] }, 'unknown key routes[0].allowedCaller (did you mean grpc.allowedCallers?)'],
    ['testProbe', { ...good, testProbe: { openedDigestFile: '/tmp/x' } }, 'unknown key testProbe'],
  ])('refuses the misspelt or unknown key %s, naming it', (_key, doc, message) => {
    expect(() => parseGatewayConfig(doc, '/etc/fle')).toThrow(new ConfigError(message));
  });

  it('names the key of a wrong type', () => {
    expect(() => parseGatewayConfig({ ...good, grpc: { tls, maxMessageBytes: '4MiB' } })).toThrow(new ConfigError('grpc.maxMessageBytes must be a number'));
    expect(() => parseGatewayConfig({ ...good, grpc: { tls, allowedCallers: 'spiffe://fle.local/client' } })).toThrow(new ConfigError('grpc.allowedCallers must be a list'));
    expect(() => parseGatewayConfig({ ...good, routes: [{ ...route, timeoutMs: '5s' }] })).toThrow(new ConfigError('routes[0].timeoutMs must be a number'));
    expect(() => parseGatewayConfig({ ...good, rateLimits: { perTenant: { enabled: 'no' } } })).toThrow(new ConfigError('rateLimits.perTenant.enabled must be true or false'));
    expect(() => parseGatewayConfig({ ...good, log: { level: 'verbose' } })).toThrow(/^log\.level must be one of fatal, error, warn, info/);
  });

  it('takes the keys the schema, service-route and envelope-cap work adds', () => {
    const withNew = { ...good, schema: { image: 'schema.binpb' }, maxEnvelopes: 1024, routes: [route, { service: 'billing.v1.InvoiceService', route: 'invoices', transport: 'nats' }] };
    expect(() => validateGatewayConfig(withNew)).not.toThrow();
    expect(() => validateGatewayConfig({ ...withNew, schema: { protoRoots: ['proto', 'vendor/proto'] } })).not.toThrow();
    expect(() => validateGatewayConfig({ ...withNew, schema: { image: 'a', protoRoots: ['b'] } })).toThrow('schema must give exactly one of image, protoRoots');
    expect(() => validateGatewayConfig({ ...withNew, maxEnvelopes: 0 })).toThrow('maxEnvelopes must be a number >= 1');
    expect(() => validateGatewayConfig({ ...withNew, maxEnvelopes: 2.5 })).toThrow('maxEnvelopes must be a whole number');
    expect(() => validateGatewayConfig({ ...good, routes: [{ ...route, service: 'billing.v1.InvoiceService' }] })).toThrow('routes[0] must name exactly one of method, service');
    expect(() => validateGatewayConfig({ ...good, routes: [{ route: 'r', transport: 'nats' }] })).toThrow('routes[0] must name exactly one of method, service');
  });

  it('the test helper writes configs the schema takes, every option set', () => {
    const config = gatewayTestConfig({
      pki: pkiPaths('/tmp/pki'),
      natsUrls: ['tls://127.0.0.1:4222'],
      schema: { protoRoots: ['/tmp/proto'] },
      maxEnvelopes: 64,
      routes: [methodRoute('/fletest.svc.v1.LedgerService/Submit', 'submit', 'jetstream', { timeoutMs: 1000 }), { service: 'fletest.svc.v1.LedgerService', route: 'ledger', transport: 'grpc', processorAddress: '127.0.0.1:9443' }],
      maxMessageBytes: 1 << 20,
      maxFieldBytes: 65536,
      allowedCallers: ['spiffe://fle.local/client'],
      rateLimits: { perCaller: { requestsPerSecond: 10 }, perTenant: { enabled: false }, maxKeys: 10 },
      logLevel: 'warn',
    });
    expect(() => validateGatewayConfig({ ...config, portsFile: '/tmp/gw.ports.json' })).not.toThrow();
  });
});

describe('gateway main with a misspelt key', () => {
  /** A port we hold: had the gateway tried to listen before checking its config, it would fail on this instead. */
  async function holdPort(): Promise<{ server: Server; port: number }> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, port: (server.address() as { port: number }).port };
  }

  it('exits non-zero with one line naming the file and the key, before opening a port', async () => {
    const { server, port } = await holdPort();
    try {
      const file = join(dir, 'gateway.yaml');
      writeFileSync(
        file,
        [
          'grpc:',
          `  listen: 127.0.0.1:${port}`,
          '  tls: { ca: certs/ca.pem, cert: certs/gateway.pem, key: certs/gateway-key.pem }',
          '  allowedCaller: [spiffe://fle.local/client]',
          'nats: { servers: [tls://127.0.0.1:4222] }',
          `metrics: { listen: 127.0.0.1:${port} }`,
          'routes:',
          '  - { method: /fletest.svc.v1.LedgerService/Submit, route: submit, transport: jetstream }',
        ].join('\n'),
      );
      const env = { ...process.env };
      delete env.FLE_CONFIG;
      const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), GATEWAY_MAIN, '--config', file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      expect(code).not.toBe(0);
      expect(stderr).toBe(`config ${file}: unknown key grpc.allowedCaller (did you mean allowedCallers?)\n`);
      expect(stdout).toBe('');
    } finally {
      server.close();
    }
  });
});
