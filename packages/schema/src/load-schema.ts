// A team's schema at run time: the protobufjs reflection root that the field
// walk (compileSchema), the gateway, the boundary library, the client SDK and
// the CLI read, built from what the team builds, never from code compiled into
// fle:
//   - a Buf image or FileDescriptorSet file (`buf build -o schema.binpb`; a Buf
//     image is wire-compatible with FileDescriptorSet), or
//   - a list of .proto roots (every .proto file under them is loaded).
// fle's own options (fle/v1/options.proto) resolve from this package's proto/
// folder, so a team's proto imports "fle/v1/options.proto" either way.
//
// The root has the shape protobufjs gives `loadSync(files, { keepCase: false })`:
// camelCase field names (the JS property names the walk uses) and the fle.v1
// options as `(fle.v1.sensitive)`, `(fle.v1.key_ring)`, `(fle.v1.tenant_field)`.
// Every reflection object carries the .proto file it came from (`filename`),
// so load-time errors name file, message and field.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createFileRegistry,
  fromBinary,
  getOption,
  hasOption,
  type DescEnum,
  type DescExtension,
  type DescField,
  type DescMessage,
  type DescService,
  type FileRegistry,
} from '@bufbuild/protobuf';
import { FileDescriptorSetSchema, type FileDescriptorSet } from '@bufbuild/protobuf/wkt';
import protobuf from 'protobufjs';

/** Where a schema comes from; exactly one of `image` and `protoRoots`. */
export interface SchemaSource {
  /** Path of a Buf image or FileDescriptorSet (binary), e.g. from `buf build -o schema.binpb`. */
  readonly image?: string;
  /** Folders whose .proto files (recursively) make the schema; imports resolve against all of them. */
  readonly protoRoots?: readonly string[];
  /** Base for relative paths (default: the process's working directory); a config file's folder, say. */
  readonly baseDir?: string;
}

/** The schema could not be loaded: the message names the file and what is wrong, on one line. */
export class SchemaLoadError extends Error {
  override readonly name = 'SchemaLoadError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The folder holding fle/v1/options.proto (a Buf module folder shipped with @fle/schema). */
export const FLE_PROTO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'proto');
const GOOGLE_PROTO_DIR = dirname(fileURLToPath(import.meta.resolve('protobufjs/package.json')));

const SENSITIVE = 'fle.v1.sensitive';
const KEY_RING = 'fle.v1.key_ring';
const TENANT_FIELD = 'fle.v1.tenant_field';

/** Load a team's schema (see the file comment). Throws SchemaLoadError. */
export function loadSchema(source: SchemaSource): protobuf.Root {
  const base = source.baseDir ?? process.cwd();
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  if (source.image !== undefined && source.protoRoots !== undefined) {
    throw new SchemaLoadError('schema: give either an image or proto roots, not both');
  }
  if (source.image !== undefined) return loadImage(abs(source.image));
  if (source.protoRoots !== undefined && source.protoRoots.length > 0) return loadProtoRoots(source.protoRoots.map(abs));
  throw new SchemaLoadError('schema: give an image (buf build -o schema.binpb) or a list of proto roots');
}

// ---------------------------------------------------------------- .proto roots

function protoFilesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return protoFilesUnder(path, base);
    return name.endsWith('.proto') ? [relative(base, path)] : [];
  });
}

function loadProtoRoots(roots: readonly string[]): protobuf.Root {
  for (const dir of roots) {
    let ok = false;
    try {
      ok = statSync(dir).isDirectory();
    } catch {
      /* reported below */
    }
    if (!ok) throw new SchemaLoadError(`schema: proto root ${dir} is not a folder`);
  }
  const files = [...new Set(roots.flatMap((dir) => protoFilesUnder(dir)))].sort();
  if (files.length === 0) throw new SchemaLoadError(`schema: no .proto files under ${roots.join(', ')}`);
  const root = new protobuf.Root();
  const searchDirs = [...roots, FLE_PROTO_DIR];
  root.resolvePath = (_origin, target) => {
    if (isAbsolute(target)) return target;
    if (target.startsWith('google/protobuf/')) return join(GOOGLE_PROTO_DIR, target);
    for (const dir of searchDirs) {
      const path = join(dir, target);
      try {
        if (statSync(path).isFile()) return path;
      } catch {
        /* next folder */
      }
    }
    return join(roots[0]!, target); // protobufjs reports the missing file
  };
  try {
    root.loadSync(files, { keepCase: false });
    root.resolveAll();
  } catch (err) {
    throw new SchemaLoadError(`schema: ${oneLine(err)}`, { cause: err });
  }
  return root;
}

// ---------------------------------------------------------------- image

function loadImage(path: string): protobuf.Root {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new SchemaLoadError(`schema: cannot read image ${path}: ${(err as NodeJS.ErrnoException).code ?? oneLine(err)}`);
  }
  let set: FileDescriptorSet;
  let registry: FileRegistry;
  try {
    set = fromBinary(FileDescriptorSetSchema, bytes);
    if (set.file.length === 0) throw new Error('it holds no files');
    registry = createFileRegistry(set);
  } catch (err) {
    throw new SchemaLoadError(`schema: ${path} is not a Buf image or FileDescriptorSet (${oneLine(err)})`, { cause: err });
  }
  try {
    return rootFromRegistry(registry);
  } catch (err) {
    throw new SchemaLoadError(`schema: ${path}: ${oneLine(err)}`, { cause: err });
  }
}

/** protobufjs names of FieldDescriptorProto.Type values (descriptor.proto). */
const SCALAR_NAMES: Record<number, string> = {
  1: 'double', 2: 'float', 3: 'int64', 4: 'uint64', 5: 'int32', 6: 'fixed64', 7: 'fixed32', 8: 'bool',
  9: 'string', 12: 'bytes', 13: 'uint32', 15: 'sfixed32', 16: 'sfixed64', 17: 'sint32', 18: 'sint64',
};

