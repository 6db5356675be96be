// The typed error payload a processor replies with over NATS, so the gateway
// maps it to the same gRPC status (code + safe message; never plaintext).
import { RemoteError } from './errors.js';
import { classifyError } from './status.js';

/** NATS header set on an error reply; its value is the stable error code. */
export const ERROR_HEADER = 'Fle-Error-Code';

export interface ErrorPayload {
  readonly code: string;
  readonly message: string;
}

const MAX_MESSAGE = 512;

export function errorPayloadOf(err: unknown): ErrorPayload {
  const c = classifyError(err);
  return { code: c.code, message: c.message.slice(0, MAX_MESSAGE) };
}

export function encodeErrorPayload(p: ErrorPayload): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ code: p.code, message: p.message }));
}

/** Parse an error reply body; a malformed one becomes an INTERNAL RemoteError. */
export function decodeErrorPayload(bytes: Uint8Array): RemoteError {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    if (v && typeof v === 'object' && typeof (v as ErrorPayload).code === 'string' && typeof (v as ErrorPayload).message === 'string') {
      return new RemoteError((v as ErrorPayload).code, (v as ErrorPayload).message.slice(0, MAX_MESSAGE));
    }
  } catch {
    // fall through
  }
  return new RemoteError('INTERNAL', 'malformed error reply');
}
