// The payments example as the gateway fronts it in the whole-stack tests (this
// folder, test/browser, bench): its .proto root as the gateway's `schema:` and
// its Authorize route. The example lives outside the product; only tests and
// the devstack name it. One constant holds where its protos are.
import { PAYMENTS_PROTO_DIR } from '@fle-examples/payments/schema';
import type { TestRoute, TestSchema, Transport } from '@fle/gateway/testing';

/** The payments example's .proto root (examples/payments/proto). */
export const PAYMENTS_PROTO_ROOT = PAYMENTS_PROTO_DIR;
/** Config `schema:` for a gateway fronting the payments example. */
export const PAYMENTS_SCHEMA: TestSchema = { protoRoots: [PAYMENTS_PROTO_ROOT] };
export const AUTHORIZE_METHOD = '/acme.payments.v1.PaymentService/Authorize';

/** The Authorize route over the given transport. */
export function authorizeRoute(transport: Transport, extra: Partial<TestRoute> = {}): TestRoute {
  return { method: AUTHORIZE_METHOD, route: 'authorize', transport, ...extra };
}
