// deploy/config/*.yaml through the services' own schemas and parsers, and how the configs
// fit together: addresses and identities each side expects, the NATS node
// names the cluster configs use, and the keystore policy for the deployment.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Policy } from '@fle/keystore';
import { NATS_NODES, nodeHost } from '../../deploy/scripts/nats-config.js';
import { parse as parseYaml } from 'yaml';
import { looseObjectPaths, validateConfig } from '@fle/service-kit';
import { CONFIG_SCHEMAS, FLE_SERVICES, SHIPPED_CONFIG_DIRS, parseShippedConfigs, serviceEndpoints, validateShippedConfig } from './service-configs.js';
import { readText, readYaml, repoPath } from './repo.js';

const configs = parseShippedConfigs();
const natsUrls = NATS_NODES.map((n) => `tls://${nodeHost(n)}:4222`);

describe('shipped service configs', () => {
  it('parse with each service’s own config parser', () => {
    expect(configs.keystore.listen).toMatch(/^0\.0\.0\.0:\d+$/);
    expect(configs.gateway.grpc.host).toBe('0.0.0.0');
    expect(configs.processor.grpc?.host).toBe('0.0.0.0');
  });

  it.each(SHIPPED_CONFIG_DIRS.flatMap((dir) => FLE_SERVICES.map((service) => [dir, service] as const)))(
    '%s/%s.yaml matches the service’s config schema: no unknown key, every type right',
    (dir, service) => {
      expect(() => validateShippedConfig(service, dir)).not.toThrow();
      expect(() => parseShippedConfigs(dir)).not.toThrow();
    },
  );

  it('the schemas refuse unknown keys at every depth (strict objects only)', () => {
    for (const service of FLE_SERVICES) expect(looseObjectPaths(CONFIG_SCHEMAS[service]), service).toEqual([]);
  });

  it('a misspelt key in a shipped config would fail, naming the file and the key (issue 17 §7)', () => {
    const gateway = readText(repoPath('deploy/config/gateway.yaml'));
    expect(gateway).toMatch(/^ {2}allowedCallers:$/m);
    expect(() => validateShippedConfig('gateway', 'deploy/config', gateway.replace(/^ {2}allowedCallers:$/m, '  allowedCaller:'))).toThrow(
      'config deploy/config/gateway.yaml: unknown key grpc.allowedCaller (did you mean allowedCallers?)',
    );
    const processor = readText(repoPath('deploy/config/processor.yaml'));
    expect(() => validateShippedConfig('processor', 'deploy/config', `${processor}testProbe: { openedDigestFile: /tmp/opened.jsonl }\n`)).toThrow(
      'config deploy/config/processor.yaml: unknown key testProbe',
    );
    const keystore = readText(repoPath('deploy/config/keystore.yaml'));
    expect(() => validateShippedConfig('keystore', 'deploy/config', keystore.replace(/^logLevel:/m, 'loglevel:'))).toThrow(
      'config deploy/config/keystore.yaml: unknown key loglevel (did you mean logLevel?)',
    );
  });

  it('the config examples in the services’ README files match the schemas', () => {
    for (const service of FLE_SERVICES) {
      const readme = readText(repoPath('services', service, 'README.md'));
      const block = /^## Config[^\n]*\n[\s\S]*?```yaml\n([\s\S]*?)```/m.exec(readme);
      expect(block, `services/${service}/README.md has a "## Config" section with a yaml example`).not.toBeNull();
      expect(() => validateConfig(parseYaml(block![1]!), CONFIG_SCHEMAS[service], `services/${service}/README.md`)).not.toThrow();
    }
  });

  it('are the same files in the kustomize base (npx tsx deploy/scripts/sync.ts copies them)', () => {
    const names = readdirSync(repoPath('deploy/config')).filter((f) => f.endsWith('.yaml')).sort();
    expect(names).toEqual(['gateway.yaml', 'keystore-policy.yaml', 'keystore.yaml', 'processor.yaml']);
    expect(readdirSync(repoPath('deploy/k8s/base/config')).sort()).toEqual(names);
    for (const n of names) expect(readText(repoPath('deploy/k8s/base/config', n)), n).toBe(readText(repoPath('deploy/config', n)));
  });

  it('use mutual TLS everywhere: every client section names the CA, a certificate and its key', () => {
    const { keystore, gateway, processor } = configs;
    for (const tls of [keystore.tls, gateway.grpc.tls, gateway.nats?.tls, processor.grpc?.tls, processor.nats.tls, processor.keystore?.tls]) {
      expect(tls).toBeDefined();
      expect(tls!.ca).toMatch(/\/ca\.pem$/);
    }
    expect(keystore.storage.kind === 'nats' ? keystore.storage.tls : 'file storage').toBeDefined();
  });

  it('connect to every NATS node by the names the cluster certificate carries', () => {
    expect(configs.gateway.nats?.servers).toEqual(natsUrls);
    expect(configs.processor.nats.servers).toEqual(natsUrls);
    const ks = configs.keystore.storage;
    expect(ks.kind).toBe('nats');
    if (ks.kind === 'nats') {
      expect(ks.url).toBe('tls://nats:4222');
      expect(ks.replicas).toBe(3);
      expect(ks.bucket).toBe('fle_keystore');
    }
  });

  it('point the processor at the keystore it will meet, with the identity that keystore presents', () => {
    const ep = serviceEndpoints();
    expect(configs.processor.keystore?.address).toBe(`keystore:${ep.keystore.port}`);
    expect(configs.processor.keystore?.identity).toBe('spiffe://fle.local/keystore');
    expect(ep.keystore.cert).toBe('keystore.pem');
  });

  it('route every gateway method to a processor route of the same name; callers are named', () => {
    const processorRoutes = new Map((configs.processor.routes ?? []).map((r) => [r.route, r.method]));
    for (const r of configs.gateway.routes) {
      expect(processorRoutes.get(r.route), r.route).toBe(r.method);
      expect(['nats', 'jetstream']).toContain(r.transport);
    }
    expect(configs.gateway.grpc.allowedCallers).toEqual(['spiffe://fle.local/client']);
    expect(configs.processor.grpc?.allowedCallers).toEqual(['spiffe://fle.local/gateway']);
  });

  it('give the gateway nothing that reaches keys', () => {
    const raw = readYaml<Record<string, unknown>>(repoPath('deploy/config/gateway.yaml'));
    expect(Object.keys(raw).sort()).toEqual(['grpc', 'log', 'metrics', 'nats', 'routes', 'schema']);
    expect(JSON.stringify(raw)).not.toMatch(/keystore|master|7443/i);
  });

  it('keystore policy: the processor may fetch, the admin may administer, the gateway and client get nothing', () => {
    const policy = Policy.fromFile(repoPath('deploy/config/keystore-policy.yaml'));
    const id = (n: string) => `spiffe://fle.local/${n}`;
    expect(policy.decide(id('processor'), 'fetch', 'acme', 'default').allowed).toBe(true);
    expect(policy.decide(id('processor'), 'fetch', 'acme', 'payments-records').allowed).toBe(true);
    expect(policy.decide(id('processor'), 'admin', 'acme').allowed).toBe(false);
    // the records ring is exclusive to the processor: even an admin rule never fetches it
    expect(policy.decide(id('admin'), 'fetch', 'acme', 'payments-records').allowed).toBe(false);
    expect(policy.decide(id('admin'), 'admin', 'acme').allowed).toBe(true);
    for (const who of ['gateway', 'client', 'keystore']) {
      expect(policy.decide(id(who), 'fetch', 'acme', 'default').allowed, who).toBe(false);
      expect(policy.decide(id(who), 'admin', 'acme').allowed, who).toBe(false);
    }
    expect(configs.keystore.policyFile).toBe('/etc/fle/keystore-policy.yaml');
  });

  it('cover exactly the three services', () => {
    expect(Object.keys(serviceEndpoints()).sort()).toEqual([...FLE_SERVICES].sort());
  });
});
