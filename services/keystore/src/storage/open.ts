import type { StorageConfig } from '../config.js';
import { FileKeyStorage } from './file.js';
import { NatsKvKeyStorage } from './nats-kv.js';
import type { KeyStorage } from './types.js';

/**
 * Opens the backend a config names. `readOnly` (backups) opens a file store
 * without its lock, so a backup can be taken while the keystore runs.
 */
export async function openStorage(config: StorageConfig, opts: { readOnly?: boolean } = {}): Promise<KeyStorage> {
  if (config.kind === 'file') return opts.readOnly ? FileKeyStorage.openReadOnly(config.path) : FileKeyStorage.open(config.path);
  return NatsKvKeyStorage.open({
    servers: config.url,
    bucket: config.bucket,
    replicas: config.replicas,
    ...(config.tls ? { tls: config.tls } : {}),
  });
}
