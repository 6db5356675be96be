// Service identities are SPIFFE IDs carried as the one URI SAN of an X.509
// certificate (SPIFFE X509-SVID §2: exactly one URI SAN), e.g.
// `spiffe://fle.local/gateway`. These helpers build them and read them back
// from a peer certificate as node's TLS stack and grpc-js hand it over.
import { PkiError } from './errors.js';

export const DEFAULT_TRUST_DOMAIN = 'fle.local';
/** The service identities of HELPERS.md conventions. */
export const SERVICE_IDENTITIES = ['gateway', 'processor', 'keystore', 'client', 'admin'] as const;
/** The NATS server's own certificate (client port and cluster routes); no NATS user maps to it. */
export const NATS_SERVER_IDENTITY = 'nats';
/** What a development PKI issues by default: every service identity plus the NATS server. */
export const DEFAULT_IDENTITIES = [...SERVICE_IDENTITIES, NATS_SERVER_IDENTITY] as const;

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const NAME = /^[A-Za-z0-9._-]+$/;

/** `spiffe://<trustDomain>/<name>`; both parts are checked so a path never escapes. */
export function spiffeId(name: string, trustDomain: string = DEFAULT_TRUST_DOMAIN): string {
  assertTrustDomain(trustDomain);
  assertIdentityName(name);
  return `spiffe://${trustDomain}/${name}`;
}

export interface ParsedSpiffeId {
  trustDomain: string;
  /** The path without its leading slash, e.g. `gateway`. */
  name: string;
}

/** Splits a SPIFFE ID into trust domain and name; undefined when it is not one. */
export function parseSpiffeId(uri: string): ParsedSpiffeId | undefined {
  const m = /^spiffe:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m || !TRUST_DOMAIN.test(m[1]!)) return undefined;
  const segments = m[2]!.split('/');
  if (segments.some((s) => !NAME.test(s) || s === '.' || s === '..')) return undefined;
  return { trustDomain: m[1]!, name: m[2]! };
}

export function assertTrustDomain(trustDomain: string): void {
  if (!TRUST_DOMAIN.test(trustDomain)) {
    throw new PkiError('PKI_INVALID_ARGUMENT', 'trustDomain must be lowercase letters, digits, ".", "-" or "_"');
  }
}

/** Identity names become file names and SAN paths: one safe path segment. */
export function assertIdentityName(name: string): void {
  if (!NAME.test(name) || name === '.' || name === '..' || name === 'ca') {
    throw new PkiError('PKI_INVALID_ARGUMENT', `identity name ${JSON.stringify(name)} must be one segment of letters, digits, ".", "-" or "_" (and not "ca")`);
  }
}

/**
 * The shapes a peer certificate arrives in: node's `tls.PeerCertificate`
 * (`getPeerCertificate()`, also what grpc-js puts in
 * `call.getAuthContext().sslPeerCertificate`) with `subjectaltname`, or a
 * `crypto.X509Certificate` with `subjectAltName`.
 */
export interface PeerCertificateLike {
  subjectaltname?: string | undefined;
  subjectAltName?: string | undefined;
}

/**
 * The `spiffe://` URI SAN of a peer certificate, or undefined when the
 * certificate is absent, has none, or has more than one (an X509-SVID carries
 * exactly one URI SAN, SPIFFE X509-SVID §2, so several are refused rather than guessed).
 */
export function identityFromPeerCertificate(cert: PeerCertificateLike | null | undefined): string | undefined {
  if (!cert) return undefined;
  const san = cert.subjectaltname ?? cert.subjectAltName;
  if (typeof san !== 'string' || san.length === 0) return undefined;
  const uris = parseSubjectAltName(san)
    .filter((e) => e.type === 'URI')
    .map((e) => e.value);
  const spiffe = uris.filter((u) => u.startsWith('spiffe://'));
  if (spiffe.length !== 1 || parseSpiffeId(spiffe[0]!) === undefined) return undefined;
  return spiffe[0];
}

export interface SubjectAltNameEntry {
  type: string;
  value: string;
}

/**
 * Parses node's text form of the SAN extension: `TYPE:value` entries joined by
 * ", ". Since node 17 (CVE-2021-44532) a value holding a separator or quote is
 * written as a JSON string literal, so a crafted SAN cannot inject a second entry.
 */
export function parseSubjectAltName(text: string): SubjectAltNameEntry[] {
  const out: SubjectAltNameEntry[] = [];
  let i = 0;
  // Bounded by the text length: every iteration consumes at least one character.
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      const end = closingQuote(text, colon + 2);
      if (end < 0) return out; // malformed: keep what was read before it
      try {
        value = JSON.parse(text.slice(colon + 1, end + 1)) as string;
      } catch {
        return out;
      }
      next = end + 1;
    } else {
      const sep = text.indexOf(', ', colon + 1);
      next = sep < 0 ? text.length : sep;
      value = text.slice(colon + 1, next);
    }
    out.push({ type, value });
    i = text.startsWith(', ', next) ? next + 2 : next + 1;
  }
  return out;
}

function closingQuote(text: string, from: number): number {
  for (let j = from; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j;
  }
  return -1;
}
