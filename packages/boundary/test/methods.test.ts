// Binding a team's handlers to the loaded schema, and loading them from the
// module a config names: every mistake is refused at load time, naming it.
import { fileURLToPath } from 'node:url';
import { StaticKeyProvider } from '@fle/field-crypto';
import { MemoryNonceStore, createLogger, createServiceMetrics } from '@fle/service-kit';
import { FIXTURE_METHOD, FIXTURE_PLAIN_METHOD, fixtureSchema } from '@fle/testkit';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Boundary } from '../src/boundary.js';
import { loadHandlerModule } from '../src/handler-module.js';
import { BoundaryConfigError, bindMethods, defaultRouteName } from '../src/methods.js';

const h = async () => ({});
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const silent = createLogger({ name: 'test', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const setup = { schema: fixtureSchema(), keys: new StaticKeyProvider([]), logger: silent, metrics: createServiceMetrics({ service: 'test', processMetrics: false }) };

describe('bindMethods', () => {
  it('binds handlers by method name or full path, with kebab-case default routes', () => {
    const bound = bindMethods(fixtureSchema(), { Submit: h, [FIXTURE_PLAIN_METHOD]: h });
    expect(bound.map((b) => [b.path, b.route, b.requestType, b.responseType])).toEqual([
      [FIXTURE_METHOD, 'submit', 'fletest.svc.v1.SubmitRequest', 'fletest.svc.v1.SubmitResponse'],
      [FIXTURE_PLAIN_METHOD, 'submit-plain', 'fletest.svc.v1.SubmitPlainRequest', 'fletest.svc.v1.SubmitPlainResponse'],
    ]);
    expect(['Submit', 'SubmitPlain', 'GetHTTPStatus', 'list_items'].map(defaultRouteName)).toEqual(['submit', 'submit-plain', 'get-http-status', 'list-items']);
  });

  it('serves exactly the configured routes, each needing a handler', () => {
    const bound = bindMethods(fixtureSchema(), { Submit: h, SubmitPlain: h }, [{ method: FIXTURE_METHOD, route: 'pay' }]);
    expect(bound.map((b) => [b.path, b.route])).toEqual([[FIXTURE_METHOD, 'pay']]);
    expect(() => bindMethods(fixtureSchema(), { Submit: h }, [{ method: FIXTURE_PLAIN_METHOD }])).toThrow(
      new BoundaryConfigError(`no handler for ${FIXTURE_PLAIN_METHOD} (export SubmitPlain or "${FIXTURE_PLAIN_METHOD}" from the handlers module)`),
    );
  });

  it('refuses a method the schema lacks, a handler naming nothing, a bad or repeated route', () => {
    expect(() => bindMethods(fixtureSchema(), { Refund: h })).toThrow(/handler "Refund" names no unary method of the schema/);
    expect(() => bindMethods(fixtureSchema(), { '/fletest.svc.v1.LedgerService/Refund': h })).toThrow(/method "\/fletest.svc.v1.LedgerService\/Refund": the schema has no such method/);
    expect(() => bindMethods(fixtureSchema(), { Submit: h }, [{ method: '/no.such.Service/Submit' }])).toThrow(/unknown service no.such.Service/);
    expect(() => bindMethods(fixtureSchema(), { Submit: h }, [{ method: FIXTURE_METHOD, route: 'a.b' }])).toThrow(/must be a NATS token/);
    expect(() => bindMethods(fixtureSchema(), { Submit: h, SubmitPlain: h }, [{ method: FIXTURE_METHOD, route: 'x' }, { method: FIXTURE_PLAIN_METHOD, route: 'x' }])).toThrow(/route "x" is used by more than one method/);
    expect(() => bindMethods(fixtureSchema(), {})).toThrow(/no method to serve/);
  });

  it('Boundary.create checks before anything listens (no replay store without NATS)', async () => {
    await expect(Boundary.create({ schema: fixtureSchema(), keys: setup.keys, handlers: { Refund: h }, nonceStore: new MemoryNonceStore() })).rejects.toThrow(BoundaryConfigError);
    await expect(Boundary.create({ schema: fixtureSchema(), keys: setup.keys, handlers: { Submit: h } })).rejects.toThrow(/nonce store is needed/);
  });
});

describe('loadHandlerModule', () => {
  it('takes named function exports as handlers by method name', async () => {
    const m = await loadHandlerModule(fixture('named-handlers.ts'), setup);
    expect(Object.keys(m)).toEqual(['Submit']);
    expect(bindMethods(fixtureSchema(), m).map((b) => b.path)).toEqual([FIXTURE_METHOD]);
  });

  it('calls a default-export function once with the setup; paths relative to the given folder', async () => {
    const m = await loadHandlerModule('factory-handlers.ts', setup, fixture(''));
    expect(Object.keys(m).sort()).toEqual([FIXTURE_METHOD, 'SubmitPlain']);
  });

  it('names the file when the module is missing or holds no handlers', async () => {
    await expect(loadHandlerModule(fixture('missing.ts'), setup)).rejects.toThrow(new RegExp(`handlers module .*missing.ts could not be loaded: no such file`));
    await expect(loadHandlerModule(fixture('bad-handlers.ts'), setup)).rejects.toThrow(/bad-handlers.ts: handler "Submit" is not a function/);
  });
});
