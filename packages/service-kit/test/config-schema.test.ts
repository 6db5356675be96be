import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigError, configProblem, didYouMean, inConfigFile, keyPath, looseObjectPaths, schemaSourceSchema, tlsFilesSchema, validateConfig, z } from '../src/mod.js';

const schema = z.strictObject({
  grpc: z.strictObject({ tls: tlsFilesSchema, maxMessageBytes: z.number().min(1).optional(), allowedCallers: z.array(z.string().min(1)).optional() }),
  routes: z.array(z.strictObject({ method: z.string().min(1), timeoutMs: z.number().min(1).optional(), transport: z.enum(['nats', 'grpc']) })).min(1),
  storage: z.discriminatedUnion('kind', [z.strictObject({ kind: z.literal('file').optional(), path: z.string().optional() }), z.strictObject({ kind: z.literal('nats'), url: z.string() })]).optional(),
  schema: schemaSourceSchema.optional(),
});
const tls = { ca: 'ca.pem', cert: 'c.pem', key: 'k.pem' };
const ok = { grpc: { tls }, routes: [{ method: '/a.B/C', transport: 'nats' }] };
const problem = (doc: unknown) => configProblem(doc, schema);

describe('validateConfig', () => {
  it('accepts a matching document and returns nothing', () => {
    expect(validateConfig(ok, schema, 'gw.yaml')).toBeUndefined();
    expect(problem({ ...ok, storage: { path: 'x' } })).toBeUndefined();
  });

  it('refuses an unknown key, naming its path, the file and the key it resembles', () => {
    const doc = { grpc: { tls, allowedCaller: ['spiffe://fle.local/client'] }, routes: ok.routes };
    expect(() => validateConfig(doc, schema, '/etc/fle/gateway.yaml')).toThrow(
      new ConfigError('config /etc/fle/gateway.yaml: unknown key grpc.allowedCaller (did you mean allowedCallers?)'),
    );
    expect(problem({ ...ok, routes: [{ method: '/a.B/C', transport: 'nats', timeotMs: 5 }] })).toBe('unknown key routes[0].timeotMs (did you mean timeoutMs?)');
    expect(problem({ ...ok, grpc: { tls, MaxMessageBytes: 5 } })).toBe('unknown key grpc.MaxMessageBytes (did you mean maxMessageBytes?)');
    // In the wrong place: the hint names where it belongs.
    expect(problem({ ...ok, routes: [{ method: '/a.B/C', transport: 'nats', allowedCaller: [] }] })).toBe('unknown key routes[0].allowedCaller (did you mean grpc.allowedCallers?)');
    expect(problem({ ...ok, testProbe: { holdMs: 1 } })).toBe('unknown key testProbe');
    // Through a union: the branch the document is in (here `nats`, by its url).
    expect(problem({ ...ok, storage: { kind: 'nats', url: 'x', bukket: 'b' } })).toBe('unknown key storage.bukket');
    expect(problem({ ...ok, storage: { kind: 'nats', url: 'x', pth: 'b' } })).toBe('unknown key storage.pth');
  });

  it('names the key of a wrong type, a missing or empty key, a value out of range or not among the allowed, never the value', () => {
    expect(problem({ ...ok, grpc: { tls, maxMessageBytes: '4MiB' } })).toBe('grpc.maxMessageBytes must be a number');
    expect(problem({ ...ok, grpc: { tls, maxMessageBytes: 0 } })).toBe('grpc.maxMessageBytes must be a number >= 1');
    expect(problem({ ...ok, grpc: { tls: { ...tls, key: '' } } })).toBe('grpc.tls.key must be a non-empty string');
    expect(problem({ ...ok, grpc: {} })).toBe('grpc.tls is required');
    expect(problem({ ...ok, routes: [] })).toBe('routes must list at least one');
    expect(problem({ ...ok, routes: [{ method: '/a.B/C', transport: 'kafka' }] })).toBe('routes[0].transport must be one of nats, grpc');
    expect(problem({ ...ok, storage: { kind: 's3' } })).toBe('storage.kind must be one of file, nats');
    expect(problem([])).toBe('the config must be a mapping');
    // `allowedCallers:` with nothing after it is YAML null: refused, not read as "any caller".
    expect(problem(parseYaml('grpc:\n  tls: { ca: a, cert: b, key: c }\n  allowedCallers:\nroutes: [{ method: /a.B/C, transport: nats }]'))).toBe(
      'grpc.allowedCallers has no value (must be a list)',
    );
    const secret = 'tls://user:hunter2@nats:4222';
    expect(problem({ ...ok, grpc: { tls: { ...tls, ca: [secret] } } })).not.toContain('hunter2');
  });

  it('lists a misspelt key before the problems it causes, all on one line', () => {
    const p = problem({ grpc: { tls }, routes: [{ methd: '/a.B/C', transport: 'nats' }] });
    expect(p).toBe('unknown key routes[0].methd (did you mean method?); routes[0].method is required');
    expect(p).not.toContain('\n');
  });

  it('schema: exactly one of image or protoRoots', () => {
    expect(problem({ ...ok, schema: { image: 'schema.binpb' } })).toBeUndefined();
    expect(problem({ ...ok, schema: { protoRoots: ['proto'] } })).toBeUndefined();
    expect(problem({ ...ok, schema: {} })).toBe('schema must give exactly one of image, protoRoots');
    expect(problem({ ...ok, schema: { image: 'a', protoRoots: ['b'] } })).toBe('schema must give exactly one of image, protoRoots');
    expect(problem({ ...ok, schema: { protoRoots: [] } })).toBe('schema.protoRoots must list at least one');
    expect(problem({ ...ok, schema: { imag: 'a' } })).toMatch(/^unknown key schema\.imag \(did you mean image\?\)/);
  });

  it('throws the caller’s own error class when asked', () => {
    class MyError extends Error {}
    expect(() => validateConfig({}, schema, 'k.yaml', { error: (m) => new MyError(m) })).toThrow(MyError);
  });
});

