// Who may have which keys. The policy file (YAML) names identities (the URI
// SAN of a client certificate) and, for each, the tenants and rings it may
// fetch key material for, and the tenants it may administer. Anything not
// named is denied. `deny` lists identities that get nothing whatever else the
// file says: the gateway belongs there (DESIGN.md "Identity and authorization").
// `fetch-public` names identities that may fetch only the public key of an
// X25519 ring's primary version (clients sealing with HPKE); a `fetch` rule
// also allows that (whoever may hold the private key may hold the public one).
// `exclusive` names rings that only the identities it lists may fetch (keys or
// public keys), whatever broader fetch rules say: data at rest is sealed under
// a ring only the storing service may fetch (DESIGN.md "Keys"), so a client's
// `tenants: [acme]` rule does not reach acme's `records` ring. Administering
// an exclusive ring is unaffected (admins never get keys).
//
// Devices (docs/devices.md): `devices` names identities that may read a
// tenant's active devices (GetDevices: the openers that check alg 4 senders);
// a `fetch` rule for the tenant also allows it. `enroll` names identities that
// may redeem one-time enrollment tokens for a tenant (EnrollDevice: the
// gateway, on behalf of apps at its edge). Neither hands out a key or changes
// a ring (device public keys are not secret; enrolling needs a token an admin
// issued), so an identity on the `deny` list may still be named under
// `enroll` or `devices` by a rule of that very section (never through `fetch`):
// the gateway stays denied every key and can relay enrollments (and, if named
// under `devices`, check alg 4 senders at its edge). Issuing tokens, listing
// and revoking devices are `admin`.
//
//   deny:
//     - spiffe://fle.local/gateway
//   fetch:
//     - identity: spiffe://fle.local/processor
//       tenants: ["*"]
//       rings: ["*"]          # optional, default all rings
//   fetch-public:
//     - identity: spiffe://fle.local/client
//       tenants: ["*"]
//   admin:
//     - identity: spiffe://fle.local/admin
//       tenants: ["*"]
//   exclusive:
//     - rings: [records]
//       tenants: ["*"]          # optional, default all tenants
//       identities: [spiffe://fle.local/processor]
//   enroll:
//     - identity: spiffe://fle.local/gateway
//       tenants: ["*"]
//   devices:                  # optional here: `fetch` implies it
//     - identity: spiffe://fle.local/processor
//       tenants: ["*"]
//
// Patterns: `*` matches any run of characters (including none); every other
// character matches itself. A pattern is matched against the whole string.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError } from './errors.js';

export type PolicyAction = 'fetch' | 'fetch-public' | 'admin' | 'enroll' | 'devices';

/** Actions about a tenant as a whole: their rules take no `rings`. */
const TENANT_ACTIONS: ReadonlySet<PolicyAction> = new Set(['enroll', 'devices']);

export interface PolicyRule {
  identity: string;
  tenants: string[];
  rings: string[];
}

export interface PolicyDocument {
  deny?: string[];
  fetch?: Array<{ identity: string; tenants: string[]; rings?: string[] }>;
  'fetch-public'?: Array<{ identity: string; tenants: string[]; rings?: string[] }>;
  admin?: Array<{ identity: string; tenants: string[]; rings?: string[] }>;
  enroll?: Array<{ identity: string; tenants: string[] }>;
  devices?: Array<{ identity: string; tenants: string[] }>;
  exclusive?: Array<{ rings: string[]; tenants?: string[]; identities: string[] }>;
}

interface ExclusiveRule {
  rings: RegExp[];
  tenants: RegExp[];
  identities: RegExp[];
  index: number;
}

export interface Decision {
  allowed: boolean;
  /** Why: says which rule allowed or that none did. Safe to log and return. */
  reason: string;
}

export class Policy {
  readonly #deny: RegExp[];
  readonly #rules: Record<PolicyAction, Array<{ identity: RegExp; tenants: RegExp[]; rings: RegExp[]; index: number }>>;
  readonly #exclusive: ExclusiveRule[];

