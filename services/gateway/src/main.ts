// The gateway process: `tsx services/gateway/src/main.ts --config gateway.yaml` (or env FLE_CONFIG).
//
// A config or schema it cannot serve (a misspelt key, a file that is not a
// descriptor set, a route the schema lacks, a bad sensitive mark) stops it
// before any port opens, with one line on stderr naming the config file and
// the problem, exit 1.
import { SchemaError } from '@fle/field-crypto';
import { SchemaLoadError } from '@fle/schema';
import { ConfigError, configPathFromArgs, createLogger, inConfigFile, writePortsFile } from '@fle/service-kit';
import { loadGatewayConfig } from './config.js';
import { startGateway } from './gateway.js';

const log = createLogger({ name: 'gateway' });
let configFile: string | undefined;

async function main(): Promise<void> {
  const path = configPathFromArgs();
  configFile = path;
  // Before any port is opened: a config error names the file (inConfigFile) and the key (config-schema.ts);
  // startGateway then loads the schema and checks the routes against it, still before listening.
  const config = await loadGatewayConfig(path).catch((err: unknown) => Promise.reject(inConfigFile(path, err)));
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

/** The one line for a load-time failure the operator must fix (`config <file>: …`); undefined for anything else. */
function loadFailure(err: unknown): string | undefined {
  const where = configFile ? `config ${configFile}: ` : '';
  let line: string | undefined;
  if (err instanceof SchemaLoadError) line = `${where}${err.message}`; // starts with "schema: "
  else if (err instanceof SchemaError) line = `${where}schema: ${err.message}`;
  else if (err instanceof ConfigError) line = err.message.startsWith('config ') ? err.message : `${where}${err.message}`;
  return line?.replace(/\s+/g, ' ').trim();
}

main().catch((err: unknown) => {
  // The operator's to fix: one line naming the file and the problem, no stack.
  const line = loadFailure(err);
  if (line !== undefined) process.stderr.write(`${line}\n`);
  else log.fatal({ err }, 'gateway failed to start');
  process.exit(1);
});
