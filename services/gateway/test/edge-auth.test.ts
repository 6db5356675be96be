// The edge's caller checks as units (src/edge/auth.ts): bearer JWTs against a
// JWKS file and a JWKS URL, the tenant claim, the algorithms accepted, and the
// envelope-alg rule. The integration tests (test/edge, test/browser) run them
// behind the real listener.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPublicKeyEnvelopes, checkTokenTenant, JwtVerifier } from '../src/edge/auth.js';

const ISSUER = 'https://auth.test/';
const AUDIENCE = 'fle-edge';
let dir: string;
let jwksFile: string;
let server: Server;
let jwksUrl: string;
let jwksFetches = 0;
let sign: (claims: Record<string, unknown>, opts?: { exp?: number; alg?: string; kid?: string }) => Promise<string>;

beforeAll(async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] });
  dir = mkdtempSync(join(tmpdir(), 'fle-edge-auth-'));
  jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, jwks);
  server = createServer((_req, res) => {
    jwksFetches += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`;
  sign = (claims, opts = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('u1')
      .setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 60)
      .sign(privateKey);
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const cfg = { issuer: ISSUER, audience: AUDIENCE, tenantClaim: 'tenant', clockToleranceSeconds: 0 };

describe('JwtVerifier', () => {
  for (const source of ['file', 'url'] as const) {
    it(`verifies against a JWKS ${source}: subject and tenant claim; refusals are UNAUTHENTICATED without the token`, async () => {
      const v = new JwtVerifier(source === 'file' ? { ...cfg, jwksFile } : { ...cfg, jwksUrl });
      const token = await sign({ tenant: 'acme' });
      expect(await v.verify(`Bearer ${token}`)).toEqual({ subject: 'u1', tenant: 'acme' });
      const refuse = async (header: string | null) => {
        const err = (await v.verify(header).catch((e: unknown) => e)) as { code: string; message: string };
        expect(err.code).toBe('UNAUTHENTICATED');
        expect(err.message).not.toContain(token.slice(-20));
        return err.message;
      };
      expect(await refuse(null)).toMatch(/needs a bearer token/);
      expect(await refuse(`Basic ${token}`)).toMatch(/not a bearer JWT/);
      expect(await refuse(`Bearer ${await sign({ tenant: 'acme' }, { exp: Math.floor(Date.now() / 1000) - 10 })}`)).toBe('the bearer token has expired');
      expect(await refuse(`Bearer ${await sign({})}`)).toBe('the bearer token has no tenant claim');
      expect(await refuse(`Bearer ${token.slice(0, -4)}AAAA`)).toMatch(/signature|not valid/);
      // A token signed with an HMAC secret is not accepted, whatever its key id.
      const hs = await new SignJWT({ tenant: 'acme' }).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('1m').sign(new Uint8Array(32));
      expect(await refuse(`Bearer ${hs}`)).toMatch(/algorithm|not valid|key/);
    });
  }

  it('a JWKS URL is fetched once and cached', async () => {
    const before = jwksFetches;
    const v = new JwtVerifier({ ...cfg, jwksUrl });
    for (let i = 0; i < 3; i++) await v.verify(`Bearer ${await sign({ tenant: 'acme' })}`);
    expect(jwksFetches - before).toBe(1);
  });

  it('a JWKS file that cannot be read stops the gateway at start, naming the key', () => {
    expect(() => new JwtVerifier({ ...cfg, jwksFile: join(dir, 'missing.json') })).toThrow(/edge\.jwt\.jwks: cannot read .*missing\.json/);
    writeFileSync(join(dir, 'bad.json'), '{"nokeys":true}');
    expect(() => new JwtVerifier({ ...cfg, jwksFile: join(dir, 'bad.json') })).toThrow(/has no "keys" list/);
  });

  it("the token's tenant must be the request's", () => {
    expect(() => checkTokenTenant({ subject: 'u1', tenant: 'acme' }, 'acme')).not.toThrow();
    expect(() => checkTokenTenant({ subject: 'u1', tenant: 'acme' }, 'other')).toThrow(expect.objectContaining({ code: 'TENANT_MISMATCH' }));
  });
});

describe('public-key envelopes only', () => {
  it('alg 3 and 4 pass; alg 1 or 2 is refused naming the field, saying why', () => {
    expect(() => checkPublicKeyEnvelopes([{ path: '1', fieldName: 'a', alg: 3 }, { path: '2', fieldName: 'b', alg: 4, senderPublicKey: new Uint8Array(32) }])).not.toThrow();
    for (const alg of [1, 2]) {
      expect(() => checkPublicKeyEnvelopes([{ path: '1', fieldName: 'a', alg: 3 }, { path: '5.1', fieldName: 'number', alg }])).toThrow(
        expect.objectContaining({ code: 'SYMMETRIC_ENVELOPE', message: expect.stringMatching(new RegExp(`field 5\\.1 holds a symmetric envelope \\(alg ${alg}\\): a secret key must not ship in an app`)) }),
      );
    }
  });
});
