// The processor process: `tsx services/processor/src/main.ts --config processor.yaml` (or env FLE_CONFIG).
// Keys come only from the keystore, through keystore-client's KeystoreKeyProvider
// (mTLS with the processor identity; TTL cache; its metrics in our registry).
import { KeystoreDeviceRegistry, KeystoreKeyProvider, KeystoreSenderPolicy } from '@fle/keystore-client';
import { ConfigError, configPathFromArgs, createLogger, createServiceMetrics, inConfigFile, watchCipherBackend, writePortsFile } from '@fle/service-kit';
import { loadProcessorConfig } from './config.js';
import { startProcessor } from './processor.js';
import { TEST_PROBE_ENV, withTestHooks } from './test-hooks.js';

const log = createLogger({ name: 'processor' });

async function main(): Promise<void> {
  const path = configPathFromArgs();
  const config = withTestHooks(await loadProcessorConfig(path).catch((err: unknown) => Promise.reject(inConfigFile(path, err))));
  log.level = process.env.FLE_LOG_LEVEL ?? config.log.level;
  if (config.testProbe) log.warn(`${TEST_PROBE_ENV} is set: test probe on (a digest of every opened request is written to disk; never in production)`);
  if (!config.keystore) throw inConfigFile(path, new ConfigError('keystore is required: the processor gets keys only from the keystore'));
  const metrics = createServiceMetrics({ service: 'processor' });
  void watchCipherBackend({ log, registry: metrics.registry }); // one warning + fle_cipher_fast_backend_up
  const keys = new KeystoreKeyProvider({
    address: config.keystore.address,
    tls: config.keystore.tls,
    expectedServerIdentity: config.keystore.identity,
    registry: metrics.registry,
    ...(config.keystore.cacheTtlMs === undefined ? {} : { ttlMs: config.keystore.cacheTtlMs }),
    ...(config.keystore.cacheGraceMs === undefined ? {} : { graceMs: config.keystore.cacheGraceMs }),
    ...(config.keystore.cacheRefreshWindowMs === undefined ? {} : { refreshWindowMs: config.keystore.cacheRefreshWindowMs }),
  });
  // Alg 4 senders from the keystore's device registry (docs/devices.md), on the same mTLS link as the keys.
  const registry = config.hpke.deviceRegistry
    ? new KeystoreDeviceRegistry({ address: config.keystore.address, tls: config.keystore.tls, expectedServerIdentity: config.keystore.identity, ...config.hpke.deviceRegistry })
    : undefined;
  const senders = registry ? new KeystoreSenderPolicy(registry, { requireForRegisteredTenants: config.hpke.requireForRegisteredTenants }) : undefined;
  const proc = await startProcessor(config, { logger: log, keys, metrics, ...(senders ? { senders } : {}) });
  if (config.portsFile) await writePortsFile(config.portsFile, { grpc: proc.grpcPort ?? 0, metrics: proc.metricsPort ?? 0, pid: process.pid });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    proc.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  // A config error is the operator's to fix: one line naming the file and the key, no stack.
  if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
  else log.fatal({ err }, 'processor failed to start');
  process.exit(1);
});
