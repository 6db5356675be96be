// The decrypt boundary's side of the ciphertext path for integration tests,
// all real processes: nats-server (TLS, @fle/testkit), keystore
// (services/keystore/src/testing.ts) and the processor (our testing.ts
// helper) serving the neutral fixture service (fletest.svc.v1.LedgerService,
// handlers from @fle/testkit's LEDGER_HANDLERS) from config. Requests reach
// it the way a gateway sends them — core NATS request-reply, JetStream with a
// reply inbox, gRPC with the gateway's certificate — through `callers`, which
// seal with the client identity's keys and open the sealed response.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, makeGenericClientConstructor, type Client, type ServiceError } from '@grpc/grpc-js';
import { FieldCipher, compileSchema } from '@fle/field-crypto';
import type { KeystoreProcess, KeystoreTestEnv } from '@fle/keystore/testing';
import { KeystoreKeyProvider } from '@fle/keystore-client';
import { FLE_NATS_PERMISSIONS, natsInboxPrefix } from '@fle/nats-setup';
import { channelCredentials, type DevPki } from '@fle/pki';
import { messageCodec } from '@fle/schema';
import {
  ERROR_HEADER,
  FLE_HEADERS,
  classifyError,
  decodeErrorPayload,
  jsSubject,
  newReplayStamp,
  replayContext,
  rpcSubject,
  stampToHeaders,
  stampToMetadata,
  ERROR_CODE_METADATA,
  type ReplayStamp,
} from '@fle/service-kit';
import { FIXTURE_METHOD, FIXTURE_PROTO_DIR, FIXTURE_REQUEST, FIXTURE_RESPONSE, LEDGER_BUCKET, LEDGER_HANDLERS, fixtureSchema, type LedgerRequest, type LedgerResponse, type NatsHarness } from '@fle/testkit';
import { launchStack } from '@fle/testkit/stack';
import { createInbox, headers as natsHeaders, type NatsConnection } from 'nats';
import type { ProcessorProcess, ProcessorProcessOptions } from '../../src/testing.js';

export const TENANTS = ['t1', 't2', 't3'] as const;
export type Transport = 'nats' | 'jetstream' | 'grpc';
/** The fixture's Submit method and the route the processor serves it on. */
export const METHOD = FIXTURE_METHOD;
export const ROUTE = 'submit';
export const REQUEST_TYPE = FIXTURE_REQUEST;
export const RESPONSE_TYPE = FIXTURE_RESPONSE;

export const requestCodec = messageCodec<LedgerRequest>(fixtureSchema(), FIXTURE_REQUEST);
export const responseCodec = messageCodec<LedgerResponse>(fixtureSchema(), FIXTURE_RESPONSE);

/** A refused call: the gRPC status the gateway would answer with, the stable code, the safe message. */
export class CallError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly details: string,
  ) {
    super(`${code}: ${details}`);
  }
}

/** Calls the processor the way the gateway does, over one transport. */
export interface Caller {
  /** Seals `request` under a fresh (or the given) stamp, sends it, opens the response. */
  call(request: LedgerRequest, stamp?: ReplayStamp): Promise<{ response: LedgerResponse; stamp: ReplayStamp }>;
  /** Sends `message` as it is (already sealed, or tampered with) under `stamp`; opens the response. */
  callRaw(message: LedgerRequest, stamp: ReplayStamp | undefined, timeoutMs?: number): Promise<LedgerResponse>;
  /** Sends raw bytes; resolves to the sealed response bytes. */
  send(bytes: Uint8Array, tenant: string, stamp: ReplayStamp | undefined, timeoutMs?: number): Promise<Uint8Array>;
}

export interface Stack {
  readonly pki: DevPki;
  readonly nats: NatsHarness;
  readonly keystoreEnv: KeystoreTestEnv;
  processor: ProcessorProcess;
  keystore: KeystoreProcess;
  readonly callers: Record<Transport, Caller>;
  /** The client's cipher (keys from the keystore under the client identity). */
  readonly cipher: FieldCipher;
  startProcessor(extra?: Partial<ProcessorProcessOptions>): Promise<ProcessorProcess>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** NATS users: `'fle'` enforces per-identity permissions (the processor granted LEDGER_BUCKET); `'none'` lets any CA cert (e.g. an observer) see everything. */
  readonly natsUsers: 'fle' | 'none';
  readonly processor?: Partial<ProcessorProcessOptions>;
  /** How long a caller waits for a reply, default 5000 ms. */
  readonly timeoutMs?: number;
}

