import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FieldCipher, StaticKeyProvider, compileSchema } from '@fle/field-crypto';
import { fixtureSchema, tempDir } from '@fle/testkit';
import { describe, expect, it } from 'vitest';
import { demoAuthorizeRequest } from '../src/demo/request.js';
import { needlesOf, plaintextIn } from '../src/demo/scan.js';
import { envelopeFacts, sensitiveValues } from '../src/demo/sensitive.js';
import { resolveDemoTarget } from '../src/demo/target.js';

// The neutral fixture mirrors the example API's field layout (devstack knows no API).
const schema = compileSchema(fixtureSchema());
const plan = schema.plan('fletest.svc.v1.SubmitRequest');

describe('demo request and plaintext scan', () => {
  it('fills every kind of sensitive field, named as in the proto', () => {
    const { request } = demoAuthorizeRequest('demo');
    const names = sensitiveValues(plan, request).map((v) => `${v.name}:${v.ring}`);
    expect(names).toEqual([
      'card.number:pci',
      'card.holder_name:default',
      'card.cvv:pci',
      'national_id:default',
      'biometric_template:default',
      'previous_addresses[0]:default',
      'items[0].note:default',
      'customer_attributes[loyalty]:default',
      'email:default',
    ]);
  });

  it('finds plaintext as text, base64 and base64url, and names the field only', () => {
    const { request } = demoAuthorizeRequest('demo');
    const needles = needlesOf(sensitiveValues(plan, request));
    const number = request.card!.number;
    expect(plaintextIn(`{"x":"${number}"}`, needles)).toEqual(['card.number']);
    expect(plaintextIn(Buffer.from(`h: ${Buffer.from(request.nationalId).toString('base64')}`), needles)).toEqual(['national_id']);
    expect(plaintextIn(Buffer.from(request.biometricTemplate).toString('base64url'), needles)).toEqual(['biometric_template']);
    expect(plaintextIn('nothing here', needles)).toEqual([]);
  });

  it('reads the envelope header of sealed values, and finds no plaintext in a sealed request', async () => {
    const keys = new StaticKeyProvider(['default', 'pci'].map((ring) => ({ tenant: 'demo', ring, versions: [{ version: 1, key: new Uint8Array(32).fill(7) }] })));
    const cipher = new FieldCipher({ schema, keys });
    const { request } = demoAuthorizeRequest('demo');
    const sealed = await cipher.sealMessage('fletest.svc.v1.SubmitRequest', request, { context: 'req/1/n' });
    const facts = sensitiveValues(plan, sealed).map((v) => envelopeFacts(v.value));
    expect(facts.every((f) => f && f.keyVersion === 1 && f.alg === 1)).toBe(true);
    expect(facts[0]).toMatchObject({ form: 'base64url', prefix: expect.stringMatching(/^AQEAAAAB.{8}…$/) });
    expect(facts[2]).toMatchObject({ form: 'binary', prefix: expect.stringMatching(/^010100000001/) });
    expect(envelopeFacts('plain text')).toBeUndefined();
    const needles = needlesOf(sensitiveValues(plan, request));
    expect(plaintextIn(Buffer.from(JSON.stringify(sealed)), needles)).toEqual([]);
  });
});

describe('resolveDemoTarget', () => {
  it('uses the stack file of a running stack, flags override it, a dead stack is ignored', async () => {
    const home = await tempDir();
    const run = join(home, 'run');
    mkdirSync(run);
    const info = { pid: process.pid, startedAt: '', home, certsDir: join(home, 'certs'), tenant: 't9', transport: 'nats', natsRunner: 'binary', gateway: '127.0.0.1:1111', keystore: '127.0.0.1:2222', processor: '127.0.0.1:3333', nats: 'nats://127.0.0.1:4444', processes: [{ name: 'gateway', pid: 1, address: '', log: '/g.log' }] };
    writeFileSync(join(run, 'stack.json'), JSON.stringify(info));
    const a = resolveDemoTarget({ home }, {}).target;
    expect(a).toMatchObject({ gateway: '127.0.0.1:1111', keystore: '127.0.0.1:2222', tenant: 't9', transport: 'nats', nats: 'nats://127.0.0.1:4444', logs: { gateway: '/g.log' } });
    const b = resolveDemoTarget({ home, gateway: '127.0.0.1:9999', tenant: 'x' }, {}).target;
    expect(b).toMatchObject({ gateway: '127.0.0.1:9999', tenant: 'x' });
    expect(b.logs).toBeUndefined(); // another gateway: the stack's logs describe something else
    writeFileSync(join(run, 'stack.json'), JSON.stringify({ ...info, pid: 2 ** 22 + 12345 }));
    expect(resolveDemoTarget({ home }, {}).target).toMatchObject({ gateway: '127.0.0.1:8443', keystore: '127.0.0.1:7443', tenant: 'demo', certsDir: join(home, 'certs') });
  });
});
