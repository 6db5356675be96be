import { copyFileSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevPki, FileCertificateProvider, natsTlsOptions, type DevPki } from '../src/mod.js';

let root: string;
let pki: DevPki;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fle-pki-files-'));
  pki = await createDevPki({ dir: root, identities: ['gateway', 'processor'] });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('FileCertificateProvider', () => {
  it('fails at construction with a typed error when a file is missing', () => {
    expect(() => new FileCertificateProvider({ ca: pki.caCert, cert: join(root, 'nope.pem'), key: pki.key('gateway') })).toThrow(
      expect.objectContaining({ code: 'PKI_FILES_UNREADABLE' }),
    );
  });

  it('fails at construction when the key does not belong to the certificate', () => {
    expect(() => new FileCertificateProvider({ ca: pki.caCert, cert: pki.cert('gateway'), key: pki.key('processor') })).toThrow(
      expect.objectContaining({ code: 'PKI_KEY_MISMATCH' }),
    );
  });

  it('skips a half-rotated pair and publishes the pair once both files are new', async () => {
    const files = { ca: pki.caCert, cert: join(root, 'live.pem'), key: join(root, 'live-key.pem') };
    copyFileSync(pki.cert('gateway'), files.cert);
    copyFileSync(pki.key('gateway'), files.key);
    const provider = new FileCertificateProvider(files, { refreshIntervalMs: 1000 });
    const seen: string[] = [];
    const listener = (u: { certificate: Buffer } | null): void => {
      if (u) seen.push(u.certificate.toString());
    };
    provider.addIdentityCertificateListener(listener);
    try {
      copyFileSync(pki.cert('processor'), files.cert); // certificate first: does not match the key yet
      expect(await provider.refresh()).toBe(false);
      expect(provider.snapshot().cert.toString()).toBe(readFileSync(pki.cert('gateway'), 'utf8'));
      copyFileSync(pki.key('processor'), files.key);
      expect(await provider.refresh()).toBe(true);
      expect(seen.at(-1)).toBe(readFileSync(pki.cert('processor'), 'utf8'));
      expect(await provider.refresh()).toBe(false); // unchanged files publish nothing
    } finally {
      provider.removeIdentityCertificateListener(listener);
    }
  });
});

describe('natsTlsOptions', () => {
  it('maps the files to nats.js file options', () => {
    expect(natsTlsOptions(pki.files('gateway'))).toEqual({ caFile: pki.caCert, certFile: pki.cert('gateway'), keyFile: pki.key('gateway') });
  });
});
