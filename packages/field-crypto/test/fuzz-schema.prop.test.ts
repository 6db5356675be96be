// Fuzzing compileSchema and the walk over random protobufjs schemas (issue 6
// item 4): random message types (scalars, enums, messages, repeated, maps,
// self-references, unresolvable types, services) with random and ill-typed
// fle.v1 options. compileSchema either accepts the schema or throws
// SchemaError; whatever it accepts, every root message with sensitive fields
// seals, passes checkSealed and opens back to the original.
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { checkSealed, compileSchema, FieldCipher, SchemaError, StaticKeyProvider, tsProtoPropertyName, type CompiledSchema } from '../src/mod.js';
import { seq } from './helpers.js';

const TENANT = 'tnt';
const SCALARS = ['string', 'bytes', 'int32', 'bool', 'double'] as const;

interface FieldSpec {
  readonly type: string; // scalar, 'E', 'T<k>' or 'Missing'
  readonly shape: 'singular' | 'repeated' | 'map';
  readonly mapKey: 'string' | 'int32' | 'bool';
  readonly sensitive: unknown;
  readonly ring: unknown;
}
interface TypeSpec {
  readonly fields: readonly FieldSpec[];
  /** undefined, a field index, or a raw (possibly bad) option value. */
  readonly tenant: { kind: 'none' } | { kind: 'field'; index: number } | { kind: 'raw'; value: unknown };
}
interface SchemaSpec {
  /** false: options kept plausible (sensitive only on string/bytes, a proper tenant field), so most schemas compile. */
  readonly wild: boolean;
  readonly types: readonly TypeSpec[];
  readonly service: readonly [number, number] | undefined;
}

function schemaSpec(): fc.Arbitrary<SchemaSpec> {
  return fc.integer({ min: 1, max: 4 }).chain((n) => {
    const fieldType = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom<string>(...SCALARS) },
      { weight: 1, arbitrary: fc.constant('E') },
      { weight: 3, arbitrary: fc.nat({ max: n - 1 }).map((k) => `T${k}`) },
      { weight: 1, arbitrary: fc.constant('Missing') },
    );
    const field: fc.Arbitrary<FieldSpec> = fc.record({
      type: fieldType,
      shape: fc.constantFrom('singular', 'singular', 'repeated', 'map'),
      mapKey: fc.constantFrom('string', 'int32', 'bool'),
      sensitive: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(false, 'yes', 1) }),
      ring: fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 3, arbitrary: fc.constant('pci') }, { weight: 1, arbitrary: fc.constantFrom('', 7) }),
    });
    const type: fc.Arbitrary<TypeSpec> = fc.record({
      fields: fc.array(field, { maxLength: 5 }),
      tenant: fc.oneof(
        { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
        { weight: 5, arbitrary: fc.nat({ max: 5 }).map((index) => ({ kind: 'field' as const, index })) },
        { weight: 1, arbitrary: fc.constantFrom('', 'nope', 5).map((value) => ({ kind: 'raw' as const, value })) },
      ),
    });
    return fc.record({
      wild: fc.boolean(),
      types: fc.array(type, { minLength: n, maxLength: n }),
      service: fc.option(fc.tuple(fc.nat({ max: n - 1 }), fc.nat({ max: n - 1 })), { nil: undefined }),
    });
  });
}

/** The plausible variant of a type: sensitive only on string/bytes, rings 'pci' or none, every type resolvable, a tenant field. */
function tame(ts: TypeSpec): TypeSpec {
  return {
    fields: ts.fields.map((f) => {
      const type = f.type === 'Missing' ? 'string' : f.type;
      const canHold = type === 'string' || type === 'bytes';
      return { ...f, type, sensitive: canHold && f.sensitive !== undefined ? true : undefined, ring: canHold && f.sensitive !== undefined && f.ring === 'pci' ? 'pci' : undefined };
    }),
    tenant: { kind: 'field', index: 0 },
  };
}

