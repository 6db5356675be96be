// Handlers by the name routes use in the processor config.
import type { Handler } from './handler.js';
import type { AuthorizationStore } from './authorization-store.js';
import { createAuthorizeHandler } from './authorize.js';

export interface HandlerDeps {
  readonly authorizations: () => Promise<AuthorizationStore>;
}

export const HANDLERS: Record<string, (deps: HandlerDeps) => Promise<Handler>> = {
  authorize: async (deps) => createAuthorizeHandler({ store: await deps.authorizations() }),
};
