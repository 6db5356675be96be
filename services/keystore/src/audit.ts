// Audit log: one JSON line per request that reached the keystore's handlers:
// who (identity), what (action, tenant, ring, version), the policy decision
// and the outcome, plus the generation of the ring record it read or wrote
// (record-auth.ts: the audit log is the anchor that a restored old record
// cannot go behind). The entry type has no field that could hold key material.
//
// Lines are appended synchronously before the response is sent, so a client
// that got an answer can find its line, and a request whose line cannot be
// written is refused (fail closed: no unaudited key release).
//
// Tamper evidence (issue 18 item 5). Every line carries
//   seq   its number in the chain (1, 2, …; after a prefix of older unchained lines, their count + 1)
//   prev  SHA-256 (hex) of the previous line's bytes; 64 zeros for the first
//   mac   HMAC-SHA256 (hex) of the line's text before `,"mac"`, under HKDF(master, "audit")
// Removing, inserting, editing or reordering lines breaks `prev`/`seq`, which
// anyone can check (`fle keystore audit verify <file>`); rewriting the chain
// from the edit on needs the master key for the `mac`s, which the keystore
// checks at start (and `verify --config` does). A chain cannot show on its own
// that its tail was cut off: ship lines off the host as they are written.
//
// Checkpoints: so that a start does not re-read a log of millions of lines,
// the keystore writes `<log>.checkpoint` (every CHECKPOINT_EVERY lines and when
// it closes): the seq, byte offset and hash of a line, and the generations
// anchored so far, under the same HMAC key. A start checks the checkpoint's
// mac, that the line before its offset still hashes to its head, and the
// chain after it; `fle keystore audit verify` still reads the whole file.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { SecretKey } from '@fle/field-crypto';
import { AuditChainError, AuditError, KeystoreError } from './errors.js';
import { deriveFromMaster } from './master-key.js';
import { releaseLock, takeLock } from './pid-lock.js';

export interface AuditEntry {
  /** ISO 8601, set by the log. */
  time?: string;
  identity: string | null;
  action: string;
  tenant: string | null;
  ring: string | null;
  version: number | null;
  /** Generation of the ring record the request read or wrote, once it authenticated (record-auth.ts). */
  generation?: number | null;
  allowed: boolean;
  /** Policy reason, or the error that ended the request. */
  reason: string;
  /** gRPC status name of the response (OK, PERMISSION_DENIED, ...). */
  outcome: string;
  /** Device actions: the device the request enrolled, revoked or named (device-model.ts). Absent from other lines. */
  device?: string | null;
  /** Device actions: the enrollment token's id (never its secret). Absent from other lines. */
  enrollment?: string | null;
}

/** A line as written to the file (`device` and `enrollment` only on device actions). */
export interface AuditLine extends Required<Omit<AuditEntry, 'device' | 'enrollment'>>, Pick<AuditEntry, 'device' | 'enrollment'> {
  seq: number;
  prev: string;
  mac: string;
}

export interface AuditSink {
  record(entry: AuditEntry): void;
  close(): void;
}

/** `prev` of the first line of a chain. */
export const AUDIT_GENESIS = '0'.repeat(64);

/** The key that authenticates audit lines: HKDF(master, "audit"). */
export function auditKeyFromMaster(master: SecretKey): SecretKey {
  return new SecretKey(deriveFromMaster(master, 'audit'));
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function macHex(key: SecretKey, text: string): string {
  return createHmac('sha256', key.exposeBytes()).update(text, 'utf8').digest('hex');
}

const MAC_SUFFIX = /,"mac":"([0-9a-f]{64})"\}$/;

/** Where a chain broke: the 1-based line number in the file and what is wrong there. */
export interface AuditBreak {
  line: number;
  problem: string;
}

export interface AuditChainResult {
  /** Lines read (complete lines; a torn last line is a break). */
  lines: number;
  /** Lines at the start of the file written before the chain existed (no seq/prev): not verifiable. */
  legacyLines: number;
  /** seq of the last chained line (0: none). */
  lastSeq: number;
  /** SHA-256 of the last line (what the next line's prev must be); AUDIT_GENESIS for an empty file. */
  head: string;
  /** The first break, if any: nothing after it is trusted. */
  break?: AuditBreak;
  /** Whether `mac`s were checked (a key was given). */
  macsChecked: boolean;
}

/**
 * Checks a chain line by line (streaming: the keystore's log can be large).
 * `onLine` sees each line that verified, for the keystore's generation anchor.
 */
