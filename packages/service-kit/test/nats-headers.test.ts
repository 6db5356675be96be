import { headers, MsgHdrsImpl } from 'nats';
import { describe, expect, it } from 'vitest';
import { FLE_HEADERS, NatsHeaderBuilder, RoutingError, STAMP_HEADERS, natsHeaderValue } from '../src/mod.js';

const values = {
  [STAMP_HEADERS.timestamp]: '1767225600000',
  [STAMP_HEADERS.nonce]: 'q83vEjRWeJq8PwAAAAAAAA',
  [FLE_HEADERS.method]: '/shop.v1.OrderService/PlaceOrder',
  [FLE_HEADERS.caller]: 'spiffe://fle.local/client',
  [FLE_HEADERS.replyTo]: '_INBOX_gateway.abc.1z',
};

describe('NatsHeaderBuilder', () => {
  it('encodes exactly the headers nats.js set() would build', () => {
    const slow = headers();
    const builder = new NatsHeaderBuilder();
    for (const [k, v] of Object.entries(values)) {
      slow.set(k, v);
      builder.set(k, v);
    }
    const fast = builder.headers as MsgHdrsImpl;
    expect(Buffer.from(fast.encode()).toString()).toBe(Buffer.from((slow as MsgHdrsImpl).encode()).toString());
    const decoded = MsgHdrsImpl.decode(fast.encode());
    for (const [k, v] of Object.entries(values)) expect(decoded.get(k)).toBe(v);
    expect(decoded.has(FLE_HEADERS.errorCode)).toBe(false);
  });

  it('refuses a value with a line break (no header injection through a caller-supplied value), trims like nats.js', () => {
    for (const bad of ['spiffe://x\r\nFle-Method: /evil', 'a\nb', 'a\rb']) {
      expect(() => new NatsHeaderBuilder().set(FLE_HEADERS.caller, bad)).toThrow(RoutingError);
    }
    expect(() => headers().set(FLE_HEADERS.caller, 'a\nb')).toThrow(); // what nats.js itself does
    expect(natsHeaderValue(new NatsHeaderBuilder().set(FLE_HEADERS.caller, '  spiffe://x  ').headers, FLE_HEADERS.caller)).toBe('spiffe://x');
  });
});

describe('natsHeaderValue', () => {
  it('reads what MsgHdrs.get reads: exact name, first value, empty when absent', () => {
    const h = headers();
    h.append(FLE_HEADERS.method, '/a/B');
    h.append(FLE_HEADERS.method, '/c/D');
    h.append('fle-method', '/lower/case');
    const received = MsgHdrsImpl.decode((h as MsgHdrsImpl).encode());
    for (const msgHeaders of [h, received]) {
      for (const name of [FLE_HEADERS.method, 'fle-method', FLE_HEADERS.caller, 'Nats-Msg-Id']) {
        expect(natsHeaderValue(msgHeaders, name), name).toBe(msgHeaders.get(name));
      }
    }
    expect(natsHeaderValue(undefined, FLE_HEADERS.method)).toBe('');
  });
});