interface FleOptions {
  readonly sensitive?: DescExtension;
  readonly keyRing?: DescExtension;
  readonly tenantField?: DescExtension;
}

function rootFromRegistry(registry: FileRegistry): protobuf.Root {
  const ext = (name: string): DescExtension | undefined => registry.getExtension(name);
  const opts: FleOptions = { sensitive: ext(SENSITIVE), keyRing: ext(KEY_RING), tenantField: ext(TENANT_FIELD) };
  const root = new protobuf.Root();
  const filenames: Array<[string, string]> = []; // full name -> .proto file
  for (const file of registry.files) {
    if (file.name.startsWith('google/protobuf/')) continue; // protobufjs has its own
    const pkg = file.proto.package;
    const ns: protobuf.NamespaceBase = pkg ? root.define(pkg) : root;
    // protobufjs derives packing and presence from the edition of each top-level object.
    const syntax = file.proto.syntax || 'proto2';
    if (syntax !== 'proto2' && syntax !== 'proto3') throw new Error(`${file.proto.name}: syntax "${syntax}" is not supported (use proto3)`);
    const pinned = <T extends protobuf.ReflectionObject>(obj: T): T => Object.assign(obj, { _edition: syntax });
    for (const e of file.enums) ns.add(pinned(enumOf(e)));
    for (const m of file.messages) ns.add(pinned(typeOf(m, opts)));
    for (const s of file.services) ns.add(pinned(serviceOf(s)));
    const mark = (name: string): void => void filenames.push([name, file.proto.name]);
    for (const m of file.messages) forEachMessage(m, (x) => mark(x.typeName));
    for (const e of file.enums) mark(e.typeName);
    for (const s of file.services) mark(s.typeName);
  }
  root.resolveAll();
  for (const [name, file] of filenames) {
    const obj = root.lookup(name);
    if (!obj) continue;
    obj.filename = file;
    if (obj instanceof protobuf.Type) for (const f of obj.fieldsArray) f.filename = file;
  }
  return root;
}

function forEachMessage(m: DescMessage, fn: (m: DescMessage) => void): void {
  fn(m);
  for (const n of m.nestedMessages) forEachMessage(n, fn);
}

function enumOf(e: DescEnum): protobuf.Enum {
  const values: Record<string, number> = {};
  for (const v of e.values) values[v.name] = v.number;
  return new protobuf.Enum(e.name, values);
}

function typeOf(m: DescMessage, opts: FleOptions): protobuf.Type {
  const type = new protobuf.Type(m.name);
  if (opts.tenantField && hasOption(m, opts.tenantField)) {
    type.setOption(`(${TENANT_FIELD})`, String(getOption(m, opts.tenantField))); // as written, like loadSync
  }
  for (const n of m.nestedEnums) type.add(enumOf(n));
  for (const n of m.nestedMessages) {
    if (n.proto.options?.mapEntry) continue; // protobufjs models maps as MapField
    type.add(typeOf(n, opts));
  }
  for (const f of m.fields) type.add(fieldOf(f, opts));
  for (const r of m.proto.reservedRange) type.reserved = [...(type.reserved ?? []), [r.start, r.end - 1]];
  if (m.proto.reservedName.length > 0) type.reserved = [...(type.reserved ?? []), ...m.proto.reservedName];
  for (const o of m.oneofs) {
    type.add(new protobuf.OneOf(o.name, o.fields.map((f) => protobuf.util.camelCase(f.name))));
  }
  // proto3 `optional` makes a synthetic oneof, which protobuf-es leaves out and protobufjs's loadSync keeps.
  for (const f of m.fields) {
    if (f.proto.proto3Optional) type.add(new protobuf.OneOf(`_${f.name}`, [protobuf.util.camelCase(f.name)]));
  }
  return type;
}

function fieldOf(f: DescField, opts: FleOptions): protobuf.Field | protobuf.MapField {
  const name = protobuf.util.camelCase(f.name);
  const options: Record<string, unknown> = {};
  if (opts.sensitive && hasOption(f, opts.sensitive) && getOption(f, opts.sensitive) === true) options[`(${SENSITIVE})`] = true;
  if (opts.keyRing && hasOption(f, opts.keyRing)) options[`(${KEY_RING})`] = getOption(f, opts.keyRing);
  if (f.proto.proto3Optional) options.proto3_optional = true;
  if (f.fieldKind === 'map') {
    const entry = f.message ?? f.enum; // value type
    const valueType = f.mapKind === 'scalar' ? SCALAR_NAMES[f.scalar]! : `.${entry!.typeName}`;
    return new protobuf.MapField(name, f.number, SCALAR_NAMES[f.mapKey]!, valueType, options);
  }
  const typeName = f.proto.typeName; // ".pkg.Msg" for messages and enums
  const type = typeName ? typeName : SCALAR_NAMES[f.proto.type];
  if (!type) throw new Error(`field ${f.parent.typeName}.${f.name} has an unsupported type (groups are not supported)`);
  const rule = f.fieldKind === 'list' ? 'repeated' : undefined;
  const field = new protobuf.Field(name, f.number, type, rule, undefined, options);
  return field;
}

function serviceOf(s: DescService): protobuf.Service {
  const service = new protobuf.Service(s.name);
  for (const m of s.methods) {
    service.add(
      new protobuf.Method(m.name, 'rpc', `.${m.input.typeName}`, `.${m.output.typeName}`, m.methodKind === 'client_streaming' || m.methodKind === 'bidi_streaming', m.methodKind === 'server_streaming' || m.methodKind === 'bidi_streaming'),
    );
  }
  return service;
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 500);
}
