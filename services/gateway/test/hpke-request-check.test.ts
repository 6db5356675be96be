// The gateway holds no key and cannot open alg 3/4 envelopes, but it must pass
// them (docs/envelope-hpke.md §2): well-formed HPKE envelopes are accepted,
// short ones and plaintext refused, exactly as for alg 1/2.
import { canaryAuthorizeRequest } from '@fle/client/testing';
import { decodeBase64url, encodeBase64url, generateX25519KeyPair, HpkeSealer, StaticRecipientKeys, compileSchema } from '@fle/field-crypto';
import { schemaRoot } from '@fle/schema';
import { AuthorizeRequest } from '@fle/schema/gen/acme/payments/v1/payments.js';
import { RpcRegistry } from '@fle/service-kit';
import { describe, expect, it } from 'vitest';
import { KNOWN_SERVICES } from '../src/known-services.js';
import { checkRequest } from '../src/request-check.js';

const schema = compileSchema(schemaRoot());
const method = new RpcRegistry(schemaRoot(), KNOWN_SERVICES).get('/acme.payments.v1.PaymentService/Authorize');
const recipients = new StaticRecipientKeys([
  { tenant: 't1', version: 3, publicKey: generateX25519KeyPair().publicKey },
  { tenant: 't1', ring: 'pci', version: 4, publicKey: generateX25519KeyPair().publicKey },
]);
const encode = (m: AuthorizeRequest) => AuthorizeRequest.encode(m).finish();

describe('gateway checkRequest with HPKE envelopes (alg 3, alg 4)', () => {
  for (const [name, sender] of [['alg 3', undefined], ['alg 4', generateX25519KeyPair()]] as const) {
    it(`accepts a request sealed as ${name} and refuses a truncated envelope and plaintext`, async () => {
      const { request, canary } = canaryAuthorizeRequest('t1');
      const sealed = await new HpkeSealer({ schema, recipients, ...(sender ? { sender } : {}) }).sealMessage('acme.payments.v1.AuthorizeRequest', request, { context: 'req/1/x' });
      expect(decodeBase64url(sealed.nationalId)[1]).toBe(sender ? 4 : 3);
      expect(checkRequest(schema, method, encode(sealed), 1 << 20)).toEqual({ tenant: 't1', envelopes: 10 });
      const min = sender ? 86 : 54;
      const short = { ...sealed, nationalId: encodeBase64url(decodeBase64url(sealed.nationalId).subarray(0, min - 1)) };
      expect(() => checkRequest(schema, method, encode(short), 1 << 20)).toThrow(expect.objectContaining({ code: 'PLAINTEXT_IN_SENSITIVE_FIELD' }));
      const plain = { ...sealed, email: `m-${canary}` };
      expect(() => checkRequest(schema, method, encode(plain), 1 << 20)).toThrow(expect.objectContaining({ code: 'PLAINTEXT_IN_SENSITIVE_FIELD' }));
    });
  }
});