/** Builds the protobufjs root; the tenant field, when asked for, is an extra `tenant` string field. */
function buildRoot(spec: SchemaSpec): protobuf.Root {
  const root = new protobuf.Root();
  const ns = root.define('fz');
  ns.add(new protobuf.Enum('E', { A: 0, B: 1 }));
  spec.types.forEach((raw, i) => {
    const ts = spec.wild ? raw : tame(raw);
    const t = new protobuf.Type(`T${i}`);
    ts.fields.forEach((f, j) => {
      const options: Record<string, unknown> = {};
      if (f.sensitive !== undefined) options['(fle.v1.sensitive)'] = f.sensitive;
      if (f.ring !== undefined) options['(fle.v1.key_ring)'] = f.ring;
      const name = `f_${j}`;
      if (f.shape === 'map') t.add(new protobuf.MapField(name, j + 1, f.mapKey, f.type, options));
      else t.add(new protobuf.Field(name, j + 1, f.type, f.shape === 'repeated' ? 'repeated' : undefined, undefined, options));
    });
    if (ts.tenant.kind === 'field') {
      // Sometimes a proper tenant field, sometimes an existing field of any type (which may be invalid).
      const existing = ts.fields.length > 0 && ts.tenant.index < ts.fields.length ? `f_${ts.tenant.index}` : undefined;
      if (existing && ts.tenant.index % 2 === 1) t.setOption('(fle.v1.tenant_field)', existing);
      else {
        t.add(new protobuf.Field('tenant_id', 100, 'string'));
        t.setOption('(fle.v1.tenant_field)', 'tenant_id');
      }
    } else if (ts.tenant.kind === 'raw') {
      t.setOption('(fle.v1.tenant_field)', ts.tenant.value as string);
    }
    ns.add(t);
  });
  if (spec.service) {
    const s = new protobuf.Service('S');
    s.add(new protobuf.Method('M', 'rpc', `T${spec.service[0]}`, `T${spec.service[1]}`));
    ns.add(s);
  }
  return root;
}

/** A small deterministic PRNG, so one fast-check seed gives one message. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A ts-proto-shaped plain object of `type` with random values (messages down to depth 3). */
function fill(type: protobuf.Type, r: () => number, depth: number, tenantProp: string | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const str = () => (r() < 0.2 ? '' : `s${Math.floor(r() * 1e6)}\u00e9\u{1F600}`);
  const bytes = () => Uint8Array.from({ length: Math.floor(r() * 6) }, () => Math.floor(r() * 256));
  for (const f of type.fieldsArray) {
    const prop = tsProtoPropertyName(f.name);
    const held = f.resolvedType instanceof protobuf.Type ? f.resolvedType : undefined;
    const one = (): unknown => {
      if (held) return depth < 3 ? fill(held, r, depth + 1, undefined) : undefined;
      if (f.type === 'string') return str();
      if (f.type === 'bytes') return bytes();
      if (f.type === 'bool') return r() < 0.5;
      return Math.floor(r() * 100);
    };
    if (f instanceof protobuf.MapField) {
      const m: Record<string, unknown> = {};
      for (let i = 0; i < 2; i++) {
        const v = one();
        if (v !== undefined) m[f.keyType === 'bool' ? String(i === 0) : f.keyType === 'string' ? `k${i}` : String(i * 7)] = v;
      }
      out[prop] = m;
    } else if (f.repeated) {
      out[prop] = [one(), one()].filter((v) => v !== undefined);
    } else {
      const v = one();
      if (v !== undefined) out[prop] = v;
    }
  }
  if (tenantProp) out[tenantProp] = TENANT;
  return out;
}

const keys = new StaticKeyProvider([
  { tenant: TENANT, versions: [{ version: 1, key: seq(32, 1) }] },
  { tenant: TENANT, ring: 'pci', versions: [{ version: 3, key: seq(32, 3), alg: 2 }] },
]);

describe('fuzz: compileSchema on random schemas', () => {
  it('accepts or throws SchemaError; accepted schemas seal, check and open every root message', async () => {
    let accepted = 0;
    let refused = 0;
    let roundTrips = 0;
    await fc.assert(
      fc.asyncProperty(schemaSpec(), fc.integer(), async (spec, seed) => {
        const root = buildRoot(spec);
        let schema: CompiledSchema;
        try {
          schema = compileSchema(root);
        } catch (err) {
          if (!(err instanceof SchemaError)) throw new Error(`compileSchema threw ${(err as Error)?.name}: ${String(err)}`, { cause: err });
          expect(err.code).toBe('SCHEMA');
          refused++;
          return;
        }
        accepted++;
        const cipher = new FieldCipher({ schema, keys });
        const r = rng(seed);
        for (const name of schema.rootTypes) {
          const plan = schema.plan(name);
          const msg = fill(root.lookupType(name), r, 0, plan.tenantProp);
          const before = structuredClone(msg);
          const sealed = await cipher.sealMessage(name, msg, { context: 'c' });
          const count = checkSealed(schema, name, sealed);
          expect(await cipher.openMessage(name, sealed, { context: 'c' })).toEqual(before);
          expect(msg).toEqual(before);
          if (count > 0) {
            roundTrips++;
            await expect(cipher.openMessage(name, sealed, { context: 'other' })).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
          }
        }
      }),
      { numRuns: 1500 },
    );
    // Both sides are reached, and accepted schemas carry envelopes.
    expect(refused).toBeGreaterThan(100);
    expect(accepted).toBeGreaterThan(100);
    expect(roundTrips).toBeGreaterThan(50);
  });
});
