// Schema compilation: reads the fle.v1 options from a protobufjs reflection
// root, rejects unusable schemas at load time, and precomputes, per root
// message type, the plan the walk follows (field-cipher.ts, check-sealed.ts).
//
// Rules (checked by compileSchema, each failure a SchemaError naming the field
// or message by its full name):
// - `(fle.v1.sensitive)` only on string/bytes fields: singular, repeated, map
//   value or oneof member (spec §5). `(fle.v1.key_ring)` only on sensitive fields.
// - A message is a *root* when it names a tenant field, is the request or
//   response of a service method, or is embedded in no other message. Every
//   root with sensitive fields at any depth must name a tenant field
//   (`(fle.v1.tenant_field)`: a singular, non-sensitive string field of that
//   message). Messages only ever embedded in others (e.g. Card) need none: the
//   root that holds them supplies tenant and type for the AAD.
// - A recursive message type that contains sensitive fields cannot be sealed
//   (its paths would be unbounded): a SchemaError when a plan would need it.
import type protobuf from 'protobufjs';
import { lengthPrefixed } from './aad.js';
import { SchemaError } from './errors.js';
import { MAP_KEY_TYPES, type MapKeyType } from './field-path.js';

export const SENSITIVE_OPTION = '(fle.v1.sensitive)';
export const KEY_RING_OPTION = '(fle.v1.key_ring)';
export const TENANT_FIELD_OPTION = '(fle.v1.tenant_field)';
export const DEFAULT_KEY_RING = 'default';

export type FieldShape = 'singular' | 'repeated' | 'map';

interface FieldPlanBase {
  /** JS property of the ts-proto object (camelCase). */
  readonly prop: string;
  readonly shape: FieldShape;
  /** Full proto name, e.g. shop.v1.Card.number (for errors). */
  readonly fieldName: string;
  /** Proto field number. */
  readonly number: number;
  /** Path from the root (spec §3), valid when no map lies above this field. */
  readonly path: string;
  /** The key type of a map field (shape 'map'): how its keys are written in paths (field-path.ts). */
  readonly mapKeyType: MapKeyType | undefined;
}

/** A field that holds envelopes. */
export interface SensitiveFieldPlan extends FieldPlanBase {
  readonly kind: 'sensitive';
  readonly valueType: 'string' | 'bytes';
  readonly ring: string;
  /** Index of `ring` in MessagePlan.rings. */
  readonly ringIndex: number;
  /** lp(path) of spec §3, precomputed for the static path. */
  readonly lpPath: Uint8Array;
}

/** A message field with sensitive fields somewhere below it. */
export interface NestedFieldPlan extends FieldPlanBase {
  readonly kind: 'nested';
  readonly node: NodePlan;
}

export type FieldPlan = SensitiveFieldPlan | NestedFieldPlan;

/** The fields of one message (at one position under the root) that lead to envelopes. */
export interface NodePlan {
  readonly typeName: string;
  readonly fields: readonly FieldPlan[];
}

/**
 * A sensitive location, flattened, for display and tests: `10[<key>]` for map
 * values, where <key> stands for the key as spec §3 writes it (string keys
 * percent-encoded, integer keys in decimal, bool keys true/false).
 */
export interface SensitivePathInfo {
  readonly path: string;
  readonly fieldName: string;
  readonly ring: string;
  readonly valueType: 'string' | 'bytes';
  readonly shape: FieldShape;
}

/** Everything the walk needs for one root message type, computed once per process. */
export interface MessagePlan {
  readonly typeName: string;
  /** lp(message_type) of spec §3. */
  readonly lpTypeName: Uint8Array;
  /** JS property of the tenant field; undefined when the message names none. */
  readonly tenantProp: string | undefined;
  /** Proto name of the tenant field, as written in the option. */
  readonly tenantField: string | undefined;
  readonly root: NodePlan;
  /** The distinct key rings of this message's sensitive fields (SensitiveFieldPlan.ringIndex points here). */
  readonly rings: readonly string[];
  readonly hasSensitive: boolean;
  readonly sensitivePaths: readonly SensitivePathInfo[];
}

/** The proto name -> ts-proto property rule (snakeToCamel), applied to protobufjs names. */
export function tsProtoPropertyName(name: string): string {
  if (!name.includes('_')) return name;
  const hasLower = /[a-z]/.test(name);
  return name
    .split('_')
    .map((word, i) => {
      const w = hasLower ? word : word.toLowerCase();
      return i === 0 ? w : w.charAt(0).toUpperCase() + w.slice(1);
    })
    .join('');
}

function fullName(obj: protobuf.ReflectionObject): string {
  return obj.fullName.startsWith('.') ? obj.fullName.slice(1) : obj.fullName;
}

/**
 * `<file>: ` for errors, when the object knows the .proto file it came from
 * (loadSchema and protobufjs's loader set `filename`; a root built from JSON has none).
 */
function inFile(obj: protobuf.ReflectionObject): string {
  let o: protobuf.ReflectionObject | null = obj;
  while (o && !o.filename) o = o.parent;
  return o?.filename ? `${o.filename}: ` : '';
}

