// Confluent's client-side field-level encryption for the peer table
// (bench/peers.bench.ts, issue 23.4): `@confluentinc/schemaregistry`'s
// Protobuf serializer with an ENCRYPT rule on PII-tagged fields, its
// in-memory schema registry and DEK registry (a `mock://` base URL) and its
// local KMS driver (a secret, no network). The schemas are built here as
// FileDescriptorProtos, PII-tagged with Confluent's own `confluent.field_meta`
// option, because the serializer works on @bufbuild/protobuf messages.
import { create, createFileRegistry, fromBinary, setExtension, toBinary, type DescMessage, type Message } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FieldOptionsSchema,
  FileDescriptorProtoSchema,
  type FileDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import {
  field_meta,
  FieldEncryptionExecutor,
  file_confluent_meta,
  LocalKmsDriver,
  MetaSchema,
  ProtobufDeserializer,
  ProtobufSerializer,
  RuleMode,
  SchemaRegistryClient,
  SerdeType,
  type Client,
  type SchemaInfo,
} from '@confluentinc/schemaregistry';
import type { PeerValue } from './peers-values.js';

export type ConfluentDek = 'AES256_GCM' | 'AES256_SIV';

const SECRET = 'fle-peer-bench-local-kms-secret';
const PACKAGE = 'bench.peers';

let registered = false;
function registerOnce(): void {
  if (registered) return;
  // Process-wide registries of the library (as its own tests do).
  FieldEncryptionExecutor.register();
  LocalKmsDriver.register();
  registered = true;
}

function piiOptions() {
  const options = create(FieldOptionsSchema);
  setExtension(options, field_meta, create(MetaSchema, { tags: ['PII'] }));
  return options;
}

interface FieldSpec {
  name: string;
  number: number;
  type: Type;
  repeated?: boolean;
  typeName?: string;
  pii?: boolean;
  oneofIndex?: number;
}

function field(f: FieldSpec) {
  return {
    name: f.name,
    number: f.number,
    type: f.type,
    label: f.repeated ? Label.REPEATED : Label.OPTIONAL,
    jsonName: f.name,
    ...(f.typeName !== undefined ? { typeName: f.typeName } : {}),
    ...(f.oneofIndex !== undefined ? { oneofIndex: f.oneofIndex } : {}),
    ...(f.pii ? { options: piiOptions() } : {}),
  };
}

function fileOf(name: string, messageType: object[]): FileDescriptorProto {
  return create(FileDescriptorProtoSchema, {
    name,
    package: PACKAGE,
    syntax: 'proto3',
    dependency: ['confluent/meta.proto'],
    messageType: messageType as never,
  });
}

/** One top-level PII field per value (v1 … v12, string or bytes as the value is): the shape Confluent's Protobuf rule handles. */
function flatFile(values: readonly PeerValue[]): FileDescriptorProto {
  return fileOf('bench/peers/flat.proto', [
    {
      name: 'Flat',
      field: values.map((v, i) => field({ name: `v${i + 1}`, number: i + 1, type: v.text !== undefined ? Type.STRING : Type.BYTES, pii: true })),
    },
  ]);
}

/** The e2e request's shape (proto/acme/payments/v1/payments.proto AuthorizeRequest), PII where fle marks `sensitive`. */
function requestFile(tagMap: boolean): FileDescriptorProto {
  return fileOf(`bench/peers/request-${tagMap ? 'map' : 'nomap'}.proto`, [
    {
      name: 'Card',
      field: [
        field({ name: 'number', number: 1, type: Type.STRING, pii: true }),
        field({ name: 'holder_name', number: 2, type: Type.STRING, pii: true }),
        field({ name: 'expiry_month', number: 3, type: Type.UINT32 }),
        field({ name: 'expiry_year', number: 4, type: Type.UINT32 }),
        field({ name: 'cvv', number: 5, type: Type.BYTES, pii: true }),
      ],
    },
    {
      name: 'LineItem',
      field: [
        field({ name: 'sku', number: 1, type: Type.STRING }),
        field({ name: 'quantity', number: 2, type: Type.UINT32 }),
        field({ name: 'note', number: 3, type: Type.STRING, pii: true }),
      ],
    },
    {
      name: 'AuthorizeRequest',
      field: [
        field({ name: 'tenant_id', number: 1, type: Type.STRING }),
        field({ name: 'card', number: 5, type: Type.MESSAGE, typeName: `.${PACKAGE}.Card` }),
        field({ name: 'national_id', number: 6, type: Type.STRING, pii: true }),
        field({ name: 'biometric_template', number: 7, type: Type.BYTES, pii: true }),
        field({ name: 'previous_addresses', number: 8, type: Type.STRING, repeated: true, pii: true }),
        field({ name: 'items', number: 9, type: Type.MESSAGE, repeated: true, typeName: `.${PACKAGE}.LineItem` }),
        field({ name: 'customer_attributes', number: 10, type: Type.MESSAGE, repeated: true, typeName: `.${PACKAGE}.AuthorizeRequest.CustomerAttributesEntry`, pii: tagMap }),
        field({ name: 'email', number: 11, type: Type.STRING, pii: true, oneofIndex: 0 }),
      ],
      oneofDecl: [{ name: 'contact' }],
      nestedType: [
        {
          name: 'CustomerAttributesEntry',
          options: { mapEntry: true },
          field: [field({ name: 'key', number: 1, type: Type.STRING }), field({ name: 'value', number: 2, type: Type.STRING })],
        },
      ],
    },
  ]);
}

/** One Confluent serializer/deserializer pair over one subject with (or without) the ENCRYPT rule. */
export class ConfluentPeer {
  readonly #ser: ProtobufSerializer;
  readonly #des: ProtobufDeserializer;
  readonly #topic: string;
  readonly desc: DescMessage;

