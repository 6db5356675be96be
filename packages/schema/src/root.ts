// fle's own protos compiled in (what schemaRoot() returns), apart from mod.ts
// so that the browser entry (browser.ts) has it without load-schema.ts, which
// reads files.
import protobuf from 'protobufjs';
import { descriptorJson } from './gen/descriptor.js';

export { descriptorJson };

let cached: protobuf.Root | undefined;

/** The protobufjs reflection root of fle's own protos (fle.v1 options, the keystore API). */
export function schemaRoot(): protobuf.Root {
  if (!cached) {
    cached = protobuf.Root.fromJSON(descriptorJson as unknown as protobuf.INamespace);
    cached.resolveAll();
  }
  return cached;
}
