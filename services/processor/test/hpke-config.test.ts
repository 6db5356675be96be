// The processor's `hpke` config section (docs/envelope-hpke.md §5).
import { describe, expect, it } from 'vitest';
import { parseProcessorConfig } from '../src/config.js';

const nats = { servers: ['nats://127.0.0.1:4222'] };
const routes = [{ method: '/fletest.svc.v1.LedgerService/Submit', route: 'submit' }];
const api = { schema: { protoRoots: ['proto'] }, handlers: 'handlers.ts' };
const KEY = 'hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo';

describe('processor hpke config', () => {
  it('defaults: noble X25519, no registered devices, devices required once a tenant has some', () => {
    expect(parseProcessorConfig({ nats, ...api, routes }).hpke).toEqual({ kem: 'noble', devices: [], requireForRegisteredTenants: true });
  });

  it('reads the KEM implementation and the registered devices', () => {
    const c = parseProcessorConfig({
      nats,
      ...api,
      routes,
      hpke: { kem: 'webcrypto', devices: [{ tenant: 'team-a', id: 'ios-1', publicKey: KEY }], requireForRegisteredTenants: false },
    });
    expect(c.hpke).toEqual({ kem: 'webcrypto', devices: [{ tenant: 'team-a', id: 'ios-1', publicKey: KEY }], requireForRegisteredTenants: false });
  });

  it('refuses a bad KEM, a device without id or with a key that is not 32 bytes of base64url', () => {
    expect(() => parseProcessorConfig({ nats, ...api, routes, hpke: { kem: 'openssl' } })).toThrow(/hpke.kem must be one of/);
    expect(() => parseProcessorConfig({ nats, ...api, routes, hpke: { devices: [{ tenant: 'team-a', publicKey: KEY }] } })).toThrow(/hpke.devices\[0\].id is required/);
    expect(() => parseProcessorConfig({ nats, ...api, routes, hpke: { devices: [{ tenant: 'team-a', id: 'x', publicKey: KEY.slice(1) }] } })).toThrow(/base64url of 32 bytes/);
    expect(() => parseProcessorConfig({ nats, ...api, routes, hpke: { devices: [{ tenant: 'team-a', id: 'x', publicKey: `${KEY.slice(1)}+` }] } })).toThrow(/base64url of 32 bytes/);
  });

  it('reads deviceRegistry (the devices enrolled in the keystore), which needs keystore and excludes a devices list', () => {
    const keystore = { address: '127.0.0.1:7443', tls: { ca: 'ca.pem', cert: 'p.pem', key: 'p-key.pem' } };
    const c = parseProcessorConfig({ nats, keystore, ...api, routes, hpke: { deviceRegistry: { ttlMs: 1500, unknownSenderRefetchMs: 0 } } });
    expect(c.hpke).toEqual({ kem: 'noble', devices: [], deviceRegistry: { ttlMs: 1500, unknownSenderRefetchMs: 0 }, requireForRegisteredTenants: true });
    expect(parseProcessorConfig({ nats, keystore, ...api, routes, hpke: { deviceRegistry: {} } }).hpke.deviceRegistry).toEqual({});
    expect(() => parseProcessorConfig({ nats, keystore, ...api, routes, hpke: { deviceRegistry: {}, devices: [] } })).toThrow(/either deviceRegistry .* or a devices list/);
    expect(() => parseProcessorConfig({ nats, ...api, routes, hpke: { deviceRegistry: {} } })).toThrow(/hpke.deviceRegistry needs keystore/);
    expect(() => parseProcessorConfig({ nats, keystore, ...api, routes, hpke: { deviceRegistry: { ttl: 5 } } })).toThrow(/hpke.deviceRegistry.ttl/);
    expect(() => parseProcessorConfig({ nats, keystore, ...api, routes, hpke: { deviceRegistry: { ttlMs: 0 } } })).toThrow(/hpke.deviceRegistry.ttlMs/);
  });
});
