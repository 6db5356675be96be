// @fle/schema: the one place protobuf definitions enter TypeScript.
//   - loadSchema: a team's schema at run time (Buf image or .proto roots);
//   - codec: encode/decode and grpc-js service definitions by reflection;
//   - schemaRoot: fle's own protos (the keystore API), compiled in.
import protobuf from 'protobufjs';
import { descriptorJson } from './gen/descriptor.js';

export { descriptorJson };
export { FLE_PROTO_DIR, loadSchema, SchemaLoadError, type SchemaSource } from './load-schema.js';
export { messageCodec, serviceDefinition, serviceNames, type MessageCodec, type ReflectedMethodDefinition } from './codec.js';

let cached: protobuf.Root | undefined;

/** The protobufjs reflection root of fle's own protos (fle.v1 options, the keystore API). */
export function schemaRoot(): protobuf.Root {
  if (!cached) {
    cached = protobuf.Root.fromJSON(descriptorJson as unknown as protobuf.INamespace);
    cached.resolveAll();
  }
  return cached;
}
