// `fle devices enroll | list | revoke` against a running keystore, over mTLS
// as the admin identity (connection flags as `fle keys`, keys.ts), for the
// devices that seal envelope alg 4 (docs/devices.md).
//
// `enroll` prints a one-time enrollment token: a credential. It goes to
// stdout only (alone on its line, so `TOKEN=$(fle devices enroll ...)` works),
// never to stderr or a log; what it is and when it expires goes to stderr.
import type { Command } from 'commander';
import type { DeviceSummary } from '@fle/keystore-client';
import { connection, formatDuration, parseDuration, run, type ConnectionFlags } from './keys.js';

interface TenantFlags extends ConnectionFlags {
  tenant: string;
}

function deviceLine(d: DeviceSummary): string {
  const label = d.label === '' ? '' : ` "${d.label}"`;
  const when = d.state === 'revoked' ? `revoked ${d.revokedAt}` : `enrolled ${d.enrolledAt}`;
  return `${d.tenant}/${d.id} ${d.state}${label} (${when}, key ${d.publicKey})`;
}

export function registerDevicesCommands(program: Command): void {
  const devices = program
    .command('devices')
    .description('devices (X25519 public keys of apps sealing alg 4) enrolled in a running keystore (mTLS, admin identity)');

  connection(devices.command('enroll'))
    .description('issue a one-time enrollment token: the app redeems it with its public key at the gateway edge')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option('--ttl <duration>', 'how long the token can be redeemed (1s to 7d)', '10m')
    .action(async (f: TenantFlags & { ttl: string }) => {
      const ttlMs = parseDuration(f.ttl, '--ttl');
      if (ttlMs < 1000 || ttlMs > 7 * 86_400_000) throw new Error('--ttl must be from 1s to 7d');
      await run(
        { ...f, json: false },
        (c) => c.createDeviceEnrollment(f.tenant, { ttlMs }),
        (e) => {
          process.stderr.write(
            `one-time enrollment token for tenant ${e.tenant} (id ${e.enrollmentId}), valid ${formatDuration(ttlMs)} until ${e.expiresAt}; ` +
              'it enrolls one device: hand it to the app over a private channel\n',
          );
          return [f.json ? JSON.stringify(e) : e.token];
        },
      );
    });

  connection(devices.command('list'))
    .description("list a tenant's devices, revoked ones included")
    .requiredOption('--tenant <tenant>', 'tenant id')
    .action(async (f: TenantFlags) => {
      await run(f, (c) => c.listDevices(f.tenant), (ds) => (ds.length === 0 ? [`tenant ${f.tenant} has no devices`] : ds.map(deviceLine)));
    });

  connection(devices.command('revoke'))
    .description('revoke a device for good: processors refuse its envelopes within their device cache TTL')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--device <id>', 'device id (dev_…, from `fle devices list`)')
    .action(async (f: TenantFlags & { device: string }) => {
      await run(f, (c) => c.revokeDevice(f.tenant, f.device), (d) => [`revoked ${deviceLine(d)}`]);
    });
}
