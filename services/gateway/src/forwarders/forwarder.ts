// A forwarder carries a checked, still-sealed request to a processor and
// brings back the processor's (sealed) response bytes or its typed error.
import type { RegisteredMethod, ReplayStamp } from '@fle/service-kit';
import type { RouteConfig } from '../config.js';

export interface ForwardRequest {
  readonly method: RegisteredMethod;
  readonly route: RouteConfig;
  /** Validated NATS token. */
  readonly tenant: string;
  /** The request exactly as the client sent it (ciphertext in every sensitive field). */
  readonly bytes: Uint8Array;
  readonly stamp: ReplayStamp;
  /** SPIFFE ID of the caller, when its certificate carries one. */
  readonly caller: string | undefined;
}

export interface Forwarder {
  forward(req: ForwardRequest): Promise<Uint8Array>;
  close(): Promise<void>;
}
