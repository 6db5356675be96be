// `fle records rewrap`: re-encrypt the sealed records of a NATS KV bucket
// under each ring's primary key version (engine: @fle/records rewrapRecords;
// docs/records.md "Rewrap"), and the check `fle keys destroy --check-bucket`
// runs before destroying a version (addDestroyCheck).
//
// It runs as the storing service's identity (--identity): its certificate
// opens the NATS connection (the bucket is that service's) and fetches the
// records ring's keys from the keystore (only that service may). Key bytes
// never reach the output; progress goes to stderr, the summary to stdout.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { NatsConnection } from 'nats';
import type { CompiledSchema } from '@fle/field-crypto';
import type { TlsFiles } from '@fle/pki';
import type { MessageCodec, RewrapProgress, RewrapSummary } from '@fle/records';
// nats, protobufjs, @fle/records, nats-setup and the keystore client are imported when a
// records command runs, not when `fle` starts: every other command starts as fast as before.

const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
// fle's own protos (fle/v1/options.proto), which the team's .proto files import.

interface SchemaFlags {
  schema: string[];
  protoPath?: string[];
}

interface NatsFlags {
  nats?: string;
  certsDir?: string;
}

interface RewrapFlags extends SchemaFlags, NatsFlags {
  bucket: string;
  tenant?: string;
  ring?: string;
  store?: string;
  identity: string;
  keystore?: string;
  concurrency: string;
  json?: boolean;
}

/** The team's schema from .proto files (imports found beside each file, in --proto-path, then fle's own protos). */
export async function loadSchemaFiles(flags: SchemaFlags): Promise<{ schema: CompiledSchema; codecFor: (typeName: string) => MessageCodec<unknown> | undefined }> {
  const { default: protobuf } = await import('protobufjs');
  const { compileSchema } = await import('@fle/field-crypto');
  const { reflectionCodec } = await import('@fle/records');
  const { FLE_PROTO_DIR, loadSchema } = await import('@fle/schema');
  const files = flags.schema.map((f) => resolve(f));
  for (const f of files) if (!existsSync(f)) throw new Error(`--schema: no such file ${f}`);
  if (files.length === 1 && !files[0]!.endsWith('.proto')) {
    // A Buf image or FileDescriptorSet (buf build -o schema.binpb).
    let image: import('protobufjs').Root;
    try {
      image = loadSchema({ image: files[0]! });
    } catch (err) {
      throw new Error(`--schema: ${err instanceof Error ? err.message : String(err)}`);
    }
    return withCodecs(image, compileSchema(image), reflectionCodec);
  }
  const roots = [...new Set([...files.map(dirname), ...(flags.protoPath ?? []).map((p) => resolve(p)), FLE_PROTO_DIR])];
  const bundled = dirname(fileURLToPath(import.meta.resolve('protobufjs/package.json')));
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (isAbsolute(target)) return target;
    if (target.startsWith('google/protobuf/')) return join(bundled, target);
    for (const dir of [origin ? dirname(origin) : undefined, ...roots]) {
      if (dir && existsSync(join(dir, target))) return join(dir, target);
    }
    return target;
  };
  try {
    root.loadSync(files, { keepCase: false });
  } catch (err) {
    throw new Error(`--schema: ${err instanceof Error ? err.message : String(err)}`);
  }
  return withCodecs(root, compileSchema(root), reflectionCodec);
}

/** The compiled schema and a reflection codec per type name (undefined for a type the schema lacks). */
function withCodecs(
  root: import('protobufjs').Root,
  schema: CompiledSchema,
  reflectionCodec: <T>(type: import('protobufjs').Type) => MessageCodec<T>,
): { schema: CompiledSchema; codecFor: (typeName: string) => MessageCodec<unknown> | undefined } {
  const codecs = new Map<string, MessageCodec<unknown> | undefined>();
  const codecFor = (typeName: string): MessageCodec<unknown> | undefined => {
    if (!codecs.has(typeName)) {
      let codec: MessageCodec<unknown> | undefined;
      try {
        codec = reflectionCodec<unknown>(root.lookupType(typeName));
      } catch {
        codec = undefined;
      }
      codecs.set(typeName, codec);
    }
    return codecs.get(typeName);
  };
  return { schema, codecFor };
}

async function tlsFiles(certsDir: string | undefined, identity: string): Promise<TlsFiles> {
  const { pkiPaths } = await import('@fle/pki');
  return pkiPaths(certsDir ?? process.env.FLE_CERTS_DIR ?? '.fle/certs').files(identity);
}