export class AuditChainVerifier {
  readonly #macKey: SecretKey | undefined;
  readonly #onLine: ((line: AuditLine) => void) | undefined;
  #lines = 0;
  #legacy = 0;
  #lastSeq = 0;
  #head = AUDIT_GENESIS;
  #chained = false;
  #break: AuditBreak | undefined;

  constructor(opts: { macKey?: SecretKey; onLine?: (line: AuditLine) => void; from?: { seq: number; head: string } } = {}) {
    this.#macKey = opts.macKey;
    this.#onLine = opts.onLine;
    if (opts.from) {
      // Continues after a checkpointed line (seq counts every line of the file, older unchained ones included).
      this.#lines = opts.from.seq;
      this.#lastSeq = opts.from.seq;
      this.#head = opts.from.head;
      this.#chained = true;
    }
  }

  /** One complete line, without its newline. Returns the break once there is one. */
  push(text: string): AuditBreak | undefined {
    if (this.#break) return this.#break;
    const n = ++this.#lines;
    const fail = (problem: string): AuditBreak => (this.#break = { line: n, problem });
    let parsed: Partial<AuditLine>;
    try {
      parsed = JSON.parse(text) as Partial<AuditLine>;
    } catch {
      return fail('not a JSON line');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fail('not a JSON object');
    if (parsed.prev === undefined && parsed.seq === undefined && parsed.mac === undefined) {
      // Written before the chain existed: accepted only before the first chained line.
      if (this.#chained) return fail('carries no seq/prev after chained lines (inserted, or the chain fields were stripped)');
      this.#legacy++;
      this.#head = sha256Hex(text);
      return undefined;
    }
    if (parsed.prev !== this.#head) {
      return fail(
        n === 1 || !this.#chained
          ? `prev is not ${n === 1 ? 'the genesis value (lines were removed before it)' : `the hash of line ${n - 1}`}`
          : `prev is not the hash of line ${n - 1}: line ${n - 1} was edited, or lines were removed, inserted or reordered here`,
      );
    }
    const expectedSeq = this.#chained ? this.#lastSeq + 1 : this.#legacy + 1;
    if (parsed.seq !== expectedSeq) return fail(`seq is ${JSON.stringify(parsed.seq)}, expected ${expectedSeq}`);
    const m = MAC_SUFFIX.exec(text);
    if (!m) return fail('has no mac as its last field');
    if (this.#macKey) {
      const body = `${text.slice(0, m.index)}}`;
      const want = Buffer.from(macHex(this.#macKey, body), 'hex');
      if (!timingSafeEqual(want, Buffer.from(m[1]!, 'hex'))) return fail('mac does not verify under this master key (edited, or written by someone else)');
    }
    this.#chained = true;
    this.#lastSeq = expectedSeq;
    this.#head = sha256Hex(text);
    this.#onLine?.(parsed as AuditLine);
    return undefined;
  }

  /** End of input; `rest` is whatever followed the last newline (a torn write when not empty). */
  end(rest = ''): AuditChainResult {
    if (rest !== '' && !this.#break) this.#break = { line: this.#lines + 1, problem: 'is incomplete (no newline at the end: a torn write or a cut file)' };
    return {
      lines: this.#lines,
      legacyLines: this.#legacy,
      lastSeq: this.#lastSeq,
      head: this.#head,
      macsChecked: this.#macKey !== undefined,
      ...(this.#break ? { break: this.#break } : {}),
    };
  }
}

/** Checks a whole log held in memory. */
export function verifyAuditText(text: string, opts: { macKey?: SecretKey } = {}): AuditChainResult {
  const v = new AuditChainVerifier(opts);
  const parts = text.split('\n');
  const rest = parts.pop()!;
  for (const line of parts) if (v.push(line)) break;
  return v.end(rest);
}

/**
 * Checks a log file without reading it whole (from byte `start` on, continuing
 * the chain `from` a checkpointed line). A missing file is an empty chain.
 */
export async function verifyAuditFile(
  path: string,
  opts: { macKey?: SecretKey; onLine?: (line: AuditLine) => void; from?: { seq: number; head: string; offset: number } } = {},
): Promise<AuditChainResult> {
  const v = new AuditChainVerifier(opts);
  let rest = '';
  try {
    for await (const chunk of createReadStream(path, { encoding: 'utf8', start: opts.from?.offset ?? 0 })) {
      const parts = (rest + (chunk as string)).split('\n');
      rest = parts.pop()!;
      for (const line of parts) v.push(line);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return v.end();
    throw new AuditError(`cannot read audit log ${path}`, { cause: err });
  }
  return v.end(rest);
}

export const CHECKPOINT_FORMAT = 'fle-audit-checkpoint/v1';
/** Lines between two checkpoints. */
export const CHECKPOINT_EVERY = 10_000;

/** What a checkpoint records: the chain up to a line, and the generations anchored then. */
export interface AuditCheckpoint {
  format: typeof CHECKPOINT_FORMAT;
  /** seq of the last line covered (= its line number). */
  seq: number;
  /** Byte offset just after that line's newline. */
  offset: number;
  /** SHA-256 of that line. */
  head: string;
  /** `tenant/ring` → highest generation anchored. */
  generations: Record<string, number>;
}

/** Where the anchor's generations come from and go to (record-auth.ts GenerationAnchor). */
export interface AnchorState {
  export(): Record<string, number>;
  import(generations: Record<string, number>): void;
}

/**
 * Reads `<log>.checkpoint`; undefined when there is none. A checkpoint whose
 * mac does not verify, or that does not match the log, is an AuditChainError.
 */
export function readCheckpoint(logPath: string, macKey: SecretKey): AuditCheckpoint | undefined {
  const path = `${logPath}.checkpoint`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AuditError(`cannot read ${path}`, { cause: err });
  }
  let cp: AuditCheckpoint;
  try {
    const doc = JSON.parse(text) as { body?: unknown; mac?: unknown };
    if (typeof doc.body !== 'string' || typeof doc.mac !== 'string') throw new Error('shape');
    const want = Buffer.from(macHex(macKey, doc.body), 'hex');
    const got = Buffer.from(doc.mac, 'hex');
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      throw new AuditChainError(`audit checkpoint ${path} does not verify under this master key (edited, or written by someone else)`);
    }
    cp = JSON.parse(doc.body) as AuditCheckpoint;
  } catch (err) {
    if (err instanceof AuditChainError) throw err;
    throw new AuditChainError(`audit checkpoint ${path} is malformed`);
  }
  if (cp.format !== CHECKPOINT_FORMAT || !Number.isSafeInteger(cp.seq) || !Number.isSafeInteger(cp.offset) || typeof cp.head !== 'string') {
    throw new AuditChainError(`audit checkpoint ${path} is malformed`);
  }
  if (cp.offset === 0) {
    if (cp.seq !== 0 || cp.head !== AUDIT_GENESIS) throw new AuditChainError(`audit checkpoint ${path} is malformed`);
    return cp;
  }
  // The line just before the offset must still be the one checkpointed.
  let fd: number | undefined;
  try {
    fd = openSync(logPath, 'r');
    const size = fstatSync(fd).size;
    if (size < cp.offset) throw new AuditChainError(`audit log ${logPath} is shorter than its checkpoint at line ${cp.seq}: it was cut`);
    const window = Math.min(cp.offset, 1 << 20);
    const buf = Buffer.alloc(window);
    readSync(fd, buf, 0, window, cp.offset - window);
    const before = buf.subarray(0, window - 1); // without the line's own newline
    const line = before.subarray(before.lastIndexOf(0x0a) + 1).toString('utf8');
    if (buf[window - 1] !== 0x0a || sha256Hex(line) !== cp.head) {
      throw new AuditChainError(`audit log ${logPath} does not match its checkpoint at line ${cp.seq}: lines up to it were edited or removed`);
    }
  } catch (err) {
    if (err instanceof KeystoreError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new AuditChainError(`audit log ${logPath} is gone but its checkpoint is not`);
    throw new AuditError(`cannot read audit log ${logPath}`, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return cp;
}

/** Replaces `<log>.checkpoint` atomically (temp file, fsync, rename). */
function writeCheckpoint(logPath: string, cp: AuditCheckpoint, macKey: SecretKey): void {
  const body = JSON.stringify(cp);
  const path = `${logPath}.checkpoint`;
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify({ body, mac: macHex(macKey, body) })}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** One line of text for the chain: fields in a fixed order, then prev, then the mac over all of that. */
function lineText(entry: AuditEntry, seq: number, time: string, prev: string, macKey: SecretKey): string {
  const body = JSON.stringify({
    seq,
    time,
    identity: entry.identity,
    action: entry.action,
    tenant: entry.tenant,
    ring: entry.ring,
    version: entry.version,
    generation: entry.generation ?? null,
    allowed: entry.allowed,
    reason: entry.reason,
    outcome: entry.outcome,
    // Only when set, so every other line reads as it always did.
    ...(typeof entry.device === 'string' ? { device: entry.device } : {}),
    ...(typeof entry.enrollment === 'string' ? { enrollment: entry.enrollment } : {}),
    prev,
  });
  return `${body.slice(0, -1)},"mac":"${macHex(macKey, body)}"}`;
}

export interface FileAuditLogOptions {
  /** Authenticates each line (auditKeyFromMaster). */
  macKey: SecretKey;
  /** Sees every verified line of the existing file read at open (after the checkpoint, if there is one). */
  onLine?: (line: AuditLine) => void;
  /**
   * The keystore's generation anchor: loaded from the checkpoint at open and
   * saved into each checkpoint. Without it no checkpoint is read or written.
   */
  anchor?: AnchorState;
  now?: () => Date;
}

export class FileAuditLog implements AuditSink {
  readonly path: string;
  readonly #macKey: SecretKey;
  readonly #now: () => Date;
  readonly #lockPath: string;
  readonly #anchor: AnchorState | undefined;
  #fd: number | undefined;
  #seq: number;
  #head: string;
  #offset: number;
  #sinceCheckpoint = 0;

  private constructor(path: string, fd: number, chain: AuditChainResult, opts: FileAuditLogOptions, lockPath: string, offset: number) {
    this.path = path;
    this.#fd = fd;
    this.#macKey = opts.macKey;
    this.#now = opts.now ?? (() => new Date());
    this.#lockPath = lockPath;
    this.#anchor = opts.anchor;
    this.#seq = chain.lastSeq === 0 ? chain.legacyLines : chain.lastSeq;
    this.#head = chain.head;
    this.#offset = offset;
  }

  /**
   * Opens the log for appending, continuing its chain. One writer at a time
   * (a lock file beside it). The existing lines are verified first, macs
   * included: a broken chain is refused (AuditChainError), since the log is
   * the anchor of the key records' generations and can no longer be trusted.
   */
  static async open(path: string, opts: FileAuditLogOptions): Promise<FileAuditLog> {
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new AuditError(`cannot open audit log ${path}`, { cause: err });
    }
    const lockPath = `${path}.lock`;
    try {
      takeLock(lockPath, `audit log ${path}`);
    } catch (err) {
      throw new AuditError((err as Error).message, { cause: err });
    }
    try {
      const cp = opts.anchor ? readCheckpoint(path, opts.macKey) : undefined;
      if (cp) opts.anchor!.import(cp.generations);
      const chain = await verifyAuditFile(path, {
        macKey: opts.macKey,
        ...(opts.onLine ? { onLine: opts.onLine } : {}),
        ...(cp ? { from: { seq: cp.seq, head: cp.head, offset: cp.offset } } : {}),
      });
      if (chain.break) {
        throw new AuditChainError(
          `audit log ${path} is broken at line ${chain.break.line} (${chain.break.problem}). ` +
            `Check it with \`fle keystore audit verify ${path}\`, keep it as evidence, and move it away to start a new chain`,
        );
      }
      let fd: number;
      try {
        fd = openSync(path, 'a', 0o600);
      } catch (err) {
        throw new AuditError(`cannot open audit log ${path}`, { cause: err });
      }
      return new FileAuditLog(path, fd, chain, opts, lockPath, fstatSync(fd).size);
    } catch (err) {
      releaseLock(lockPath);
      if (err instanceof KeystoreError) throw err;
      throw new AuditError(`cannot open audit log ${path}`, { cause: err });
    }
  }

  record(entry: AuditEntry): void {
    if (this.#fd === undefined) throw new AuditError('audit log is closed');
    const seq = this.#seq + 1;
    const text = lineText(entry, seq, this.#now().toISOString(), this.#head, this.#macKey);
    try {
      writeSync(this.#fd, `${text}\n`);
    } catch (err) {
      // Nothing advanced: the next line chains onto the last one written.
      throw new AuditError(`cannot write audit log ${this.path}`, { cause: err });
    }
    this.#seq = seq;
    this.#head = sha256Hex(text);
    this.#offset += Buffer.byteLength(text, 'utf8') + 1;
    if (++this.#sinceCheckpoint >= CHECKPOINT_EVERY) this.checkpoint();
  }

  /**
   * Writes the checkpoint now (also every CHECKPOINT_EVERY lines and at close).
   * A failure only costs the next start a longer read: it is not an audit failure.
   */
  checkpoint(): boolean {
    if (this.#fd === undefined || this.#anchor === undefined) return false;
    this.#sinceCheckpoint = 0;
    try {
      fsyncSync(this.#fd); // the lines it covers are on disk before it is
      writeCheckpoint(this.path, { format: CHECKPOINT_FORMAT, seq: this.#seq, offset: this.#offset, head: this.#head, generations: this.#anchor.export() }, this.#macKey);
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.#fd === undefined) return;
    this.checkpoint();
    closeSync(this.#fd);
    this.#fd = undefined;
    releaseLock(this.#lockPath);
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
