// Handlers by the name routes use in the processor config.
import type { Handler } from './handler.js';
import { AUTHORIZATION_RECORD_PLAIN, type AuthorizationStore } from './authorization-store.js';
import { createAuthorizeHandler } from './authorize.js';

export interface HandlerDeps {
  readonly authorizations: () => Promise<AuthorizationStore>;
}

export const HANDLERS: Record<string, (deps: HandlerDeps) => Promise<Handler>> = {
  authorize: async (deps) => createAuthorizeHandler({ store: await deps.authorizations() }),
  // Benchmark baseline (PaymentService.AuthorizePlain): the same handler on the
  // unmarked twin types, storing AuthorizationRecordPlain in the same bucket.
  'authorize-plain': async (deps) => createAuthorizeHandler({ store: (await deps.authorizations()).withCodec(AUTHORIZATION_RECORD_PLAIN) }),
};
