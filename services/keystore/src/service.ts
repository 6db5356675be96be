// Assembles a running keystore from its config: master key, storage, audit log
// (its chain verified and its generations anchoring the records), the check
// of every record, policy, mTLS credentials, the gRPC server, the rotation
// scheduler and the optional metrics endpoint.
import { serverCredentials } from '@fle/pki';
import type { MetricsServer } from '@fle/service-kit';
import { pino, type Logger } from 'pino';
import type { KeystoreConfig } from './config.js';
import { RecordIntegrityError } from './errors.js';
import type { Keystore } from './keystore.js';
import { openKeystoreState, type KeystoreState } from './keystore-state.js';
import { loadMasterKey } from './master-key.js';
import { KeystoreMetrics } from './metrics.js';
import { Policy } from './policy.js';
import { RotationScheduler } from './rotation-scheduler.js';
import { startGrpcServer } from './server.js';

export interface RunningKeystore {
  port: number;
  keystore: Keystore;
  scheduler: RotationScheduler;
  metrics: KeystoreMetrics;
  /** Port of GET /metrics, when the config names `metrics.listen`. */
  metricsPort: number | undefined;
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
  const metrics = new KeystoreMetrics();
  let state: KeystoreState | undefined;
  let metricsServer: MetricsServer | undefined;
  try {
    state = await openKeystoreState(config, masterKey, {
      onRecordRefused: ({ tenant, ring, error }) => {
        metrics.recordsRefused.inc({ cause: error instanceof RecordIntegrityError ? 'integrity' : 'rollback' });
        log.error({ tenant, ring, code: error.code }, error.message);
      },
    });
    masterKey.destroy(); // the Keystore and the audit log keep only keys derived from it
    const { keystore } = state;
    const audit = state.audit!;
    // Every record, before serving: a store written before records were
    // authenticated stops the start here (UnsealedRecordsError, saying what to run).
    const check = await keystore.checkRecords({ configPath: config.source });
    if (check.refused.length > 0) log.error({ refused: check.refused.length, rings: check.rings }, 'key ring records refused at start; requests for them get DATA_LOSS');
    if (config.metrics) {
      // Loaded only when asked for: service-kit brings the NATS and Redis clients along.
      const { startMetricsServer } = await import('@fle/service-kit');
      metricsServer = await startMetricsServer({ registry: metrics.registry, host: config.metrics.host, port: config.metrics.port });
    }
    const started = await startGrpcServer({
      address: config.listen,
      credentials: serverCredentials(config.tls),
      keystore,
      policy: () => policy,
      audit,
      onError: (err, action) => log.error({ err, action }, 'keystore request failed'),
    });
    const scheduler = new RotationScheduler({
      keystore,
      audit,
      metrics,
      intervalMs: config.rotation.checkIntervalMs,
      onError: (err, ring) => log.error({ err, ...ring }, 'rotation policy step failed'),
    });
    scheduler.start();
    const opened = state;
    const served = metricsServer;
    return {
      port: started.port,
      keystore,
      scheduler,
      metrics,
      metricsPort: served?.port,
      reloadPolicy: () => {
        policy = Policy.fromFile(config.policyFile);
      },
      close: async () => {
        await scheduler.stop();
        await started.close();
        await served?.close();
        await opened.close();
      },
    };
  } catch (err) {
    masterKey.destroy();
    await metricsServer?.close();
    await state?.close();
    throw err;
  }
}
