// The gateway process: `tsx services/gateway/src/main.ts --config gateway.yaml` (or env FLE_CONFIG).
import { ConfigError, configPathFromArgs, createLogger, inConfigFile, writePortsFile } from '@fle/service-kit';
import { loadGatewayConfig } from './config.js';
import { startGateway } from './gateway.js';

const log = createLogger({ name: 'gateway' });

async function main(): Promise<void> {
  const path = configPathFromArgs();
  // Before any port is opened: a config error names the file (inConfigFile) and the key (config-schema.ts).
  const config = await loadGatewayConfig(path).catch((err: unknown) => Promise.reject(inConfigFile(path, err)));
  log.level = process.env.FLE_LOG_LEVEL ?? config.log.level;
  const gw = await startGateway(config, { logger: log });
  if (config.portsFile) await writePortsFile(config.portsFile, { grpc: gw.grpcPort, metrics: gw.metricsPort ?? 0, pid: process.pid });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    gw.stop().then(
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
  else log.fatal({ err }, 'gateway failed to start');
  process.exit(1);
});
