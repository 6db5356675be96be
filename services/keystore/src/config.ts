// The keystore's YAML config (`--config <file>` or env FLE_CONFIG). Relative
// paths are resolved against the config file's folder, so a config and its
// certificates can move together.
//
//   listen: 127.0.0.1:7443
//   tls: { ca: certs/ca.pem, cert: certs/keystore.pem, key: certs/keystore-key.pem }
//   policyFile: policy.yaml
//   masterKeyFile: master.key          # or env FLE_MASTER_KEY (hex)
//   auditLog: audit.jsonl
//   storage:
//     kind: file                       # default
//     path: data/keystore.json
//   # storage: { kind: nats, url: tls://127.0.0.1:4222, bucket: fle_keystore, replicas: 1,
//   #            tls: { ca: ..., cert: ..., key: ... } }
//   rotation: { checkIntervalMs: 60000 }   # how often rings' rotation policies are applied
//   metrics: { listen: 127.0.0.1:9466 }    # optional: GET /metrics (loopback)
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { validateConfig } from '@fle/service-kit';
import { keystoreConfigSchema } from './config-schema.js';
import { ConfigError } from './errors.js';
import { DEFAULT_ROTATION_CHECK_MS } from './rotation-scheduler.js';

export const CONFIG_ENV = 'FLE_CONFIG';
export const DEFAULT_LISTEN = '127.0.0.1:7443';

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export type StorageConfig =
  | { kind: 'file'; path: string }
  | { kind: 'nats'; url: string; bucket: string; replicas: number; tls?: TlsFiles };

export interface KeystoreConfig {
  /** Where the config came from (for messages). */
  source: string;
  listen: string;
  tls: TlsFiles;
  policyFile: string;
  masterKeyFile?: string;
  auditLog: string;
  storage: StorageConfig;
  logLevel: string;
  rotation: { checkIntervalMs: number };
  metrics?: { host: string; port: number };
}

export function loadConfig(path: string): KeystoreConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ConfigError(`config ${path} is not valid YAML: ${(err as Error).message}`);
  }
  return parseConfig(doc, path);
}

/** The config path from `--config` or env FLE_CONFIG. */
export function configPathFrom(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const path = flag ?? env[CONFIG_ENV];
  if (!path) throw new ConfigError(`no config: pass --config <file> or set ${CONFIG_ENV}`);
  return path;
}

export function parseConfig(doc: unknown, source: string): KeystoreConfig {
  validateConfig(doc, keystoreConfigSchema, source, { error: (m) => new ConfigError(m) });
  const base = dirname(resolve(source));
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const o = mapping(doc, 'config');
  allowOnly(o, ['listen', 'tls', 'policyFile', 'masterKeyFile', 'auditLog', 'storage', 'logLevel', 'rotation', 'metrics'], 'config');
  const listen = o.listen === undefined ? DEFAULT_LISTEN : str(o.listen, 'listen');
  if (!/^[^\s]+:\d{1,5}$/.test(listen)) throw new ConfigError('listen must be host:port');
  const storageDoc = o.storage === undefined ? { kind: 'file', path: 'data/keystore.json' } : mapping(o.storage, 'storage');
  const kind = storageDoc.kind === undefined ? 'file' : str(storageDoc.kind, 'storage.kind');
  let storage: StorageConfig;
  if (kind === 'file') {
    allowOnly(storageDoc, ['kind', 'path'], 'storage');
    storage = { kind: 'file', path: at(storageDoc.path === undefined ? 'data/keystore.json' : str(storageDoc.path, 'storage.path')) };
  } else if (kind === 'nats') {
    allowOnly(storageDoc, ['kind', 'url', 'bucket', 'replicas', 'tls'], 'storage');
    const replicas = storageDoc.replicas === undefined ? 1 : storageDoc.replicas;
    if (replicas !== 1 && replicas !== 3 && replicas !== 5) throw new ConfigError('storage.replicas must be 1, 3 or 5');
    storage = {
      kind: 'nats',
      url: str(storageDoc.url, 'storage.url'),
      bucket: storageDoc.bucket === undefined ? 'fle_keystore' : str(storageDoc.bucket, 'storage.bucket'),
      replicas,
      ...(storageDoc.tls === undefined ? {} : { tls: tlsFiles(storageDoc.tls, 'storage.tls', at) }),
    };
  } else {
    throw new ConfigError('storage.kind must be "file" or "nats"');
  }
  return {
    source,
    listen,
    tls: tlsFiles(o.tls, 'tls', at),
    policyFile: at(str(o.policyFile, 'policyFile')),
    ...(o.masterKeyFile === undefined ? {} : { masterKeyFile: at(str(o.masterKeyFile, 'masterKeyFile')) }),
    auditLog: at(str(o.auditLog, 'auditLog')),
    storage,
    logLevel: o.logLevel === undefined ? 'info' : str(o.logLevel, 'logLevel'),
    rotation: rotationConfig(o.rotation),
    ...(o.metrics === undefined ? {} : { metrics: metricsConfig(o.metrics) }),
  };
}

function rotationConfig(v: unknown): { checkIntervalMs: number } {
  if (v === undefined) return { checkIntervalMs: DEFAULT_ROTATION_CHECK_MS };
  const o = mapping(v, 'rotation');
  allowOnly(o, ['checkIntervalMs'], 'rotation');
  const ms = o.checkIntervalMs === undefined ? DEFAULT_ROTATION_CHECK_MS : o.checkIntervalMs;
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 100 || ms > 86_400_000) {
    throw new ConfigError('rotation.checkIntervalMs must be a whole number of milliseconds from 100 to 86400000');
  }
  return { checkIntervalMs: ms };
}

function metricsConfig(v: unknown): { host: string; port: number } {
  const o = mapping(v, 'metrics');
  allowOnly(o, ['listen'], 'metrics');
  const listen = str(o.listen, 'metrics.listen');
  const m = /^([^\s]+):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw new ConfigError('metrics.listen must be host:port');
  return { host: m[1]!, port: Number(m[2]) };
}

function tlsFiles(v: unknown, where: string, at: (p: string) => string): TlsFiles {
  const o = mapping(v, where);
  allowOnly(o, ['ca', 'cert', 'key'], where);
  return { ca: at(str(o.ca, `${where}.ca`)), cert: at(str(o.cert, `${where}.cert`)), key: at(str(o.key, `${where}.key`)) };
}

function mapping(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${where} must be a mapping`);
  return v as Record<string, unknown>;
}

function str(v: unknown, where: string): string {
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${where} must be a non-empty string`);
  return v;
}

function allowOnly(o: Record<string, unknown>, keys: string[], where: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw new ConfigError(`${where}: unknown key ${JSON.stringify(k)}`);
}
