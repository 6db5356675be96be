// The product tests' own service schema (proto/fletest/svc/v1/ledger.proto),
// loaded the way a team's schema is: with loadSchema from .proto roots.
import { fileURLToPath } from 'node:url';
import type protobuf from 'protobufjs';
import { loadSchema } from '@fle/schema';

/** The folder holding the fixture's .proto files (a proto root). */
export const FIXTURE_PROTO_DIR = fileURLToPath(new URL('../proto', import.meta.url));

export const FIXTURE_SERVICE = 'fletest.svc.v1.LedgerService';
export const FIXTURE_METHOD = `/${FIXTURE_SERVICE}/Submit`;
export const FIXTURE_PLAIN_METHOD = `/${FIXTURE_SERVICE}/SubmitPlain`;
export const FIXTURE_REQUEST = 'fletest.svc.v1.SubmitRequest';
export const FIXTURE_RESPONSE = 'fletest.svc.v1.SubmitResponse';
export const FIXTURE_RECORD = 'fletest.svc.v1.StoredEntry';

let cached: protobuf.Root | undefined;

/** The fixture schema's reflection root (loaded once per process). */
export function fixtureSchema(): protobuf.Root {
  cached ??= loadSchema({ protoRoots: [FIXTURE_PROTO_DIR] });
  return cached;
}
