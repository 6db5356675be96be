// Before anything starts: is every fixed port free on the loopback address?
// A taken port is reported with the variable that moves it, instead of a
// child process dying with EADDRINUSE somewhere in its log.
import { createServer } from 'node:net';
import { DevStackError } from './errors.js';
import { PORT_DEFAULTS, type StackPorts } from './settings.js';

/** Resolves when `port` could be bound on `host` a moment ago; rejects with the errno otherwise. */
export function probePort(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve()));
  });
}

const ROLE_NAMES: Readonly<Record<keyof StackPorts, string>> = { nats: 'nats-server', keystore: 'keystore', processor: 'processor', gateway: 'gateway', edge: "gateway's public edge" };

/** True when `port` could be bound on `host` a moment ago. */
async function isFree(host: string, port: number): Promise<boolean> {
  return probePort(host, port).then(
    () => true,
    () => false,
  );
}

/**
 * A port near `port` that could be bound on `host` a moment ago (checked, not
 * guessed): port+10000, then the next ports up, then any the system picks;
 * never one of `avoid` (the stack's other ports).
 */
export async function suggestFreePort(host: string, port: number, avoid: readonly number[]): Promise<number> {
  const candidates = [port + 10000, ...Array.from({ length: 20 }, (_, i) => port + 1 + i)].filter((p) => p >= 1024 && p <= 65535 && !avoid.includes(p));
  for (const p of candidates) if (await isFree(host, p)) return p;
  for (;;) {
    const p = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.unref();
      srv.once('error', reject);
      srv.listen({ host, port: 0, exclusive: true }, () => {
        const chosen = (srv.address() as { port: number }).port;
        srv.close(() => resolve(chosen));
      });
    });
    if (!avoid.includes(p)) return p;
  }
}

/** Throws DEVSTACK_PORT_IN_USE naming the first taken port, its role, its variable and a port checked free. */
export async function assertPortsFree(host: string, ports: StackPorts): Promise<void> {
  for (const role of Object.keys(PORT_DEFAULTS) as Array<keyof StackPorts>) {
    const port = ports[role];
    if (port === 0) continue;
    try {
      await probePort(host, port);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      const why = code === 'EADDRINUSE' ? 'is already in use' : code === 'EACCES' ? 'needs privileges' : `cannot be bound (${code})`;
      const free = await suggestFreePort(host, port, Object.values(ports));
      throw new DevStackError(
        'DEVSTACK_PORT_IN_USE',
        `port ${port} for the ${ROLE_NAMES[role]} on ${host} ${why}: stop what uses it, or set ${PORT_DEFAULTS[role].env} to another port (e.g. ${PORT_DEFAULTS[role].env}=${free}, free a moment ago)`,
        { cause: err },
      );
    }
  }
}
