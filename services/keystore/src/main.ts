// `node --conditions=@fle/source --import tsx services/keystore/src/main.ts --config <file>` (or env
// FLE_CONFIG): runs the keystore until SIGTERM/SIGINT. SIGHUP reloads the policy.
// Once listening it logs one line `{"msg":"keystore listening","port":N,...}`
// on stdout (with `metricsPort` when metrics are served); test helpers wait for it (testing.ts).
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { configPathFrom, loadConfig } from './config.js';
import { createKeystoreLogger, runKeystore } from './service.js';

export async function serveKeystore(configFlag: string | undefined): Promise<void> {
  const config = loadConfig(configPathFrom(configFlag));
  const log = createKeystoreLogger(config.logLevel);
  const ks = await runKeystore(config, log);
  // The readiness line is written whatever the log level: supervisors and tests wait for it.
  const ready = { msg: 'keystore listening', port: ks.port, listen: config.listen, storage: config.storage.kind, ...(ks.metricsPort === undefined ? {} : { metricsPort: ks.metricsPort }) };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  process.on('SIGHUP', () => {
    try {
      ks.reloadPolicy();
      log.info('policy reloaded');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'policy reload failed; keeping the previous policy');
    }
  });
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await ks.close();
  log.info('keystore stopped');
}

function flagValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}

function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    // realpath: node reports the module's real path, argv may name it through a symlink
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  serveKeystore(flagValue(process.argv.slice(2), '--config')).then(
    () => process.exit(0),
    (err: unknown) => {
      // One line saying why; the message never holds key material (errors.ts).
      process.stderr.write(`keystore: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
