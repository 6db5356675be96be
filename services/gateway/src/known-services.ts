// The gRPC services the gateway can front (ts-proto grpc-js definitions).
// Routes in the config pick methods out of these.
import { PaymentServiceService } from '@fle/schema/gen/acme/payments/v1/payments.js';
import type { ServiceDefinitionLike } from '@fle/service-kit';

export const KNOWN_SERVICES: readonly ServiceDefinitionLike[] = [PaymentServiceService];