/** A Caller over `send`: seals with `cipher`, opens the sealed response. */
export function makeCaller(send: Caller['send'], cipher: FieldCipher): Caller {
  const callRaw = async (message: LedgerRequest, stamp: ReplayStamp | undefined, t?: number) => {
    const sealed = responseCodec.decode(await send(requestCodec.encode(message), message.tenantId, stamp, t));
    return cipher.openMessage(RESPONSE_TYPE, sealed, { context: replayContext(stamp ?? newReplayStamp()) });
  };
  return {
    send,
    callRaw,
    async call(request, stamp = newReplayStamp()) {
      const sealed = await cipher.sealMessage(REQUEST_TYPE, request, { context: replayContext(stamp) });
      return { response: await callRaw(sealed, stamp), stamp };
    },
  };
}

function refusal(code: string, message: string): CallError {
  const c = classifyError(Object.assign(new Error(message), { code }));
  return new CallError(c.grpcStatus, code, message);
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const stack: Partial<Stack> = {};
  const timeoutMs = opts.timeoutMs ?? 5000;
  // The one stack launcher (@fle/testkit/stack): NATS, keystore and rings, the processor.
  const launched = await launchStack({
    natsUsers: opts.natsUsers === 'fle' ? FLE_NATS_PERMISSIONS : 'none',
    kvBuckets: [LEDGER_BUCKET],
    tenants: TENANTS,
    processor: {
      grpc: true,
      allowedCallers: ['spiffe://fle.local/gateway'],
      schema: { protoRoots: [FIXTURE_PROTO_DIR] },
      handlers: LEDGER_HANDLERS,
      routes: [{ method: METHOD, route: ROUTE }],
      ...opts.processor,
    },
  });
  const { pki, nats, keystoreEnv, startProcessor, stop } = launched;
  const stops = { push: launched.defer };
  try {
    const keystore = launched.keystore;
    // A test may replace the keystore (stack.keystore = ...): stop whichever runs.
    stops.push(() => stack.keystore?.stop());
    const processor = launched.processor!;
    stack.processor = processor;
    const keys = new KeystoreKeyProvider({ address: keystore.address, tls: pki.files('client') });
    stops.push(() => keys.close());
    const cipher = new FieldCipher({ schema: compileSchema(fixtureSchema()), keys });

    // What the gateway would do: the gateway's NATS identity (its private inbox) and its gRPC certificate.
    const gwNats: NatsConnection = await nats.connect('gateway', { inboxPrefix: natsInboxPrefix('gateway') });
    const Generic = makeGenericClientConstructor(
      { Submit: { path: METHOD, requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } },
      'LedgerService',
    );
    let grpcClient: Client | undefined;
    let grpcTarget: string | undefined;
    const grpc = (): Client => {
      // The processor may be restarted on the same port: one channel per address.
      const target = stack.processor!.grpcAddress!;
      if (!grpcClient || grpcTarget !== target) {
        grpcClient?.close();
        grpcClient = new Generic(target, channelCredentials(pki.files('gateway'), { expectedServerIdentity: 'spiffe://fle.local/processor' }));
        grpcTarget = target;
      }
      return grpcClient;
    };
    stops.push(() => grpcClient?.close());

    const headersFor = (stamp: ReplayStamp | undefined) => {
      const h = natsHeaders();
      if (stamp) stampToHeaders(stamp, h);
      h.set(FLE_HEADERS.method, METHOD);
      h.set(FLE_HEADERS.caller, 'spiffe://fle.local/client');
      return h;
    };
    const natsReply = (m: { data: Uint8Array; headers?: { get(k: string): string } }): Uint8Array => {
      const code = m.headers?.get(ERROR_HEADER);
      if (code) {
        const e = decodeErrorPayload(m.data);
        throw refusal(e.code, e.message);
      }
      return m.data;
    };
    const senders: Record<Transport, Caller['send']> = {
      async nats(bytes, tenant, stamp, t = timeoutMs) {
        let m;
        try {
          m = await gwNats.request(rpcSubject(tenant, ROUTE), bytes, { headers: headersFor(stamp), timeout: t });
        } catch (err) {
          throw refusal('UPSTREAM_UNAVAILABLE', `no reply: ${(err as Error).message}`);
        }
        return natsReply(m);
      },
      async jetstream(bytes, tenant, stamp, t = timeoutMs) {
        const inbox = createInbox(natsInboxPrefix('gateway'));
        const sub = gwNats.subscribe(inbox, { max: 1, timeout: t });
        try {
          const h = headersFor(stamp);
          h.set(FLE_HEADERS.replyTo, inbox);
          // As the gateway does: Nats-Msg-Id = the nonce, so the stream refuses a second copy (docs/replay.md).
          const ack = await gwNats.jetstream().publish(jsSubject(tenant, ROUTE), bytes, { headers: h, ...(stamp ? { msgID: stamp.nonce } : {}) });
          if (ack.duplicate) throw refusal('REPLAY_NONCE', 'request nonce already used');
          try {
            for await (const m of sub) return natsReply(m);
          } catch (err) {
            if (err instanceof CallError) throw err;
            throw refusal('UPSTREAM_TIMEOUT', `no reply: ${(err as Error).message}`);
          }
          throw refusal('UPSTREAM_TIMEOUT', 'no reply');
        } finally {
          sub.unsubscribe();
        }
      },
      async grpc(bytes, _tenant, stamp, t = timeoutMs) {
        const md = new Metadata();
        if (stamp) stampToMetadata(stamp, md);
        return new Promise<Uint8Array>((resolve, reject) => {
          (grpc() as unknown as Record<string, (b: Buffer, md: Metadata, o: object, cb: (e: ServiceError | null, r?: Buffer) => void) => void>).Submit!(
            Buffer.from(bytes),
            md,
            { deadline: Date.now() + t },
            (err, res) => {
              if (!err) return resolve(res!);
              const code = err.metadata?.get(ERROR_CODE_METADATA)[0];
              reject(new CallError(err.code, typeof code === 'string' ? code : 'UNKNOWN', err.details));
            },
          );
        });
      },
    };
    const callers = { nats: makeCaller(senders.nats, cipher), jetstream: makeCaller(senders.jetstream, cipher), grpc: makeCaller(senders.grpc, cipher) };
    return Object.assign(stack, { pki, nats, keystoreEnv, keystore, processor, callers, cipher, startProcessor, stop }) as Stack;
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The JetStream store folder of the nats-server listening at `url`: found via
 * the ports file the harness's server wrote (under the OS temp folder) and its
 * monitoring endpoint's /varz (`jetstream.config.store_dir`).
 */
export async function natsStoreDir(url: string): Promise<string> {
  const port = new URL(url).port;
  for (const top of readdirSync(tmpdir()).filter((d) => d.startsWith('fle-nats-'))) {
    let nodes: string[] = [];
    try {
      nodes = readdirSync(join(tmpdir(), top));
    } catch {
      continue;
    }
    for (const node of nodes) {
      const portsDir = join(tmpdir(), top, node, 'ports');
      let files: string[] = [];
      try {
        files = readdirSync(portsDir);
      } catch {
        continue;
      }
      for (const f of files) {
        const ports = JSON.parse(readFileSync(join(portsDir, f), 'utf8')) as { nats?: string[]; monitoring?: string[] };
        if (!ports.nats?.some((u) => u.endsWith(`:${port}`)) || !ports.monitoring?.[0]) continue;
        const varz = (await (await fetch(`${ports.monitoring[0]}/varz`)).json()) as { jetstream?: { config?: { store_dir?: string } } };
        const dir = varz.jetstream?.config?.store_dir;
        if (dir) return dir;
      }
    }
  }
  throw new Error(`no JetStream store found for ${url}`);
}

/** Every file under `dir` (bounded: at most 5000 files, 512 MiB). */
export async function readTree(dir: string): Promise<Array<{ path: string; bytes: Buffer }>> {
  const out: Array<{ path: string; bytes: Buffer }> = [];
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && out.length < 5000 && total < 512 * 1024 * 1024) {
        const bytes = await readFile(p);
        total += bytes.length;
        out.push({ path: p, bytes });
      }
    }
  };
  if (statSync(dir).isDirectory()) await walk(dir);
  return out;
}

/** Where (if anywhere) any needle occurs, as UTF-8 or as its base64 / base64url. */
export function findNeedles(haystack: Buffer | string, needles: readonly string[]): string[] {
  const buf = typeof haystack === 'string' ? Buffer.from(haystack) : haystack;
  const hits: string[] = [];
  for (const n of needles) {
    for (const form of [n, Buffer.from(n).toString('base64').replace(/=+$/, ''), Buffer.from(n).toString('base64url')]) {
      if (form.length >= 8 && buf.includes(form)) hits.push(n);
    }
  }
  return [...new Set(hits)];
}