  constructor(doc: PolicyDocument) {
    const where = 'policy';
    if (typeof doc !== 'object' || doc === null) throw new ConfigError(`${where}: must be a mapping`);
    for (const key of Object.keys(doc)) {
      if (!['deny', 'fetch', 'fetch-public', 'admin', 'enroll', 'devices', 'exclusive'].includes(key)) throw new ConfigError(`${where}: unknown key ${JSON.stringify(key)}`);
    }
    this.#deny = stringList(doc.deny ?? [], `${where}.deny`).map(compile);
    this.#rules = {
      fetch: rules(doc.fetch, 'fetch'),
      'fetch-public': rules(doc['fetch-public'], 'fetch-public'),
      admin: rules(doc.admin, 'admin'),
      enroll: rules(doc.enroll, 'enroll'),
      devices: rules(doc.devices, 'devices'),
    };
    this.#exclusive = exclusiveRules(doc.exclusive);
  }

  static fromYaml(text: string): Policy {
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (err) {
      throw new ConfigError(`policy is not valid YAML: ${(err as Error).message}`);
    }
    return new Policy((doc ?? {}) as PolicyDocument);
  }

  static fromFile(path: string): Policy {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read policy file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    return Policy.fromYaml(text);
  }

  /** `ring` undefined asks about the tenant as a whole (admin listing of every ring). */
  decide(identity: string | undefined, action: PolicyAction, tenant: string, ring?: string): Decision {
    if (!identity) return { allowed: false, reason: 'no client identity' };
    // A denied identity gets no key, and nothing implied by a key rule; it may
    // still be named explicitly for the tenant actions, which hand out no key.
    const denied = this.#deny.some((d) => d.test(identity));
    if (denied && !TENANT_ACTIONS.has(action)) return { allowed: false, reason: 'identity is denied by policy' };
    if (action !== 'admin' && ring !== undefined) {
      for (const x of this.#exclusive) {
        if (!x.tenants.some((t) => t.test(tenant)) || !x.rings.some((r) => r.test(ring))) continue;
        if (!x.identities.some((i) => i.test(identity))) {
          return { allowed: false, reason: `ring ${ring} of tenant ${tenant} is exclusive to the identities exclusive[${x.index}] names` };
        }
      }
    }
    // A public key is also handed to whoever may fetch the private key; a
    // tenant's devices to whoever may open its envelopes.
    const actions: PolicyAction[] = (action === 'fetch-public' || action === 'devices') && !denied ? [action, 'fetch'] : [action];
    for (const a of actions) {
      for (const rule of this.#rules[a]) {
        if (!rule.identity.test(identity)) continue;
        if (!rule.tenants.some((t) => t.test(tenant))) continue;
        if (ring !== undefined && !rule.rings.some((r) => r.test(ring))) continue;
        return { allowed: true, reason: `${a}[${rule.index}]` };
      }
    }
    if (denied) return { allowed: false, reason: 'identity is denied by policy' };
    return {
      allowed: false,
      reason: `no ${action} rule names this identity for tenant ${tenant}${ring === undefined ? '' : ` ring ${ring}`}`,
    };
  }

  /** Whether any rule of `action` names the identity (listing across tenants filters per ring afterwards). */
  decideAny(identity: string | undefined, action: PolicyAction): Decision {
    if (!identity) return { allowed: false, reason: 'no client identity' };
    if (this.#deny.some((d) => d.test(identity))) return { allowed: false, reason: 'identity is denied by policy' };
    const index = this.#rules[action].findIndex((r) => r.identity.test(identity));
    if (index >= 0) return { allowed: true, reason: `${action}[${index}]` };
    return { allowed: false, reason: `no ${action} rule names this identity` };
  }
}

function rules(value: unknown, action: PolicyAction): Array<{ identity: RegExp; tenants: RegExp[]; rings: RegExp[]; index: number }> {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ConfigError(`policy.${action} must be a list`);
  return value.map((raw, index) => {
    const where = `policy.${action}[${index}]`;
    if (typeof raw !== 'object' || raw === null) throw new ConfigError(`${where} must be a mapping`);
    const r = raw as Record<string, unknown>;
    for (const key of Object.keys(r)) {
      if (!['identity', 'tenants', 'rings'].includes(key)) throw new ConfigError(`${where}: unknown key ${JSON.stringify(key)}`);
    }
    if (TENANT_ACTIONS.has(action) && r.rings !== undefined) throw new ConfigError(`${where}: ${action} rules name tenants only, not rings`);
    if (typeof r.identity !== 'string' || r.identity === '') throw new ConfigError(`${where}.identity must be a non-empty string`);
    const tenants = stringList(r.tenants, `${where}.tenants`);
    if (tenants.length === 0) throw new ConfigError(`${where}.tenants must name at least one tenant (or "*")`);
    const rings = r.rings === undefined ? ['*'] : stringList(r.rings, `${where}.rings`);
    return { identity: compile(r.identity), tenants: tenants.map(compile), rings: rings.map(compile), index };
  });
}

function exclusiveRules(value: unknown): ExclusiveRule[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ConfigError('policy.exclusive must be a list');
  return value.map((raw, index) => {
    const where = `policy.exclusive[${index}]`;
    if (typeof raw !== 'object' || raw === null) throw new ConfigError(`${where} must be a mapping`);
    const r = raw as Record<string, unknown>;
    for (const key of Object.keys(r)) {
      if (!['rings', 'tenants', 'identities'].includes(key)) throw new ConfigError(`${where}: unknown key ${JSON.stringify(key)}`);
    }
    const rings = stringList(r.rings, `${where}.rings`);
    const identities = stringList(r.identities, `${where}.identities`);
    if (rings.length === 0) throw new ConfigError(`${where}.rings must name at least one ring`);
    if (identities.length === 0) throw new ConfigError(`${where}.identities must name at least one identity`);
    const tenants = r.tenants === undefined ? ['*'] : stringList(r.tenants, `${where}.tenants`);
    return { rings: rings.map(compile), tenants: tenants.map(compile), identities: identities.map(compile), index };
  });
}

function stringList(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) {
    throw new ConfigError(`${where} must be a list of non-empty strings`);
  }
  return value as string[];
}

/** Glob with `*` only; everything else literal, anchored at both ends. */
export function compile(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 's');
}
