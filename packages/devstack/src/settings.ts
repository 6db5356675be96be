// What `npm start` runs, read from the environment. Every port has a fixed
// default on 127.0.0.1 so a developer (and `fle demo`) knows where things are;
// each can be moved by one variable when something else already uses it.
import { isAbsolute, resolve } from 'node:path';
import { DevStackError } from './errors.js';

export type StackTransport = 'jetstream' | 'nats' | 'grpc';
export type NatsRunner = 'binary' | 'container';

export interface StackPorts {
  /** nats-server client port (TLS). */
  readonly nats: number;
  readonly keystore: number;
  /** The processor's gRPC port (the gateway's target on the `grpc` transport). */
  readonly processor: number;
  /** The gateway's mTLS listener: what backends (FleClient, `fle demo`) call. */
  readonly gateway: number;
  /** The gateway's public edge (docs/edge.md): browsers and apps, and the example page. */
  readonly edge: number;
}

export interface StackSettings {
  /** State folder (certificates, master key, keystore data, logs, generated configs). */
  readonly home: string;
  /** Every listener binds here. Loopback only. */
  readonly host: '127.0.0.1';
  /** 0 = any free port (tests); otherwise the fixed port. */
  readonly ports: StackPorts;
  /** The demo tenant whose key rings are created on first start. */
  readonly tenant: string;
  /** How the gateway routes Authorize to the processor. */
  readonly transport: StackTransport;
  /** Force how nats-server runs; default: the binary when found, else a container when Docker answers. */
  readonly natsRunner: NatsRunner | undefined;
}

/** The defaults, and the variable that overrides each. */
export const PORT_DEFAULTS: Readonly<Record<keyof StackPorts, { env: string; port: number }>> = Object.freeze({
  // Not 4222: a developer who already runs a nats-server keeps it, and the stack still starts.
  nats: { env: 'FLE_NATS_PORT', port: 14222 },
  keystore: { env: 'FLE_KEYSTORE_PORT', port: 7443 },
  processor: { env: 'FLE_PROCESSOR_PORT', port: 9443 },
  gateway: { env: 'FLE_GATEWAY_PORT', port: 8443 },
  edge: { env: 'FLE_EDGE_PORT', port: 8444 },
});

export const HOME_ENV = 'FLE_HOME';
export const TENANT_ENV = 'FLE_DEMO_TENANT';
export const TRANSPORT_ENV = 'FLE_TRANSPORT';
export const NATS_RUNNER_ENV = 'FLE_NATS_RUNNER';
export const DEFAULT_TENANT = 'demo';

/**
 * Settings from `env`. `defaultHome` is used when FLE_HOME is unset (scripts/start.ts
 * passes `<repo>/.fle`); a relative FLE_HOME is taken from `cwd`.
 */
export function settingsFromEnv(env: NodeJS.ProcessEnv, defaultHome: string, cwd = process.cwd()): StackSettings {
  const homeText = env[HOME_ENV] || defaultHome;
  const home = isAbsolute(homeText) ? homeText : resolve(cwd, homeText);
  const ports = Object.fromEntries(
    (Object.keys(PORT_DEFAULTS) as Array<keyof StackPorts>).map((k) => [k, portFrom(env, PORT_DEFAULTS[k].env, PORT_DEFAULTS[k].port)]),
  ) as unknown as StackPorts;
  const taken = new Map<number, string>();
  for (const [name, port] of Object.entries(ports)) {
    if (port === 0) continue;
    const other = taken.get(port);
    if (other) throw new DevStackError('DEVSTACK_BAD_ENV', `${other} and ${name} cannot share port ${port}: set ${PORT_DEFAULTS[name as keyof StackPorts].env}`);
    taken.set(port, name);
  }
  const tenant = env[TENANT_ENV] || DEFAULT_TENANT;
  // A tenant is a NATS subject token and a keystore tenant: keep it plain.
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(tenant)) throw new DevStackError('DEVSTACK_BAD_ENV', `${TENANT_ENV} must be 1 to 64 characters of [A-Za-z0-9_-]`);
  return {
    home,
    host: '127.0.0.1',
    ports,
    tenant,
    transport: oneOf(env, TRANSPORT_ENV, ['jetstream', 'nats', 'grpc'] as const) ?? 'jetstream',
    natsRunner: oneOf(env, NATS_RUNNER_ENV, ['binary', 'container'] as const),
  };
}

function portFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(n) || n > 65535) {
    throw new DevStackError('DEVSTACK_BAD_ENV', `${name} must be a port number 1..65535 (or 0 for any free port), got ${JSON.stringify(text)}`);
  }
  return n;
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, values: readonly T[]): T | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!(values as readonly string[]).includes(v)) throw new DevStackError('DEVSTACK_BAD_ENV', `${name} must be one of ${values.join(', ')} (got ${JSON.stringify(v)})`);
  return v as T;
}
