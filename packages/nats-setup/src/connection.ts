// The options every fle process connects to NATS with (nats.js v2 `connect`),
// so the gateway, the boundary, the keystore, the CLI and a team's own process
// built on @fle/boundary behave alike. Plain data: @fle/nats-setup does not
// depend on nats at run time.
import { natsTlsOptions, type NatsTlsFileOptions, type TlsFiles } from '@fle/pki';
import { natsInboxPrefix } from './permissions.js';

export interface FleConnectionInput {
  readonly servers: readonly string[];
  /** The identity's certificate files (mTLS); none for a plain local server. */
  readonly tls?: TlsFiles;
  /** The NATS user the certificate maps to: replies come to its private inbox prefix (`_INBOX_<identity>`). */
  readonly identity: string;
  /** Connection name shown by the server's monitoring (`connz`). */
  readonly name: string;
}

/** Structurally a subset of nats.js' `ConnectionOptions`. */
export interface FleConnectionOptions {
  servers: string[];
  tls?: NatsTlsFileOptions;
  name: string;
  inboxPrefix: string;
  maxReconnectAttempts: number;
  reconnectTimeWait: number;
  noAsyncTraces: boolean;
}

export function fleConnectionOptions(input: FleConnectionInput): FleConnectionOptions {
  return {
    servers: [...input.servers],
    ...(input.tls ? { tls: natsTlsOptions(input.tls) } : {}),
    name: input.name,
    // Replies and pull deliveries are private to the identity (permissions.ts).
    inboxPrefix: natsInboxPrefix(input.identity),
    // A service keeps trying to reach NATS rather than exiting.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // Without it nats.js captures two stack traces (`new Error()`) per request
    // (every KV operation, JetStream publish and request-reply) to decorate a
    // possible timeout: 10-17 % of the gateway's and the processor's CPU under
    // load (docs/perf/journal.md). fle's errors name the operation themselves.
    noAsyncTraces: true,
  };
}
