// @fle/client: seal a request's sensitive fields with a replay stamp, call the
// gateway over mTLS gRPC, open the response.
export { FleClient, type FleClientOptions, type CallOptions, type CallResult, type MessageSealer, type MethodRef, type UnaryMethodDefinition } from './fle-client.js';
export { PaymentsClient } from './payments-client.js';
export { FleCallError } from './errors.js';
export { newReplayStamp, replayContext, type ReplayStamp } from '@fle/protocol';
