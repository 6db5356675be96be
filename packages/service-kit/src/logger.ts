// Structured logs (pino) that never carry message bodies, plaintext or keys.
// What may be logged: codes, tenants, routes/methods, sizes, durations, ids.
// Redaction (scrubForLog) is a second line of defence: the services never
// pass bodies in. Fields go in the first argument (pino's merging object); the
// message is a constant string, never a format string with objects.
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { classifyError } from '@fle/protocol';

export type { Logger } from 'pino';

/** Keys whose values never reach a log line, at any depth (compared case-insensitively). */
const SECRET_KEYS: ReadonlySet<string> = new Set(
  [
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
  ].map((k) => k.toLowerCase()),
);

export const REDACTED = '[redacted]';
/** Deeper than this a value is replaced whole: no log line of ours nests so deep, so a deep value is not ours to print. */
const MAX_DEPTH = 8;

/**
 * A log line's fields as they may be printed: every value under a secret key
 * (SECRET_KEYS, at any depth) and every byte array (bodies are bytes) replaced
 * by a placeholder, anything nested deeper than MAX_DEPTH too. Errors are left
 * to the `err` serializer (errorForLog). The input is never mutated: objects
 * on the way to a change are copied, and a line with nothing to hide (the
 * usual case) is returned as it is, without allocating.
 *
 * Why not pino's `redact`: its wildcard paths (`*.key`, `*.*.key`) cost
 * 45-54 µs per line (issue 23.3; `npm run bench -- logger`) and stop at the
 * depth they name; this walk costs well under a µs for a request line.
 */
export function scrubForLog(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`;
  if (value instanceof Error) return value;
  if (depth >= MAX_DEPTH) return REDACTED;
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    // JSON.stringify prints what toJSON returns (a Date's string, a custom object's own form).
    const shown: unknown = toJSON.call(value);
    if (typeof shown !== 'object' || shown === null || shown === value) return value;
    const clean = scrubForLog(shown, depth);
    return clean === shown ? value : clean;
  }
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const clean = scrubForLog(item, depth + 1);
      if (clean !== item) (out ??= value.slice())[i] = clean;
    }
    return out ?? value;
  }
  const obj = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const key in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) continue;
    const item = obj[key];
    const clean = SECRET_KEYS.has(key.toLowerCase()) ? REDACTED : scrubForLog(item, depth + 1);
    if (clean !== item) (out ??= { ...obj })[key] = clean;
  }
  return out ?? value;
}

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
    // Every line's fields pass scrubForLog before pino prints them (pino's
    // own `redact` is not used: see scrubForLog).
    formatters: { log: (fields) => scrubForLog(fields) as Record<string, unknown> },
    serializers: { err: (e: unknown) => errorForLog(e), error: (e: unknown) => errorForLog(e) },
    base: { service: opts.name, pid: process.pid },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
