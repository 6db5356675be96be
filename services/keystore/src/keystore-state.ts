// A keystore's state opened from its config: storage bound to the master key,
// the audit log (verified; its lines rebuild the generation anchor of
// record-auth.ts) and the Keystore over both. The running service (service.ts)
// and the offline commands (backup, restore, seal-records) open it the same
// way, so each of them refuses a tampered record, an older copy of one, or a
// broken audit chain alike.
import type { SecretKey } from '@fle/field-crypto';
import { AuditChainError } from './errors.js';
import { FileAuditLog, auditKeyFromMaster, verifyAuditFile, type AuditLine, type AuditSink } from './audit.js';
import type { KeystoreConfig } from './config.js';
import { DEVICE_ACTIONS, DEVICES_RECORD } from './device-model.js';
import { Keystore, type RefusedRecord } from './keystore.js';
import { masterKeyId } from './master-key.js';
import { GenerationAnchor } from './record-auth.js';
import { openStorage } from './storage/open.js';
import type { KeyStorage } from './storage/types.js';

export interface KeystoreState {
  keystore: Keystore;
  storage: KeyStorage;
  /** Undefined when opened read-only (the running keystore may own the log). */
  audit: FileAuditLog | undefined;
  close(): Promise<void>;
}

export interface OpenStateOptions {
  /**
   * Backups while the keystore runs: the file store is read without its lock,
   * and the audit log is only read (its chain checked), not opened for appending.
   */
  readOnly?: boolean;
  /** Told of every refused record, after its audit line is written. */
  onRecordRefused?: (refused: RefusedRecord) => void;
  now?: () => number;
}

/**
 * Feeds audit lines that name a record's generation into the anchor: a ring
 * record's (tenant and ring), or a tenant's device record (a device action,
 * ring null).
 */
export function anchorFromAudit(anchor: GenerationAnchor): (line: AuditLine) => void {
  return (line) => {
    if (line.tenant === null || typeof line.generation !== 'number' || !Number.isSafeInteger(line.generation)) return;
    if (line.ring !== null) anchor.note(line.tenant, line.ring, line.generation);
    else if (DEVICE_ACTIONS.has(line.action)) anchor.note(line.tenant, DEVICES_RECORD, line.generation);
  };
}

/** The audit line of a refused record (not tied to a request: identity null). */
export function recordRefusedLine(r: RefusedRecord): Parameters<AuditSink['record']>[0] {
  if (r.ring === DEVICES_RECORD) {
    return { identity: null, action: 'DeviceRecordRefused', tenant: r.tenant, ring: null, version: null, generation: null, allowed: false, reason: r.error.message, outcome: 'DATA_LOSS' };
  }
  return { identity: null, action: 'RecordRefused', tenant: r.tenant, ring: r.ring, version: null, generation: null, allowed: false, reason: r.error.message, outcome: 'DATA_LOSS' };
}

export async function openKeystoreState(config: KeystoreConfig, master: SecretKey, opts: OpenStateOptions = {}): Promise<KeystoreState> {
  const storage = await openStorage(config.storage, { readOnly: Boolean(opts.readOnly) });
  let audit: FileAuditLog | undefined;
  const anchor = new GenerationAnchor();
  try {
    await storage.init(masterKeyId(master));
    const macKey = auditKeyFromMaster(master);
    if (opts.readOnly) {
      // Read-only: the whole chain (a checkpoint is the writer's shortcut, not needed for one read).
      const chain = await verifyAuditFile(config.auditLog, { macKey, onLine: anchorFromAudit(anchor) });
      if (chain.break) {
        throw new AuditChainError(`audit log ${config.auditLog} is broken at line ${chain.break.line} (${chain.break.problem}): it cannot anchor the records`);
      }
    } else {
      audit = await FileAuditLog.open(config.auditLog, { macKey, onLine: anchorFromAudit(anchor), anchor });
    }
    const log = audit;
    const keystore = new Keystore({
      storage,
      masterKey: master,
      anchor,
      ...(opts.now ? { now: opts.now } : {}),
      onRecordRefused: (r) => {
        try {
          log?.record(recordRefusedLine(r));
        } finally {
          opts.onRecordRefused?.(r);
        }
      },
    });
    return {
      keystore,
      storage,
      audit,
      close: async () => {
        audit?.close();
        await storage.close();
      },
    };
  } catch (err) {
    audit?.close();
    await storage.close().catch(() => undefined);
    throw err;
  }
}
