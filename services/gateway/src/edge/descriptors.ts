// The team's schema as @bufbuild/protobuf descriptors, for the edge's Connect
// router (@connectrpc/connect needs DescService / DescMessage to read and
// write Connect JSON and binary, gRPC-Web and gRPC). The gateway loads the
// schema once with protobufjs (config `schema:`, a Buf image or .proto roots);
// this turns that loaded root into a FileDescriptorSet, so both listeners
// serve exactly the schema the wire check and checkSealed were compiled from.
//
// Only what a codec needs is carried over (messages, nested types, enums,
// fields with their numbers, types, labels, oneofs, proto3 optional, maps, and
// services); options (fle's marks included) stay with protobufjs, where
// compileSchema reads them. One descriptor file per package.
import { create, createFileRegistry, type FileRegistry } from '@bufbuild/protobuf';
import {
  DescriptorProtoSchema,
  EnumDescriptorProtoSchema,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldDescriptorProtoSchema,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  MethodDescriptorProtoSchema,
  ServiceDescriptorProtoSchema,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
  type ServiceDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import protobuf from 'protobufjs';

const SCALARS: Record<string, FieldDescriptorProto_Type> = {
  double: FieldDescriptorProto_Type.DOUBLE,
  float: FieldDescriptorProto_Type.FLOAT,
  int64: FieldDescriptorProto_Type.INT64,
  uint64: FieldDescriptorProto_Type.UINT64,
  int32: FieldDescriptorProto_Type.INT32,
  fixed64: FieldDescriptorProto_Type.FIXED64,
  fixed32: FieldDescriptorProto_Type.FIXED32,
  bool: FieldDescriptorProto_Type.BOOL,
  string: FieldDescriptorProto_Type.STRING,
  bytes: FieldDescriptorProto_Type.BYTES,
  uint32: FieldDescriptorProto_Type.UINT32,
  sfixed32: FieldDescriptorProto_Type.SFIXED32,
  sfixed64: FieldDescriptorProto_Type.SFIXED64,
  sint32: FieldDescriptorProto_Type.SINT32,
  sint64: FieldDescriptorProto_Type.SINT64,
};

/** `.a.b.C` -> `a.b.C` */
const bare = (fullName: string): string => fullName.replace(/^\./, '');

/** The package a reflection object belongs to: the names of its enclosing namespaces that are not types. */
function packageOf(obj: protobuf.ReflectionObject): string {
  const parts: string[] = [];
  for (let p = obj.parent; p && !(p instanceof protobuf.Root); p = p.parent) {
    if (p instanceof protobuf.Type || p instanceof protobuf.Service) parts.length = 0; // nested inside a type: the type's package
    else parts.unshift(p.name);
  }
  return parts.join('.');
}

function upperFirst(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function lowerCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

class FileBuilder {
  readonly deps = new Set<string>();
  readonly messages: DescriptorProto[] = [];
  readonly enums: EnumDescriptorProto[] = [];
  readonly services: ServiceDescriptorProto[] = [];
  constructor(readonly pkg: string) {}

  fileName(pkg = this.pkg): string {
    return `${pkg === '' ? '_root' : pkg.replace(/\./g, '/')}/fle_edge_reflected.proto`;
  }

  refer(type: protobuf.ReflectionObject): string {
    const pkg = packageOf(type);
    if (pkg !== this.pkg) this.deps.add(this.fileName(pkg));
    return `.${bare(type.fullName)}`;
  }

  field(f: protobuf.Field, oneofIndex: number | undefined, proto3Optional: boolean): FieldDescriptorProto {
    f.resolve();
    const scalar = SCALARS[f.type];
    const out = create(FieldDescriptorProtoSchema, {
      name: f.name,
      jsonName: lowerCamel(f.name),
      number: f.id,
      label: f.repeated ? FieldDescriptorProto_Label.REPEATED : FieldDescriptorProto_Label.OPTIONAL,
      type: scalar ?? (f.resolvedType instanceof protobuf.Enum ? FieldDescriptorProto_Type.ENUM : FieldDescriptorProto_Type.MESSAGE),
      ...(scalar === undefined ? { typeName: this.refer(f.resolvedType!) } : {}),
      ...(oneofIndex !== undefined ? { oneofIndex } : {}),
      ...(proto3Optional ? { proto3Optional: true } : {}),
    });
    return out;
  }

  message(t: protobuf.Type): DescriptorProto {
    const nestedType: DescriptorProto[] = [];
    const enumType: EnumDescriptorProto[] = [];
    const field: FieldDescriptorProto[] = [];
    // Real oneofs first, then the synthetic ones of proto3 optional (descriptor order rule).
    const oneofs = t.oneofsArray;
    const synthetic = (o: protobuf.OneOf): boolean => o.fieldsArray.length === 1 && o.fieldsArray[0]!.options?.proto3_optional === true;
    const ordered = [...oneofs.filter((o) => !synthetic(o)), ...oneofs.filter(synthetic)];
    for (const f of t.fieldsArray) {
      if (f.extend !== undefined || f.name.startsWith('.')) continue; // an extension (fle's options on FieldOptions): not a field of the message's codec
      if (f instanceof protobuf.MapField) {
        const entryName = `${upperFirst(lowerCamel(f.name))}Entry`;
        const value = SCALARS[f.type];
        f.resolve();
        nestedType.push(
          create(DescriptorProtoSchema, {
            name: entryName,
            options: { mapEntry: true },
            field: [
              create(FieldDescriptorProtoSchema, { name: 'key', jsonName: 'key', number: 1, label: FieldDescriptorProto_Label.OPTIONAL, type: SCALARS[f.keyType]! }),
              create(FieldDescriptorProtoSchema, {
                name: 'value',
                jsonName: 'value',
                number: 2,
                label: FieldDescriptorProto_Label.OPTIONAL,
                type: value ?? (f.resolvedType instanceof protobuf.Enum ? FieldDescriptorProto_Type.ENUM : FieldDescriptorProto_Type.MESSAGE),
                ...(value === undefined ? { typeName: this.refer(f.resolvedType!) } : {}),
              }),
            ],
          }),
        );
        field.push(
          create(FieldDescriptorProtoSchema, {
            name: f.name,
            jsonName: lowerCamel(f.name),
            number: f.id,
            label: FieldDescriptorProto_Label.REPEATED,
            type: FieldDescriptorProto_Type.MESSAGE,
            typeName: `.${bare(t.fullName)}.${entryName}`,
          }),
        );
        continue;
      }
      const idx = f.partOf ? ordered.indexOf(f.partOf) : -1;
      field.push(this.field(f, idx >= 0 ? idx : undefined, f.partOf ? synthetic(f.partOf) : false));
    }
    for (const n of t.nestedArray) {
      if (n instanceof protobuf.Type) nestedType.push(this.message(n));
      else if (n instanceof protobuf.Enum) enumType.push(enumOf(n));
    }
    return create(DescriptorProtoSchema, {
      name: t.name,
      field,
      nestedType,
      enumType,
      oneofDecl: ordered.map((o) => ({ name: o.name })),
    });
  }

  service(s: protobuf.Service): ServiceDescriptorProto {
    return create(ServiceDescriptorProtoSchema, {
      name: s.name,
      method: s.methodsArray.map((m) => {
        m.resolve();
        return create(MethodDescriptorProtoSchema, {
          name: m.name,
          inputType: this.refer(m.resolvedRequestType!),
          outputType: this.refer(m.resolvedResponseType!),
          clientStreaming: m.requestStream === true,
          serverStreaming: m.responseStream === true,
        });
      }),
    });
  }

  build(): FileDescriptorProto {
    return create(FileDescriptorProtoSchema, {
      name: this.fileName(),
      package: this.pkg,
      syntax: 'proto3',
      dependency: [...this.deps].sort(),
      messageType: this.messages,
      enumType: this.enums,
      service: this.services,
    });
  }
}

function enumOf(e: protobuf.Enum): EnumDescriptorProto {
  return create(EnumDescriptorProtoSchema, { name: e.name, value: Object.entries(e.values).map(([name, number]) => ({ name, number })) });
}

/** Every message, enum and service of `root` as a @bufbuild/protobuf registry (one file per package). */
export function registryFromRoot(root: protobuf.Root): FileRegistry {
  root.resolveAll();
  const files = new Map<string, FileBuilder>();
  const fileFor = (pkg: string): FileBuilder => {
    let f = files.get(pkg);
    if (!f) files.set(pkg, (f = new FileBuilder(pkg)));
    return f;
  };
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const n of ns.nestedArray) {
      if (n instanceof protobuf.Type) fileFor(packageOf(n)).messages.push(fileFor(packageOf(n)).message(n));
      else if (n instanceof protobuf.Enum) fileFor(packageOf(n)).enums.push(enumOf(n));
      else if (n instanceof protobuf.Service) fileFor(packageOf(n)).services.push(fileFor(packageOf(n)).service(n));
      else if (n instanceof protobuf.Namespace) walk(n);
    }
  };
  walk(root);
  return createFileRegistry(create(FileDescriptorSetSchema, { file: [...files.values()].map((f) => f.build()) }));
}
