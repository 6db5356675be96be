import { describe, expect, it } from 'vitest';
import { fleConnectionOptions, natsInboxPrefix } from '../src/mod.js';

describe('fleConnectionOptions', () => {
  it('gives the identity its private inbox prefix, the TLS files, endless reconnects and no per-request stack traces', () => {
    const o = fleConnectionOptions({ servers: ['tls://127.0.0.1:4222'], tls: { ca: 'ca.pem', cert: 'p.pem', key: 'p-key.pem' }, identity: 'processor', name: 'fle-processor' });
    expect(o).toEqual({
      servers: ['tls://127.0.0.1:4222'],
      tls: { caFile: 'ca.pem', certFile: 'p.pem', keyFile: 'p-key.pem' },
      name: 'fle-processor',
      inboxPrefix: natsInboxPrefix('processor'),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      noAsyncTraces: true,
    });
  });

  it('leaves TLS out for a plain server and refuses an identity that is not one subject token', () => {
    expect(fleConnectionOptions({ servers: ['nats://127.0.0.1:4222'], identity: 'gateway', name: 'g' })).not.toHaveProperty('tls');
    expect(() => fleConnectionOptions({ servers: [], identity: 'a.b', name: 'x' })).toThrow(TypeError);
  });
});
