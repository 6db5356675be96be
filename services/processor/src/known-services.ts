// The gRPC services the processor can serve (ts-proto grpc-js definitions).
// Routes in the config bind handlers to methods of these.
import { PaymentServiceService } from '@fle/schema/gen/acme/payments/v1/payments.js';
import type { ServiceDefinitionLike } from '@fle/service-kit';

export const KNOWN_SERVICES: readonly ServiceDefinitionLike[] = [PaymentServiceService];
