// The gateway holds no key and cannot open alg 3/4 envelopes, but it must pass
// them (docs/envelope-hpke.md §2): well-formed HPKE envelopes are accepted,
// short ones and plaintext refused, exactly as for alg 1/2.
import { decodeBase64url, encodeBase64url, generateX25519KeyPair, HpkeSealer, StaticRecipientKeys, compileSchema, compileWireCheck } from '@fle/field-crypto';
import { messageCodec, serviceDefinition } from '@fle/schema';
import { RpcRegistry } from '@fle/service-kit';
import { canarySubmitRequest, FIXTURE_METHOD, FIXTURE_REQUEST, FIXTURE_SERVICE, fixtureSchema } from '@fle/testkit';
import { describe, expect, it } from 'vitest';
import { checkRequest } from '../src/request-check.js';

type Req = Record<string, any>;
const root = fixtureSchema();
const schema = compileSchema(root);
const method = new RpcRegistry(root, [serviceDefinition(root, FIXTURE_SERVICE)]).get(FIXTURE_METHOD);
const wire = compileWireCheck(root, FIXTURE_REQUEST);
const recipients = new StaticRecipientKeys([
  { tenant: 't1', version: 3, publicKey: generateX25519KeyPair().publicKey },
  { tenant: 't1', ring: 'pci', version: 4, publicKey: generateX25519KeyPair().publicKey },
]);
const encode = (m: Req) => messageCodec(root, FIXTURE_REQUEST).encode(m);

describe('gateway checkRequest with HPKE envelopes (alg 3, alg 4)', () => {
  for (const [name, sender] of [['alg 3', undefined], ['alg 4', generateX25519KeyPair()]] as const) {
    it(`accepts a request sealed as ${name} and refuses a truncated envelope and plaintext`, async () => {
      const { request, canary } = canarySubmitRequest('t1');
      const sealed: Req = await new HpkeSealer({ schema, recipients, ...(sender ? { sender } : {}) }).sealMessage(FIXTURE_REQUEST, request, { context: 'req/1/x' });
      expect(decodeBase64url(sealed.nationalId)[1]).toBe(sender ? 4 : 3);
      expect(checkRequest(schema, method, wire, encode(sealed), 1 << 20)).toMatchObject({ tenant: 't1', envelopes: 10 });
      const min = sender ? 86 : 54;
      const short = { ...sealed, nationalId: encodeBase64url(decodeBase64url(sealed.nationalId).subarray(0, min - 1)) };
      expect(() => checkRequest(schema, method, wire, encode(short), 1 << 20)).toThrow(expect.objectContaining({ code: 'PLAINTEXT_IN_SENSITIVE_FIELD' }));
      const plain = { ...sealed, email: `m-${canary}` };
      expect(() => checkRequest(schema, method, wire, encode(plain), 1 << 20)).toThrow(expect.objectContaining({ code: 'PLAINTEXT_IN_SENSITIVE_FIELD' }));
    });
  }
});
