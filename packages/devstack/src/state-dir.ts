// The state folder of the local stack (FLE_HOME, default `<repo>/.fle`, which
// .gitignore keeps out of version control):
//
//   certs/                 dev PKI (@fle/pki; the same layout `fle certs init` writes)
//   master.key             the keystore's master key: 32 random bytes as hex, mode 0600, made once
//   data/keystore.json     the keystore's file storage (keys wrapped under the master key)
//   data/audit.jsonl       the keystore's audit log
//   nats/                  nats-server config, ports file, JetStream store
//   logs/<service>.log     each child's output, truncated at every start
//   run/                   generated configs, ports files, stack.json (removed on stop)
//   run/web/               the example page the gateway's edge serves (written at every start)
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DevStackError } from './errors.js';

export type ServiceName = 'nats' | 'keystore' | 'processor' | 'gateway';

export interface StateLayout {
  readonly home: string;
  readonly certs: string;
  readonly masterKey: string;
  readonly data: string;
  readonly keystoreStore: string;
  readonly auditLog: string;
  readonly natsDir: string;
  readonly jetstream: string;
  readonly logs: string;
  readonly run: string;
  readonly stackFile: string;
  log(name: ServiceName): string;
  config(name: Exclude<ServiceName, 'nats'>): string;
  portsFile(name: 'processor' | 'gateway'): string;
  readonly policyFile: string;
  /** The example page's files (edge.static). */
  readonly web: string;
  /** The public key set the edge verifies the example page's token with (edge.jwt.jwks). */
  readonly edgeJwks: string;
}

export function stateLayout(home: string): StateLayout {
  const run = join(home, 'run');
  const logs = join(home, 'logs');
  const data = join(home, 'data');
  const natsDir = join(home, 'nats');
  return {
    home,
    certs: join(home, 'certs'),
    masterKey: join(home, 'master.key'),
    data,
    keystoreStore: join(data, 'keystore.json'),
    auditLog: join(data, 'audit.jsonl'),
    natsDir,
    jetstream: join(natsDir, 'jetstream'),
    logs,
    run,
    stackFile: join(run, 'stack.json'),
    log: (name) => join(logs, `${name}.log`),
    config: (name) => join(run, `${name}.yaml`),
    portsFile: (name) => join(run, `${name}.ports.json`),
    policyFile: join(run, 'keystore-policy.yaml'),
    web: join(run, 'web'),
    edgeJwks: join(run, 'edge-jwks.json'),
  };
}

/** Creates the folders (home and data private to the user). */
export async function prepareStateDirs(layout: StateLayout): Promise<void> {
  await mkdir(layout.home, { recursive: true, mode: 0o700 });
  await chmod(layout.home, 0o700);
  await mkdir(layout.data, { recursive: true, mode: 0o700 });
  for (const d of [layout.logs, layout.run, layout.natsDir, layout.jetstream]) await mkdir(d, { recursive: true, mode: 0o700 });
}

/**
 * The master key file: created once (32 bytes from the CSPRNG, hex, mode 0600,
 * exclusive create so a concurrent start cannot overwrite it), then reused.
 * Its value never passes through this process's output or errors.
 */
export async function ensureMasterKey(path: string): Promise<{ created: boolean }> {
  if (existsSync(path)) {
    const mode = statSync(path).mode & 0o777;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new DevStackError('DEVSTACK_BAD_ENV', `${path} is readable by group or others (mode ${mode.toString(8)}): chmod 600 it`);
    }
    return { created: false };
  }
  const raw = randomBytes(32);
  try {
    await writeFile(path, `${raw.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } finally {
    raw.fill(0);
  }
  await chmod(path, 0o600); // the umask may have narrowed `mode`; never widened, but be exact
  return { created: true };
}
