// A stand-in identity provider for edge tests: an ES256 key pair whose public
// half is written as a JWKS file (config `edge.jwt.jwks`), and tokens signed
// with it (or, to be refused, with a key the edge does not know).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';

export const TEST_ISSUER = 'https://auth.fle.test/';
export const TEST_AUDIENCE = 'fle-edge';

export interface TokenClaims {
  readonly tenant?: string;
  readonly sub?: string;
  /** Seconds from now; negative for an expired token. Default 300. */
  readonly expiresIn?: number;
  readonly issuer?: string;
  readonly audience?: string;
}

export interface TestIssuer {
  readonly jwksFile: string;
  /** `edge.jwt` for the gateway config. */
  readonly edgeJwt: Record<string, unknown>;
  sign(claims: TokenClaims): Promise<string>;
  /** Signed by a key that is not in the JWKS. */
  signForeign(claims: TokenClaims): Promise<string>;
  cleanup(): void;
}

async function signWith(key: CryptoKey, kid: string, c: TokenClaims): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...(c.tenant !== undefined ? { tenant: c.tenant } : {}) })
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(c.issuer ?? TEST_ISSUER)
    .setAudience(c.audience ?? TEST_AUDIENCE)
    .setSubject(c.sub ?? 'user-1')
    .setIssuedAt(now - 5)
    .setExpirationTime(now + (c.expiresIn ?? 300));
  return jwt.sign(key);
}

export async function createTestIssuer(): Promise<TestIssuer> {
  const dir = mkdtempSync(join(tmpdir(), 'fle-jwks-'));
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const foreign = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-1', alg: 'ES256', use: 'sig' };
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  return {
    jwksFile,
    edgeJwt: { jwks: jwksFile, issuer: TEST_ISSUER, audience: TEST_AUDIENCE, tenantClaim: 'tenant', clockToleranceSeconds: 0 },
    sign: (c) => signWith(privateKey, 'test-1', c),
    signForeign: (c) => signWith(foreign.privateKey, 'test-1', c),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
