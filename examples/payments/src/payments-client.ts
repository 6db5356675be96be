// Typed convenience over FleClient for the example payment API.
import { FleClient, type CallOptions, type CallResult, type FleClientOptions } from '@fle/client';
import { PaymentServiceService, type AuthorizeRequest, type AuthorizeResponse } from './gen/acme/payments/v1/payments.js';
import { paymentsSchema } from './schema.js';

export class PaymentsClient {
  readonly fle: FleClient;
  /** `opts.schema` defaults to the payments schema (examples/payments/proto). */
  constructor(opts: FleClientOptions) {
    this.fle = new FleClient({ schema: paymentsSchema(), ...opts });
  }

  /** Seal and send an AuthorizeRequest; returns the response with `card_token` opened. */
  async authorize(request: AuthorizeRequest, opts?: CallOptions): Promise<AuthorizeResponse> {
    return (await this.authorizeWithStamp(request, opts)).response;
  }

  authorizeWithStamp(request: AuthorizeRequest, opts?: CallOptions): Promise<CallResult<AuthorizeResponse>> {
    return this.fle.call(PaymentServiceService.authorize, request, opts);
  }

  close(): void {
    this.fle.close();
  }
}
