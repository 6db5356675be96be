// The bare baseline's processes for the end-to-end benchmark (issue 23 item 1):
// bench/bare/processor.ts and one bench/bare/gateway.ts per transport, real
// processes on the same nats-server as fle, under NATS users of their own
// (certificates `bare-gateway`, `bare-processor` from the same CA), so the
// hops, the mTLS and the server are the same and only fle's code is missing.
import { fileURLToPath } from 'node:url';
import { FLE_NATS_PERMISSIONS, kvBucket, natsInbox, streamConsumption, streamManagement, type NatsPermissions } from '@fle/nats-setup';
import type { DevPki } from '@fle/pki';
import { startServiceProcess, type ServiceProcess } from '@fle/service-kit/testing';
import { BARE, type BareConfig } from '../bare/common.js';
import { BareClient } from '../bare/client.js';

export const BARE_IDENTITIES = ['bare-gateway', 'bare-processor'] as const;
// The payments example's .proto root (fle's options resolve from its fle-proto link: bench/bare/common.ts).
const PROTO_DIR = fileURLToPath(new URL('../../examples/payments/proto/', import.meta.url));
const JS_BASE = ['$JS.API.INFO', '$JS.API.STREAM.NAMES'];

/** fle's NATS users plus the bare pipeline's two (what each may publish and subscribe, nothing more). */
export function natsUsersWithBare(): Record<string, NatsPermissions> {
  return {
    ...FLE_NATS_PERMISSIONS,
    'bare-gateway': {
      publish: [`${BARE.rpcPrefix}.>`, `${BARE.jsPrefix}.>`, ...JS_BASE, `$JS.API.STREAM.INFO.${BARE.stream}`],
      subscribe: [natsInbox('bare-gateway')],
    },
    'bare-processor': {
      publish: [natsInbox('bare-gateway'), ...JS_BASE, ...streamManagement(BARE.stream), ...streamConsumption(BARE.stream), ...kvBucket(BARE.bucket)],
      // Replies to the bare gateway's inbox by name, as fle's processor does (no allow_responses).
      subscribe: [`${BARE.rpcPrefix}.>`, natsInbox('bare-processor')],
    },
  };
}

export interface BareGateway {
  readonly process: ServiceProcess;
  readonly client: BareClient;
}

export interface BareStack {
  readonly processor: ServiceProcess;
  readonly gateways: ReadonlyMap<'nats' | 'jetstream', BareGateway>;
  stop(): Promise<void>;
}

export async function startBareStack(opts: { pki: DevPki; natsUrls: readonly string[]; transports: readonly ('nats' | 'jetstream')[]; concurrency: number }): Promise<BareStack> {
  const stops: Array<() => Promise<void> | void> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await Promise.resolve().then(s).catch(() => undefined);
    stops.length = 0;
  };
  const base = (identity: string): Omit<BareConfig, 'portsFile'> => ({ protoDir: PROTO_DIR, natsUrls: opts.natsUrls, tls: opts.pki.files(identity) });
  try {
    const processor = await startServiceProcess({
      name: 'bare-processor',
      mainPath: fileURLToPath(new URL('../bare/processor.ts', import.meta.url)),
      config: { ...base('bare-processor'), concurrency: opts.concurrency },
    });
    stops.push(() => processor.stop());
    const gateways = new Map<'nats' | 'jetstream', BareGateway>();
    for (const transport of opts.transports) {
      const gw = await startServiceProcess({
        name: `bare-gateway-${transport}`,
        mainPath: fileURLToPath(new URL('../bare/gateway.ts', import.meta.url)),
        config: { ...base('bare-gateway'), transport, timeoutMs: 15_000 },
      });
      stops.push(() => gw.stop());
      const client = new BareClient(`127.0.0.1:${gw.ports.grpc}`, opts.pki.files('client'), PROTO_DIR);
      stops.push(() => client.close());
      await client.waitForReady(10_000);
      gateways.set(transport, { process: gw, client });
    }
    return { processor, gateways, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
