import { describe, expect, it } from 'vitest';
import { FLE_NATS_PERMISSIONS, renderNatsConfig, NatsSetupError, findNatsServer } from '../src/mod.js';

const files = { ca: '/certs/ca.pem', cert: '/certs/nats.pem', key: '/certs/nats-key.pem' };

describe('renderNatsConfig', () => {
  it('defaults to loopback, port 4222, no TLS, no users, no JetStream', () => {
    const text = renderNatsConfig();
    expect(text).toContain('host: "127.0.0.1"');
    expect(text).toContain('port: 4222');
    expect(text).not.toMatch(/tls|accounts|jetstream/);
  });

  it('maps every fle identity but the client to a user named by its SPIFFE ID', () => {
    const text = renderNatsConfig({ tls: files, jetstream: { storeDir: '/data/js' } });
    expect(text).toContain('verify_and_map: true');
    expect(text).toContain('jetstream: { max_bytes_required: true }');
    for (const name of ['gateway', 'processor', 'keystore', 'admin']) expect(text).toContain(`user: "spiffe://fle.local/${name}"`);
    expect(text).not.toContain('spiffe://fle.local/client');
    expect(Object.keys(FLE_NATS_PERMISSIONS)).not.toContain('client');
  });

  it('keeps the gateway off the processor subjects and the keystore off the processor buckets', () => {
    expect(FLE_NATS_PERMISSIONS['gateway']!.subscribe).toEqual(['_INBOX_gateway.>']);
    expect(FLE_NATS_PERMISSIONS['processor']!.subscribe).toContain('fle.rpc.>');
    expect(FLE_NATS_PERMISSIONS['keystore']!.publish.some((s) => s.includes('fle_nonces'))).toBe(false);
    expect(FLE_NATS_PERMISSIONS['admin']!.publish.some((s) => s.includes('KV_fle_keystore'))).toBe(false);
  });

  it('gives every identity its own reply inbox and nobody the shared _INBOX.>; nobody has allow_responses (a quadratic cost on nats-server)', () => {
    for (const [name, p] of Object.entries(FLE_NATS_PERMISSIONS)) {
      expect(p.subscribe.filter((s) => s.startsWith('_INBOX')), name).toEqual([`_INBOX_${name}.>`]);
      expect([...p.publish, ...p.subscribe], name).not.toContain('_INBOX.>');
      expect(p.allowResponses, name).toBeUndefined();
    }
    // The processor replies to the gateway's inbox only.
    expect(FLE_NATS_PERMISSIONS['processor']!.publish.filter((s) => s.startsWith('_INBOX'))).toEqual(['_INBOX_gateway.>']);
    const text = renderNatsConfig({ tls: files });
    expect(text).not.toMatch(/allow_responses/);
  });

  it('writes an empty allow-list as deny-all (nats-server reads `allow: []` as no restriction)', () => {
    const text = renderNatsConfig({ tls: files, users: { watcher: { publish: [], subscribe: ['fle.js.>'] } } });
    expect(text).toContain('publish: { deny: [">"] }');
    expect(text).toContain('subscribe: { allow: ["fle.js.>"] }');
    expect(text).not.toContain('allow: []');
  });

  it('uses another trust domain when told', () => {
    expect(renderNatsConfig({ tls: files, trustDomain: 'example.test' })).toContain('user: "spiffe://example.test/gateway"');
  });

  it('renders a cluster block with routes and mutual route TLS', () => {
    const text = renderNatsConfig({ tls: files, cluster: { port: 6222, routes: ['nats-route://127.0.0.1:6223'] } });
    expect(text).toMatch(/cluster \{[\s\S]*name: "fle"[\s\S]*port: 6222[\s\S]*"nats-route:\/\/127\.0\.0\.1:6223"[\s\S]*verify: true/);
  });

  it('quotes values so a path cannot inject configuration', () => {
    const text = renderNatsConfig({ jetstream: { storeDir: '/tmp/a" } authorization { x' } });
    expect(text).toContain('store_dir: "/tmp/a\\" } authorization { x"');
    expect(() => renderNatsConfig({ jetstream: { storeDir: '/tmp/a\nauthorization {}' } })).toThrow('line breaks');
  });

  it.each([
    [{ port: -1 }, 'portsFileDir'],
    [{ users: 'fle' as const }, 'tls'],
    [{ port: 70000 }, 'port'],
    [{ tls: files, users: { gateway: { publish: ['bad subject'], subscribe: [] } } }, 'NATS subject'],
    [{ jetstream: { storeDir: '/x', maxFileStore: 'lots' } }, 'size'],
  ])('refuses %j', (opts, why) => {
    expect(() => renderNatsConfig(opts)).toThrow(NatsSetupError);
    expect(() => renderNatsConfig(opts)).toThrow(why);
  });
});

describe('findNatsServer', () => {
  it('names the missing binary and how to install it', () => {
    try {
      findNatsServer('/nonexistent/nats-server');
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: 'NATS_SERVER_NOT_FOUND' });
      expect((e as Error).message).toContain('/nonexistent/nats-server');
      expect((e as Error).message).toContain('apt-get install nats-server');
      expect((e as Error).message).toContain('NATS_SERVER_BIN');
    }
  });
});
