// Audit log: one JSON line per request that reached the keystore's handlers:
// who (identity), what (action, tenant, ring, version), the policy decision
// and the outcome. The entry type has no field that could hold key material.
//
// Lines are appended synchronously before the response is sent, so a client
// that got an answer can find its line, and a request whose line cannot be
// written is refused (fail closed: no unaudited key release).
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { AuditError } from './errors.js';

export interface AuditEntry {
  /** ISO 8601, set by the log. */
  time?: string;
  identity: string | null;
  action: string;
  tenant: string | null;
  ring: string | null;
  version: number | null;
  allowed: boolean;
  /** Policy reason, or the error that ended the request. */
  reason: string;
  /** gRPC status name of the response (OK, PERMISSION_DENIED, ...). */
  outcome: string;
}

export interface AuditSink {
  record(entry: AuditEntry): void;
  close(): void;
}

export class FileAuditLog implements AuditSink {
  readonly path: string;
  #fd: number | undefined;

  constructor(path: string) {
    this.path = path;
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      this.#fd = openSync(path, 'a', 0o600);
    } catch (err) {
      throw new AuditError(`cannot open audit log ${path}`, { cause: err });
    }
  }

  record(entry: AuditEntry): void {
    if (this.#fd === undefined) throw new AuditError('audit log is closed');
    const line: AuditEntry = {
      time: new Date().toISOString(),
      identity: entry.identity,
      action: entry.action,
      tenant: entry.tenant,
      ring: entry.ring,
      version: entry.version,
      allowed: entry.allowed,
      reason: entry.reason,
      outcome: entry.outcome,
    };
    try {
      writeSync(this.#fd, `${JSON.stringify(line)}\n`);
    } catch (err) {
      throw new AuditError(`cannot write audit log ${this.path}`, { cause: err });
    }
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** Keeps entries in memory (unit tests). */
export class MemoryAuditLog implements AuditSink {
  readonly entries: AuditEntry[] = [];
  record(entry: AuditEntry): void {
    this.entries.push({ time: new Date().toISOString(), ...entry });
  }
  close(): void {}
}