  private constructor(ser: ProtobufSerializer, des: ProtobufDeserializer, topic: string, desc: DescMessage) {
    this.#ser = ser;
    this.#des = des;
    this.#topic = topic;
    this.desc = desc;
  }

  static async create(client: Client, file: FileDescriptorProto, root: string, topic: string, dek: ConfluentDek | undefined): Promise<ConfluentPeer> {
    const registry = createFileRegistry(file, (name) => (name === 'confluent/meta.proto' ? file_confluent_meta : undefined));
    const info: SchemaInfo = {
      schemaType: 'PROTOBUF',
      schema: Buffer.from(toBinary(FileDescriptorProtoSchema, file)).toString('base64'),
      ...(dek !== undefined
        ? {
            ruleSet: {
              domainRules: [
                {
                  name: 'encrypt-pii',
                  kind: 'TRANSFORM',
                  mode: RuleMode.WRITEREAD,
                  type: 'ENCRYPT',
                  tags: ['PII'],
                  params: { 'encrypt.kek.name': 'fle-bench-kek', 'encrypt.kms.type': 'local-kms', 'encrypt.kms.key.id': 'fle-bench-key', 'encrypt.dek.algorithm': dek },
                  onFailure: 'ERROR,ERROR',
                },
              ],
            },
          }
        : {}),
    };
    await client.register(`${topic}-value`, info, false);
    const conf = { ruleConfig: { secret: SECRET } };
    const ser = new ProtobufSerializer(client, SerdeType.VALUE, { ...conf, useLatestVersion: true });
    for (const type of registry) if (type.kind === 'message') ser.registry.add(type);
    const des = new ProtobufDeserializer(client, SerdeType.VALUE, conf);
    const desc = registry.getMessage(`${PACKAGE}.${root}`);
    if (desc === undefined) throw new Error(`no message ${root}`);
    return new ConfluentPeer(ser, des, topic, desc);
  }

  /** Serializes a new message made from `init` (the serializer encrypts the message it is given in place). */
  serialize(init: object): Promise<Buffer> {
    return this.#ser.serialize(this.#topic, create(this.desc, init as never));
  }

  deserialize(bytes: Buffer): Promise<Message> {
    return this.#des.deserialize(this.#topic, bytes) as Promise<Message>;
  }

  /** The message inside Confluent's wire format (magic byte, schema id, message indexes), decoded without any rule. */
  payload(bytes: Buffer, headerLength: number): Message {
    return fromBinary(this.desc, bytes.subarray(headerLength));
  }

  encodePayload(message: Message): Uint8Array {
    return toBinary(this.desc, message);
  }
}

export interface ConfluentSetup {
  /** The 12 values as v1 … v12 of one flat message, with the rule (per DEK algorithm) and without. */
  readonly flat: Record<ConfluentDek | 'none', ConfluentPeer>;
  readonly flatInit: object;
  /** What the rule does on the e2e request's own shape (nested, repeated, map, oneof). */
  readonly shapeReport: string;
}

/** Which of the e2e request's 12 values come out sealed when the rule runs on the request's own shape. */
async function checkRequestShape(client: Client, request: Record<string, unknown>, values: readonly PeerValue[]): Promise<string> {
  const parts: string[] = [];
  const withMap = await ConfluentPeer.create(client, requestFile(true), 'AuthorizeRequest', 'fle-peers-shape-map', 'AES256_GCM');
  try {
    await withMap.serialize(request);
    parts.push('a PII-tagged map field serializes');
  } catch (err) {
    parts.push(`a PII-tagged map field fails to serialize ("${(err as Error).message}")`);
  }
  const peer = await ConfluentPeer.create(client, requestFile(false), 'AuthorizeRequest', 'fle-peers-shape', 'AES256_GCM');
  const bytes = await peer.serialize(request);
  const wire = Buffer.from(bytes);
  const others = values.filter((v) => !v.mapValue && !v.label.startsWith('previous_addresses'));
  const clear = others.filter((v) => wire.includes(Buffer.from(v.bytes))).map((v) => v.label);
  parts.push(`with the map untagged, ${clear.length} of the ${others.length} singular values stay in clear (${clear.join(', ') || 'none'})`);
  // Message indexes of the third message of the file: count 1, index 2 (zigzag varints).
  const payload = peer.payload(bytes, 7) as unknown as { previousAddresses: string[] };
  parts.push(`the repeated string field previous_addresses (2 elements) is written as ${payload.previousAddresses.length} one-character strings`);
  try {
    await peer.deserialize(bytes);
    parts.push('and deserializes');
  } catch (err) {
    parts.push(`deserialize fails ("${(err as Error).message}")`);
  }
  return parts.join('; ');
}

export async function confluentSetup(values: readonly PeerValue[], request: Record<string, unknown>): Promise<ConfluentSetup> {
  registerOnce();
  const client = SchemaRegistryClient.newClient({ baseURLs: ['mock://'], cacheCapacity: 1000 });
  const file = flatFile(values);
  const flat = {
    AES256_GCM: await ConfluentPeer.create(client, file, 'Flat', 'fle-peers-gcm', 'AES256_GCM'),
    AES256_SIV: await ConfluentPeer.create(client, file, 'Flat', 'fle-peers-siv', 'AES256_SIV'),
    none: await ConfluentPeer.create(client, file, 'Flat', 'fle-peers-clear', undefined),
  };
  const flatInit = Object.fromEntries(values.map((v, i) => [`v${i + 1}`, v.text ?? v.bytes]));
  return { flat, flatInit, shapeReport: await checkRequestShape(client, request, values) };
}
