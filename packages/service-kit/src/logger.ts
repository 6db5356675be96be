// Structured logs (pino) that never carry message bodies, plaintext or keys.
// What may be logged: codes, tenants, routes/methods, sizes, durations, ids.
// Redaction is a second line of defence: the services never pass bodies in.
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { classifyError } from './status.js';

export type { Logger } from 'pino';

/** Keys that must never reach a log line, at the top level or one/two levels deep. */
const SECRET_KEYS = [
  'body',
  'data',
  'payload',
  'plaintext',
  'message_body',
  'request',
  'response',
  'msg_bytes',
  'bytes',
  'key',
  'keys',
  'secret',
  'nonceBytes',
  'authorization',
  'password',
  'token',
];

export const REDACT_PATHS: string[] = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

export interface LoggerFactoryOptions {
  /** Service name, e.g. `gateway`. */
  readonly name: string;
  /** pino level; default `info` (env `FLE_LOG_LEVEL` overrides). */
  readonly level?: string;
  /** Where lines go; default stdout. */
  readonly destination?: DestinationStream;
}

/**
 * Serialise an error as its type and stable code; untyped errors keep their
 * message and stack (the `cause` stays here, in logs, never in a reply).
 */
export function errorForLog(err: unknown, depth = 0): Record<string, unknown> {
  const c = classifyError(err);
  if (c.code !== 'INTERNAL') {
    const out: Record<string, unknown> = { type: (err as Error)?.name, code: c.code, reason: c.reason, message: c.message };
    // Why a typed error happened (e.g. the unknown key behind an opaque DECRYPTION_FAILED) is for this log only.
    const cause = (err as { cause?: unknown }).cause;
    if (cause !== undefined && depth < 3) out['cause'] = errorForLog(cause, depth + 1);
    return out;
  }
  if (err instanceof Error) {
    return { type: err.name, code: 'INTERNAL', message: err.message, stack: err.stack };
  }
  return { type: typeof err, code: 'INTERNAL' };
}

export function createLogger(opts: LoggerFactoryOptions): Logger {
  const options: LoggerOptions = {
    name: opts.name,
    level: process.env.FLE_LOG_LEVEL ?? opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: (e: unknown) => errorForLog(e), error: (e: unknown) => errorForLog(e) },
    base: { service: opts.name, pid: process.pid },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
