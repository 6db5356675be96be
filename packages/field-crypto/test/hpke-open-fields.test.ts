// openFieldsFor: an app opens the response values sealed to its own device
// key; values sealed to anyone else (a tenant's ring) stay sealed.
import { describe, expect, it } from 'vitest';
import { generateX25519KeyPair, HpkeSealer, openFieldsFor, StaticRecipientKeys } from '../src/portable.js';
import { schema } from './fixtures.js';

const TYPE = 'fletest.v1.Reply';
const context = 'req/1700000000000/AAAAAAAAAAAAAAAAAAAAAA';

async function sealTo(publicKey: Uint8Array) {
  const sealer = new HpkeSealer({ schema, recipients: new StaticRecipientKeys([{ tenant: 't1', ring: 'pci', version: 1, publicKey }]) });
  return (await sealer.sealMessage(TYPE, { tenantId: 't1', ok: true, token: 'tok_secret_1' }, { context })) as Record<string, unknown>;
}

describe('openFieldsFor', () => {
  it('opens the values sealed to the device key, bound to tenant, type, path and context', async () => {
    const device = generateX25519KeyPair();
    const msg = await sealTo(device.publicKey);
    expect(msg.token).not.toBe('tok_secret_1');
    expect(await openFieldsFor(schema, TYPE, msg, { privateKey: device.privateKey, tenant: 't1', context })).toEqual(['5']);
    expect(msg).toMatchObject({ token: 'tok_secret_1', ok: true });
  });

  it('leaves values sealed to another key, or under another context or tenant, as they came', async () => {
    const device = generateX25519KeyPair();
    const other = await sealTo(generateX25519KeyPair().publicKey);
    const sealed = other.token;
    expect(await openFieldsFor(schema, TYPE, other, { privateKey: device.privateKey, tenant: 't1', context })).toEqual([]);
    expect(other.token).toBe(sealed);
    const mine = await sealTo(device.publicKey);
    expect(await openFieldsFor(schema, TYPE, mine, { privateKey: device.privateKey, tenant: 't1', context: 'req/1/BBBBBBBBBBBBBBBBBBBBBB' })).toEqual([]);
    expect(await openFieldsFor(schema, TYPE, mine, { privateKey: device.privateKey, tenant: 't2', context })).toEqual([]);
  });
});
