// Which NATS the harness uses (issue 6 item 1): env FLE_NATS = container |
// binary | url; unset: a reachable Docker engine, else the nats-server
// binary, else a clear failure.
import { request } from 'node:http';
import { existsSync } from 'node:fs';
import { findNatsServer, INSTALL_HINT } from '@fle/nats-setup';
import { HarnessError } from './errors.js';

export type NatsProvider = 'container' | 'binary' | 'url';

const PROVIDERS: readonly NatsProvider[] = ['container', 'binary', 'url'];

export async function chooseProvider(env: NodeJS.ProcessEnv = process.env): Promise<NatsProvider> {
  const wanted = env['FLE_NATS'];
  if (wanted) {
    if (!(PROVIDERS as readonly string[]).includes(wanted)) {
      throw new HarnessError('HARNESS_BAD_ENV', `FLE_NATS must be one of ${PROVIDERS.join(', ')} (got ${JSON.stringify(wanted)})`);
    }
    if (wanted === 'url' && !env['NATS_URL']) throw new HarnessError('HARNESS_BAD_ENV', 'FLE_NATS=url needs NATS_URL (e.g. nats://127.0.0.1:4222)');
    return wanted as NatsProvider;
  }
  if (await dockerReachable(env)) return 'container';
  try {
    findNatsServer();
    return 'binary';
  } catch (cause) {
    throw new HarnessError(
      'HARNESS_NO_PROVIDER',
      `No NATS for the tests: no Docker engine answered and no nats-server binary was found. ${INSTALL_HINT} ` +
        'Or start a Docker engine (FLE_NATS=container), or point FLE_NATS=url NATS_URL=nats://host:port at a server.',
      { cause },
    );
  }
}

/** True when a Docker engine answers `GET /_ping` within `timeoutMs` (unix socket or tcp DOCKER_HOST). */
export function dockerReachable(env: NodeJS.ProcessEnv = process.env, timeoutMs = 1000): Promise<boolean> {
  const host = env['DOCKER_HOST'];
  let target: { socketPath: string } | { host: string; port: number };
  if (!host || host.startsWith('unix://')) {
    const socketPath = host ? host.slice('unix://'.length) : '/var/run/docker.sock';
    if (!existsSync(socketPath)) return Promise.resolve(false);
    target = { socketPath };
  } else if (host.startsWith('tcp://')) {
    const u = new URL(host.replace(/^tcp:/, 'http:'));
    target = { host: u.hostname, port: Number(u.port || 2375) };
  } else {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const req = request({ ...target, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}
