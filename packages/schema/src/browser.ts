// @fle/schema under the "browser" export condition: everything of mod.ts that
// needs no file system (loadSchema reads a team's schema from disk; a page gets
// its descriptors another way).
export { descriptorJson, schemaRoot } from './root.js';
export { messageCodec, serviceDefinition, serviceNames, type MessageCodec, type ReflectedMethodDefinition } from './codec.js';
