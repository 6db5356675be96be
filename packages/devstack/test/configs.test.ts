import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FLE_NATS_PERMISSIONS, renderNatsConfig } from '@fle/nats-setup';
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '@fle/gateway';
import { Policy, parseConfig as parseKeystoreConfig } from '@fle/keystore';
import { stringify } from 'yaml';
import { pkiPaths } from '@fle/pki';
import { FIXTURE_PROTO_DIR } from '@fle/testkit';
import { parseProcessorConfig } from '@fle/processor';
import { OBSERVER_IDENTITY, gatewayConfig, keystoreConfig, keystorePolicy, natsUsers, processorConfig } from '../src/configs.js';
import { settingsFromEnv } from '../src/settings.js';
import { stateLayout } from '../src/state-dir.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const tls = { ca: '/c/ca.pem', cert: '/c/nats.pem', key: '/c/nats-key.pem' };

describe('dev-only observer identity', () => {
  it('is a user of the npm start config only: it may subscribe to the request path and publish nothing', () => {
    const text = renderNatsConfig({ tls, users: natsUsers() });
    const block = text.slice(text.indexOf('user: "spiffe://fle.local/observer"'));
    expect(block).toMatch(/^user: "spiffe:\/\/fle\.local\/observer", permissions: \{\s+publish: \{ deny: \[">"\] \}/);
    expect(natsUsers()['gateway']).toEqual(FLE_NATS_PERMISSIONS['gateway']);
  });

  it('is not in the shipped permissions nor in any shipped NATS config', () => {
    expect(Object.keys(FLE_NATS_PERMISSIONS)).not.toContain(OBSERVER_IDENTITY);
    const shipped = [join(REPO, 'deploy/nats'), join(REPO, 'deploy/k8s/base/nats')].flatMap((d) => readdirSync(d).map((f) => join(d, f)));
    expect(shipped.length).toBeGreaterThanOrEqual(3);
    for (const f of shipped) expect(readFileSync(f, 'utf8'), f).not.toContain(OBSERVER_IDENTITY);
  });

  it('gets no key: the keystore policy denies the gateway and the observer, and the client only the demo tenant', () => {
    const policy = keystorePolicy(settingsFromEnv({ FLE_DEMO_TENANT: 'acme' }, '/x')) as { deny: string[]; fetch: Array<{ identity: string; tenants: string[] }> };
    expect(policy.deny).toEqual(['spiffe://fle.local/gateway', 'spiffe://fle.local/observer']);
    expect(policy.fetch).toContainEqual({ identity: 'spiffe://fle.local/client', tenants: ['acme'] });
    expect(policy).not.toHaveProperty('exclusive');
  });

  it('makes the API\'s record rings exclusive to the processor (issue 17 item 5)', () => {
    const settings = settingsFromEnv({ FLE_DEMO_TENANT: 'acme' }, '/x');
    const policy = Policy.fromYaml(stringify(keystorePolicy(settings, { recordRings: ['team-records'] })));
    expect(policy.decide('spiffe://fle.local/processor', 'fetch', 'acme', 'team-records').allowed).toBe(true);
    expect(policy.decide('spiffe://fle.local/client', 'fetch', 'acme', 'team-records').allowed).toBe(false);
    expect(policy.decide('spiffe://fle.local/client', 'fetch', 'acme', 'pci').allowed).toBe(true);
  });
});

/** Any API (here the neutral fixture): devstack knows none of its own. */
const API = { schema: { protoRoots: [FIXTURE_PROTO_DIR] }, handlers: '/srv/handlers.ts', kvBuckets: ['team_records'], method: '/fletest.svc.v1.LedgerService/Submit', route: 'submit' };

describe('generated service configs', () => {
  // The services refuse unknown keys and wrong types (issue 17 §7): what `npm start` writes must pass their own parsers.
  it.each(['jetstream', 'nats', 'grpc'])('pass the services’ schemas and parsers (transport %s)', (transport) => {
    const settings = settingsFromEnv({ FLE_TRANSPORT: transport }, '/x/.fle');
    const layout = stateLayout(settings.home);
    const pki = pkiPaths(layout.certs);
    expect(() => parseKeystoreConfig(keystoreConfig(settings, layout, pki), layout.config('keystore'))).not.toThrow();
    expect(() => parseProcessorConfig(processorConfig(settings, layout, pki, 'tls://127.0.0.1:4222', '127.0.0.1:7443', API), layout.run)).not.toThrow();
    const gw = parseGatewayConfig(gatewayConfig(settings, layout, pki, 'tls://127.0.0.1:4222', '127.0.0.1:9443', API), layout.run);
    expect(gw.routes[0]!.transport).toBe(transport);
    // With the example page: the gateway's public edge, Authorize behind a bearer token, the page served from run/web.
    const edge = parseGatewayConfig(gatewayConfig(settings, layout, pki, 'tls://127.0.0.1:4222', '127.0.0.1:9443', API, true), layout.run).edge!;
    expect(edge).toMatchObject({ port: 8444, staticDir: layout.web, cors: { origins: [] }, jwt: { jwksFile: layout.edgeJwks } });
    expect(edge.routes).toEqual([{ method: API.method, auth: ['jwt'], at: 'edge.routes[0]' }]);
  });
});
