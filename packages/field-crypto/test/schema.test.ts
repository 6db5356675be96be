// Schema validation at load time and the precomputed plans (schema.ts rules).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { compileSchema, SchemaError, tsProtoPropertyName } from '../src/mod.js';
import { schema as fixtureSchema } from './fixtures.js';

function rootOf(body: string): protobuf.Root {
  return protobuf.parse(`syntax = "proto3"; package t.v1;\n${body}`).root;
}

function schemaError(body: string): SchemaError {
  try {
    compileSchema(rootOf(body));
  } catch (err) {
    expect(err).toBeInstanceOf(SchemaError);
    expect((err as SchemaError).code).toBe('SCHEMA');
    return err as SchemaError;
  }
  throw new Error('expected a SchemaError');
}

const TENANT = 'option (fle.v1.tenant_field) = "tenant_id"; string tenant_id = 1;';

describe('compileSchema: sensitive only on string and bytes (spec §5)', () => {
  it.each([
    ['a singular int32', 'int32 amount = 2 [(fle.v1.sensitive) = true];', 't.v1.Req.amount', 'type int32'],
    ['a repeated uint64', 'repeated uint64 amounts = 2 [(fle.v1.sensitive) = true];', 't.v1.Req.amounts', 'type uint64'],
    ['a map value of int32', 'map<string, int32> scores = 2 [(fle.v1.sensitive) = true];', 't.v1.Req.scores', 'map value type int32'],
    ['a oneof member bool', 'oneof o { bool flag = 2 [(fle.v1.sensitive) = true]; }', 't.v1.Req.flag', 'type bool'],
    ['a message field', 'Inner inner = 2 [(fle.v1.sensitive) = true];', 't.v1.Req.inner', 'type Inner'],
    ['an enum field', 'Kind kind = 2 [(fle.v1.sensitive) = true];', 't.v1.Req.kind', 'type Kind'],
  ])('rejects %s, naming the field', (_name, field, fullName, what) => {
    const err = schemaError(`message Inner { string s = 1; } enum Kind { KIND_UNSPECIFIED = 0; }
      message Req { ${TENANT} ${field} }`);
    expect(err.message).toContain(fullName);
    expect(err.message).toContain(what);
  });

  it('rejects a key ring on a field that is not sensitive', () => {
    expect(schemaError(`message Req { ${TENANT} string s = 2 [(fle.v1.key_ring) = "pci"]; }`).message).toContain('t.v1.Req.s');
  });

  it('accepts string and bytes in every shape', () => {
    const schema = compileSchema(rootOf(`message Req { ${TENANT}
      string a = 2 [(fle.v1.sensitive) = true]; bytes b = 3 [(fle.v1.sensitive) = true];
      repeated string c = 4 [(fle.v1.sensitive) = true]; repeated bytes d = 5 [(fle.v1.sensitive) = true];
      map<int32, string> e = 6 [(fle.v1.sensitive) = true]; map<bool, bytes> f = 7 [(fle.v1.sensitive) = true];
      oneof o { string g = 8 [(fle.v1.sensitive) = true]; bytes h = 9 [(fle.v1.sensitive) = true]; } }`));
    expect(schema.plan('t.v1.Req').sensitivePaths.map((p) => [p.path, p.valueType, p.shape])).toEqual([
      ['2', 'string', 'singular'], ['3', 'bytes', 'singular'], ['4', 'string', 'repeated'], ['5', 'bytes', 'repeated'],
      ['6[<key>]', 'string', 'map'], ['7[<key>]', 'bytes', 'map'], ['8', 'string', 'singular'], ['9', 'bytes', 'singular'],
    ]);
  });
});

