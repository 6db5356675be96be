// A grpc-js CertificateProvider that reads PEM files and re-reads them on an
// interval, so a rotated certificate reaches new connections without a restart
// (issue 5: "services reload rotated certificates without a restart").
//
// Why not grpc-js' own FileWatcherCertificateProvider: it reads the files only
// after the first listener attaches (a server could refuse its first
// connections), it reports missing files as a silent `null`, and it would
// publish a certificate whose key has not been replaced yet. This one reads
// synchronously at construction (a missing file is a typed error at startup)
// and only publishes a certificate/key pair that belong together.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { experimental } from '@grpc/grpc-js';
import { PkiError } from './errors.js';
import type { TlsFiles } from './paths.js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

export interface ReloadOptions {
  /** How often the files are re-read while the credentials are in use. Default 5000 ms. */
  refreshIntervalMs?: number;
}

interface Snapshot {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export class FileCertificateProvider implements experimental.CertificateProvider {
  private current: Snapshot;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private timer: NodeJS.Timeout | undefined;
  private reading = false;
  private readonly refreshIntervalMs: number;

  constructor(readonly files: TlsFiles, opts: ReloadOptions = {}) {
    this.refreshIntervalMs = opts.refreshIntervalMs ?? 5000;
    if (!Number.isFinite(this.refreshIntervalMs) || this.refreshIntervalMs < 10) {
      throw new PkiError('PKI_INVALID_ARGUMENT', 'refreshIntervalMs must be at least 10');
    }
    let raw: Snapshot;
    try {
      raw = readSnapshotSync(files);
    } catch (cause) {
      throw new PkiError('PKI_FILES_UNREADABLE', `cannot read TLS files (ca ${files.ca}, cert ${files.cert}, key ${files.key})`, { cause });
    }
    const problem = checkSnapshot(raw);
    if (problem) throw new PkiError('PKI_KEY_MISMATCH', `${problem} (cert ${files.cert}, key ${files.key})`);
    this.current = raw;
  }

  /** The files as last accepted (for tests and diagnostics). */
  snapshot(): Readonly<Snapshot> {
    return this.current;
  }

  /** Re-reads the files now; resolves to true when something changed and was published. */
  async refresh(): Promise<boolean> {
    if (this.reading) return false;
    this.reading = true;
    try {
      const [ca, cert, key] = await Promise.all([readFile(this.files.ca), readFile(this.files.cert), readFile(this.files.key)]);
      const next = { ca, cert, key };
      const prev = this.current;
      const caChanged = !ca.equals(prev.ca);
      const idChanged = !cert.equals(prev.cert) || !key.equals(prev.key);
      if (!caChanged && !idChanged) return false;
      // A half-rotated pair (new cert, old key) is skipped; the next read sees both.
      if (checkSnapshot(next)) return false;
      this.current = next;
      if (caChanged) for (const l of this.caListeners) l({ caCertificate: ca });
      if (idChanged) for (const l of this.identityListeners) l({ certificate: cert, privateKey: key });
      return true;
    } catch {
      // A file briefly missing during a rotation: keep serving the last good pair.
      return false;
    } finally {
      this.reading = false;
    }
  }

  addCaCertificateListener(listener: CaListener): void {
    this.wakeUp();
    this.caListeners.add(listener);
    process.nextTick(listener, { caCertificate: this.current.ca });
    this.startTimer();
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
    this.maybeStopTimer();
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.wakeUp();
    this.identityListeners.add(listener);
    process.nextTick(listener, { certificate: this.current.cert, privateKey: this.current.key });
    this.startTimer();
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
    this.maybeStopTimer();
  }

  /**
   * Files are only polled while someone listens. A channel whose connections
   * all closed stops listening, so when the first listener comes back the
   * files are re-read at once (synchronously: addListener cannot wait), or a
   * new connection would present what was on disk when the last one started.
   */
  private wakeUp(): void {
    if (this.timer) return;
    try {
      const next = readSnapshotSync(this.files);
      if (!checkSnapshot(next)) this.current = next;
    } catch {
      // Keep the last good files; the poller retries.
    }
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refresh(), this.refreshIntervalMs);
    // A watcher alone must not keep a process alive.
    this.timer.unref();
  }

  private maybeStopTimer(): void {
    if (this.caListeners.size > 0 || this.identityListeners.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

function readSnapshotSync(files: TlsFiles): Snapshot {
  return { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) };
}

/** Undefined when the PEMs parse and the key belongs to the certificate; else why not. */
function checkSnapshot(s: Snapshot): string | undefined {
  try {
    new X509Certificate(s.ca);
    const cert = new X509Certificate(s.cert);
    if (!cert.checkPrivateKey(createPrivateKey(s.key))) return 'the private key does not belong to the certificate';
    return undefined;
  } catch {
    return 'a TLS file is not a valid PEM certificate or key';
  }
}
