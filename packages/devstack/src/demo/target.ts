// Where `fle demo` sends its request: flags first, then the stack file a
// running `npm start` wrote (FLE_HOME/run/stack.json), then the fixed defaults.
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { HOME_ENV, PORT_DEFAULTS, DEFAULT_TENANT } from '../settings.js';
import { processAlive, readStackFile, type StackInfo } from '../stack-file.js';
import { stateLayout } from '../state-dir.js';
import type { DemoTarget, LoggedService } from './run-demo.js';

export interface DemoFlags {
  readonly gateway?: string;
  readonly certs?: string;
  readonly keystore?: string;
  readonly nats?: string;
  readonly tenant?: string;
  readonly home?: string;
}

export function demoTargetFromStack(info: StackInfo): DemoTarget {
  const logs: Partial<Record<LoggedService, string>> = {};
  for (const p of info.processes) logs[p.name] = p.log;
  return { gateway: info.gateway, keystore: info.keystore, certsDir: info.certsDir, tenant: info.tenant, transport: info.transport, nats: info.nats, logs, ...(info.kvBuckets ? { kvBuckets: info.kvBuckets } : {}), ...(info.api ? { api: info.api } : {}) };
}

/**
 * The stack file is used only while the process that wrote it runs; the
 * explicit flags override its values one by one. Log files are read only when
 * the gateway is the stack's own (otherwise they describe another stack).
 */
export function resolveDemoTarget(flags: DemoFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): { target: DemoTarget; stack: StackInfo | undefined } {
  const homeText = flags.home ?? env[HOME_ENV] ?? '.fle';
  const home = isAbsolute(homeText) ? homeText : resolve(cwd, homeText);
  const file = readStackFile(stateLayout(home).stackFile);
  const stack = file && processAlive(file.pid) ? file : undefined;
  const fromStack = stack ? demoTargetFromStack(stack) : undefined;
  const gateway = flags.gateway ?? fromStack?.gateway ?? env['FLE_GATEWAY_ADDR'] ?? `127.0.0.1:${PORT_DEFAULTS.gateway.port}`;
  const sameStack = fromStack !== undefined && gateway === fromStack.gateway;
  // The API: the stack's, whatever gateway is named; else the one of the stack whose
  // certificates the demo uses (its state folder holds both), for its API only.
  const api = fromStack?.api ?? apiOfCertsStack(flags.certs ? resolve(cwd, flags.certs) : undefined);
  const target: DemoTarget = {
    gateway,
    keystore: flags.keystore ?? fromStack?.keystore ?? env['FLE_KEYSTORE_ADDR'] ?? `127.0.0.1:${PORT_DEFAULTS.keystore.port}`,
    certsDir: flags.certs ? resolve(cwd, flags.certs) : (fromStack?.certsDir ?? join(home, 'certs')),
    tenant: flags.tenant ?? fromStack?.tenant ?? DEFAULT_TENANT,
    ...(sameStack && fromStack.transport ? { transport: fromStack.transport } : {}),
    ...((flags.nats ?? (sameStack ? fromStack.nats : undefined)) ? { nats: flags.nats ?? fromStack!.nats! } : {}),
    ...(sameStack && fromStack.logs ? { logs: fromStack.logs } : {}),
    ...(sameStack && fromStack.kvBuckets ? { kvBuckets: fromStack.kvBuckets } : {}),
    ...(api ? { api } : {}),
  };
  return { target, stack };
}

/** The API recorded by a live stack whose state folder holds `certsDir` (`<home>/certs`). */
function apiOfCertsStack(certsDir: string | undefined): StackInfo['api'] {
  if (!certsDir) return undefined;
  const info = readStackFile(stateLayout(dirname(certsDir)).stackFile);
  return info && processAlive(info.pid) && info.certsDir === certsDir ? info.api : undefined;
}
