// The example page `npm start` serves from the gateway's public edge
// (docs/edge.md; edge.static): a payment form whose card fields are sealed in
// the page with the web tenant's public keys (@fle/client/browser, HPKE alg 3)
// and sent to the edge by EdgeClient with a bearer token; the result is shown.
// The edge serves the page on its own origin, so no CORS origin is opened.
//
// What the page gets, in run/web/: index.html, fle-browser.mjs (the browser
// bundle scripts/start.ts builds), schema.json (the demo API's schema) and
// config.json (tenant, the rings' public keys, a token). The token is a dev
// credential: npm start signs it (ES256) with a key made at every start, whose
// public half is the edge's JWKS (run/edge-jwks.json); it expires in 8 hours.
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ExamplePageFiles {
  /** run/web */
  readonly dir: string;
  /** run/edge-jwks.json */
  readonly jwksFile: string;
  /** The @fle/client/browser bundle (one ESM file). */
  readonly bundle: string;
  /** loadSchema(...).toJSON() of the API the page calls. */
  readonly schema: unknown;
  /** The method the page calls (`/pkg.Service/Method`, the API npm start serves). */
  readonly method: string;
  readonly tenant: string;
  readonly publicKeys: ReadonlyArray<{ tenant: string; ring: string; version: number; publicKey: string }>;
  readonly issuer: string;
  readonly audience: string;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** Writes the page's files and the edge's JWKS; returns nothing secret (the token is in config.json, mode 0600 like the rest of run/). */
export async function writeExamplePage(f: ExamplePageFiles): Promise<void> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const kid = createHash('sha256').update(JSON.stringify(jwk)).digest('base64url').slice(0, 16);
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid }));
  const payload = b64url(JSON.stringify({ iss: f.issuer, aud: f.audience, sub: 'example-page', tenant: f.tenant, iat: now, exp: now + 8 * 3600 }));
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const token = `${header}.${payload}.${b64url(signature)}`;

  await mkdir(f.dir, { recursive: true, mode: 0o700 });
  await writeFile(f.jwksFile, JSON.stringify({ keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] }), { mode: 0o600 });
  await writeFile(join(f.dir, 'index.html'), EXAMPLE_PAGE_HTML, { mode: 0o600 });
  await writeFile(join(f.dir, 'fle-browser.mjs'), f.bundle, { mode: 0o600 });
  await writeFile(join(f.dir, 'schema.json'), JSON.stringify(f.schema), { mode: 0o600 });
  await writeFile(join(f.dir, 'config.json'), JSON.stringify({ tenant: f.tenant, publicKeys: f.publicKeys, token, method: f.method }), { mode: 0o600 });
}

export const EXAMPLE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fle example: pay with a card sealed in this page</title>
<link rel="icon" href="data:,">
<style>
  body { font: 16px/1.45 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #1b1b1b; }
  form { display: grid; grid-template-columns: 10rem 1fr; gap: .5rem 1rem; align-items: center; }
  label { font-weight: 600; }
  input { font: inherit; padding: .35rem .5rem; border: 1px solid #888; border-radius: 4px; }
  button { grid-column: 2; justify-self: start; font: inherit; padding: .45rem 1.2rem; border-radius: 4px; border: 0; background: #174ea6; color: #fff; cursor: pointer; }
  button:disabled { opacity: .6; }
  #result { margin-top: 1.5rem; padding: 1rem; border-radius: 6px; background: #f3f3f3; white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: .9rem; }
  #result.ok { background: #e6f4ea; } #result.no { background: #fce8e6; }
  .note { color: #555; font-size: .9rem; }
</style>
</head>
<body>
<h1>Pay (fle example)</h1>
<p class="note">The card number, holder and CVV are sealed <strong>in this page</strong> with the tenant's public keys
(HPKE, envelope alg 3) before anything is sent; the gateway's edge checks the envelopes and the bearer token and
routes the request; only the processor's handler sees the card number.</p>
<form id="pay" autocomplete="off">
  <label for="number">Card number</label><input id="number" name="number" inputmode="numeric" value="4242 4242 4242 4242" required>
  <label for="holder">Name on card</label><input id="holder" name="holder" value="Zoë Example" required>
  <label for="expiry">Expiry (MM/YYYY)</label><input id="expiry" name="expiry" value="12/2030" pattern="\\d{1,2}/\\d{4}" required>
  <label for="cvv">CVV</label><input id="cvv" name="cvv" inputmode="numeric" value="123" required>
  <label for="amount">Amount (EUR)</label><input id="amount" name="amount" value="42.00" pattern="\\d+(\\.\\d{1,2})?" required>
  <button id="submit" type="submit">Pay</button>
</form>
<div id="result" role="status" aria-live="polite">Not sent yet.</div>
<script type="module">
  import { EdgeClient, EdgeCallError } from './fle-browser.mjs';
  const [schema, config] = await Promise.all([fetch('./schema.json').then((r) => r.json()), fetch('./config.json').then((r) => r.json())]);
  const edge = new EdgeClient({ baseUrl: location.origin, schema, publicKeys: config.publicKeys, token: config.token });
  const form = document.getElementById('pay');
  const out = document.getElementById('result');
  const show = (cls, text) => { out.className = cls; out.textContent = text; };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const [month, year] = String(f.get('expiry')).split('/').map(Number);
    const request = {
      tenantId: config.tenant,
      requestId: 'web-' + crypto.randomUUID(),
      amountMinor: Math.round(Number(f.get('amount')) * 100),
      currency: 'EUR',
      card: { number: String(f.get('number')).replace(/\\s+/g, ''), holderName: String(f.get('holder')), expiryMonth: month, expiryYear: year, cvv: new TextEncoder().encode(String(f.get('cvv'))) },
      merchantId: 'example-page',
    };
    document.getElementById('submit').disabled = true;
    show('', 'Sealing in the page and calling the edge…');
    const started = performance.now();
    try {
      const r = await edge.callDetailed(config.method, request);
      const m = r.message;
      show(m.approved ? 'ok' : 'no', [
        m.approved ? 'APPROVED' : 'DECLINED' + (m.declineReason ? ' (' + m.declineReason + ')' : ''),
        'card ending ' + m.cardLastFour,
        m.authorizationCode ? 'authorization code ' + m.authorizationCode : '',
        'card token (sealed for the tenant, not openable here): ' + String(m.cardToken).slice(0, 24) + '…',
        'request context ' + r.context,
        Math.round(performance.now() - started) + ' ms',
      ].filter(Boolean).join('\\n'));
    } catch (e) {
      show('no', e instanceof EdgeCallError ? 'REFUSED ' + e.code + (e.fleCode ? ' (' + e.fleCode + ')' : '') + ': ' + e.message : 'ERROR ' + e);
    } finally {
      document.getElementById('submit').disabled = false;
    }
  });
  window.fleReady = true;
</script>
</body>
</html>
`;
