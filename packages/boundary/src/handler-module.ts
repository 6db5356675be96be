// A team's handlers as an ES module named in config (services/processor's
// `handlers:` key). The module gives its handlers in one of two ways:
//   - a default export: an object of handlers keyed by method name or full
//     method path, or a function (sync or async) returning one, called once
//     at start-up with what the handlers may need (NATS, the cipher, ...);
//   - no default export: its exported functions are the handlers, by export
//     name (= method name, e.g. `export async function Admit(req, ctx)`).
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { JetStreamClient, NatsConnection } from 'nats';
import type protobuf from 'protobufjs';
import type { KeyProvider } from '@fle/field-crypto';
import type { Logger, ServiceMetrics } from '@fle/service-kit';
import type { Handler, HandlerMap } from './handler.js';
import { BoundaryConfigError } from './methods.js';

/** What a handler module's default-export function receives. */
export interface HandlerModuleSetup {
  readonly schema: protobuf.Root;
  readonly keys: KeyProvider;
  readonly nc?: NatsConnection;
  readonly js?: JetStreamClient;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
}

function asMap(value: unknown, path: string): HandlerMap {
  if (!value || typeof value !== 'object') throw new BoundaryConfigError(`handlers module ${path}: its default export must be an object of handlers or a function returning one`);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'function') throw new BoundaryConfigError(`handlers module ${path}: handler ${JSON.stringify(k)} is not a function`);
  }
  return value as HandlerMap;
}

/** Imports the module at `path` (relative to `baseDir`) and returns its handlers; BoundaryConfigError naming the file otherwise. */
export async function loadHandlerModule(path: string, setup: HandlerModuleSetup, baseDir = process.cwd()): Promise<HandlerMap> {
  const abs = isAbsolute(path) ? path : resolve(baseDir, path);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(abs) ? 'no such file' : (err as Error).message.split('\n')[0];
    throw new BoundaryConfigError(`handlers module ${abs} could not be loaded: ${why}`, { cause: err });
  }
  if ('default' in mod && mod.default !== undefined) {
    const d = mod.default;
    return asMap(typeof d === 'function' ? await (d as (s: HandlerModuleSetup) => unknown)(setup) : d, abs);
  }
  const named: Record<string, Handler> = {};
  for (const [k, v] of Object.entries(mod)) if (typeof v === 'function') named[k] = v as Handler;
  if (Object.keys(named).length === 0) throw new BoundaryConfigError(`handlers module ${abs} exports no handler`);
  return named;
}
