// The bare baseline of the end-to-end benchmark (issue 23 item 1): the same
// hops as fle (grpc-js client -> grpc-js gateway -> NATS, core request-reply
// or a JetStream work queue -> handler -> reply), mTLS on every hop, written
// directly on grpc-js, nats.js and protobufjs. Nothing here imports an fle
// package: this is what the pipeline costs without fle.
//
// Shared by bench/bare/gateway.ts and bench/bare/processor.ts (each run as its
// own process) and by the benchmark's bare client.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

/** protobufjs ships google/protobuf/*.proto (the fle options import descriptor.proto). */
const PROTOBUFJS_DIR = dirname(createRequire(import.meta.url).resolve('protobufjs/package.json'));

export interface BareTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** What the benchmark writes into a bare process's `--config` file (JSON). */
export interface BareConfig {
  readonly portsFile: string;
  /** Directory holding acme/payments/v1/payments.proto and its imports. */
  readonly protoDir: string;
  readonly natsUrls: readonly string[];
  /** This process's certificate (gRPC server and NATS client). */
  readonly tls: BareTls;
  /** gateway: how it reaches the processor. */
  readonly transport?: 'nats' | 'jetstream';
  /** gateway: reply timeout. */
  readonly timeoutMs?: number;
  /** processor: requests worked on at once (fle's processor default: 32). */
  readonly concurrency?: number;
}

export const BARE = {
  /** Core request-reply subjects `bare.rpc.<tenant>.authorize`, queue group `bare`. */
  rpcPrefix: 'bare.rpc',
  /** JetStream work queue on `bare.js.>`. */
  jsPrefix: 'bare.js',
  stream: 'BARE_REQUESTS',
  durable: 'bare-processor',
  bucket: 'bare_authorizations',
  /** JetStream requests carry the gateway's reply subject in this header. */
  replyHeader: 'Bare-Reply-To',
  /** Set on a failed request's reply. */
  errorHeader: 'Bare-Error',
  method: '/acme.payments.v1.PaymentService/AuthorizePlain',
  /** NATS inbox prefixes (one subject token, like fle's per-identity inboxes). */
  gatewayInbox: '_INBOX_bare-gateway',
  processorInbox: '_INBOX_bare-processor',
} as const;

export function readConfig(argv: readonly string[]): BareConfig {
  const i = argv.indexOf('--config');
  if (i < 0 || !argv[i + 1]) throw new Error('usage: --config <file.json>');
  return JSON.parse(readFileSync(argv[i + 1]!, 'utf8')) as BareConfig;
}

export function writePorts(path: string, ports: Record<string, number>): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(ports));
  renameSync(`${path}.tmp`, path);
}

export interface BareTypes {
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
  readonly record: protobuf.Type;
}

/** The plaintext twin types from the .proto file (protobufjs reflection, camelCase field names). */
export function loadTypes(protoDir: string): BareTypes {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : join(target.startsWith('google/protobuf/') ? PROTOBUFJS_DIR : protoDir, target));
  root.loadSync('acme/payments/v1/payments.proto', { keepCase: false });
  root.resolveAll();
  return {
    request: root.lookupType('acme.payments.v1.AuthorizePlainRequest'),
    response: root.lookupType('acme.payments.v1.AuthorizePlainResponse'),
    record: root.lookupType('acme.payments.v1.AuthorizationRecordPlain'),
  };
}

export function natsTls(t: BareTls): { caFile: string; certFile: string; keyFile: string } {
  return { caFile: t.ca, certFile: t.cert, keyFile: t.key };
}