describe('inConfigFile', () => {
  it('puts the file in front of a ConfigError once, and turns a YAML syntax error into one line', () => {
    const e = inConfigFile('/etc/fle/gateway.yaml', new ConfigError('routes must list at least one route'));
    expect(e).toEqual(new ConfigError('config /etc/fle/gateway.yaml: routes must list at least one route'));
    expect(inConfigFile('/etc/fle/gateway.yaml', e)).toBe(e);
    let yamlErr: unknown;
    try {
      parseYaml('grpc:\n  tls: [unclosed\n');
    } catch (err) {
      yamlErr = err;
    }
    const y = inConfigFile('g.yaml', yamlErr) as Error;
    expect(y).toBeInstanceOf(ConfigError);
    expect(y.message).toMatch(/^config g\.yaml: not valid YAML: [^\n]+$/);
    const other = new TypeError('x');
    expect(inConfigFile('g.yaml', other)).toBe(other);
  });
});

describe('looseObjectPaths', () => {
  it('finds every object that would let an unknown key through, at any depth', () => {
    expect(looseObjectPaths(schema)).toEqual([]);
    const loose = z.strictObject({
      a: z.object({ b: z.string() }).optional(),
      list: z.array(z.looseObject({ c: z.string() })),
      u: z.union([z.strictObject({ k: z.literal('x') }), z.object({ k: z.literal('y') })]),
    });
    expect(looseObjectPaths(loose)).toEqual(['a', 'list[]', 'u']);
    expect(looseObjectPaths(z.object({}))).toEqual(['(root)']);
  });
});

describe('helpers', () => {
  it('keyPath and didYouMean', () => {
    expect(keyPath(['routes', 0, 'processor', 'tls'])).toBe('routes[0].processor.tls');
    expect(didYouMean('allowedCaller', ['allowedCallers', 'tls'])).toBe('allowedCallers');
    expect(didYouMean('maxMesageBytes', ['maxMessageBytes', 'maxFieldBytes'])).toBe('maxMessageBytes');
    expect(didYouMean('testProbe', ['routes', 'nats', 'grpc'])).toBeUndefined();
    expect(didYouMean('tl', ['tls', 'log'])).toBe('tls');
  });
});
