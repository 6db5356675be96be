// Who may call through the public edge (docs/edge.md "Authentication"), per
// route: a bearer JWT (jose, against a JWKS file or URL: signature, issuer,
// audience, expiry, and a tenant claim equal to the request's tenant), a
// device enrolled in the keystore (every envelope alg 4, its sender key an
// active device of the tenant), or both. Whatever the route's auth, an edge
// request carries public-key envelopes only (alg 3/4): a symmetric envelope
// means the app holds a tenant's secret key.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { UnknownSenderError, type SealedValue } from '@fle/field-crypto';
import type { KeystoreDeviceRegistry } from '@fle/keystore-client';
import { ConfigError, FleServiceError, RoutingError } from '@fle/service-kit';
import type { EdgeJwtConfig } from './config.js';

/** No, a malformed, an expired or a forged bearer token: UNAUTHENTICATED. The message never holds the token. */
export class EdgeUnauthenticatedError extends FleServiceError {
  constructor(message: string) {
    super('UNAUTHENTICATED', message);
  }
}

/** A symmetric (alg 1/2) envelope through the edge: PERMISSION_DENIED, naming the field. */
export class SymmetricEnvelopeError extends FleServiceError {
  constructor(readonly fieldPath: string, alg: number) {
    super(
      'SYMMETRIC_ENVELOPE',
      `field ${fieldPath} holds a symmetric envelope (alg ${alg}): a secret key must not ship in an app; seal with the tenant's public keys (alg 3/4, @fle/client/browser)`,
    );
  }
}

/** Only asymmetric JWS algorithms: an HMAC secret shared with the edge would be one more secret to leak. */
const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

export interface VerifiedToken {
  readonly subject: string | undefined;
  readonly tenant: string;
}

export class JwtVerifier {
  readonly #keys: JWTVerifyGetKey;
  constructor(private readonly cfg: EdgeJwtConfig) {
    if (cfg.jwksFile !== undefined) {
      let jwks: unknown;
      try {
        jwks = JSON.parse(readFileSync(cfg.jwksFile, 'utf8'));
      } catch (err) {
        throw new ConfigError(`edge.jwt.jwks: cannot read ${cfg.jwksFile} as a JWKS (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      if (!jwks || typeof jwks !== 'object' || !Array.isArray((jwks as { keys?: unknown }).keys)) throw new ConfigError(`edge.jwt.jwks: ${cfg.jwksFile} has no "keys" list`);
      this.#keys = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
    } else {
      // jose caches the set and refetches it (rate-limited) when a token names an unknown kid.
      this.#keys = createRemoteJWKSet(new URL(cfg.jwksUrl!), { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
    }
  }

  /** `Authorization: Bearer <jwt>` -> the verified subject and tenant claim; EdgeUnauthenticatedError otherwise. */
  async verify(authorization: string | null | undefined): Promise<VerifiedToken> {
    const m = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\s*$/i.exec(authorization ?? '');
    if (!authorization) throw new EdgeUnauthenticatedError('this route needs a bearer token (Authorization: Bearer <JWT>)');
    if (!m) throw new EdgeUnauthenticatedError('the Authorization header is not a bearer JWT');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(m[1]!, this.#keys, {
        issuer: this.cfg.issuer,
        audience: this.cfg.audience,
        algorithms: JWT_ALGORITHMS,
        clockTolerance: this.cfg.clockToleranceSeconds,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw new EdgeUnauthenticatedError(tokenRefusal(err));
    }
    const tenant = payload[this.cfg.tenantClaim];
    if (typeof tenant !== 'string' || tenant === '') throw new EdgeUnauthenticatedError(`the bearer token has no ${this.cfg.tenantClaim} claim`);
    return { subject: typeof payload.sub === 'string' ? payload.sub : undefined, tenant };
  }
}

/** A short, safe reason (jose's codes; never the token or its claims' values). */
function tokenRefusal(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'the bearer token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `the bearer token's ${err.claim} claim is not accepted`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'the bearer token signature does not verify';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'the bearer token is signed by a key the edge does not know';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'the bearer token uses an algorithm the edge does not accept';
  if (err instanceof joseErrors.JWKSTimeout || (err instanceof joseErrors.JOSEError && err.code === 'ERR_JOSE_GENERIC')) {
    // The key set could not be fetched: the caller cannot fix that; still refuse (fail closed).
    return 'the bearer token cannot be verified now';
  }
  return 'the bearer token is not valid';
}

/** The token's tenant must be the request's: PERMISSION_DENIED otherwise. */
export function checkTokenTenant(token: VerifiedToken, tenant: string): void {
  if (token.tenant !== tenant) throw new RoutingError('TENANT_MISMATCH', "the bearer token's tenant is not the request's tenant");
}

/** Every envelope of an edge request must be alg 3/4 (public keys). */
export function checkPublicKeyEnvelopes(values: readonly SealedValue[]): void {
  for (const v of values) if (v.alg !== 3 && v.alg !== 4) throw new SymmetricEnvelopeError(v.path, v.alg);
}

/**
 * Device authentication: every envelope alg 4, sealed by an active device of
 * the tenant (the keystore's registry, cached: a revoked device is refused
 * within its TTL). Returns the device ids. UNKNOWN_SENDER (PERMISSION_DENIED) otherwise.
 */
export async function checkDeviceSenders(registry: KeystoreDeviceRegistry, tenant: string, values: readonly SealedValue[]): Promise<string[]> {
  if (values.length === 0) throw new EdgeUnauthenticatedError('this route needs device authentication: at least one field sealed by the device (alg 4)');
  const ids = new Set<string>();
  for (const v of values) {
    if (v.alg !== 4) throw new UnknownSenderError(v.path, 'sender-required');
    const id = await registry.deviceOf(tenant, v.senderPublicKey!);
    if (id === undefined) throw new UnknownSenderError(v.path, 'unregistered-device');
    ids.add(id);
  }
  return [...ids];
}
