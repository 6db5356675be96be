import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, unlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevPki, ensureDevPki, issueIdentity, PkiError, type DevPki } from '../src/mod.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

describe('createDevPki', () => {
  let root: string;
  let pki: DevPki;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'fle-pki-'));
    pki = await createDevPki({ dir: join(root, 'certs') });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes the CA, the five service identities and the NATS server, keys readable by the owner only', () => {
    expect(pki.identities).toEqual(['gateway', 'processor', 'keystore', 'client', 'admin', 'nats']);
    expect(pki.written).toHaveLength(2 + 2 * 6);
    for (const f of [pki.caKey, ...pki.identities.map((n) => pki.key(n))]) {
      expect(statSync(f).mode & 0o777, f).toBe(0o600);
      expect(readFileSync(f, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    }
    expect(statSync(pki.caCert).mode & 0o777).toBe(0o644);
  });

  it('issues leaves with the SPIFFE URI SAN, localhost, the name, 127.0.0.1 and both TLS usages', () => {
    const ca = new X509Certificate(readFileSync(pki.caCert));
    expect(ca.ca).toBe(true);
    for (const name of pki.identities) {
      const leaf = new X509Certificate(readFileSync(pki.cert(name)));
      expect(leaf.ca).toBe(false);
      expect(leaf.subject).toContain(`CN=${name}`);
      expect(leaf.subjectAltName).toBe(`URI:spiffe://fle.local/${name}, DNS:localhost, DNS:${name}, IP Address:127.0.0.1`);
      expect(leaf.keyUsage).toEqual(expect.arrayContaining([SERVER_AUTH, CLIENT_AUTH]));
      expect(leaf.checkIssued(ca)).toBe(true);
      expect(leaf.verify(ca.publicKey)).toBe(true);
      expect(leaf.checkHost('localhost')).toBe('localhost');
      expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    }
  });

  it('honours the trust domain, identity list and validity', async () => {
    const other = await createDevPki({ dir: join(root, 'other'), trustDomain: 'example.test', identities: ['worker'], days: 2 });
    const leaf = new X509Certificate(readFileSync(other.cert('worker')));
    expect(leaf.subjectAltName).toContain('URI:spiffe://example.test/worker');
    const lifetimeDays = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 86_400_000;
    expect(lifetimeDays).toBeGreaterThan(1.9);
    expect(lifetimeDays).toBeLessThan(2.1);
  });

  it('refuses bad arguments with a typed error', async () => {
    await expect(createDevPki({ dir: join(root, 'x'), identities: ['../evil'] })).rejects.toBeInstanceOf(PkiError);
    await expect(createDevPki({ dir: join(root, 'x'), identities: ['a', 'a'] })).rejects.toMatchObject({ code: 'PKI_INVALID_ARGUMENT' });
    await expect(createDevPki({ dir: join(root, 'x'), days: 0 })).rejects.toMatchObject({ code: 'PKI_INVALID_ARGUMENT' });
  });
});

describe('ensureDevPki and issueIdentity', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fle-pki-ensure-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates everything on an empty folder, then nothing, then only what was deleted', async () => {
    const first = await ensureDevPki(dir);
    expect(first.written).toHaveLength(14);
    const caBefore = readFileSync(first.caCert, 'utf8');
    const again = await ensureDevPki(dir);
    expect(again.written).toEqual([]);

    unlinkSync(first.key('processor'));
    const repaired = await ensureDevPki(dir);
    expect(repaired.written).toEqual([first.key('processor'), first.cert('processor')]);
    expect(readFileSync(first.caCert, 'utf8')).toBe(caBefore);
    const ca = new X509Certificate(caBefore);
    expect(new X509Certificate(readFileSync(first.cert('processor'))).verify(ca.publicKey)).toBe(true);
  });

  it('re-issues every leaf when the CA is gone', async () => {
    const before = await ensureDevPki(dir);
    unlinkSync(before.caKey);
    const after = await ensureDevPki(dir);
    expect(after.written).toHaveLength(14);
  });

  it('issueIdentity rotates one leaf under the same CA', async () => {
    const pki = await ensureDevPki(dir);
    const old = new X509Certificate(readFileSync(pki.cert('gateway')));
    await issueIdentity({ dir, name: 'gateway' });
    const fresh = new X509Certificate(readFileSync(pki.cert('gateway')));
    expect(fresh.serialNumber).not.toBe(old.serialNumber);
    expect(fresh.checkIssued(new X509Certificate(readFileSync(pki.caCert)))).toBe(true);
    expect(fresh.subjectAltName).toContain('URI:spiffe://fle.local/gateway');
  });

  it('issueIdentity without a CA is a typed error', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'fle-pki-empty-'));
    try {
      await expect(issueIdentity({ dir: empty, name: 'gateway' })).rejects.toMatchObject({ code: 'PKI_CA_MISSING' });
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
