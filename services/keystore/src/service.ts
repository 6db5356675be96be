// Assembles a running keystore from its config: master key, storage, policy,
// audit log, mTLS credentials and the gRPC server.
import { serverCredentials } from '@fle/pki';
import { pino, type Logger } from 'pino';
import { FileAuditLog, auditKeyFromMaster } from './audit.js';
import type { KeystoreConfig } from './config.js';
import { Keystore } from './keystore.js';
import { loadMasterKey, masterKeyId } from './master-key.js';
import { Policy } from './policy.js';
import { startGrpcServer } from './server.js';
import { openStorage } from './storage/open.js';

export interface RunningKeystore {
  port: number;
  keystore: Keystore;
  /** Re-reads the policy file; a broken file keeps the old policy and throws. */
  reloadPolicy(): void;
  close(): Promise<void>;
}

export function createKeystoreLogger(level = 'info'): Logger {
  // Nothing secret is ever passed to the logger; redaction is a second line of defence.
  return pino({
    name: 'keystore',
    level: process.env.FLE_LOG_LEVEL ?? level,
    base: { service: 'keystore', pid: process.pid },
    redact: { paths: ['key', '*.key', 'masterKey', '*.masterKey', 'symmetricKey', '*.symmetricKey'], censor: '[redacted]' },
  });
}

export async function runKeystore(config: KeystoreConfig, log: Logger = createKeystoreLogger(config.logLevel)): Promise<RunningKeystore> {
  const masterKey = loadMasterKey({ file: config.masterKeyFile });
  let policy = Policy.fromFile(config.policyFile);
  const storage = await openStorage(config.storage);
  let audit: FileAuditLog | undefined;
  try {
    await storage.init(masterKeyId(masterKey));
    const keystore = new Keystore({ storage, masterKey });
    audit = await FileAuditLog.open(config.auditLog, { macKey: auditKeyFromMaster(masterKey) });
    masterKey.destroy(); // the Keystore and the audit log keep only keys derived from it
    const started = await startGrpcServer({
      address: config.listen,
      credentials: serverCredentials(config.tls),
      keystore,
      policy: () => policy,
      audit,
      onError: (err, action) => log.error({ err, action }, 'keystore request failed'),
    });
    return {
      port: started.port,
      keystore,
      reloadPolicy: () => {
        policy = Policy.fromFile(config.policyFile);
      },
      close: async () => {
        await started.close();
        audit!.close();
        await storage.close();
      },
    };
  } catch (err) {
    audit?.close();
    await storage.close().catch(() => undefined);
    throw err;
  }
}
