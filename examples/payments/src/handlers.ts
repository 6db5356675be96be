// The payments example's handler module: what the processor's config names
// as `handlers:` (or what a team's own process passes to @fle/boundary).
// The default export is called once at start-up; it opens the authorization
// store and returns the handlers by method name.
import type { HandlerMap, HandlerModuleSetup } from '@fle/boundary';
import { compileSchema } from '@fle/field-crypto';
import { AUTHORIZATION_RECORD_PLAIN, AuthorizationStore } from './authorization-store.js';
import { createAuthorizeHandler } from './authorize.js';

export default async function paymentsHandlers(setup: HandlerModuleSetup): Promise<HandlerMap> {
  if (!setup.js) throw new Error('the payments handlers need JetStream (their authorization store is a KV bucket)');
  // Sealed with the processor's own keys (records at rest: @fle/records).
  const store = await AuthorizationStore.open(setup.js, { schema: compileSchema(setup.schema), keys: setup.keys });
  return {
    Authorize: createAuthorizeHandler({ store }),
    // Benchmark baseline (PaymentService.AuthorizePlain): the same handler on the
    // unmarked twin types, storing AuthorizationRecordPlain in the same bucket.
    AuthorizePlain: createAuthorizeHandler({ store: store.withCodec(AUTHORIZATION_RECORD_PLAIN) }),
  };
}