function isType(obj: unknown): obj is protobuf.Type {
  return typeof obj === 'object' && obj !== null && Array.isArray((obj as protobuf.Type).fieldsArray);
}

function isService(obj: unknown): obj is protobuf.Service {
  return typeof obj === 'object' && obj !== null && Array.isArray((obj as protobuf.Service).methodsArray);
}

function isSensitive(field: protobuf.Field): boolean {
  return field.options?.[SENSITIVE_OPTION] === true;
}

function shapeOf(field: protobuf.Field): FieldShape {
  return field.map ? 'map' : field.repeated ? 'repeated' : 'singular';
}

/** The key type of a map field, checked against the types a path can write (spec §3). */
function mapKeyTypeOf(field: protobuf.Field): MapKeyType {
  const keyType = (field as unknown as protobuf.MapField).keyType as MapKeyType;
  if (!MAP_KEY_TYPES.includes(keyType)) throw new SchemaError(`${inFile(field)}map field ${fullName(field)} has key type ${String(keyType)}, which a field path cannot address`);
  return keyType;
}

/** The message type a field holds (map value for maps), if it holds one. */
function messageTypeOf(field: protobuf.Field): protobuf.Type | undefined {
  return isType(field.resolvedType) ? field.resolvedType : undefined;
}

function collect(ns: protobuf.NamespaceBase, types: protobuf.Type[], services: protobuf.Service[]): void {
  for (const nested of ns.nestedArray) {
    if (isType(nested)) types.push(nested);
    else if (isService(nested)) services.push(nested);
    if ('nestedArray' in nested) collect(nested as protobuf.NamespaceBase, types, services);
  }
}

/** The validated fle view of a protobufjs schema; plans are cached per type. */
export class CompiledSchema {
  readonly root: protobuf.Root;
  /** Message types (full names) that have sensitive fields at any depth. */
  readonly #deep = new Set<string>();
  readonly #plans = new Map<string, MessagePlan>();
  readonly #roots: string[] = [];

