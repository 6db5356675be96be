// Resolve a gRPC method path (`/pkg.Service/Method`) to the fully-qualified
// protobuf names of its request and response, from the reflection schema.
// Structural types keep service-kit free of a protobufjs dependency.
import { RoutingError } from './errors.js';

interface MethodLike {
  requestStream?: boolean;
  responseStream?: boolean;
  resolvedRequestType: { fullName: string } | null;
  resolvedResponseType: { fullName: string } | null;
}
interface ServiceLike {
  methods: Record<string, MethodLike>;
}
export interface SchemaRootLike {
  lookupService(path: string): ServiceLike;
}

export interface RpcMethod {
  /** `/shop.v1.OrderService/PlaceOrder` */
  readonly path: string;
  /** `shop.v1.OrderService` */
  readonly service: string;
  /** `PlaceOrder` */
  readonly method: string;
  /** Fully-qualified request type without a leading dot (envelope-v1 §3 message_type). */
  readonly requestType: string;
  readonly responseType: string;
}

const PATH_RE = /^\/([A-Za-z_][A-Za-z0-9_.]*)\/([A-Za-z_][A-Za-z0-9_]*)$/;

export function resolveRpcMethod(root: SchemaRootLike, path: string): RpcMethod {
  const m = PATH_RE.exec(path);
  if (!m) throw new RoutingError('UNKNOWN_METHOD', 'malformed gRPC method path');
  const [, service, method] = m as unknown as [string, string, string];
  let svc: ServiceLike;
  try {
    svc = root.lookupService(service);
  } catch {
    throw new RoutingError('UNKNOWN_METHOD', `unknown service ${service}`);
  }
  const def = svc.methods[method];
  if (!def || !def.resolvedRequestType || !def.resolvedResponseType) {
    throw new RoutingError('UNKNOWN_METHOD', `unknown method ${path}`);
  }
  if (def.requestStream || def.responseStream) throw new RoutingError('UNKNOWN_METHOD', `streaming method ${path} is not supported`);
  const strip = (n: string) => (n.startsWith('.') ? n.slice(1) : n);
  return {
    path,
    service,
    method,
    requestType: strip(def.resolvedRequestType.fullName),
    responseType: strip(def.resolvedResponseType.fullName),
  };
}