async function connectNats(flags: NatsFlags, identity: string): Promise<NatsConnection> {
  const servers = flags.nats ?? process.env.NATS_URL ?? DEFAULT_NATS_URL;
  const { connect } = await import('nats');
  const { fleConnectionOptions } = await import('@fle/nats-setup');
  const tls = await tlsFiles(flags.certsDir, identity);
  try {
    // A command gives up rather than reconnecting for ever.
    return await connect({ ...fleConnectionOptions({ servers: servers.split(','), tls, identity, name: 'fle-records' }), maxReconnectAttempts: 10, timeout: 5000 });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${servers} as ${identity}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new Error(`${flag} must be an integer from 1 to 1024`);
  return n;
}

/**
 * Progress on stderr: one line redrawn in place on a terminal, a plain line
 * every second otherwise (logs, CI, a parent process reading the pipe).
 */
export function progressReporter(out: NodeJS.WriteStream = process.stderr): { update(p: RewrapProgress): void; end(): void } {
  const tty = out.isTTY === true;
  const started = Date.now();
  let last: RewrapProgress | undefined;
  let shownAt = 0;
  let drawn = false;
  const line = (p: RewrapProgress): string => {
    const total = Math.max(p.estimatedTotal, p.seen);
    const secs = Math.max(0.001, (Date.now() - started) / 1000);
    const counts = `rewrapped ${p.rewrapped}, current ${p.current}, skipped ${p.skipped}, failed ${p.failed} (${Math.round(p.seen / secs)}/s)`;
    if (!tty) return `rewrap: seen ${p.seen} of ~${total}, ${counts}`;
    const width = 24;
    const filled = total === 0 ? width : Math.min(width, Math.round((p.seen / total) * width));
    return `rewrap [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.seen}/~${total} ${counts}`;
  };
  const show = (p: RewrapProgress): void => {
    if (tty) out.write(`\r\x1b[2K${line(p)}`);
    else out.write(`${line(p)}\n`);
    drawn = true;
    shownAt = Date.now();
  };
  return {
    update(p) {
      last = p;
      if (Date.now() - shownAt >= (tty ? 100 : 1000)) show(p);
    },
    end() {
      if (last) show(last);
      if (tty && drawn) out.write('\n');
    },
  };
}

function summaryLines(s: RewrapSummary): string[] {
  const lines = [
    `records seen:      ${s.seen}`,
    `rewrapped:         ${s.rewrapped}`,
    `already current:   ${s.current}`,
    `other tenants:     ${s.skipped}`,
    `deleted meanwhile: ${s.deleted}`,
    `failed:            ${s.failed}`,
  ];
  for (const [reason, n] of Object.entries(s.failedByReason)) lines.push(`  ${reason}: ${n}`);
  for (const f of s.failures.slice(0, 10)) lines.push(`  e.g. ${f.key}: ${f.reason}`);
  return lines;
}

export function registerRecordsCommands(program: Command): void {
  const records = program.command('records').description('sealed records at rest in NATS KV (docs/records.md)');

  records
    .command('rewrap')
    .description('seal every record again whose envelopes are under a key version other than its ring\'s primary (resumable: run again after an interruption)')
    .requiredOption('--bucket <bucket>', 'the NATS KV bucket holding the sealed records')
    .option('--tenant <tenant>', 'only records of this tenant')
    .option('--ring <ring>', 'only envelopes of this key ring decide (a record is sealed again whole)')
    .option('--store <name>', 'store name in the records\' identity (rec/<store>/<key>); default the bucket name')
    .requiredOption('--schema <file...>', '.proto file(s) declaring the record types')
    .option('--proto-path <dir...>', 'more folders where imports are looked up')
    .requiredOption('--identity <name>', 'the storing service\'s identity: its certificate connects to NATS and fetches the records ring\'s keys')
    .option('--certs-dir <dir>', 'certificate folder (default: env FLE_CERTS_DIR or .fle/certs)')
    .option('--nats <url>', `NATS URL(s), comma-separated (default: env NATS_URL or ${DEFAULT_NATS_URL})`)
    .option('--keystore <host:port>', 'keystore address (default: env FLE_KEYSTORE_ADDR or 127.0.0.1:7443)')
    .option('--concurrency <n>', 'records worked on at once', '16')
    .option('--json', 'print the summary as JSON')
    .action(async (f: RewrapFlags) => {
      const concurrency = positiveInt(f.concurrency, '--concurrency');
      const { schema, codecFor } = await loadSchemaFiles(f);
      const { rewrapRecords, RewrapInterruptedError } = await import('@fle/records');
      const { KeystoreKeyProvider, keystoreAddress } = await import('@fle/keystore-client');
      const keys = new KeystoreKeyProvider({ address: keystoreAddress(f.keystore), tls: await tlsFiles(f.certsDir, f.identity) });
      const nc = await connectNats(f, f.identity);
      const progress = progressReporter();
      let summary: RewrapSummary;
      try {
        summary = await rewrapRecords({
          js: nc.jetstream(),
          bucket: f.bucket,
          ...(f.store === undefined ? {} : { store: f.store }),
          schema,
          keys,
          codecFor,
          ...(f.tenant === undefined ? {} : { tenant: f.tenant }),
          ...(f.ring === undefined ? {} : { ring: f.ring }),
          concurrency,
          onProgress: (p) => progress.update(p),
        });
      } catch (err) {
        progress.end();
        if (err instanceof RewrapInterruptedError) {
          for (const l of summaryLines(err.summary)) process.stdout.write(`${l}\n`);
          throw new Error(`${err.message} (run the same command again to continue)`);
        }
        throw err;
      } finally {
        keys.close();
        await nc.close();
      }
      progress.end();
      const lines = f.json ? [JSON.stringify(summary)] : summaryLines(summary);
      for (const l of lines) process.stdout.write(`${l}\n`);
      if (summary.failed > 0) throw new Error(`${summary.failed} record(s) could not be rewrapped`);
    });
}

interface DestroyCheckFlags extends NatsFlags {
  checkBucket?: string;
  schema?: string[];
  protoPath?: string[];
  natsIdentity?: string;
  identity?: string;
  tenant: string;
  ring: string;
  version: string;
}

/**
 * `fle keys destroy ... --check-bucket <bucket>`: before the destroy runs,
 * count the bucket's records that still hold an envelope under that version
 * (from the headers, no key needed) and refuse, saying how many, unless none
 * does. Records that cannot be read far enough to tell count against it too.
 */
export function addDestroyCheck(destroy: Command): Command {
  return destroy
    .option('--check-bucket <bucket>', 'refuse while any sealed record in this NATS KV bucket still uses the version')
    .option('--schema <file...>', 'with --check-bucket: .proto file(s) declaring the record types')
    .option('--proto-path <dir...>', 'with --check-bucket: more folders where imports are looked up')
    .option('--nats <url>', `with --check-bucket: NATS URL(s) (default: env NATS_URL or ${DEFAULT_NATS_URL})`)
    .option('--nats-identity <name>', 'with --check-bucket: identity that may read the bucket (default: --identity)')
    .hook('preAction', async (_cmd, action) => {
      const f = action.opts<DestroyCheckFlags>();
      if (f.checkBucket === undefined) return;
      if (!f.schema?.length) throw new Error('--check-bucket needs --schema (the record types, to find their envelopes)');
      const version = Number(f.version);
      if (!Number.isInteger(version) || version < 1 || version > 0xffff_ffff) throw new Error('--version must be an integer from 1 to 4294967295');
      const identity = f.natsIdentity ?? f.identity ?? 'admin';
      const { schema, codecFor } = await loadSchemaFiles({ schema: f.schema, ...(f.protoPath ? { protoPath: f.protoPath } : {}) });
      const { recordsUsingVersion } = await import('@fle/records');
      const nc = await connectNats(f, identity);
      try {
        const use = await recordsUsingVersion({ js: nc.jetstream(), bucket: f.checkBucket, schema, codecFor, tenant: f.tenant, ring: f.ring, version });
        if (use.using > 0 || use.unreadable > 0) {
          const what = [
            use.using > 0 ? `${use.using} record(s) in bucket ${f.checkBucket} still use ${f.tenant}/${f.ring} v${version}` : undefined,
            use.unreadable > 0 ? `${use.unreadable} record(s) could not be read to tell` : undefined,
          ].filter(Boolean).join(', and ');
          throw new Error(
            `refusing to destroy: ${what} (e.g. ${use.examples.join(', ')}); run \`fle records rewrap --bucket ${f.checkBucket} --tenant ${f.tenant} --ring ${f.ring}\` first`,
          );
        }
        process.stderr.write(`checked ${use.seen} record(s) in bucket ${f.checkBucket}: none uses ${f.tenant}/${f.ring} v${version}\n`);
      } finally {
        await nc.close();
      }
    });
}
