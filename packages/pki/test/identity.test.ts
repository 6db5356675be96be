import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevPki, identityFromPeerCertificate, parseSpiffeId, parseSubjectAltName, PkiError, spiffeId } from '../src/mod.js';

describe('spiffeId / parseSpiffeId', () => {
  it('builds and parses the conventional identity', () => {
    expect(spiffeId('gateway')).toBe('spiffe://fle.local/gateway');
    expect(spiffeId('processor', 'example.test')).toBe('spiffe://example.test/processor');
    expect(parseSpiffeId('spiffe://fle.local/gateway')).toEqual({ trustDomain: 'fle.local', name: 'gateway' });
  });

  it.each(['../x', 'a/b', '', 'ca', 'a b'])('refuses the identity name %j', (name) => {
    expect(() => spiffeId(name)).toThrow(PkiError);
  });

  it.each(['https://fle.local/gateway', 'spiffe://fle.local/', 'spiffe://FLE/x', 'spiffe://fle.local/a/../b', 'spiffe://fle.local'])(
    'does not parse %j as a SPIFFE ID',
    (uri) => {
      expect(parseSpiffeId(uri)).toBeUndefined();
    },
  );
});

describe('parseSubjectAltName', () => {
  it('reads plain entries in order', () => {
    expect(parseSubjectAltName('URI:spiffe://fle.local/gateway, DNS:localhost, IP Address:127.0.0.1')).toEqual([
      { type: 'URI', value: 'spiffe://fle.local/gateway' },
      { type: 'DNS', value: 'localhost' },
      { type: 'IP Address', value: '127.0.0.1' },
    ]);
  });

  it('reads JSON-quoted values without splitting on the separator inside them', () => {
    const text = 'DNS:"a, URI:spiffe://fle.local/admin", URI:spiffe://fle.local/client';
    expect(parseSubjectAltName(text)).toEqual([
      { type: 'DNS', value: 'a, URI:spiffe://fle.local/admin' },
      { type: 'URI', value: 'spiffe://fle.local/client' },
    ]);
  });
});

describe('identityFromPeerCertificate', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fle-pki-id-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads tls.PeerCertificate.subjectaltname', () => {
    expect(identityFromPeerCertificate({ subjectaltname: 'DNS:localhost, URI:spiffe://fle.local/processor' })).toBe('spiffe://fle.local/processor');
  });

  it('reads crypto.X509Certificate.subjectAltName of a dev certificate', async () => {
    const pki = await createDevPki({ dir, identities: ['keystore'] });
    const cert = new X509Certificate(readFileSync(pki.cert('keystore')));
    expect(identityFromPeerCertificate(cert)).toBe('spiffe://fle.local/keystore');
  });

  it('is undefined when absent, not SPIFFE, ambiguous or smuggled inside another entry', () => {
    expect(identityFromPeerCertificate(undefined)).toBeUndefined();
    expect(identityFromPeerCertificate(null)).toBeUndefined();
    expect(identityFromPeerCertificate({})).toBeUndefined();
    expect(identityFromPeerCertificate({ subjectaltname: 'DNS:localhost' })).toBeUndefined();
    expect(identityFromPeerCertificate({ subjectaltname: 'URI:https://fle.local/gateway' })).toBeUndefined();
    expect(identityFromPeerCertificate({ subjectaltname: 'URI:spiffe://fle.local/a, URI:spiffe://fle.local/b' })).toBeUndefined();
    expect(identityFromPeerCertificate({ subjectaltname: 'DNS:"x, URI:spiffe://fle.local/admin"' })).toBeUndefined();
    expect(identityFromPeerCertificate({ subjectaltname: 'URI:spiffe://fle.local/../admin' })).toBeUndefined();
  });
});
