// The gateway process: `tsx services/gateway/src/main.ts --config gateway.yaml` (or env FLE_CONFIG).
//
// A config or schema it cannot serve (a file that is not a descriptor set, a
// route the schema lacks, a bad sensitive mark) stops it before any port
// opens, with one line on stderr naming the file and the problem, exit 1.
import { SchemaError } from '@fle/field-crypto';
import { SchemaLoadError } from '@fle/schema';
import { ConfigError, configPathFromArgs, createLogger, writePortsFile } from '@fle/service-kit';
import { loadGatewayConfig } from './config.js';
import { startGateway } from './gateway.js';

const log = createLogger({ name: 'gateway' });
let configFile: string | undefined;

async function main(): Promise<void> {
  configFile = configPathFromArgs();
  const config = await loadGatewayConfig(configFile);
  log.level = process.env.FLE_LOG_LEVEL ?? config.log.level;
  const gw = await startGateway(config, { logger: log });
  if (config.portsFile) await writePortsFile(config.portsFile, { grpc: gw.grpcPort, metrics: gw.metricsPort ?? 0, ...(gw.edgePort !== undefined ? { edge: gw.edgePort } : {}), pid: process.pid });
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

/** The one line for a load-time failure the operator must fix; undefined for anything else. */
function loadFailure(err: unknown): string | undefined {
  const where = configFile ? `${configFile}: ` : '';
  if (err instanceof SchemaLoadError) return `${where}${err.message}`; // starts with "schema: "
  if (err instanceof SchemaError) return `${where}schema: ${err.message}`;
  if (err instanceof ConfigError) return `${where}${err.message}`;
  if ((err as { name?: string })?.name === 'YAMLParseError') return `${where}not valid YAML: ${(err as Error).message}`;
  return undefined;
}

main().catch((err: unknown) => {
  const line = loadFailure(err);
  if (line !== undefined) process.stderr.write(`gateway: ${line.replace(/\s+/g, ' ').trim()}\n`);
  else log.fatal({ err }, 'gateway failed to start');
  process.exit(1);
});
