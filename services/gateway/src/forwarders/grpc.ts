// Directly to a processor over mTLS gRPC. Bytes pass through untouched; the
// replay stamp travels as metadata; the processor's status and `fle-error-code`
// come back as they are (classifyError keeps the carried code).
import { Client, Metadata, type ServiceError } from '@grpc/grpc-js';
import { channelCredentials } from '@fle/pki';
import { FLE_HEADERS, GRPC_NO_CHANNELZ, RoutingError, stampToMetadata } from '@fle/service-kit';
import type { ProcessorTarget } from '../config.js';
import type { ForwardRequest, Forwarder } from './forwarder.js';

const passthrough = (b: Buffer): Buffer => b;

export class GrpcForwarder implements Forwarder {
  readonly #client: Client;
  constructor(target: ProcessorTarget, maxMessageBytes: number) {
    this.#client = new Client(target.address, channelCredentials(target.tls, { expectedServerIdentity: target.identity }), {
      ...GRPC_NO_CHANNELZ,
      'grpc.max_send_message_length': maxMessageBytes,
      'grpc.max_receive_message_length': maxMessageBytes,
    });
  }

  forward(req: ForwardRequest): Promise<Uint8Array> {
    const md = stampToMetadata(req.stamp, new Metadata());
    if (req.caller) md.set(FLE_HEADERS.caller.toLowerCase(), req.caller);
    const bytes = Buffer.from(req.bytes.buffer, req.bytes.byteOffset, req.bytes.byteLength);
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(req.method.path, passthrough, passthrough, bytes, md, { deadline: Date.now() + req.route.timeoutMs }, (err: ServiceError | null, value?: Buffer) => {
        if (err) reject(err);
        else if (!value) reject(new RoutingError('UPSTREAM_UNAVAILABLE', 'empty reply from processor'));
        else resolve(value);
      });
    });
  }

  async close(): Promise<void> {
    this.#client.close();
  }
}
