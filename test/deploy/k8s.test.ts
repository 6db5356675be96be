// The kustomize base (deploy/k8s/base), checked without a cluster: every file
// parses, the kustomization names only existing files, and `kubectl kustomize`
// (run on a copy holding a freshly made dev PKI and master key) renders objects
// that pass the Kubernetes OpenAPI schemas (kubernetes-models) and reference
// only Secrets, ConfigMaps, keys, images and files that exist.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { K8S_CERT_FILES, issueClusterCerts, stageK8sCerts } from '../../deploy/scripts/cluster-certs.js';
import { NATS_NODES } from '../../deploy/scripts/nats-config.js';
import { dockerfileInstructions, dockerfileTargets, execForm } from './dockerfile.js';
import { isRecord, listFiles, readText, readYaml, readYamlDocuments, repoPath } from './repo.js';
import { FLE_SERVICES, probeProblems, serviceEndpoints } from './service-configs.js';

const run = promisify(execFile);
const baseDir = repoPath('deploy/k8s/base');

interface Kustomization {
  resources: string[];
  configMapGenerator: Array<{ name: string; files: string[] }>;
  secretGenerator: Array<{ name: string; files: string[] }>;
  images: Array<{ name: string; newTag?: string }>;
}
const kustomization = readYaml<Kustomization>(join(baseDir, 'kustomization.yaml'));

/** Validators for every kind the base may contain; an unknown kind fails the test. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: unknown };
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: unknown } }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string }>;
  readinessProbe?: { exec?: { command: string[] } };
  livenessProbe?: { exec?: { command: string[] } };
  startupProbe?: { exec?: { command: string[] } };
  securityContext?: Record<string, unknown>;
}
interface PodSpec {
  containers: Container[];
  volumes?: Array<{ name: string; secret?: { secretName: string; items?: Array<{ key: string }> }; configMap?: { name: string }; emptyDir?: unknown }>;
  securityContext?: Record<string, unknown>;
}
interface Workload extends Obj {
  spec: { replicas?: number; serviceName?: string; template: { metadata: { labels: Record<string, string> }; spec: PodSpec }; volumeClaimTemplates?: Array<{ metadata: { name: string } }> };
}

let root: string;
let objects: Obj[];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fle-deploy-k8s-'));
  const base = join(root, 'base');
  cpSync(baseDir, base, { recursive: true, filter: (src) => !/\/(certs|secrets)(\/|$)/.test(src.slice(baseDir.length)) });
  const pki = join(root, 'pki');
  await issueClusterCerts(pki);
  stageK8sCerts(pki, join(base, 'certs'));
  mkdirSync(join(base, 'secrets'), { recursive: true });
  writeFileSync(join(base, 'secrets/keystore-master-key'), randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  const kubectl = process.env.KUBECTL_BIN ?? 'kubectl';
  const { stdout } = await run(kubectl, ['kustomize', base], { maxBuffer: 32 * 1024 * 1024 }).catch((err: NodeJS.ErrnoException) => {
    throw new Error(err.code === 'ENOENT' ? `kubectl not found (PATH or KUBECTL_BIN): it renders the kustomize base` : String(err));
  });
  objects = parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const byKind = <T extends Obj>(kind: string) => objects.filter((o) => o.kind === kind) as T[];
const one = <T extends Obj>(kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found as T;
};
/** A generated object by its base name (kustomize appends a content hash to ConfigMaps). */
const generated = (kind: 'ConfigMap' | 'Secret', base: string) =>
  objects.filter((o) => o.kind === kind && (o.metadata.name === base || o.metadata.name.startsWith(`${base}-`)));
const dataKeys = (o: Obj) => Object.keys({ ...((o.data as object) ?? {}), ...((o.stringData as object) ?? {}) });
const workloads = () => [...byKind<Workload>('Deployment'), ...byKind<Workload>('StatefulSet'), ...byKind<Workload>('Job')];

