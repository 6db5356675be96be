// Headless Chromium for browser tests: the binary @fle/testkit findChromium
// picks (FLE_CHROMIUM, else PATH, else Debian's /usr/bin/chromium, which
// .ci/run installs when missing) driven by playwright-core, with a fresh profile that is
// removed on close, and a loopback HTTP server for the page and its bundle.
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { findChromium } from '@fle/testkit';

/** No GPU, no network beyond what the page asks for, no background traffic to anywhere. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Chromium {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console messages and page errors, for assertions and failure output. */
  readonly logs: string[];
  close(): Promise<void>;
}

export interface LaunchOptions {
  /**
   * PEM certificate files whose public key Chromium accepts for HTTPS
   * (`--ignore-certificate-errors-spki-list`): the test CA's edge certificate
   * is trusted, and only it; any other certificate error still fails.
   */
  readonly trustCertificates?: readonly string[];
}

/** base64(SHA-256(SubjectPublicKeyInfo)), the form Chromium's SPKI list takes. */
export function spkiHash(certFile: string): string {
  const spki = new X509Certificate(readFileSync(certFile)).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

export async function launchChromium(opts: LaunchOptions = {}): Promise<Chromium> {
  const executablePath = findChromium();
  const trust = (opts.trustCertificates ?? []).map(spkiHash);
  const profile = mkdtempSync(join(tmpdir(), 'fle-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS, ...(trust.length > 0 ? [`--ignore-certificate-errors-spki-list=${trust.join(',')}`] : [])],
      timeout: 30_000,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  return {
    context,
    page,
    logs,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface StaticServer {
  /** `http://127.0.0.1:<port>` (a secure context for Web Crypto, like https). */
  readonly origin: string;
  /** Paths requested, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** Serves fixed files on a random loopback port; anything else is 404. */
export async function serveStatic(files: Record<string, { type: string; body: string }>): Promise<StaticServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    requests.push(path);
    const file = files[path];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body);
  });
  await new Promise<void>((resolve, reject) => server.listen(0, '127.0.0.1', resolve).once('error', reject));
  const port = (server.address() as { port: number }).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
