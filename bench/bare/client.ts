// Bare client (see common.ts): a grpc-js client with mTLS calling the bare
// gateway's AuthorizePlain, encoding the request and decoding the response
// with protobufjs. Runs inside the benchmark process, like fle's client SDK.
import { readFileSync } from 'node:fs';
import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import { BARE, loadTypes, type BareTls, type BareTypes } from './common.js';

export class BareClient {
  readonly #client: Client;
  readonly #types: BareTypes;
  readonly #deadlineMs: number;
  constructor(address: string, tls: BareTls, protoDir: string, deadlineMs = 15_000) {
    this.#types = loadTypes(protoDir);
    this.#deadlineMs = deadlineMs;
    // The certificates name `localhost` (DNS SAN); the address is an IP.
    this.#client = new Client(address, credentials.createSsl(readFileSync(tls.ca), readFileSync(tls.key), readFileSync(tls.cert)), { 'grpc.ssl_target_name_override': 'localhost' });
  }

  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => this.#client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())));
  }

  /** One AuthorizePlain call with `request` (an object with the request's camelCase fields). */
  authorize(request: object): Promise<unknown> {
    const { request: req, response: res } = this.#types;
    const serialize = (r: object): Buffer => {
      const bytes = req.encode(r).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    };
    const deserialize = (b: Buffer): unknown => res.decode(b);
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(BARE.method, serialize, deserialize, request, { deadline: Date.now() + this.#deadlineMs }, (err: ServiceError | null, value?: unknown) => {
        if (err) reject(err);
        else if ((value as { approved?: boolean } | undefined)?.approved !== true) reject(Object.assign(new Error('not approved'), { code: 'NOT_APPROVED' }));
        else resolve(value);
      });
    });
  }

  close(): void {
    this.#client.close();
  }
}
