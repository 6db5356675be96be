import type { E2eStack } from './e2e-stack.js';

export interface FetchCheck {
  /** `identity tenant/ring` -> fetches (GetPrimaryKey + GetKeyVersion; every ring has one version here). */
  readonly fetches: Record<string, number>;
  /** The same keys -> TTL windows the run spanned since that key's first fetch. */
  readonly windows: Record<string, number>;
  /** Max over keys of fetches ÷ windows. */
  readonly worst: number;
  readonly processorMetric: number;
  readonly clientStats: number;
}

/**
 * Keystore fetches under load, from the keystore's audit log (one line per
 * fetch, with the caller's identity) and cross-checked with the processor's
 * metrics endpoint and the client's cache stats. Target (issue 7): at most one
 * fetch per (process, tenant, key version, cache TTL): each identity is one
 * process here and each ring holds one version, so a key is `identity tenant/ring`,
 * allowed once per TTL window since its first fetch.
 */
export async function checkFetches(stack: E2eStack, endedAt: number, ttlMs: number): Promise<FetchCheck> {
  const audit = (await stack.keystoreEnv.readAudit()).filter((e) => (e.action === 'GetPrimaryKey' || e.action === 'GetKeyVersion') && e.outcome === 'OK');
  const fetches: Record<string, number> = {};
  const first: Record<string, number> = {};
  for (const e of audit) {
    const k = `${(e.identity ?? '?').replace('spiffe://fle.local/', '')} ${e.tenant}/${e.ring}`;
    fetches[k] = (fetches[k] ?? 0) + 1;
    const t = Date.parse(e.time ?? '');
    if (Number.isFinite(t)) first[k] = Math.min(first[k] ?? t, t);
  }
  const windows = Object.fromEntries(Object.keys(fetches).map((k) => [k, Math.floor((endedAt - (first[k] ?? endedAt)) / ttlMs) + 1]));
  const worst = Math.max(0, ...Object.keys(fetches).map((k) => fetches[k]! / windows[k]!));
  const metrics = await (await fetch(stack.processor.metricsUrl)).text();
  const processorMetric = metrics
    .split('\n')
    .filter((l) => l.startsWith('fle_keystore_client_fetches_total{') && l.includes('outcome="ok"'))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  return { fetches, windows, worst, processorMetric, clientStats: stack.clientKeys.stats().fetches };
}
