// `fle keys create | rotate | promote | disable | enable | destroy | list |
// policy set | policy show` against a running keystore, over mTLS as the admin
// identity. Key bytes never reach this command: the admin API returns metadata only.
//
// Connection: --address (env FLE_KEYSTORE_ADDR, default 127.0.0.1:7443) and the
// admin's certificate files: --certs-dir (env FLE_CERTS_DIR, default .fle/certs)
// with --identity (default admin), or --ca/--cert/--key (env FLE_KEYSTORE_CA,
// FLE_KEYSTORE_CERT, FLE_KEYSTORE_KEY) one by one.
import { join } from 'node:path';
import type { Command } from 'commander';
import {
  KeystoreAdminClient,
  KeystoreUnavailableError,
  keystoreAddress,
  type KeyRingSummary,
  type KeyVersionSummary,
  type RotationPolicySummary,
  type RotationStatusSummary,
} from '@fle/keystore-client';
import { addDestroyCheck } from './records.js';

export interface ConnectionFlags {
  address?: string;
  certsDir?: string;
  identity?: string;
  ca?: string;
  cert?: string;
  key?: string;
  json?: boolean;
}

interface RingFlags extends ConnectionFlags {
  tenant: string;
  ring: string;
}

interface VersionFlags extends RingFlags {
  version: string;
}

export function connection(cmd: Command): Command {
  return cmd
    .option('--address <host:port>', 'keystore address (default: env FLE_KEYSTORE_ADDR or 127.0.0.1:7443)')
    .option('--certs-dir <dir>', 'folder of the dev PKI (default: env FLE_CERTS_DIR or .fle/certs)')
    .option('--identity <name>', 'identity whose certificate to present', 'admin')
    .option('--ca <file>', 'CA certificate (default: <certs-dir>/ca.pem)')
    .option('--cert <file>', 'client certificate (default: <certs-dir>/<identity>.pem)')
    .option('--key <file>', 'client private key (default: <certs-dir>/<identity>-key.pem)')
    .option('--json', 'JSON output for scripts');
}

function ringOptions(cmd: Command): Command {
  return connection(cmd).requiredOption('--tenant <tenant>', 'tenant id').option('--ring <ring>', 'key ring', 'default');
}

function versionOptions(cmd: Command): Command {
  return ringOptions(cmd).requiredOption('--version <n>', 'key version');
}

function client(flags: ConnectionFlags): KeystoreAdminClient {
  const env = process.env;
  const dir = flags.certsDir ?? env.FLE_CERTS_DIR ?? '.fle/certs';
  const identity = flags.identity ?? 'admin';
  return new KeystoreAdminClient({
    address: keystoreAddress(flags.address),
    tls: {
      ca: flags.ca ?? env.FLE_KEYSTORE_CA ?? join(dir, 'ca.pem'),
      cert: flags.cert ?? env.FLE_KEYSTORE_CERT ?? join(dir, `${identity}.pem`),
      key: flags.key ?? env.FLE_KEYSTORE_KEY ?? join(dir, `${identity}-key.pem`),
    },
  });
}

function version(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 0xffff_ffff) throw new Error('--version must be an integer from 1 to 4294967295');
  return n;
}

/** Runs one admin call, prints its result, closes the channel; an outage becomes one clear line. */
export async function run<T>(flags: ConnectionFlags, call: (c: KeystoreAdminClient) => Promise<T>, human: (r: T) => string[]): Promise<void> {
  const c = client(flags);
  try {
    const result = await call(c);
    const lines = flags.json ? [JSON.stringify(result)] : human(result);
    for (const line of lines) process.stdout.write(`${line}\n`);
  } catch (err) {
    if (err instanceof KeystoreUnavailableError) throw new Error(`cannot reach the keystore at ${c.address}`);
    throw err;
  } finally {
    c.close();
  }
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `10m`, `12h`, `30d`, `500ms`, or a number of milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  const ms = m ? Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!) : NaN;
  if (!Number.isSafeInteger(ms)) throw new Error(`${flag} must be a duration such as 90s, 10m, 12h or 30d`);
  return ms;
}

