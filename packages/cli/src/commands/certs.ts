// `fle certs init`: the development CA and one certificate per identity
// (issue 5 item 1), and `fle nats config`: the matching nats-server config.
// Output names files and identities; key bytes are never printed.
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { createDevPki, ensureDevPki, NATS_SERVER_IDENTITY, pkiPaths, spiffeId, type DevPki } from '@fle/pki';
import { renderNatsConfig } from '@fle/nats-setup';

const DEFAULT_DIR = '.fle/certs';

export function registerCertsCommands(program: Command): void {
  const certs = program.command('certs').description('development certificates (CA + SPIFFE identities)');
  certs
    .command('init')
    .description('create the dev CA and the gateway, processor, keystore, client, admin and nats certificates (only what is missing, unless --force)')
    .option('--dir <dir>', 'output folder', DEFAULT_DIR)
    .option('--force', 're-create the CA and every certificate', false)
    .option('--trust-domain <domain>', 'SPIFFE trust domain', 'fle.local')
    .option('--days <n>', 'leaf validity in days', positiveInt, 365)
    .option('--json', 'print a JSON summary', false)
    .action(async (o: { dir: string; force: boolean; trustDomain: string; days: number; json: boolean }) => {
      const opts = { dir: o.dir, trustDomain: o.trustDomain, days: o.days };
      const pki = o.force ? await createDevPki(opts) : await ensureDevPki(opts);
      process.stdout.write(o.json ? JSON.stringify(summary(pki), null, 2) + '\n' : describe(pki));
    });

  const nats = program.command('nats').description('NATS server configuration');
  nats
    .command('config')
    .description('print (or write) a nats-server config: mTLS with certificate-mapped fle users, JetStream')
    .option('--dir <dir>', 'certificate folder (from `fle certs init`)', DEFAULT_DIR)
    .option('--port <port>', 'client port', port, 4222)
    .option('--store-dir <dir>', 'JetStream store folder', '.fle/nats/jetstream')
    .option('--trust-domain <domain>', 'SPIFFE trust domain of the mapped users', 'fle.local')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (o: { dir: string; port: number; storeDir: string; trustDomain: string; out?: string }) => {
      const paths = pkiPaths(o.dir);
      const text = renderNatsConfig({
        port: o.port,
        tls: paths.files(NATS_SERVER_IDENTITY),
        users: 'fle',
        trustDomain: o.trustDomain,
        jetstream: { storeDir: resolve(o.storeDir) },
      });
      if (o.out) {
        await writeFile(o.out, text, { mode: 0o644 });
        process.stdout.write(`wrote ${resolve(o.out)}\n`);
      } else {
        process.stdout.write(text);
      }
    });
}

function summary(pki: DevPki): object {
  return {
    dir: pki.dir,
    trustDomain: pki.trustDomain,
    ca: { cert: pki.caCert, key: pki.caKey },
    identities: pki.identities.map((name) => ({ name, id: spiffeId(name, pki.trustDomain), cert: pki.cert(name), key: pki.key(name) })),
    written: pki.written,
  };
}

function describe(pki: DevPki): string {
  const lines: string[] = [];
  if (pki.written.length === 0) {
    lines.push(`${pki.dir} already holds a CA and every certificate; nothing written (--force re-creates them).`);
  } else {
    for (const f of pki.written) lines.push(`wrote ${f}`);
  }
  lines.push('', `CA: ${pki.caCert}`);
  for (const name of pki.identities) lines.push(`${spiffeId(name, pki.trustDomain).padEnd(32)} ${pki.cert(name)}`);
  lines.push('', 'Private keys (*-key.pem) are readable by you only; keep the folder out of version control.');
  return lines.join('\n') + '\n';
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a port number 1..65535');
  return n;
}