describe('kustomize base files', () => {
  it('every YAML file parses', () => {
    const files = listFiles(baseDir, ['.yaml', '.yml']).filter((f) => !/\/(certs|secrets)\//.test(f));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) expect(() => readYamlDocuments(f), f).not.toThrow();
  });

  it('lists only resources and config files that exist in the repository', () => {
    for (const r of kustomization.resources) expect(existsSync(join(baseDir, r)), r).toBe(true);
    for (const g of kustomization.configMapGenerator) for (const f of g.files) expect(existsSync(join(baseDir, f)), f).toBe(true);
  });

  it('generates Secrets only from the git-ignored certs/ and secrets/ folders, with the files cluster-certs.ts stages', () => {
    const ignored = readText(join(baseDir, '.gitignore')).split('\n').map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['certs/', 'secrets/']));
    const files = kustomization.secretGenerator.flatMap((g) => g.files);
    for (const f of files) expect(f, f).toMatch(/^(certs|secrets)\/[^/]+$/);
    const certFiles = new Set(files.filter((f) => f.startsWith('certs/')).map((f) => f.slice('certs/'.length)));
    expect([...certFiles].sort()).toEqual([...K8S_CERT_FILES].sort());
  });
});

describe('rendered manifests (kubectl kustomize)', () => {
  it('pass the Kubernetes OpenAPI schemas', () => {
    expect(objects.length).toBeGreaterThan(10);
    for (const o of objects) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      expect(Model, `${o.apiVersion}/${o.kind} has a validator`).toBeDefined();
      // kubectl wraps long Secret values over several lines; the API server reads them as one base64 string.
      const data = o.kind === 'Secret' && isRecord(o.data) ? Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, String(v).replace(/\s+/g, '')])) : o.data;
      const candidate = data === undefined ? o : { ...o, data };
      expect(() => new Model!(candidate as never).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
    }
  });

  it('the schema check is not vacuous: a wrong field type fails', () => {
    const d = structuredClone(one<Workload>('Deployment', 'processor'));
    (d.spec as Record<string, unknown>).replicas = 'two';
    expect(() => new Deployment(d as never).validate()).toThrow();
  });

  it('reference only Secrets, ConfigMaps and keys that the base generates', () => {
    for (const w of workloads()) {
      const spec = w.spec.template.spec;
      const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
      for (const v of spec.volumes ?? []) {
        if (v.secret) expect(objects.some((o) => o.kind === 'Secret' && o.metadata.name === v.secret!.secretName), `${w.metadata.name}: Secret ${v.secret.secretName}`).toBe(true);
        if (v.configMap) expect(objects.some((o) => o.kind === 'ConfigMap' && o.metadata.name === v.configMap!.name), `${w.metadata.name}: ConfigMap ${v.configMap.name}`).toBe(true);
      }
      const claims = (w.spec.volumeClaimTemplates ?? []).map((c) => c.metadata.name);
      for (const c of spec.containers) {
        for (const m of c.volumeMounts ?? []) {
          const v = volumes.get(m.name);
          expect(v !== undefined || claims.includes(m.name), `${w.metadata.name}: volume ${m.name}`).toBe(true);
          if (v && m.subPath) {
            const source = objects.find((o) => (o.kind === 'ConfigMap' && o.metadata.name === v.configMap?.name) || (o.kind === 'Secret' && o.metadata.name === v.secret?.secretName));
            expect(dataKeys(source!), `${w.metadata.name}: ${m.subPath}`).toContain(m.subPath);
          }
        }
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (!ref) continue;
          const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === ref.name);
          expect(secret, `${w.metadata.name}: Secret ${ref.name}`).toBeDefined();
          expect(dataKeys(secret!)).toContain(ref.key);
        }
      }
    }
  });

  it('run only the nats image and the images the Dockerfile builds', () => {
    const targets = dockerfileTargets();
    for (const w of workloads()) {
      for (const c of w.spec.template.spec.containers) {
        const m = /^(?:(.+)\/)?([a-z0-9-]+):([\w.-]+)$/.exec(c.image);
        expect(m, c.image).not.toBeNull();
        if (m![2] === 'nats' && m![1] === undefined) continue;
        expect(m![1], c.image).toBe('fle');
        expect(targets, c.image).toContain(m![2]);
      }
    }
  });

  it('start each fle service with the image entrypoint and a main.ts that exists, configured by its mounted config', () => {
    const entrypoint = execForm(dockerfileInstructions().find((i) => i.keyword === 'ENTRYPOINT')!.args);
    for (const name of FLE_SERVICES) {
      const w = one<Workload>('Deployment', name);
      const c = w.spec.template.spec.containers[0]!;
      expect(c.command).toEqual(entrypoint);
      expect(c.args?.[0]).toBe(`services/${name}/src/main.ts`);
      expect(existsSync(repoPath(c.args![0]!)), c.args![0]).toBe(true);
      const configPath = c.env?.find((e) => e.name === 'FLE_CONFIG')?.value;
      expect(configPath).toBe(`/etc/fle/${name}.yaml`);
      const mount = c.volumeMounts?.find((m) => m.mountPath === configPath);
      expect(mount?.subPath).toBe(`${name}.yaml`);
      // Files the config names under /etc/fle are mounted; certificates come from the service's own Secret.
      const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === w.spec.template.spec.volumes!.find((v) => v.name === mount!.name)!.configMap!.name)!;
      const config = parseYaml((configMap.data as Record<string, string>)[`${name}.yaml`]!) as unknown;
      const paths = JSON.stringify(config).match(/"\/etc\/fle\/[^"]+"/g)!.map((p) => JSON.parse(p) as string);
      const certsMount = c.volumeMounts!.find((m) => m.mountPath === '/etc/fle/certs')!;
      const certSecret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === w.spec.template.spec.volumes!.find((v) => v.name === certsMount.name)!.secret!.secretName)!;
      expect(certSecret.metadata.name).toBe(`${name}-tls`);
      for (const p of paths) {
        if (p.startsWith('/etc/fle/certs/')) expect(dataKeys(certSecret), `${name}: ${p}`).toContain(p.slice('/etc/fle/certs/'.length));
        else expect(c.volumeMounts!.some((m) => m.mountPath === p), `${name}: ${p} mounted`).toBe(true);
      }
    }
  });

  it('probe gateway, processor and keystore with the mTLS gRPC health probe on their configured ports', () => {
    for (const name of FLE_SERVICES) {
      const c = one<Workload>('Deployment', name).spec.template.spec.containers[0]!;
      for (const probe of [c.readinessProbe, c.livenessProbe]) {
        expect(probe?.exec?.command, name).toBeDefined();
        expect(probeProblems(name, probe!.exec!.command), name).toEqual([]);
      }
      expect(c.ports?.find((p) => p.name === 'grpc')?.containerPort, `${name} container port`).toBe(serviceEndpoints()[name].port);
    }
  });

  it('runs the stream replica job with the processor image, identity and config, on a script the image contains', () => {
    const job = one<Workload>('Job', 'jetstream-replicas');
    const c = job.spec.template.spec.containers[0]!;
    expect(c.image).toMatch(/^fle\/processor:/);
    expect(existsSync(repoPath(c.args![0]!)), c.args![0]).toBe(true);
    const copied = dockerfileInstructions().filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copied.some((a) => a.startsWith(`${c.args![0]} `)), 'the Dockerfile copies the script').toBe(true);
    expect(c.args).toEqual(expect.arrayContaining(['--config', '/etc/fle/processor.yaml', '--replicas', '3']));
    expect(job.spec.template.spec.volumes!.find((v) => v.secret)?.secret?.secretName).toBe('processor-tls');
  });

  it('runs at least two processors and keeps the gateway away from keys', () => {
    expect(one<Workload>('Deployment', 'processor').spec.replicas).toBeGreaterThanOrEqual(2);
    const gw = JSON.stringify(one<Workload>('Deployment', 'gateway'));
    expect(gw).not.toMatch(/keystore|master-key|FLE_MASTER_KEY/);
  });

  it('runs NATS as a 3-node StatefulSet behind a headless Service, with JetStream volumes and a config per pod', () => {
    const sts = one<Workload>('StatefulSet', 'nats');
    expect(sts.spec.replicas).toBe(3);
    const svc = one<Obj & { spec: { clusterIP?: string; selector: Record<string, string> } }>('Service', sts.spec.serviceName!);
    expect(svc.spec.clusterIP).toBe('None');
    expect(sts.spec.volumeClaimTemplates?.map((c) => c.metadata.name)).toEqual(['data']);
    const c = sts.spec.template.spec.containers[0]!;
    expect(c.args).toEqual(['-c', '/etc/nats-config/$(POD_NAME).conf']);
    const configVolume = sts.spec.template.spec.volumes!.find((v) => v.name === c.volumeMounts!.find((m) => m.mountPath === '/etc/nats-config')!.name)!;
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === configVolume.configMap!.name)!;
    const podNames = [0, 1, 2].map((i) => `${sts.metadata.name}-${i}`);
    expect(podNames).toEqual([...NATS_NODES]);
    expect(dataKeys(cm).sort()).toEqual(podNames.map((p) => `${p}.conf`));
    for (const p of podNames) {
      const text = (cm.data as Record<string, string>)[`${p}.conf`]!;
      expect(text).toContain(`server_name: "${p}"`);
      expect(text).toContain('verify_and_map: true');
      expect(text).toMatch(/store_dir: "\/data\//);
    }
    expect(c.volumeMounts!.find((m) => m.name === 'data')?.mountPath).toBe('/data');
    const certs = sts.spec.template.spec.volumes!.find((v) => v.secret)!;
    expect(certs.secret!.secretName).toBe('nats-tls');
  });

  it('selects pods with every Service and targets named container ports', () => {
    for (const svc of byKind<Obj & { spec: { selector: Record<string, string>; ports: Array<{ targetPort: string | number }> } }>('Service')) {
      const pods = workloads().filter((w) => w.kind !== 'Job').filter((w) => Object.entries(svc.spec.selector).every(([k, v]) => w.spec.template.metadata.labels[k] === v));
      expect(pods.length, `Service ${svc.metadata.name}`).toBe(1);
      const ports = pods[0]!.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
      for (const p of svc.spec.ports) expect(ports.some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort), `${svc.metadata.name}:${p.targetPort}`).toBe(true);
    }
  });

  it('run every container non-root, read-only, without privilege escalation (Pod Security "restricted")', () => {
    for (const w of workloads()) {
      const pod = w.spec.template.spec;
      expect(pod.securityContext?.runAsNonRoot, w.metadata.name).toBe(true);
      expect(pod.securityContext?.seccompProfile, w.metadata.name).toEqual({ type: 'RuntimeDefault' });
      for (const c of pod.containers) {
        expect(c.securityContext, `${w.metadata.name}/${c.name}`).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      }
    }
    expect(isRecord(one('Namespace', 'fle').metadata.labels)).toBe(true);
  });

  it("mounts into each workload only its own certificate and key and the CA certificate (never another identity's key)", () => {
    const identityOf: Record<string, string> = { gateway: 'gateway', processor: 'processor', keystore: 'keystore', nats: 'nats', 'jetstream-replicas': 'processor' };
    expect(workloads().map((w) => w.metadata.name).sort()).toEqual(Object.keys(identityOf).sort());
    for (const w of workloads()) {
      const id = identityOf[w.metadata.name]!;
      const spec = w.spec.template.spec;
      const mounted = new Set(spec.containers.flatMap((c) => (c.volumeMounts ?? []).map((m) => m.name)));
      const files = (spec.volumes ?? [])
        .filter((v) => v.secret && mounted.has(v.name))
        .flatMap((v) => {
          const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === v.secret!.secretName)!;
          return v.secret!.items ? v.secret!.items.map((i) => i.key) : dataKeys(secret);
        });
      expect(files.sort(), w.metadata.name).toEqual(['ca.pem', `${id}-key.pem`, `${id}.pem`].sort());
    }
  });

  it('names certificate Secrets without a hash, so a rotated certificate updates in place', () => {
    for (const name of ['keystore-tls', 'gateway-tls', 'processor-tls', 'nats-tls']) expect(generated('Secret', name).map((s) => s.metadata.name)).toEqual([name]);
    expect(generated('ConfigMap', 'fle-config')[0]!.metadata.name).toMatch(/^fle-config-[a-z0-9]+$/);
  });
});
