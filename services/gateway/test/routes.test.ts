// resolveRoutes: the config's routes checked against a loaded schema (no
// service is known to the gateway's code), `service:` expanded to its methods.
import protobuf from 'protobufjs';
import { ConfigError } from '@fle/service-kit';
import { FIXTURE_SERVICE, fixtureSchema } from '@fle/testkit';
import { describe, expect, it } from 'vitest';
import type { RouteSelector } from '../src/config.js';
import { resolveRoutes } from '../src/routes.js';

const sel = (x: Partial<RouteSelector>, i = 0): RouteSelector => ({ route: 'r', transport: 'nats', timeoutMs: 1000, at: `routes[${i}]`, ...x });

describe('resolveRoutes', () => {
  const root = fixtureSchema();

  it('keeps a method route and expands a service to each of its methods with its own subject token', () => {
    expect(resolveRoutes([sel({ method: `/${FIXTURE_SERVICE}/Submit`, route: 'submit' })], root)).toEqual([
      { method: `/${FIXTURE_SERVICE}/Submit`, route: 'submit', transport: 'nats', timeoutMs: 1000 },
    ]);
    expect(resolveRoutes([sel({ service: FIXTURE_SERVICE, route: 'ledger', transport: 'jetstream' })], root)).toEqual([
      { method: `/${FIXTURE_SERVICE}/Submit`, route: 'ledger-submit', transport: 'jetstream', timeoutMs: 1000 },
      { method: `/${FIXTURE_SERVICE}/SubmitPlain`, route: 'ledger-submit-plain', transport: 'jetstream', timeoutMs: 1000 },
    ]);
  });

  it.each([
    [{ method: '/fletest.svc.v1.Nope/Submit' }, 'routes[0].method /fletest.svc.v1.Nope/Submit: the schema has no service fletest.svc.v1.Nope'],
    [{ method: `/${FIXTURE_SERVICE}/Refund` }, `routes[0].method /${FIXTURE_SERVICE}/Refund: service ${FIXTURE_SERVICE} has no method Refund`],
    [{ method: 'Submit' }, 'routes[0].method Submit must be a gRPC path /pkg.Service/Method'],
    [{ method: '/fletest.svc.v1.SubmitRequest/Submit' }, 'the schema has no service fletest.svc.v1.SubmitRequest'],
    [{ service: 'fletest.svc.v1.Nope' }, 'routes[0].service fletest.svc.v1.Nope: the schema has no such service'],
  ])('refuses %j, naming the entry', (x, message) => {
    expect(() => resolveRoutes([sel(x)], root)).toThrow(ConfigError);
    expect(() => resolveRoutes([sel(x)], root)).toThrow(message);
  });

  it('refuses a method selected twice and two methods on one subject token', () => {
    expect(() => resolveRoutes([sel({ service: FIXTURE_SERVICE }, 0), sel({ method: `/${FIXTURE_SERVICE}/Submit`, route: 'other' }, 1)], root)).toThrow(
      `routes[1] selects /${FIXTURE_SERVICE}/Submit, which routes[0] selects already`,
    );
    expect(() => resolveRoutes([sel({ method: `/${FIXTURE_SERVICE}/Submit`, route: 'x' }, 0), sel({ method: `/${FIXTURE_SERVICE}/SubmitPlain`, route: 'x' }, 1)], root)).toThrow(
      /routes\[1\]: subject token x .* is used by routes\[0\]/,
    );
  });

  it('refuses streaming methods, alone or in a selected service', () => {
    const streaming = protobuf.parse(`syntax = "proto3"; package s.v1;
      message M { string a = 1; }
      service Feed { rpc Get(M) returns (M); rpc Watch(M) returns (stream M); rpc Push(stream M) returns (M); }`).root;
    streaming.resolveAll();
    expect(resolveRoutes([sel({ method: '/s.v1.Feed/Get' })], streaming)).toHaveLength(1);
    expect(() => resolveRoutes([sel({ method: '/s.v1.Feed/Watch' })], streaming)).toThrow('routes[0].method /s.v1.Feed/Watch is a streaming method; the gateway fronts unary methods only');
    expect(() => resolveRoutes([sel({ service: 's.v1.Feed' })], streaming)).toThrow('routes[0].service s.v1.Feed has streaming methods (Watch, Push)');
  });
});