  constructor(root: protobuf.Root) {
    this.root = root;
    try {
      root.resolveAll();
    } catch (err) {
      throw new SchemaError(`schema does not resolve: ${err instanceof Error ? err.message : String(err)}`);
    }
    const types: protobuf.Type[] = [];
    const services: protobuf.Service[] = [];
    collect(root, types, services);
    for (const type of types) checkFieldOptions(type);
    this.#computeDeep(types);

    const embedded = new Set<string>();
    for (const type of types) {
      for (const field of type.fieldsArray) {
        const held = messageTypeOf(field);
        if (held) embedded.add(fullName(held));
      }
    }
    const rpcTypes = new Set<string>();
    for (const service of services) {
      for (const method of service.methodsArray) {
        if (method.resolvedRequestType) rpcTypes.add(fullName(method.resolvedRequestType));
        if (method.resolvedResponseType) rpcTypes.add(fullName(method.resolvedResponseType));
      }
    }
    for (const type of types) {
      const name = fullName(type);
      const namesTenant = type.options?.[TENANT_FIELD_OPTION] !== undefined;
      if (namesTenant) tenantFieldOf(type); // validates the option even without sensitive fields
      const isRoot = namesTenant || rpcTypes.has(name) || !embedded.has(name);
      if (!isRoot || !this.#deep.has(name)) continue;
      if (!namesTenant) {
        throw new SchemaError(
          `${inFile(type)}message ${name} has sensitive fields but names no tenant field: add option (fle.v1.tenant_field)`,
        );
      }
      this.#roots.push(name);
      this.plan(name);
    }
  }

  /** Root message types with sensitive fields (each names a tenant field). */
  get rootTypes(): readonly string[] {
    return this.#roots;
  }

  /** The walk plan for `typeName` (full name, leading dot optional). Cached. */
  plan(typeName: string): MessagePlan {
    const cached = this.#plans.get(typeName);
    if (cached) return cached;
    let type: protobuf.Type;
    try {
      type = this.root.lookupType(typeName);
    } catch {
      throw new SchemaError(`unknown message type ${typeName}`);
    }
    const name = fullName(type);
    const tenant = type.options?.[TENANT_FIELD_OPTION] !== undefined ? tenantFieldOf(type) : undefined;
    const sensitivePaths: SensitivePathInfo[] = [];
    const rings: string[] = [];
    const root = this.#deep.has(name)
      ? this.#node(type, undefined, [name], sensitivePaths, rings)
      : { typeName: name, fields: [] };
    const plan: MessagePlan = {
      typeName: name,
      lpTypeName: lengthPrefixed(name),
      tenantProp: tenant && tsProtoPropertyName(tenant.name),
      tenantField: type.options?.[TENANT_FIELD_OPTION] as string | undefined,
      root,
      rings,
      hasSensitive: sensitivePaths.length > 0,
      sensitivePaths,
    };
    this.#plans.set(typeName, plan);
    this.#plans.set(name, plan);
    return plan;
  }

  #computeDeep(types: protobuf.Type[]): void {
    for (const type of types) if (type.fieldsArray.some(isSensitive)) this.#deep.add(fullName(type));
    // Fixed point: a type is deep when a message it holds is deep (cycles included).
    for (let changed = true; changed; ) {
      changed = false;
      for (const type of types) {
        const name = fullName(type);
        if (this.#deep.has(name)) continue;
        if (type.fieldsArray.some((f) => { const t = messageTypeOf(f); return t !== undefined && this.#deep.has(fullName(t)); })) {
          this.#deep.add(name);
          changed = true;
        }
      }
    }
  }

  /**
   * Plan of `type` at one position under the root. `basePath` is the path of
   * the field holding it (undefined at the root); `template` is the display
   * path with map keys as `[<key>]`. `stack` holds the types on the way, to
   * refuse recursion.
   */
  #node(
    type: protobuf.Type,
    basePath: { path: string; template: string } | undefined,
    stack: string[],
    out: SensitivePathInfo[],
    rings: string[],
  ): NodePlan {
    const fields: FieldPlan[] = [];
    for (const field of type.fieldsArray) {
      const shape = shapeOf(field);
      const path = basePath ? `${basePath.path}.${field.id}` : String(field.id);
      const template = basePath ? `${basePath.template}.${field.id}` : String(field.id);
      const common = {
        prop: tsProtoPropertyName(field.name),
        shape,
        fieldName: fullName(field),
        number: field.id,
        path,
        mapKeyType: shape === 'map' ? mapKeyTypeOf(field) : undefined,
      };
      if (isSensitive(field)) {
        const ring = (field.options?.[KEY_RING_OPTION] as string | undefined) || DEFAULT_KEY_RING;
        const valueType = field.type === 'bytes' ? 'bytes' : 'string';
        if (!rings.includes(ring)) rings.push(ring);
        fields.push({ kind: 'sensitive', ...common, valueType, ring, ringIndex: rings.indexOf(ring), lpPath: lengthPrefixed(path) });
        out.push({ path: shape === 'map' ? `${template}[<key>]` : template, fieldName: common.fieldName, ring, valueType, shape });
        continue;
      }
      const held = messageTypeOf(field);
      if (!held || !this.#deep.has(fullName(held))) continue;
      const heldName = fullName(held);
      if (stack.includes(heldName)) {
        throw new SchemaError(
          `${inFile(held)}message ${heldName} is recursive and has sensitive fields (via ${common.fieldName}): not supported`,
        );
      }
      const childBase = { path, template: shape === 'map' ? `${template}[<key>]` : template };
      const node = this.#node(held, childBase, [...stack, heldName], out, rings);
      fields.push({ kind: 'nested', ...common, node });
    }
    return { typeName: fullName(type), fields };
  }
}

/** Checks the fle.v1 field options of one message (rules at the top of this file). */
function checkFieldOptions(type: protobuf.Type): void {
  for (const field of type.fieldsArray) {
    const name = fullName(field);
    const ring = field.options?.[KEY_RING_OPTION];
    if (!isSensitive(field)) {
      if (ring !== undefined) throw new SchemaError(`${inFile(field)}field ${name} names a key ring but is not marked (fle.v1.sensitive)`);
      continue;
    }
    if (ring !== undefined && typeof ring !== 'string') throw new SchemaError(`${inFile(field)}field ${name}: (fle.v1.key_ring) must be a string`);
    const scalar = field.resolvedType === null && (field.type === 'string' || field.type === 'bytes');
    if (!scalar) {
      const what = field.map ? `map value type ${field.type}` : `type ${field.type}`;
      throw new SchemaError(
        `${inFile(field)}field ${name} is marked (fle.v1.sensitive) but has ${what}: only string and bytes fields can hold an envelope`,
      );
    }
  }
}

/** The field named by `(fle.v1.tenant_field)`, checked: singular, non-sensitive string. */
function tenantFieldOf(type: protobuf.Type): protobuf.Field {
  const option = type.options?.[TENANT_FIELD_OPTION];
  const typeName = fullName(type);
  const file = inFile(type);
  if (typeof option !== 'string' || option === '') {
    throw new SchemaError(`${file}message ${typeName}: (fle.v1.tenant_field) must name a field`);
  }
  const wanted = tsProtoPropertyName(option);
  const field = type.fieldsArray.find((f) => f.name === option || tsProtoPropertyName(f.name) === wanted);
  if (!field) throw new SchemaError(`${file}message ${typeName}: tenant field ${option} does not exist`);
  if (field.type !== 'string' || field.resolvedType !== null || field.repeated || field.map) {
    throw new SchemaError(`${file}message ${typeName}: tenant field ${fullName(field)} must be a singular string`);
  }
  if (isSensitive(field)) {
    throw new SchemaError(`${file}message ${typeName}: tenant field ${fullName(field)} cannot be sensitive (it selects the key)`);
  }
  return field;
}

/** Validates `root` (rules at the top of this file) and precomputes the plans of its root messages. */
export function compileSchema(root: protobuf.Root): CompiledSchema {
  return new CompiledSchema(root);
}
