// Development PKI: one self-signed CA and one leaf per service identity, made
// with @peculiar/x509 over node's WebCrypto (no hand-rolled ASN.1).
// ECDSA P-256 / SHA-256 everywhere: accepted by node's TLS (grpc-js) and by
// Go's crypto/tls (nats-server).
import { webcrypto, X509Certificate as NodeX509, createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
// @peculiar/x509 resolves its ASN.1 classes through tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { PkiError } from './errors.js';
import { DEFAULT_IDENTITIES, DEFAULT_TRUST_DOMAIN, assertIdentityName, assertTrustDomain, spiffeId } from './identity.js';
import { pkiPaths, type PkiPaths } from './paths.js';

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const EC_KEY: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 86_400_000;
/** Leaves are backdated a little so a peer with a slow clock accepts them. */
const BACKDATE_MS = 5 * 60_000;

export interface DevPkiOptions {
  /** Folder to write into (created with mode 0700 when missing). */
  dir: string;
  /** SPIFFE trust domain of the URI SANs. Default `fle.local`. */
  trustDomain?: string;
  /** Identity names; one leaf each. Default gateway, processor, keystore, client, admin and nats (the NATS server). */
  identities?: readonly string[];
  /** Validity of each leaf in days. Default 365. */
  days?: number;
  /** Validity of the CA in days. Default 3650. */
  caDays?: number;
}

export interface DevPki extends PkiPaths {
  trustDomain: string;
  identities: string[];
  /** Files this call wrote (absolute paths), in write order. */
  written: string[];
}

interface LoadedCa {
  cert: x509.X509Certificate;
  key: CryptoKey;
}

/** Creates a fresh CA and every identity's leaf, overwriting what was there. */
export async function createDevPki(opts: DevPkiOptions): Promise<DevPki> {
  const o = normalise(opts);
  const paths = pkiPaths(o.dir);
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const written: string[] = [];
  const ca = await createCa(paths, o.caDays, written);
  for (const name of o.identities) await writeLeaf(paths, ca, name, o.trustDomain, o.days, written);
  return { ...paths, trustDomain: o.trustDomain, identities: o.identities, written };
}

/**
 * Creates only what is missing: the CA when absent (then every leaf is
 * re-issued, since leaves of a lost CA can no longer be verified), and a leaf
 * when its certificate or key file is absent.
 */
export async function ensureDevPki(dirOrOpts: string | DevPkiOptions): Promise<DevPki> {
  const opts = typeof dirOrOpts === 'string' ? { dir: dirOrOpts } : dirOrOpts;
  const o = normalise(opts);
  const paths = pkiPaths(o.dir);
  if (!existsSync(paths.caCert) || !existsSync(paths.caKey)) return createDevPki(opts);
  const ca = await loadCa(paths);
  const written: string[] = [];
  for (const name of o.identities) {
    if (existsSync(paths.cert(name)) && existsSync(paths.key(name))) continue;
    await writeLeaf(paths, ca, name, o.trustDomain, o.days, written);
  }
  return { ...paths, trustDomain: o.trustDomain, identities: o.identities, written };
}

export interface IssueIdentityOptions {
  dir: string;
  name: string;
  trustDomain?: string;
  days?: number;
  /** Extra DNS SANs besides `localhost` and `<name>`, e.g. every node name of a NATS cluster sharing one certificate. */
  dnsNames?: readonly string[];
}

/**
 * (Re-)issues one identity's leaf under the existing CA in `dir`: the
 * certificate rotation step. Files are replaced by rename, key first, so a
 * watcher never reads a half-written file; the credential helpers also ignore
 * a certificate whose key does not match yet.
 */
export async function issueIdentity(opts: IssueIdentityOptions): Promise<{ cert: string; key: string }> {
  const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  assertTrustDomain(trustDomain);
  assertIdentityName(opts.name);
  const paths = pkiPaths(opts.dir);
  if (!existsSync(paths.caCert) || !existsSync(paths.caKey)) {
    throw new PkiError('PKI_CA_MISSING', `no CA in ${paths.dir} (expected ca.pem and ca-key.pem)`);
  }
  const ca = await loadCa(paths);
  const dnsNames = opts.dnsNames ?? [];
  for (const d of dnsNames) {
    if (!/^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(d)) throw new PkiError('PKI_INVALID_ARGUMENT', `dnsNames: ${JSON.stringify(d)} is not a DNS name`);
  }
  await writeLeaf(paths, ca, opts.name, trustDomain, opts.days ?? 365, [], dnsNames);
  return { cert: paths.cert(opts.name), key: paths.key(opts.name) };
}

function normalise(opts: DevPkiOptions): Required<DevPkiOptions> & { identities: string[] } {
  const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  assertTrustDomain(trustDomain);
  const identities = [...(opts.identities ?? DEFAULT_IDENTITIES)];
  identities.forEach(assertIdentityName);
  if (new Set(identities).size !== identities.length) {
    throw new PkiError('PKI_INVALID_ARGUMENT', 'identities must be distinct');
  }
  const days = opts.days ?? 365;
  const caDays = opts.caDays ?? 3650;
  for (const [label, v] of [['days', days], ['caDays', caDays]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 36_500) {
      throw new PkiError('PKI_INVALID_ARGUMENT', `${label} must be an integer between 1 and 36500`);
    }
  }
  return { dir: opts.dir, trustDomain, identities, days, caDays };
}

async function createCa(paths: PkiPaths, caDays: number, written: string[]): Promise<LoadedCa> {
  const keys = (await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: 'CN=fle development CA, O=fle',
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + caDays * DAY_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  await writeKey(paths.caKey, keys.privateKey, written);
  await writeAtomic(paths.caCert, cert.toString('pem') + '\n', 0o644, written);
  return { cert, key: keys.privateKey };
}

async function loadCa(paths: PkiPaths): Promise<LoadedCa> {
  let certPem: string;
  let keyPem: string;
  try {
    [certPem, keyPem] = await Promise.all([readFile(paths.caCert, 'utf8'), readFile(paths.caKey, 'utf8')]);
  } catch (cause) {
    throw new PkiError('PKI_FILES_UNREADABLE', `cannot read the CA files in ${paths.dir}`, { cause });
  }
  const nodeCert = new NodeX509(certPem);
  if (!nodeCert.checkPrivateKey(createPrivateKey(keyPem))) {
    throw new PkiError('PKI_KEY_MISMATCH', `${paths.caKey} does not belong to ${paths.caCert}`);
  }
  const der = x509.PemConverter.decodeFirst(keyPem);
  const key = await crypto.subtle.importKey('pkcs8', der, EC_KEY, false, ['sign']);
  return { cert: new x509.X509Certificate(certPem), key };
}

async function writeLeaf(
  paths: PkiPaths,
  ca: LoadedCa,
  name: string,
  trustDomain: string,
  days: number,
  written: string[],
  dnsNames: readonly string[] = [],
): Promise<void> {
  const keys = (await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const notAfter = Math.min(now + days * DAY_MS, ca.cert.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${name}, O=fle`,
    issuer: ca.cert.subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: spiffeId(name, trustDomain) },
        { type: 'dns', value: 'localhost' },
        { type: 'dns', value: name },
        ...dnsNames.filter((d) => d !== name && d !== 'localhost').map((d) => ({ type: 'dns' as const, value: d })),
        { type: 'ip', value: '127.0.0.1' },
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  // Key before certificate: a reader that sees the new certificate finds its key already there.
  await writeKey(paths.key(name), keys.privateKey, written);
  await writeAtomic(paths.cert(name), cert.toString('pem') + '\n', 0o644, written);
}

async function writeKey(path: string, key: CryptoKey, written: string[]): Promise<void> {
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', key);
  await writeAtomic(path, x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n', 0o600, written);
}

/** Write to a temporary sibling, then rename: readers see the old or the new file, never half of one. */
async function writeAtomic(path: string, text: string, mode: number, written: string[]): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode); // writeFile applies the umask to `mode`; set it exactly
  await rename(tmp, path);
  written.push(path);
}

/** 16 random bytes, top bit cleared so the DER INTEGER stays positive. */
function randomSerial(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0]! & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}