/** The largest unit that divides `ms` exactly: 30d, 10m, 1500ms. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) if (ms > 0 && ms % UNIT_MS[unit]! === 0) return `${ms / UNIT_MS[unit]!}${unit}`;
  return `${ms}ms`;
}

function policyLine(tenant: string, ring: string, p: RotationPolicySummary | null): string {
  if (!p) return `${tenant}/${ring}: no rotation policy (rotated by hand)`;
  const budget = p.maxEnvelopes === null ? 'no envelope budget' : `envelope budget ${p.maxEnvelopes}`;
  return `${tenant}/${ring}: rotate after ${formatDuration(p.rotateAfterMs)}, propagation delay ${formatDuration(p.propagationDelayMs)}, ${budget}`;
}

function statusLines(st: RotationStatusSummary): string[] {
  const lines = [policyLine(st.tenant, st.ring, st.policy)];
  const p = st.primary;
  lines.push(`primary v${p.version} (alg ${p.alg}) since ${p.stateChangedAt}, ${p.sealCount} seal(s) reported${st.rotateAt ? `; due by age at ${st.rotateAt}` : ''}`);
  if (st.pending) lines.push(`pending v${st.pending.version} since ${st.pending.createdAt}${st.promoteAt ? `; promoted at ${st.promoteAt}` : ''}`);
  else lines.push('no pending version');
  return lines;
}

function versionLine(v: KeyVersionSummary): string {
  return `${v.tenant}/${v.ring} v${v.version} ${v.state} (alg ${v.alg}, since ${v.stateChangedAt})`;
}

function ringLine(r: KeyRingSummary): string {
  return `${r.tenant}/${r.ring} primary v${r.primaryVersion} (alg ${r.alg}, created ${r.createdAt})`;
}

export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description('administer key rings on a running keystore (mTLS, admin identity)');

  ringOptions(keys.command('create'))
    .description('create a key ring; version 1 becomes its primary')
    .option('--alg <alg>', '2 = XChaCha20-Poly1305 (the default), 1 = ChaCha20-Poly1305 (96-bit nonces: rotate by volume), 3 = X25519 key pairs for HPKE (envelope alg 3/4, untrusted clients)')
    .action(async (f: RingFlags & { alg?: string }) => {
      if (f.alg !== undefined && f.alg !== '1' && f.alg !== '2' && f.alg !== '3') throw new Error('--alg must be 1, 2 or 3');
      const opts = f.alg === undefined ? {} : { alg: Number(f.alg) as 1 | 2 | 3 };
      await run(f, (c) => c.createKeyRing(f.tenant, f.ring, opts), (v) => [`created ${versionLine(v)}`]);
    });

  ringOptions(keys.command('rotate'))
    .description('add a pending version (handed to openers; promote it after the longest cache TTL)')
    .action(async (f: RingFlags) => {
      await run(f, (c) => c.rotate(f.tenant, f.ring), (v) => [`added ${versionLine(v)}`]);
    });

  versionOptions(keys.command('promote'))
    .description('make a pending (or decrypt-only) version the primary; the old primary becomes decrypt-only')
    .action(async (f: VersionFlags) => {
      await run(f, (c) => c.promote(f.tenant, f.ring, version(f.version)), (r) => [
        `promoted ${versionLine(r.version)}`,
        `demoted ${versionLine(r.previousPrimary)}`,
      ]);
    });

  versionOptions(keys.command('disable'))
    .description('stop handing out a pending or decrypt-only version (reversible with enable)')
    .action(async (f: VersionFlags) => {
      await run(f, (c) => c.disable(f.tenant, f.ring, version(f.version)), (v) => [`disabled ${versionLine(v)}`]);
    });

  versionOptions(keys.command('enable'))
    .description('re-enable a disabled version as decrypt-only')
    .action(async (f: VersionFlags) => {
      await run(f, (c) => c.enable(f.tenant, f.ring, version(f.version)), (v) => [`enabled ${versionLine(v)}`]);
    });

  addDestroyCheck(versionOptions(keys.command('destroy')))
    .description('erase a disabled version\'s key bytes for good: what it sealed can never be opened again')
    .option('--yes', 'confirm: this cannot be undone')
    .action(async (f: VersionFlags & { yes?: boolean }) => {
      if (!f.yes) throw new Error('destroy cannot be undone: add --yes to confirm');
      await run(f, (c) => c.destroy(f.tenant, f.ring, version(f.version)), (v) => [`destroyed ${versionLine(v)}`]);
    });

  connection(keys.command('list'))
    .description('list key rings (of --tenant, or every tenant you administer), or the versions of --ring')
    .option('--tenant <tenant>', 'tenant id')
    .option('--ring <ring>', 'list the versions of this ring')
    .action(async (f: ConnectionFlags & { tenant?: string; ring?: string }) => {
      if (f.ring !== undefined) {
        if (f.tenant === undefined) throw new Error('--ring needs --tenant');
        await run(f, (c) => c.listVersions(f.tenant!, f.ring!), (vs) => vs.map(versionLine));
      } else {
        await run(f, (c) => c.listRings(f.tenant), (rs) => (rs.length === 0 ? ['no key rings'] : rs.map(ringLine)));
      }
    });

  const policy = keys.command('policy').description("a key ring's rotation policy: the keystore rotates by age (and alg 1 rings by volume) and promotes after a delay");

  ringOptions(policy.command('set'))
    .description('set the rotation policy of a ring (or remove it with --clear)')
    .option('--rotate-after <duration>', 'add a pending version once the primary has been primary this long (e.g. 30d)')
    .option('--propagation-delay <duration>', 'promote the pending version this long after it was added: at least the longest client cache TTL + refresh window (e.g. 10m)')
    .option('--max-envelopes <n>', 'alg 1 rings only: also rotate once services reported this many seals under the primary')
    .option('--clear', 'remove the policy (rotation by hand only)')
    .action(async (f: RingFlags & { rotateAfter?: string; propagationDelay?: string; maxEnvelopes?: string; clear?: boolean }) => {
      let p: RotationPolicySummary | null = null;
      if (f.clear) {
        if (f.rotateAfter !== undefined || f.propagationDelay !== undefined || f.maxEnvelopes !== undefined) throw new Error('--clear takes no other policy option');
      } else {
        if (f.rotateAfter === undefined || f.propagationDelay === undefined) throw new Error('give --rotate-after and --propagation-delay (or --clear)');
        let maxEnvelopes: number | null = null;
        if (f.maxEnvelopes !== undefined) {
          maxEnvelopes = Number(f.maxEnvelopes);
          if (!Number.isSafeInteger(maxEnvelopes) || maxEnvelopes < 1) throw new Error('--max-envelopes must be a positive integer');
        }
        p = { rotateAfterMs: parseDuration(f.rotateAfter, '--rotate-after'), propagationDelayMs: parseDuration(f.propagationDelay, '--propagation-delay'), maxEnvelopes };
      }
      await run(f, (c) => c.setRotationPolicy(f.tenant, f.ring, p), (got) => [policyLine(f.tenant, f.ring, got)]);
    });

  ringOptions(policy.command('show'))
    .description("show a ring's rotation policy and where the ring stands against it")
    .action(async (f: RingFlags) => {
      await run(f, (c) => c.getRotationPolicy(f.tenant, f.ring), statusLines);
    });
}
