// Raises the replica count of the JetStream streams the processors create
// (they create them with the server default, R1) so that requests, dead
// letters, replay nonces and stored records survive the loss of a NATS node.
// Other stream settings are kept exactly as the processor made them: this only
// changes `num_replicas` (nats-server moves the data; consumers follow).
// The keystore's bucket is created R3 by the keystore itself (storage.replicas).
//
//   node --conditions=@fle/source --import tsx deploy/scripts/jetstream-replicas.ts --config /etc/fle/processor.yaml [--replicas 3] [--timeout-ms 600000]
//
// It connects as the processor identity (the only one allowed to update these
// streams), waits until every stream exists, and exits 0 once all have at
// least the requested replicas. Run once after the first processor is up
// (compose service `jetstream-replicas`, Kubernetes Job `jetstream-replicas`).
import { pathToFileURL } from 'node:url';
import { connect, type JetStreamManager } from 'nats';
import { natsInboxPrefix } from '@fle/nats-setup';
import { natsTlsOptions } from '@fle/pki';
import { loadProcessorConfig } from '@fle/processor';
import { inConfigFile } from '@fle/service-kit';

/** Streams made by the processor: requests, dead letters, and the KV buckets for nonces and stored authorizations. */
export const PROCESSOR_STREAMS = ['FLE_REQUESTS', 'FLE_DLQ', 'KV_fle_nonces', 'KV_fle_authorizations'] as const;

export interface ScaleResult {
  /** Stream → replicas after this pass; `undefined` when the stream does not exist yet. */
  replicas: Record<string, number | undefined>;
  done: boolean;
}

/** One pass: every existing stream below `replicas` is updated to it. */
export async function scaleStreams(jsm: JetStreamManager, streams: readonly string[], replicas: number): Promise<ScaleResult> {
  const out: Record<string, number | undefined> = {};
  for (const name of streams) {
    let info;
    try {
      info = await jsm.streams.info(name);
    } catch {
      out[name] = undefined;
      continue;
    }
    if (info.config.num_replicas < replicas) {
      info = await jsm.streams.update(name, { ...info.config, num_replicas: replicas });
    }
    out[name] = info.config.num_replicas;
  }
  return { replicas: out, done: streams.every((s) => (out[s] ?? 0) >= replicas) };
}

/** Repeats {@link scaleStreams} until done or `timeoutMs` has passed (bounded). */
export async function scaleStreamsWhenReady(jsm: JetStreamManager, streams: readonly string[], replicas: number, timeoutMs: number, pollMs = 2000): Promise<ScaleResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await scaleStreams(jsm, streams, replicas).catch(() => ({ replicas: {}, done: false }) as ScaleResult);
    if (result.done || Date.now() + pollMs > deadline) return result;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

function flag(args: string[], name: string, fallback?: string): string {
  const i = args.indexOf(name);
  const v = i >= 0 ? args[i + 1] : fallback;
  if (v === undefined) throw new Error(`${name} is required`);
  return v;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const configPath = flag(args, '--config', process.env.FLE_CONFIG);
  const config = await loadProcessorConfig(configPath).catch((err: unknown) => Promise.reject(inConfigFile(configPath, err)));
  const replicas = Number(flag(args, '--replicas', '3'));
  const timeoutMs = Number(flag(args, '--timeout-ms', '600000'));
  const nc = await connect({
    servers: [...config.nats.servers],
    name: 'fle-jetstream-replicas',
    inboxPrefix: natsInboxPrefix('processor'), // it runs as the processor identity
    ...(config.nats.tls ? { tls: natsTlsOptions(config.nats.tls) } : {}),
  });
  try {
    const result = await scaleStreamsWhenReady(await nc.jetstreamManager(), PROCESSOR_STREAMS, replicas, timeoutMs);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exitCode = result.done ? 0 : 1;
  } finally {
    await nc.close();
  }
}
