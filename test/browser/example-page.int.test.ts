// The example page `npm start` serves (packages/devstack/src/web): the stack
// as npm start runs it (devstack's startStack with the browser bundle), the
// page opened in headless Chromium from the gateway's public edge, a card
// number typed into the form, sealed in the page, sent by EdgeClient with the
// page's bearer token, the result shown. Then the canary scan: the typed card
// number occurs in no file the stack wrote (logs, JetStream store, keystore
// data, generated configs), in no form (UTF-8, base64, base64url).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settingsFromEnv, startStack, type RunningStack } from '@fle/devstack';
import { PAYMENTS_API } from '@fle-examples/payments/schema';
import { luhnCardNumber } from '@fle/client/testing';
import { tempDir } from '@fle/testkit';
import { buildBrowserBundle } from '../../packages/client/src/browser-build.js';
import { launchChromium, type Chromium } from './support/chromium.js';

let stack: RunningStack;
let browser: Chromium;

beforeAll(async () => {
  const home = join(await tempDir('fle-example-page-'), 'state');
  const settings = settingsFromEnv({ FLE_HOME: home, FLE_NATS_PORT: '0', FLE_KEYSTORE_PORT: '0', FLE_PROCESSOR_PORT: '0', FLE_GATEWAY_PORT: '0', FLE_EDGE_PORT: '0' }, home);
  const bundle = await buildBrowserBundle({ minify: true });
  stack = await startStack(settings, { api: PAYMENTS_API, web: { bundle: bundle.code } });
  browser = await launchChromium({ trustCertificates: [stack.pki.files('gateway').cert] });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

/** Every file under `dir`. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    const st = statSync(p);
    return st.isDirectory() ? filesUnder(p) : st.isFile() ? [p] : [];
  });
}

describe('the example page served by the running stack', () => {
  it('a card typed into the form is sealed in the page, sent to the edge, approved; the result is shown', async () => {
    expect(stack.info.edge).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    const page = browser.page;
    await page.goto(stack.info.edge!);
    await page.waitForFunction(() => (window as unknown as { fleReady?: boolean }).fleReady === true, undefined, { timeout: 15_000 });
    const card = luhnCardNumber('4', 16);
    await page.fill('#number', card.replace(/(\d{4})(?=\d)/g, '$1 '));
    await page.fill('#holder', 'Canary Holder');
    await page.fill('#cvv', '951');
    await page.click('#submit');
    await page.waitForFunction(() => /^(APPROVED|DECLINED|REFUSED|ERROR)/.test(document.getElementById('result')?.textContent ?? ''), undefined, { timeout: 20_000 });
    const shown = (await page.textContent('#result')) ?? '';
    expect(shown).toMatch(/^APPROVED/);
    expect(shown).toContain(`card ending ${card.slice(-4)}`);
    expect(browser.logs.filter((l) => l.startsWith('pageerror'))).toEqual([]);

    // The canary scan: the typed number nowhere in what the stack wrote (the handler only held it in memory).
    const forms = [Buffer.from(card), Buffer.from(Buffer.from(card).toString('base64').replace(/=+$/, '')), Buffer.from(Buffer.from(card).toString('base64url'))];
    const files = filesUnder(stack.layout.home);
    expect(files.some((f) => f.includes('jetstream'))).toBe(true);
    const leaks = files.filter((f) => {
      const bytes = readFileSync(f);
      return forms.some((n) => bytes.includes(n));
    });
    expect(leaks).toEqual([]);
    // The holder name went sealed too (it is sensitive); it reached the processor, not the logs.
    expect(readFileSync(stack.layout.log('gateway'), 'utf8')).not.toContain('Canary Holder');
    expect(readFileSync(stack.layout.log('gateway'), 'utf8')).toContain('"listener":"edge"');
  });

  it('the edge route asks for the bearer token: the same call without one is UNAUTHENTICATED', async () => {
    const ca = readFileSync(join(stack.layout.certs, 'ca.pem'));
    const res = await new Promise<{ status: number; code: string | undefined }>((resolve, reject) => {
      const req = request(`${stack.info.edge}acme.payments.v1.PaymentService/Authorize`, { method: 'POST', ca, headers: { 'content-type': 'application/json', 'connect-protocol-version': '1' } }, (r) => {
        r.resume();
        r.on('end', () => resolve({ status: r.statusCode ?? 0, code: r.headers['fle-error-code'] as string | undefined }));
      });
      req.on('error', reject);
      req.end('{}');
    });
    expect(res).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
  });
});
