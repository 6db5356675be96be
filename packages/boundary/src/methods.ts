// Which methods a boundary serves, resolved against the team's loaded schema
// (a protobufjs Root from @fle/schema loadSchema) and bound to the team's
// handlers. Everything is checked here, at load time: a method the schema
// lacks, a streaming method, a routed method without a handler, a route name
// that is not a NATS token or is used twice — each stops start-up with a
// BoundaryConfigError naming it, before anything listens.
import type protobuf from 'protobufjs';
import { messageCodec, type MessageCodec } from '@fle/schema';
import { isValidNatsToken, resolveRpcMethod } from '@fle/service-kit';
import type { Handler, HandlerMap } from './handler.js';

/** A method to serve; `route` is its NATS subject token (default: the method name in kebab case). */
export interface RouteSpec {
  /** Full method path, `/pkg.Service/Method`. */
  readonly method: string;
  readonly route?: string;
}

export interface BoundMethod {
  /** `/pkg.Service/Method` */
  readonly path: string;
  /** `pkg.Service` */
  readonly service: string;
  /** `Method` */
  readonly name: string;
  /** NATS subject token: `fle.rpc.<tenant>.<route>`, `fle.js.<tenant>.<route>`. */
  readonly route: string;
  readonly requestType: string;
  readonly responseType: string;
  readonly request: MessageCodec;
  readonly response: MessageCodec;
  readonly handler: Handler;
}

/** The boundary cannot start with what it was given; the message names the method, route or handler. */
export class BoundaryConfigError extends Error {
  override readonly name = 'BoundaryConfigError';
}

/** `OpenAccount` -> `open-account`: the default route token of a method. */
export function defaultRouteName(methodName: string): string {
  return methodName
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase();
}

function unaryMethodsOf(root: protobuf.Root): Array<{ path: string; name: string }> {
  const out: Array<{ path: string; name: string }> = [];
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      const asService = obj as protobuf.Service;
      if (asService.methods && typeof asService.methodsArray !== 'undefined') {
        for (const m of asService.methodsArray) if (!m.requestStream && !m.responseStream) out.push({ path: `/${asService.fullName.slice(1)}/${m.name}`, name: m.name });
      } else if ((obj as protobuf.Namespace).nestedArray) visit(obj as protobuf.Namespace);
    }
  };
  visit(root);
  return out;
}

function handlerFor(handlers: HandlerMap, path: string, name: string): Handler | undefined {
  const h = Object.hasOwn(handlers, path) ? handlers[path] : Object.hasOwn(handlers, name) ? handlers[name] : undefined;
  return typeof h === 'function' ? h : undefined;
}

/**
 * Binds `handlers` to methods of `root`. With `routes`, exactly those methods
 * are served and each must have a handler (by path, else by method name).
 * Without, every handler key names a method: a full path, or a method name
 * that exactly one service of the schema has.
 */
export function bindMethods(root: protobuf.Root, handlers: HandlerMap, routes?: readonly RouteSpec[]): BoundMethod[] {
  let specs: RouteSpec[];
  if (routes) {
    specs = [...routes];
  } else {
    const all = unaryMethodsOf(root);
    specs = Object.keys(handlers).map((key) => {
      if (key.startsWith('/')) return { method: key };
      const matches = all.filter((m) => m.name === key);
      if (matches.length === 0) throw new BoundaryConfigError(`handler ${JSON.stringify(key)} names no unary method of the schema`);
      if (matches.length > 1) throw new BoundaryConfigError(`handler ${JSON.stringify(key)} is ambiguous (${matches.map((m) => m.path).join(', ')}): key it by the full method path`);
      return { method: matches[0]!.path };
    });
  }
  if (specs.length === 0) throw new BoundaryConfigError('no method to serve: give at least one handler (or route)');
  const bound: BoundMethod[] = [];
  for (const spec of specs) {
    let resolved;
    try {
      resolved = resolveRpcMethod(root, spec.method);
    } catch (err) {
      throw new BoundaryConfigError(`method ${JSON.stringify(spec.method)}: ${(err as Error).message.replace(/^unknown method .*/, 'the schema has no such method')}`);
    }
    const handler = handlerFor(handlers, resolved.path, resolved.method);
    if (!handler) throw new BoundaryConfigError(`no handler for ${resolved.path} (export ${resolved.method} or "${resolved.path}" from the handlers module)`);
    const route = spec.route ?? defaultRouteName(resolved.method);
    if (!isValidNatsToken(route)) throw new BoundaryConfigError(`route ${JSON.stringify(route)} of ${resolved.path} must be a NATS token of [A-Za-z0-9_-]`);
    if (bound.some((b) => b.route === route)) throw new BoundaryConfigError(`route ${JSON.stringify(route)} is used by more than one method`);
    if (bound.some((b) => b.path === resolved.path)) throw new BoundaryConfigError(`method ${resolved.path} is routed twice`);
    bound.push({
      path: resolved.path,
      service: resolved.service,
      name: resolved.method,
      route,
      requestType: resolved.requestType,
      responseType: resolved.responseType,
      request: messageCodec(root, resolved.requestType),
      response: messageCodec(root, resolved.responseType),
      handler,
    });
  }
  return bound;
}
