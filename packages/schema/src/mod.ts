// @fle/schema: the one place protobuf definitions enter TypeScript.
//   - loadSchema: a team's schema at run time (Buf image or .proto roots);
//   - codec: encode/decode and grpc-js service definitions by reflection;
//   - schemaRoot: fle's own protos (the keystore API), compiled in.
export { descriptorJson, schemaRoot } from './root.js';
export { FLE_PROTO_DIR, loadSchema, SchemaLoadError, type SchemaSource } from './load-schema.js';
export { messageCodec, serviceDefinition, serviceNames, type MessageCodec, type ReflectedMethodDefinition } from './codec.js';
