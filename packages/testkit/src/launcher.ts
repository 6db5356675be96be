// @fle/testkit/launcher: the parts of the stack launcher (./stack.ts) that
// `npm start` (packages/devstack) runs too, kept apart from the test helpers
// so the dev stack does not load them: the lifecycle (parts stop in reverse
// start order, once; children killed if this process exits) and the ring
// set-up (the tenant's missing rings created as the admin identity).
import { KeystoreAdminClient } from '@fle/keystore-client';
import type { TlsFiles } from '@fle/pki';

/** What a launcher stops: a started process, or any clean-up step. */
export interface LauncherPart {
  readonly name: string;
  stop(): unknown;
  /** SIGKILL now (synchronous: usable from an exit handler). */
  killNow?(): void;
}

export interface Launcher {
  /** Registers what was just started: stop() ends it before anything added earlier. */
  add(part: LauncherPart): void;
  /** Runs `fn` at stop(), before what was added earlier. */
  defer(fn: () => unknown): void;
  /** Stops every part in reverse order (a part whose stop fails is killed). Idempotent. */
  stop(): Promise<void>;
  /** SIGKILLs every part that can be killed (a second Ctrl-C; the exit hook). */
  killNow(): void;
}

/**
 * The lifecycle of a stack: parts stop in reverse start order, once.
 * killOnExit: whatever way this process ends, no child outlives it (the hook
 * is removed by stop()).
 */
export function createLauncher(opts: { killOnExit?: boolean } = {}): Launcher {
  const parts: LauncherPart[] = [];
  const killNow = (): void => {
    for (const p of parts) p.killNow?.();
  };
  if (opts.killOnExit) process.once('exit', killNow);
  let stopped: Promise<void> | undefined;
  return {
    add: (part) => void parts.push(part),
    defer: (fn) => void parts.push({ name: 'deferred', stop: fn }),
    killNow,
    stop: () =>
      (stopped ??= (async () => {
        for (const p of [...parts].reverse()) {
          await Promise.resolve()
            .then(() => p.stop())
            .catch(() => p.killNow?.());
        }
        if (opts.killOnExit) process.off('exit', killNow);
      })()),
  };
}

export interface EnsuredRing {
  readonly ring: string;
  readonly version: number;
  /** false: the ring was there already (kept as it is). */
  readonly created: boolean;
}

/** Creates the tenant's missing key rings as the admin identity; existing rings are kept. alg 3: an X25519 ring. */
export async function ensureRings(opts: {
  readonly address: string;
  /** The admin identity's certificate files. */
  readonly tls: TlsFiles;
  readonly tenant: string;
  readonly rings: ReadonlyArray<{ readonly ring: string; readonly alg?: 3 }>;
  readonly channelOptions?: Record<string, string | number>;
}): Promise<EnsuredRing[]> {
  const admin = new KeystoreAdminClient({ address: opts.address, tls: opts.tls, ...(opts.channelOptions ? { channelOptions: opts.channelOptions } : {}) });
  try {
    const existing = new Map((await admin.listRings(opts.tenant)).map((r) => [r.ring, r.primaryVersion]));
    const out: EnsuredRing[] = [];
    for (const { ring, alg } of opts.rings) {
      const have = existing.get(ring);
      out.push(have !== undefined ? { ring, version: have, created: false } : { ring, version: (await admin.createKeyRing(opts.tenant, ring, alg ? { alg } : {})).version, created: true });
    }
    return out;
  } finally {
    admin.close();
  }
}
