// @fle/schema: the one place protobuf definitions enter TypeScript.
import protobuf from 'protobufjs';
import { descriptorJson } from './gen/descriptor.js';

export { descriptorJson };

let cached: protobuf.Root | undefined;

/** The protobufjs reflection root of every message in proto/ (fle.v1 options included). */
export function schemaRoot(): protobuf.Root {
  if (!cached) {
    cached = protobuf.Root.fromJSON(descriptorJson as unknown as protobuf.INamespace);
    cached.resolveAll();
  }
  return cached;
}
