// Config files fail closed (issue 17 §7): each service describes its whole
// config in one zod schema of strict objects, and validateConfig refuses the
// file before any default is applied. A misspelt key (`allowedCaller:`) would
// otherwise be ignored and its default (any certificate from the CA) silently
// used. Messages name the key path and, where known, the file, never a value
// (a config names secret files; a value pasted in the wrong key may be one).
//
//   validateConfig(doc, gatewayConfigSchema, '/etc/fle/gateway.yaml');
//   // ConfigError: config /etc/fle/gateway.yaml: unknown key routes[0].allowedCaller (did you mean allowedCallers?)
import { z } from 'zod';
import { ConfigError } from './config-reader.js';

export { z };

type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

/** A non-empty string (every string a service reads must be non-empty). */
export const configString = (): z.ZodString => z.string().min(1);

/** `host:port` as parseHostPort reads it (port 0 = a free one). */
export const hostPortSchema = z.string().refine(
  (s) => {
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(s);
    return m !== null && Number(m[2]) <= 65535;
  },
  { error: 'must be host:port' },
);

/** `{ca, cert, key}`: the mTLS files of one link (relative paths resolve against the config's folder). */
export const tlsFilesSchema = z.strictObject({ ca: configString(), cert: configString(), key: configString() });

/** pino's levels: an unknown one would only fail later, inside the logger. */
export const logLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** `schema:` — the team's schema, loaded at start: a Buf image / FileDescriptorSet, or folders of .proto files (exactly one). */
export const schemaSourceSchema = z
  .strictObject({ image: configString().optional(), protoRoots: z.array(configString()).min(1).optional() })
  .refine((s) => (s.image === undefined) !== (s.protoRoots === undefined), { error: 'must give exactly one of image, protoRoots' });

export interface ValidateConfigOptions {
  /** Builds the error to throw (a service with its own ConfigError class); default service-kit's ConfigError. */
  readonly error?: (message: string) => Error;
  /** At most this many problems in the one-line message; default 5. */
  readonly maxProblems?: number;
}

/**
 * Throws (one line) unless `doc` matches `schema`; returns nothing, so the
 * service's own parser still reads the document and applies the defaults.
 * `file` (when known) leads the message: `config <file>: <problems>`.
 */
export function validateConfig(doc: unknown, schema: z.ZodType, file?: string, options: ValidateConfigOptions = {}): void {
  const problem = configProblem(doc, schema, options.maxProblems);
  if (problem === undefined) return;
  const message = file === undefined ? problem : `config ${file}: ${problem}`;
  throw options.error ? options.error(message) : new ConfigError(message);
}

/** The one-line description of what is wrong with `doc`, or undefined when it matches. */
export function configProblem(doc: unknown, schema: z.ZodType, maxProblems = 5): string | undefined {
  const r = schema.safeParse(doc, { error: phrase });
  if (r.success) return undefined;
  // A misspelt key first: it often explains the "is required" next to it.
  const issues = [...r.error.issues].sort((a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'));
  const lines = issues.flatMap((i) => describe(i, schema, doc));
  const shown = lines.slice(0, maxProblems);
  if (lines.length > shown.length) shown.push(`and ${lines.length - shown.length} more`);
  return shown.join('; ');
}

/**
 * Prefixes a ConfigError (or a YAML syntax error) with its file, so a service
 * main prints one line that names both the key and the file; other errors are
 * returned as they are. Idempotent.
 */
export function inConfigFile(file: string, err: unknown): unknown {
  const prefix = `config ${file}: `;
  if (err instanceof ConfigError) return err.message.startsWith(prefix) ? err : new ConfigError(`${prefix}${err.message}`);
  // The yaml package's message continues with a code frame of the file: keep its first line only.
  if (err instanceof Error && err.name === 'YAMLParseError') return new ConfigError(`${prefix}not valid YAML: ${err.message.split('\n')[0]}`);
  return err;
}

/** `routes[0].allowedCaller` */
export function keyPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? String(p) : `.${String(p)}`;
  return s;
}

function describe(issue: Issue, schema: z.ZodType, doc: unknown): string[] {
  if (issue.code === 'unrecognized_keys') {
    const known = keysAt(schema, issue.path, doc);
    return issue.keys.map((k) => {
      // A sibling first; else the same (or a close) key elsewhere: `routes[0].allowedCallers` → grpc.allowedCallers.
      // (Short names such as `name`, `tls` are in many places: no hint from elsewhere for them.)
      const hint = (known ? didYouMean(k, known) : undefined) ?? (k.length >= 6 ? elsewhere(k, schema) : undefined);
      return `unknown key ${keyPath([...issue.path, k])}${hint ? ` (did you mean ${hint}?)` : ''}`;
    });
  }
  const at = keyPath(issue.path);
  return [`${at === '' ? 'the config' : at} ${issue.message}`];
}

const article: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
};

