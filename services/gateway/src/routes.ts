// The gateway's routes, checked against the team's loaded schema before any
// port opens: every `method:` must be a unary method the schema has, every
// `service:` a service of it whose methods are all unary (each becomes a route
// with subject token methodRouteToken(route, Method)). Nothing here knows a
// service by name: what the gateway fronts is the config and the schema.
import type protobuf from 'protobufjs';
import { ConfigError, methodRouteToken } from '@fle/service-kit';
import type { RouteConfig, RouteSelector } from './config.js';

const PATH_RE = /^\/([A-Za-z_][A-Za-z0-9_.]*)\/([A-Za-z_][A-Za-z0-9_]*)$/;

function lookupService(root: protobuf.Root, name: string): protobuf.Service | undefined {
  try {
    const obj = root.lookup(name);
    return obj && Array.isArray((obj as protobuf.Service).methodsArray) ? (obj as protobuf.Service) : undefined;
  } catch {
    return undefined;
  }
}

function isStreaming(m: protobuf.Method): boolean {
  return m.requestStream === true || m.responseStream === true;
}

/** One route per fronted method; ConfigError naming the routes[] entry for anything the schema does not back. */
export function resolveRoutes(selectors: readonly RouteSelector[], root: protobuf.Root): RouteConfig[] {
  const out: RouteConfig[] = [];
  const from: string[] = []; // out[i] came from the selector at from[i]
  for (const sel of selectors) {
    const { method: _m, service: _s, at, ...rest } = sel;
    if (sel.method !== undefined) {
      const m = PATH_RE.exec(sel.method);
      if (!m) throw new ConfigError(`${at}.method ${sel.method} must be a gRPC path /pkg.Service/Method`);
      const svc = lookupService(root, m[1]!);
      if (!svc) throw new ConfigError(`${at}.method ${sel.method}: the schema has no service ${m[1]}`);
      const method = svc.methods[m[2]!];
      if (!method) throw new ConfigError(`${at}.method ${sel.method}: service ${m[1]} has no method ${m[2]}`);
      if (isStreaming(method)) throw new ConfigError(`${at}.method ${sel.method} is a streaming method; the gateway fronts unary methods only`);
      out.push({ ...rest, method: sel.method });
      from.push(at);
    } else {
      const name = sel.service!.replace(/^\./, '');
      const svc = lookupService(root, name);
      if (!svc) throw new ConfigError(`${at}.service ${name}: the schema has no such service`);
      const streaming = svc.methodsArray.filter(isStreaming).map((x) => x.name);
      if (streaming.length > 0) {
        throw new ConfigError(`${at}.service ${name} has streaming methods (${streaming.join(', ')}); the gateway fronts unary methods only: list its unary methods with method: instead`);
      }
      if (svc.methodsArray.length === 0) throw new ConfigError(`${at}.service ${name} has no methods`);
      for (const method of svc.methodsArray) {
        out.push({ ...rest, method: `/${name}/${method.name}`, route: methodRouteToken(sel.route, method.name) });
        from.push(at);
      }
    }
  }
  const seenMethod = new Map<string, string>();
  const seenRoute = new Map<string, string>();
  for (const [i, r] of out.entries()) {
    const at = from[i]!;
    const other = seenMethod.get(r.method);
    if (other) throw new ConfigError(`${at} selects ${r.method}, which ${other} selects already`);
    seenMethod.set(r.method, at);
    // Two methods on one subject would reach the processor as one route.
    const sameRoute = seenRoute.get(r.route);
    if (sameRoute) throw new ConfigError(`${at}: subject token ${r.route} (for ${r.method}) is used by ${sameRoute} too; give each route its own`);
    seenRoute.set(r.route, `${at} (${r.method})`);
  }
  return out;
}
