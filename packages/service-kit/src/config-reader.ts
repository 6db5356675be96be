// Small typed readers for service config files (YAML parsed by the service).
// Errors name the key path, never a value (a config may hold secrets' paths).
import { isAbsolute, resolve } from 'node:path';

export class ConfigError extends Error {
  readonly code = 'CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Obj = Record<string, unknown>;

export class ConfigReader {
  constructor(
    private readonly value: Obj,
    /** Key path for messages, e.g. `routes[0]`. */
    readonly at: string = '',
    /** Relative file paths resolve against this folder (the config file's). */
    readonly baseDir: string = process.cwd(),
  ) {}

  static root(value: unknown, baseDir?: string): ConfigReader {
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError('config must be a mapping');
    return new ConfigReader(value as Obj, '', baseDir);
  }

  #name(k: string): string {
    return this.at ? `${this.at}.${k}` : k;
  }

  has(k: string): boolean {
    return this.value[k] !== undefined && this.value[k] !== null;
  }

  string(k: string, fallback?: string): string {
    const v = this.value[k];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`${this.#name(k)} is required`);
    }
    if (typeof v !== 'string' || v.length === 0) throw new ConfigError(`${this.#name(k)} must be a non-empty string`);
    return v;
  }

  optionalString(k: string): string | undefined {
    return this.has(k) ? this.string(k) : undefined;
  }

  number(k: string, fallback?: number, min = 0): number {
    const v = this.value[k];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`${this.#name(k)} is required`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new ConfigError(`${this.#name(k)} must be a number >= ${min}`);
    return v;
  }

  boolean(k: string, fallback: boolean): boolean {
    const v = this.value[k];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw new ConfigError(`${this.#name(k)} must be true or false`);
    return v;
  }

  oneOf<T extends string>(k: string, options: readonly T[], fallback?: T): T {
    const v = this.string(k, fallback);
    if (!(options as readonly string[]).includes(v)) throw new ConfigError(`${this.#name(k)} must be one of ${options.join(', ')}`);
    return v as T;
  }

  /** A file path; relative paths resolve against the config's folder. */
  path(k: string): string {
    const p = this.string(k);
    return isAbsolute(p) ? p : resolve(this.baseDir, p);
  }

  optionalPath(k: string): string | undefined {
    return this.has(k) ? this.path(k) : undefined;
  }

  strings(k: string, fallback: string[] = []): string[] {
    const v = this.value[k];
    if (v === undefined || v === null) return fallback;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || s.length === 0)) throw new ConfigError(`${this.#name(k)} must be a list of strings`);
    return v as string[];
  }

  child(k: string): ConfigReader {
    const v = this.value[k];
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${this.#name(k)} must be a mapping`);
    return new ConfigReader(v as Obj, this.#name(k), this.baseDir);
  }

  optionalChild(k: string): ConfigReader | undefined {
    return this.has(k) ? this.child(k) : undefined;
  }

  list(k: string): ConfigReader[] {
    const v = this.value[k];
    if (!Array.isArray(v)) throw new ConfigError(`${this.#name(k)} must be a list`);
    return v.map((item, i) => {
      if (!item || typeof item !== 'object' || Array.isArray(item)) throw new ConfigError(`${this.#name(k)}[${i}] must be a mapping`);
      return new ConfigReader(item as Obj, `${this.#name(k)}[${i}]`, this.baseDir);
    });
  }

  /** `{ca, cert, key}` file paths under key `k`. */
  tls(k: string): { ca: string; cert: string; key: string } {
    const t = this.child(k);
    return { ca: t.path('ca'), cert: t.path('cert'), key: t.path('key') };
  }
}

/** `host:port` → parts; port 0 means "pick a free one". */
export function parseHostPort(s: string, what: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(s);
  if (!m || Number(m[2]) > 65535) throw new ConfigError(`${what} must be host:port`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** The config file path from `--config <file>` or env `FLE_CONFIG` (HELPERS.md conventions). */
export function configPathFromArgs(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): string {
  const i = argv.indexOf('--config');
  const p = i >= 0 ? argv[i + 1] : env.FLE_CONFIG;
  if (!p) throw new ConfigError('no config: pass --config <file> or set FLE_CONFIG');
  return p;
}
