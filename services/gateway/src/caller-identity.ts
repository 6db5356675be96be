// The caller's identity, once per TLS connection (issue 23 item 3). Reading it
// from `getAuthContext()` builds the peer certificate object
// (`getPeerCertificate()`) and parses its SAN on every call, ~18 µs; a
// connection's peer certificate cannot change while it is open (TLS 1.3 has no
// renegotiation and HTTP/2 forbids it under 1.2), so the identity is kept per
// TLS socket and dropped with it.
import { TLSSocket } from 'node:tls';
import type { ServerUnaryCall } from '@grpc/grpc-js';
import { identityFromPeerCertificate } from '@fle/pki';

const byConnection = new WeakMap<TLSSocket, string | undefined>();

interface CallChain {
  readonly call?: CallChain;
  readonly nextCall?: CallChain;
  readonly stream?: { readonly session?: { readonly socket?: unknown } };
}

/**
 * The call's TLS socket. grpc-js keeps it on the HTTP/2 stream's session,
 * below its call wrappers; that is not public API, so any other shape gives
 * undefined and the caller reads the certificate the public way.
 */
export function tlsSocketOf(call: ServerUnaryCall<unknown, unknown>): TLSSocket | undefined {
  let c = (call as unknown as CallChain).call;
  for (let depth = 0; c && depth < 8; depth++) {
    const socket = c.stream?.session?.socket;
    if (socket instanceof TLSSocket) return socket;
    c = c.nextCall;
  }
  return undefined;
}

/** SPIFFE ID of the authenticated caller (undefined when its certificate has none), parsed once per connection. */
export function callerIdentity(call: ServerUnaryCall<unknown, unknown>): string | undefined {
  const socket = tlsSocketOf(call);
  if (!socket?.authorized) return identityFromPeerCertificate(call.getAuthContext()?.sslPeerCertificate);
  if (byConnection.has(socket)) return byConnection.get(socket);
  const identity = identityFromPeerCertificate(call.getAuthContext()?.sslPeerCertificate);
  byConnection.set(socket, identity);
  return identity;
}
