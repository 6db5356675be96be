// Bare gateway (see common.ts): a grpc-js server with mTLS that reads the
// tenant from the request, forwards the request bytes over NATS (core
// request-reply, or a JetStream publish with a reply header answered on one
// long-lived inbox subscription) and returns the processor's reply bytes.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Server, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { connect, headers as natsHeaders, type Msg } from 'nats';
import { BARE, loadTypes, natsTls, readConfig, writePorts } from './common.js';

const config = readConfig(process.argv);
const types = loadTypes(config.protoDir);
const transport = config.transport ?? 'nats';
const timeoutMs = config.timeoutMs ?? 15_000;

// noAsyncTraces as fle's own connections have it (@fle/nats-setup fleConnectionOptions): the comparison is of the code, not of a client option.
const nc = await connect({ servers: [...config.natsUrls], tls: natsTls(config.tls), inboxPrefix: BARE.gatewayInbox, name: 'bare-gateway', noAsyncTraces: true });
const js = nc.jetstream();

// JetStream replies: one inbox subscription for the process, requests told apart by the last token.
const inboxBase = `${BARE.gatewayInbox}.${randomBytes(8).toString('hex')}`;
const pending = new Map<string, { resolve: (m: Msg) => void; timer: NodeJS.Timeout }>();
let nextId = 0;
nc.subscribe(`${inboxBase}.*`, {
  callback: (_err, m) => {
    const id = m.subject.slice(inboxBase.length + 1);
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(m);
  },
});

async function forward(tenant: string, bytes: Buffer): Promise<Uint8Array> {
  if (transport === 'nats') return replyData(await nc.request(`${BARE.rpcPrefix}.${tenant}.authorize`, bytes, { timeout: timeoutMs }));
  const id = String(nextId++);
  const reply = new Promise<Msg>((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(Object.assign(new Error('reply timeout'), { code: status.DEADLINE_EXCEEDED }));
    }, timeoutMs);
    pending.set(id, { resolve, timer });
  });
  const h = natsHeaders();
  h.set(BARE.replyHeader, `${inboxBase}.${id}`);
  await js.publish(`${BARE.jsPrefix}.${tenant}.authorize`, bytes, { headers: h, timeout: timeoutMs });
  return replyData(await reply);
}

function replyData(m: Msg): Uint8Array {
  if (m.headers?.get(BARE.errorHeader)) throw new Error('the processor failed');
  return m.data;
}

const passthrough = (b: Buffer): Buffer => b;
const server = new Server();
server.addService(
  {
    authorizePlain: {
      path: BARE.method,
      requestStream: false,
      responseStream: false,
      requestSerialize: passthrough,
      requestDeserialize: passthrough,
      responseSerialize: passthrough,
      responseDeserialize: passthrough,
    },
  },
  {
    authorizePlain: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      let tenant: string;
      try {
        tenant = (types.request.decode(call.request) as unknown as { tenantId: string }).tenantId;
      } catch {
        callback({ code: status.INVALID_ARGUMENT, details: 'bad request' });
        return;
      }
      forward(tenant, call.request).then(
        (reply) => callback(null, Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength)),
        (err: unknown) => callback({ code: (err as { code?: number }).code === status.DEADLINE_EXCEEDED ? status.DEADLINE_EXCEEDED : status.UNAVAILABLE, details: String(err) }),
      );
    },
  },
);
const creds = ServerCredentials.createSsl(readFileSync(config.tls.ca), [{ private_key: readFileSync(config.tls.key), cert_chain: readFileSync(config.tls.cert) }], true);
const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
writePorts(config.portsFile, { grpc: port, metrics: 0, pid: process.pid });

process.once('SIGTERM', () => {
  server.forceShutdown();
  void nc.close().finally(() => process.exit(0));
});