/** zod's per-parse error map: our phrasing, unless the schema gave its own message. */
function phrase(iss: RawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type': {
      const want = article[iss.expected] ?? iss.expected;
      if (iss.input === undefined) return 'is required';
      // `key:` with nothing after it is YAML null: refuse it rather than read it as "absent".
      if (iss.input === null) return `has no value (must be ${want})`;
      return `must be ${want}`;
    }
    case 'too_small':
      if (iss.origin === 'string') return 'must be a non-empty string';
      if (iss.origin === 'array') return `must list at least ${iss.minimum === 1 ? 'one' : String(iss.minimum)}`;
      return `must be a number ${iss.inclusive ? '>=' : '>'} ${String(iss.minimum)}`;
    case 'too_big':
      if (iss.origin === 'array') return `must list at most ${String(iss.maximum)}`;
      return `must be a number ${iss.inclusive ? '<=' : '<'} ${String(iss.maximum)}`;
    case 'invalid_value':
      return `must be one of ${iss.values.map(String).join(', ')}`;
    case 'invalid_union':
      // A discriminated union whose `kind` is missing or unknown; zod puts the discriminator in the path.
      if ('options' in iss && Array.isArray(iss.options)) return `must be one of ${(iss.options as unknown[]).filter((o) => o !== undefined).map(String).join(', ')}`;
      return 'matches none of the allowed forms';
    case 'invalid_format':
      return 'is not in the expected format';
    default:
      return undefined;
  }
}

// -- did you mean --------------------------------------------------------------

/** The keys the schema allows at `path` (an object there), following the document through unions. */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[], doc: unknown): string[] | undefined {
  let s: z.ZodType | undefined = schema;
  let v: unknown = doc;
  for (const seg of path) {
    s = step(pick(unwrap(s), v), seg);
    v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[seg] : undefined;
    if (!s) return undefined;
  }
  const o = pick(unwrap(s), v);
  return o instanceof z.ZodObject ? Object.keys(o.shape) : undefined;
}

function unwrap(s: z.ZodType): z.ZodType {
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault || s instanceof z.ZodReadonly) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
    else if (s instanceof z.ZodLazy) s = s.unwrap() as z.ZodType;
    else return s;
  }
}

/** For a union, the option whose keys best cover the document's keys there. */
function pick(s: z.ZodType, v: unknown): z.ZodType {
  if (!(s instanceof z.ZodUnion)) return s;
  const have = v !== null && typeof v === 'object' ? Object.keys(v) : [];
  let best: z.ZodType = s.options[0] as z.ZodType;
  let score = -1;
  for (const o of s.options as z.ZodType[]) {
    const u = unwrap(o);
    if (!(u instanceof z.ZodObject)) continue;
    const n = have.filter((k) => k in u.shape).length;
    if (n > score) [best, score] = [u, n];
  }
  return unwrap(best);
}

function step(s: z.ZodType, seg: PropertyKey): z.ZodType | undefined {
  if (s instanceof z.ZodObject) return (s.shape as Record<PropertyKey, z.ZodType>)[seg];
  if (s instanceof z.ZodArray) return s.element as z.ZodType;
  if (s instanceof z.ZodRecord) return s.valueType as z.ZodType;
  return undefined;
}

/** The path (`grpc.allowedCallers`, `routes[].timeoutMs`) of the key closest to `key` anywhere in the schema. */
function elsewhere(key: string, schema: z.ZodType): string | undefined {
  const paths = new Map<string, string>(); // key name → first path it appears at
  const walk = (s: z.ZodType, at: string, depth: number): void => {
    const u = unwrap(s);
    if (depth > 8) return;
    if (u instanceof z.ZodObject) {
      for (const [k, v] of Object.entries(u.shape as Record<string, z.ZodType>)) {
        const p = at === '' ? k : `${at}.${k}`;
        if (!paths.has(k)) paths.set(k, p);
        walk(v, p, depth + 1);
      }
    } else if (u instanceof z.ZodArray) walk(u.element as z.ZodType, `${at}[]`, depth + 1);
    else if (u instanceof z.ZodUnion) for (const o of u.options as z.ZodType[]) walk(o, at, depth + 1);
  };
  walk(schema, '', 0);
  const name = didYouMean(key, [...paths.keys()]);
  return name === undefined ? undefined : paths.get(name);
}

/**
 * Key paths of the objects in `schema` that would let an unknown key through
 * (`z.object` strips it silently, `z.looseObject` keeps it): a config schema
 * must have none, so a test can hold every service's schema to it.
 */
export function looseObjectPaths(schema: z.ZodType): string[] {
  const out: string[] = [];
  const walk = (s: z.ZodType, at: string, depth: number): void => {
    if (depth > 16) return;
    const u = unwrap(s);
    if (u instanceof z.ZodObject) {
      if (!(u._zod.def.catchall instanceof z.ZodNever)) out.push(at === '' ? '(root)' : at);
      for (const [k, v] of Object.entries(u.shape as Record<string, z.ZodType>)) walk(v, at === '' ? k : `${at}.${k}`, depth + 1);
    } else if (u instanceof z.ZodArray) walk(u.element as z.ZodType, `${at}[]`, depth + 1);
    else if (u instanceof z.ZodRecord) walk(u.valueType as z.ZodType, `${at}.*`, depth + 1);
    else if (u instanceof z.ZodUnion) for (const o of u.options as z.ZodType[]) walk(o, at, depth + 1);
    else if (u instanceof z.ZodIntersection) {
      walk(u._zod.def.left as z.ZodType, at, depth + 1);
      walk(u._zod.def.right as z.ZodType, at, depth + 1);
    }
  };
  walk(schema, '', 0);
  return out;
}

/** The closest allowed key, if close enough to be a typo (edit distance, case ignored). */
export function didYouMean(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const [a, b] = [key.toLowerCase(), k.toLowerCase()];
    // Same letters, or one a truncation of the other (`masterKey` for `masterKeyFile`).
    const d = a === b || (Math.min(a.length, b.length) >= 4 && (a.startsWith(b) || b.startsWith(a))) ? 0 : editDistance(a, b);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.min(3, Math.max(1, Math.floor(key.length / 3))) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}
