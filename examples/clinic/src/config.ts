// The clinic processes' small config file (JSON or YAML): where NATS and the
// keystore are, this process's certificate, the schema image.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';

export interface ClinicConfig {
  /** Buf image of the clinic's schema; default: built schema.binpb, else proto/. */
  readonly schema?: string;
  readonly nats: { readonly servers: readonly string[] };
  /** This process's identity (NATS user and keystore policy): its certificate files. */
  readonly identity: string;
  readonly tls: { readonly ca: string; readonly cert: string; readonly key: string };
  readonly keystore: { readonly address: string };
  /** Written once the process is ready (tests wait for it). */
  readonly portsFile?: string;
}

/** `--config <file>`; relative paths resolve against the file's folder. */
export function readClinicConfig(argv = process.argv.slice(2)): ClinicConfig {
  const i = argv.indexOf('--config');
  const file = i >= 0 ? argv[i + 1] : undefined;
  if (!file) throw new Error('usage: --config <file>');
  const raw = parse(readFileSync(file, 'utf8')) as ClinicConfig;
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(dirname(file), p));
  return {
    ...raw,
    schema: raw.schema === undefined ? undefined : at(raw.schema),
    tls: { ca: at(raw.tls.ca), cert: at(raw.tls.cert), key: at(raw.tls.key) },
    portsFile: raw.portsFile === undefined ? undefined : at(raw.portsFile),
  };
}