describe('compileSchema: tenant field on roots', () => {
  it('rejects a root message with sensitive fields and no tenant field, naming it', () => {
    expect(schemaError('message Req { string s = 1 [(fle.v1.sensitive) = true]; }').message).toMatch(
      /message t\.v1\.Req has sensitive fields but names no tenant field/,
    );
  });

  it('rejects a root whose sensitive fields are only deep down', () => {
    const err = schemaError(`message Leaf { bytes b = 1 [(fle.v1.sensitive) = true]; }
      message Mid { Leaf leaf = 1; } message Top { repeated Mid mids = 1; }`);
    expect(err.message).toContain('t.v1.Top');
  });

  it('rejects an RPC message with sensitive fields and no tenant field even when it is also embedded', () => {
    const err = schemaError(`message Req { string s = 1 [(fle.v1.sensitive) = true]; }
      message Batch { option (fle.v1.tenant_field) = "tenant_id"; string tenant_id = 1; repeated Req reqs = 2; }
      service S { rpc Do(Req) returns (Batch); }`);
    expect(err.message).toContain('t.v1.Req');
  });

  it('needs no tenant field on messages only embedded in others (like Card)', () => {
    const schema = compileSchema(rootOf(`message Card { string number = 1 [(fle.v1.sensitive) = true]; }
      message Req { ${TENANT} Card card = 2; }`));
    expect(schema.rootTypes).toEqual(['t.v1.Req']);
    expect(schema.plan('t.v1.Req').sensitivePaths.map((p) => p.path)).toEqual(['2.1']);
  });

  it.each([
    ['does not exist', 'option (fle.v1.tenant_field) = "tenant"; string tenant_id = 1;', 'tenant field tenant does not exist'],
    ['is not a string', 'option (fle.v1.tenant_field) = "tenant_id"; int64 tenant_id = 1;', 't.v1.Req.tenantId must be a singular string'],
    ['is repeated', 'option (fle.v1.tenant_field) = "tenant_id"; repeated string tenant_id = 1;', 'must be a singular string'],
    ['is sensitive', 'option (fle.v1.tenant_field) = "tenant_id"; string tenant_id = 1 [(fle.v1.sensitive) = true];', 'cannot be sensitive'],
  ])('rejects a tenant field that %s', (_name, decl, message) => {
    expect(schemaError(`message Req { ${decl} string s = 2 [(fle.v1.sensitive) = true]; }`).message).toContain(message);
  });

  it('rejects a recursive message with sensitive fields', () => {
    const err = schemaError(`message Node { string secret = 1 [(fle.v1.sensitive) = true]; repeated Node children = 2; }
      message Tree { ${TENANT} Node root = 2; }`);
    expect(err.message).toContain('t.v1.Node is recursive');
  });

  it('accepts recursion that holds no sensitive field', () => {
    const schema = compileSchema(rootOf(`message Node { string label = 1; repeated Node children = 2; }
      message Req { ${TENANT} Node tree = 2; string s = 3 [(fle.v1.sensitive) = true]; }`));
    expect(schema.plan('t.v1.Req').sensitivePaths.map((p) => p.path)).toEqual(['3']);
  });

  it('names the .proto file the bad mark is in (when the root knows it), with message and field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fle-schema-file-'));
    try {
      const file = join(dir, 'bad.proto');
      writeFileSync(file, `syntax = "proto3"; package t.v1;\nmessage Req { ${TENANT} int32 amount = 2 [(fle.v1.sensitive) = true]; }\n`);
      const root = new protobuf.Root().loadSync(file);
      expect(() => compileSchema(root)).toThrow(`${file}: field t.v1.Req.amount is marked (fle.v1.sensitive) but has type int32`);
      writeFileSync(file, `syntax = "proto3"; package t.v1;\nmessage Req { option (fle.v1.tenant_field) = "tenant"; string s = 2 [(fle.v1.sensitive) = true]; }\n`);
      expect(() => compileSchema(new protobuf.Root().loadSync(file))).toThrow(`${file}: message t.v1.Req: tenant field tenant does not exist`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('throws SchemaError for an unknown type', () => {
    const schema = compileSchema(rootOf(`message Req { ${TENANT} }`));
    expect(() => schema.plan('t.v1.Nope')).toThrow(SchemaError);
  });
});

describe('plans of the fixture schema (test/fixtures/fletest.proto)', () => {
  const schema = fixtureSchema;

  it('finds the roots and their tenant property', () => {
    expect([...schema.rootTypes].sort()).toEqual([
      'fletest.v1.Record',
      'fletest.v1.Reply',
      'fletest.v1.Stored',
      'fletest.v1.Tree',
    ]);
    const plan = schema.plan('fletest.v1.Record');
    expect(plan.tenantProp).toBe('tenantId');
    expect(plan.tenantField).toBe('tenant_id');
  });

  it('lists every sensitive path of Record with its ring (spec §3 paths)', () => {
    const plan = schema.plan('.fletest.v1.Record');
    expect(plan.sensitivePaths.map((p) => `${p.path} ${p.ring} ${p.valueType} ${p.shape}`)).toEqual([
      '5.1 pci string singular',
      '5.2 default string singular',
      '5.5 pci bytes singular',
      '6 default string singular',
      '7 default bytes singular',
      '8 default string repeated',
      '9.3 default string singular',
      '10[<key>] default string map',
      '11 default string singular',
      '12 default string singular',
    ]);
  });

  it('caches plans: the same object every time', () => {
    expect(schema.plan('fletest.v1.Record')).toBe(schema.plan('fletest.v1.Record'));
  });

  it('maps proto names to ts-proto property names', () => {
    expect(tsProtoPropertyName('tenant_id')).toBe('tenantId');
    expect(tsProtoPropertyName('addressLine_1')).toBe('addressLine1');
    expect(tsProtoPropertyName('SSN_NUMBER')).toBe('ssnNumber');
    expect(tsProtoPropertyName('nationalId')).toBe('nationalId');
  });
});
