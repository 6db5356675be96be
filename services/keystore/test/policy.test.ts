import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import { Policy, compile } from '../src/policy.js';

const policy = Policy.fromYaml(`
deny:
  - spiffe://fle.local/gateway
fetch:
  - identity: spiffe://fle.local/processor
    tenants: ["*"]
  - identity: spiffe://fle.local/client
    tenants: [acme]
    rings: [default]
  - identity: spiffe://fle.local/team-*
    tenants: ["tenant-*"]
  - identity: "*"
    tenants: [public]
admin:
  - identity: spiffe://fle.local/admin
    tenants: ["*"]
`);

describe('policy', () => {
  it('allows what a rule names', () => {
    expect(policy.decide('spiffe://fle.local/processor', 'fetch', 'acme', 'pci')).toEqual({ allowed: true, reason: 'fetch[0]' });
    expect(policy.decide('spiffe://fle.local/client', 'fetch', 'acme', 'default').allowed).toBe(true);
    expect(policy.decide('spiffe://fle.local/team-blue', 'fetch', 'tenant-7', 'x').allowed).toBe(true);
    expect(policy.decide('spiffe://fle.local/admin', 'admin', 'acme', 'default').allowed).toBe(true);
  });

  it('denies everything no rule names', () => {
    expect(policy.decide('spiffe://fle.local/client', 'fetch', 'acme', 'pci')).toMatchObject({ allowed: false, reason: expect.stringMatching(/no fetch rule/) });
    expect(policy.decide('spiffe://fle.local/client', 'fetch', 'globex', 'default').allowed).toBe(false);
    expect(policy.decide('spiffe://fle.local/processor', 'admin', 'acme', 'default').allowed).toBe(false);
    expect(policy.decide('spiffe://fle.local/admin', 'fetch', 'acme', 'default').allowed).toBe(false);
    expect(policy.decide('spiffe://other.domain/processor', 'fetch', 'acme', 'default').allowed).toBe(false);
    expect(policy.decide(undefined, 'fetch', 'acme', 'default')).toEqual({ allowed: false, reason: 'no client identity' });
  });

  it('denies a deny-listed identity even where a wildcard rule would allow it', () => {
    expect(policy.decide('spiffe://fle.local/gateway', 'fetch', 'public', 'default')).toEqual({ allowed: false, reason: 'identity is denied by policy' });
    expect(policy.decide('spiffe://fle.local/somebody', 'fetch', 'public', 'default').allowed).toBe(true);
  });

  it('matches patterns against the whole string, with * as the only wildcard', () => {
    expect(compile('acme').test('acme-evil')).toBe(false);
    expect(compile('a.c').test('abc')).toBe(false);
    expect(compile('spiffe://fle.local/team-*').test('spiffe://fle.local/team-')).toBe(true);
    expect(compile('x*y').test('x\ny')).toBe(true);
    expect(compile('(a|b)').test('a')).toBe(false);
  });

  it.each([
    ['fetch: 3', /policy.fetch must be a list/],
    ['fetch: [{identity: x}]', /tenants must be a list/],
    ['fetch: [{identity: x, tenants: []}]', /must name at least one tenant/],
    ['fetch: [{identity: x, tenants: [a], ringz: [b]}]', /unknown key "ringz"/],
    ['allow: []', /unknown key "allow"/],
    ['deny: [""]', /deny must be a list of non-empty strings/],
    ['fetch: [', /not valid YAML/],
  ])('rejects a malformed policy (%s)', (yaml, message) => {
    expect(() => Policy.fromYaml(yaml)).toThrow(ConfigError);
    expect(() => Policy.fromYaml(yaml)).toThrow(message);
  });

  it('an empty policy denies everything', () => {
    expect(Policy.fromYaml('').decide('spiffe://fle.local/processor', 'fetch', 'acme', 'default').allowed).toBe(false);
  });

  it('an exclusive ring goes only to the identities it names, whatever broader fetch rules say', () => {
    const p = Policy.fromYaml(`
fetch:
  - { identity: spiffe://fle.local/processor, tenants: ["*"] }
  - { identity: spiffe://fle.local/client, tenants: [acme] }
fetch-public:
  - { identity: spiffe://fle.local/browser, tenants: [acme] }
exclusive:
  - { rings: [records], identities: [spiffe://fle.local/processor] }
  - { tenants: [globex], rings: ["vault-*"], identities: [spiffe://fle.local/vault] }
`);
    expect(p.decide('spiffe://fle.local/processor', 'fetch', 'acme', 'records')).toEqual({ allowed: true, reason: 'fetch[0]' });
    expect(p.decide('spiffe://fle.local/client', 'fetch', 'acme', 'default')).toEqual({ allowed: true, reason: 'fetch[1]' });
    expect(p.decide('spiffe://fle.local/client', 'fetch', 'acme', 'records')).toEqual({
      allowed: false,
      reason: 'ring records of tenant acme is exclusive to the identities exclusive[0] names',
    });
    expect(p.decide('spiffe://fle.local/client', 'fetch-public', 'acme', 'records').allowed).toBe(false);
    expect(p.decide('spiffe://fle.local/browser', 'fetch-public', 'acme', 'records').allowed).toBe(false);
    // named by the exclusive rule but by no fetch rule: still denied
    expect(p.decide('spiffe://fle.local/vault', 'fetch', 'globex', 'vault-1').allowed).toBe(false);
    expect(p.decide('spiffe://fle.local/processor', 'fetch', 'globex', 'vault-1').allowed).toBe(false);
    expect(p.decide('spiffe://fle.local/processor', 'fetch', 'acme', 'vault-1').allowed).toBe(true);
    // administering is not fetching: admins still manage exclusive rings
    const a = Policy.fromYaml('admin: [{ identity: spiffe://fle.local/admin, tenants: ["*"] }]\nexclusive: [{ rings: [records], identities: [spiffe://fle.local/processor] }]');
    expect(a.decide('spiffe://fle.local/admin', 'admin', 'acme', 'records').allowed).toBe(true);
    expect(() => Policy.fromYaml('exclusive: [{ rings: [records] }]')).toThrow(/policy.exclusive\[0\].identities must be a list of non-empty strings/);
    expect(() => Policy.fromYaml('exclusive: [{ ring: [records], identities: [x] }]')).toThrow(/policy.exclusive\[0\]: unknown key "ring"/);
  });
});

describe('policy: device actions', () => {
  const p = Policy.fromYaml(`
deny: [spiffe://fle.local/gateway]
fetch: [{ identity: spiffe://fle.local/processor, tenants: [acme], rings: [records] }]
devices: [{ identity: spiffe://fle.local/auditor, tenants: [globex] }]
enroll: [{ identity: spiffe://fle.local/gateway, tenants: ["*"] }]
`);

  it('a fetch rule for a tenant (any ring) lets its devices be read; a devices rule alone allows no key', () => {
    expect(p.decide('spiffe://fle.local/processor', 'devices', 'acme').allowed).toBe(true);
    expect(p.decide('spiffe://fle.local/processor', 'devices', 'globex').allowed).toBe(false);
    expect(p.decide('spiffe://fle.local/auditor', 'devices', 'globex')).toEqual({ allowed: true, reason: 'devices[0]' });
    expect(p.decide('spiffe://fle.local/auditor', 'fetch', 'globex', 'default').allowed).toBe(false);
    expect(p.decide('spiffe://fle.local/auditor', 'fetch-public', 'globex', 'default').allowed).toBe(false);
  });

  it('deny takes every key and every implied right: a denied gateway may only be named explicitly under enroll or devices', () => {
    expect(p.decide('spiffe://fle.local/gateway', 'enroll', 'acme')).toEqual({ allowed: true, reason: 'enroll[0]' });
    // A wildcard fetch rule that matches the gateway does not give it devices (no implication for a denied identity)…
    const wild = Policy.fromYaml(`
deny: [spiffe://fle.local/gateway]
fetch: [{ identity: "spiffe://fle.local/*", tenants: ["*"] }]
devices: [{ identity: spiffe://fle.local/gateway, tenants: [globex] }]
`);
    expect(wild.decide('spiffe://fle.local/gateway', 'devices', 'acme')).toEqual({ allowed: false, reason: 'identity is denied by policy' });
    expect(wild.decide('spiffe://fle.local/processor', 'devices', 'acme').allowed).toBe(true);
    // …an explicit devices rule does, for its tenants only.
    expect(wild.decide('spiffe://fle.local/gateway', 'devices', 'globex')).toEqual({ allowed: true, reason: 'devices[0]' });
    expect(wild.decide('spiffe://fle.local/gateway', 'fetch', 'globex', 'default')).toEqual({ allowed: false, reason: 'identity is denied by policy' });
    for (const action of ['fetch', 'fetch-public', 'admin', 'devices'] as const) {
      expect(p.decide('spiffe://fle.local/gateway', action, 'acme', action === 'devices' || action === 'admin' ? undefined : 'default')).toEqual({ allowed: false, reason: 'identity is denied by policy' });
    }
    expect(p.decide('spiffe://fle.local/processor', 'enroll', 'acme').allowed).toBe(false);
  });

  it('enroll and devices rules take tenants only', () => {
    expect(() => Policy.fromYaml('enroll: [{ identity: x, tenants: [a], rings: [b] }]')).toThrow(/enroll rules name tenants only/);
    expect(() => Policy.fromYaml('devices: [{ identity: x, tenants: [a], rings: [b] }]')).toThrow(/devices rules name tenants only/);
  });
});
