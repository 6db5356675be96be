// One demo request through a running stack, and what each hop saw.
//
//   client     seals every sensitive field (keys from the keystore, client identity), calls the gateway over mTLS
//   gateway    gets ciphertext; checks it and routes the same bytes (seen on NATS by the observer)
//   NATS       carries ciphertext: request, delivery, reply, stored record (all scanned for plaintext)
//   processor  opens the fields inside its boundary: the handler's result (Luhn check, last four) proves it
//
// Plaintext is shown only for the client hop, and only to the human view
// (DemoRun.clientView); the summary describes values by size and envelope header.
import { existsSync } from 'node:fs';
import { channelCredentials, pkiPaths, spiffeId } from '@fle/pki';
import { FieldCipher, compileSchema } from '@fle/field-crypto';
import { KeystoreKeyProvider } from '@fle/keystore-client';
import { FleClient, type MessageSealer } from '@fle/client';
import { loadSchema, messageCodec, serviceDefinition, type SchemaSource } from '@fle/schema';
import { natsInbox } from '@fle/nats-setup';
import { FLE_HEADERS, STAMP_HEADERS, type ReplayStamp } from '@fle/service-kit';
import { OBSERVER_IDENTITY } from '../configs.js';
import { DevStackError } from '../errors.js';
import { appendedSince, fileSize, jsonLines, waitForLogLine } from './logs.js';
import { NatsObserver, type ObservedMessage } from './observer.js';
import { demoAuthorizeRequest, type DemoAuthorizeRequest as AuthorizeRequest, type DemoAuthorizeResponse as AuthorizeResponse } from './request.js';
import { needlesOf, plaintextIn } from './scan.js';
import { envelopeFacts, plaintextText, sensitiveValues, type SensitiveValue } from './sensitive.js';
import type { DemoSummary, GatewayHop, NatsHop, NatsMessageSummary, ProcessorHop, ClientHop } from './summary.js';


export type LoggedService = 'gateway' | 'processor' | 'keystore' | 'nats';

export interface DemoTarget {
  /** Gateway `host:port`. */
  readonly gateway: string;
  /** Keystore `host:port` (the client fetches its keys there). */
  readonly keystore: string;
  /** The dev PKI folder: `client` certificate, and `observer` for the NATS view. */
  readonly certsDir: string;
  readonly tenant: string;
  /** How the gateway routes Authorize, when known (the stack file says). */
  readonly transport?: string;
  /** NATS URL for the observer; without it the NATS hop is reported as not observed. */
  readonly nats?: string;
  /** Service log files, when readable (the stack's own run). */
  readonly logs?: Partial<Record<LoggedService, string>>;
  /** KV buckets of the API's handlers, whose puts the observer watches (the stack file says). */
  readonly kvBuckets?: readonly string[];
  /** The API the stack serves (the stack file says): its schema, the method the demo calls and its NATS route. */
  readonly api?: { readonly schema: SchemaSource; readonly method: string; readonly route: string };
  /** Deadline of the call. Default 15 s. */
  readonly deadlineMs?: number;
}

export interface DemoRun {
  readonly summary: DemoSummary;
  /** For the human view only: the client's plaintext, and what it opened. */
  readonly clientView: {
    readonly fields: ReadonlyArray<{ field: string; ring: string; plaintext: string; envelopePrefix: string }>;
    readonly cardToken: string;
  };
}

export async function runDemo(t: DemoTarget): Promise<DemoRun> {
  const pki = pkiPaths(t.certsDir);
  for (const f of Object.values(pki.files('client'))) {
    if (!existsSync(f)) throw new DevStackError('DEVSTACK_DEMO_FAILED', `no client certificate: ${f} is missing (start the stack with npm start, or pass --certs)`);
  }
  if (!t.api) {
    // No stack file names the API. An unreachable keystore is the likelier cause: say that first.
    const probe = new KeystoreKeyProvider({ address: t.keystore, tls: pki.files('client'), channelOptions: { 'grpc.ssl_target_name_override': 'localhost' } });
    try {
      await probe.primaryKey({ tenant: t.tenant, ring: 'default' });
    } catch (err) {
      throw new DevStackError('DEVSTACK_DEMO_FAILED', `the client could not get its keys from the keystore at ${t.keystore}: ${describeError(err)}`, { cause: err });
    } finally {
      probe.close();
    }
    throw new DevStackError('DEVSTACK_DEMO_FAILED', 'the demo needs the API the stack serves (its schema and method, in the stack file npm start writes): pass --home of the running stack');
  }
  const root = loadSchema(t.api.schema);
  const [, serviceName = '', methodName = ''] = /^\/([^/]+)\/([^/]+)$/.exec(t.api.method) ?? [];
  const method = serviceDefinition(root, serviceName)[methodName];
  if (!method) throw new DevStackError('DEVSTACK_DEMO_FAILED', `the stack's schema has no method ${t.api.method}`);
  const REQUEST_TYPE = method.requestType;
  const RESPONSE_TYPE = method.responseType;
  const schema = compileSchema(root);
  const keys = new KeystoreKeyProvider({ address: t.keystore, tls: pki.files('client'), channelOptions: { 'grpc.ssl_target_name_override': 'localhost' } });
  const cipher = new FieldCipher({ schema, keys });

  let observer: NatsObserver | undefined;
  let notObserved: string | undefined;
  if (!t.nats) notObserved = 'no NATS address known (pass --nats, or run against the stack npm start wrote)';
  else if (!existsSync(pki.cert(OBSERVER_IDENTITY))) notObserved = `no ${OBSERVER_IDENTITY} certificate in ${pki.dir}`;
  else {
    try {
      observer = await NatsObserver.connect(t.nats, pki.files(OBSERVER_IDENTITY), t.kvBuckets);
    } catch (err) {
      notObserved = `the observer could not connect to ${t.nats}: ${(err as Error).message}`;
    }
  }

  const logOffsets = Object.fromEntries(Object.entries(t.logs ?? {}).map(([k, p]) => [k, fileSize(p!)])) as Partial<Record<LoggedService, number>>;
  const { request, requestId } = demoAuthorizeRequest(t.tenant);

  // Seal/open timings and the sealed request, through the SDK's MessageSealer seam.
  const timings = { seal: 0, open: 0 };
  let sealedRequest: AuthorizeRequest | undefined;
  let sealedResponse: AuthorizeResponse | undefined;
  const sealer: MessageSealer = {
    async sealMessage(typeName, msg, opts) {
      const t0 = performance.now();
      const out = await cipher.sealMessage(typeName, msg, opts);
      timings.seal += performance.now() - t0;
      sealedRequest = out as unknown as AuthorizeRequest;
      return out;
    },
    async openMessage(typeName, msg, opts) {
      // A copy: the SDK lets the response it decoded be opened in place (opts.inPlace).
      sealedResponse = structuredClone(msg) as unknown as AuthorizeResponse;
      const t0 = performance.now();
      const out = await cipher.openMessage(typeName, msg, opts);
      timings.open += performance.now() - t0;
      return out;
    },
  };
  // The exact bytes the gateway received and returned, captured at the client's (de)serializers.
  let wireRequest: Buffer = Buffer.alloc(0);
  let wireResponse: Buffer = Buffer.alloc(0);
  const def = {
    path: method.path,
    requestStream: false as const,
    responseStream: false as const,
    requestSerialize: (v: AuthorizeRequest) => (wireRequest = method.requestSerialize(v)),
    responseDeserialize: (b: Buffer): AuthorizeResponse => {
      wireResponse = Buffer.from(b);
      return method.responseDeserialize(b) as AuthorizeResponse;
    },
  };
  const client = new FleClient({
    schema: root,
    address: t.gateway,
    credentials: channelCredentials(pki.files('client'), { expectedServerIdentity: spiffeId('gateway') }),
    cipher: sealer,
    deadlineMs: t.deadlineMs ?? 15_000,
    channelOptions: { 'grpc.ssl_target_name_override': 'localhost' },
  });

  const started = performance.now();
  let response: AuthorizeResponse;
  let stamp: ReplayStamp;
  let keyFetch = 0;
  try {
    // The client's keys first, one ring at a time: the fetch is timed on its
    // own, and a keystore that does not answer fails here with one clear error.
    try {
      for (const ring of schema.plan(REQUEST_TYPE).rings) await keys.primaryKey({ tenant: t.tenant, ring });
    } catch (err) {
      throw new DevStackError('DEVSTACK_DEMO_FAILED', `the client could not get its keys from the keystore at ${t.keystore}: ${describeError(err)}`, { cause: err });
    }
    keyFetch = performance.now() - started;
    try {
      ({ response, stamp } = await client.call(def, request));
    } catch (err) {
      throw new DevStackError('DEVSTACK_DEMO_FAILED', `the demo request through the gateway at ${t.gateway} failed: ${describeError(err)}`, { cause: err });
    }
  } catch (err) {
    await observer?.close();
    throw err;
  } finally {
    client.close();
    keys.close();
  }
  const total = performance.now() - started;

  const plaintextValues = sensitiveValues(schema.plan(REQUEST_TYPE), request);
  const needles = needlesOf(plaintextValues);
  const problems: string[] = [];

  const clientHop = clientHopOf(plaintextValues, sealedRequest ?? ({} as AuthorizeRequest), schema.plan(REQUEST_TYPE), wireRequest.byteLength);
  const routedSubject = t.transport === 'jetstream' ? `fle.js.${t.tenant}.${t.api.route}` : t.transport === 'nats' ? `fle.rpc.${t.tenant}.${t.api.route}` : undefined;
  const isRequest = (m: ObservedMessage): boolean => m.headers.get(STAMP_HEADERS.nonce)?.[0] === stamp.nonce && !isInboxSubscription(m.via);
  const replyInbox = (seen: readonly ObservedMessage[]): string | undefined => {
    const req = seen.find(isRequest);
    return req?.headers.get(FLE_HEADERS.replyTo)?.[0] ?? req?.reply;
  };
  if (observer) {
    // Wait (bounded) for the request and its reply; KV puts and acks arrive around the same time.
    // Generous: it returns as soon as both are seen; a loaded machine may deliver the observer's copies late.
    await observer.settle((seen) => !routedSubject || (seen.some(isRequest) && seen.some((m) => m.subject === replyInbox(seen))), 5000);
    await observer.close();
  }
  const seen = observer?.messages() ?? [];
  const routedMsg = seen.find(isRequest);

  // Gateway: what it received, and the same bytes as routed on NATS.
  const routedLine = (l: Record<string, unknown>): boolean => l['size'] === wireRequest.byteLength;
  const handledLine = (l: Record<string, unknown>): boolean => l['tenant'] === t.tenant && l['size'] === wireRequest.byteLength;
  const gatewayLogText = t.logs?.gateway ? await waitForLogLine(t.logs.gateway, logOffsets.gateway ?? 0, 'request routed', routedLine) : undefined;
  const routedBytes = routedMsg ? Buffer.from(routedMsg.data) : wireRequest;
  const routedReq = messageCodec(root, REQUEST_TYPE).decode(routedBytes);
  const gatewayHop: GatewayHop = {
    hop: 'gateway',
    sees: 'ciphertext',
    receivedBytes: wireRequest.byteLength,
    routedTo: routedSubject ?? (t.transport === 'grpc' ? 'the processor over mTLS gRPC' : 'unknown'),
    envelopesFrom: routedMsg ? 'nats' : 'received',
    routedUnchanged: routedMsg ? Buffer.from(routedMsg.data).equals(wireRequest) : undefined,
    envelopes: sensitiveValues(schema.plan(REQUEST_TYPE), routedReq).map((v) => {
      const e = envelopeFacts(v.value);
      return { field: v.name, prefix: e?.prefix ?? '(not an envelope)', envelopeBytes: e?.bytes ?? 0, keyVersion: e?.keyVersion ?? 0 };
    }),
    log: gatewayLogText === undefined ? undefined : pick(jsonLines(gatewayLogText, 'request routed').find(routedLine), ['method', 'route', 'transport', 'tenant', 'caller', 'size', 'envelopes', 'replySize', 'ms']),
    plaintextFound: [...new Set([...plaintextIn(wireRequest, needles), ...plaintextIn(wireResponse, needles), ...(gatewayLogText ? plaintextIn(gatewayLogText, needles) : [])])],
  };
  if (gatewayHop.routedUnchanged === false) problems.push('the bytes on NATS differ from the bytes the gateway received');
  if (gatewayHop.envelopes.some((e) => e.envelopeBytes === 0)) problems.push('a sensitive field reached the gateway without an envelope');

  // NATS: this request's messages, and a scan of everything seen.
  const inbox = replyInbox(seen);
  const natsHop: NatsHop = {
    hop: 'nats',
    sees: 'ciphertext',
    observed: observer !== undefined,
    ...(notObserved ? { reason: notObserved } : {}),
    messages: seen.flatMap((m): NatsMessageSummary[] => {
      const what = classify(m, { isRequest: isRequest(m), inbox, nonce: stamp.nonce, kvBuckets: t.kvBuckets ?? [] });
      const inboxOf = /^(_INBOX_[A-Za-z0-9_-]+)\./.exec(m.subject)?.[1];
      return what ? [{ subject: inboxOf ? `${inboxOf}.…` : m.subject.replace(stamp.nonce, '<nonce>'), bytes: m.data.byteLength, what }] : [];
    }),
    scannedMessages: seen.length,
    scannedBytes: seen.reduce((n, m) => n + m.wire.byteLength, 0),
    plaintextFound: [...new Set(seen.flatMap((m) => plaintextIn(m.wire, needles)))],
  };
  if (observer && routedSubject && !routedMsg) problems.push(`the observer did not see the request on ${routedSubject}`);

  // Processor: its result proves it opened the fields; its log must hold no plaintext either.
  const processorLogText = t.logs?.processor ? await waitForLogLine(t.logs.processor, logOffsets.processor ?? 0, 'request handled', handledLine) : undefined;
  const cardNumber = request.card?.number ?? '';
  const tokenFacts = sealedResponse?.cardToken ? envelopeFacts(sealedResponse.cardToken) : undefined;
  const processorHop: ProcessorHop = {
    hop: 'processor',
    sees: 'plaintext inside its boundary',
    luhnCheckPassed: response.approved,
    cardLastFour: response.cardLastFour,
    lastFourMatches: response.cardLastFour === cardNumber.slice(-4),
    cardToken: tokenFacts ? { envelopeBytes: tokenFacts.bytes, keyVersion: tokenFacts.keyVersion, openedByClient: response.cardToken.startsWith('tok_') } : undefined,
    log: processorLogText === undefined ? undefined : pick(jsonLines(processorLogText, 'request handled').find(handledLine), ['transport', 'tenant', 'route', 'size', 'deliveries', 'ms']),
    logPlaintextFree: processorLogText === undefined ? undefined : plaintextIn(processorLogText, needles).length === 0,
  };
  if (!response.approved) problems.push(`the processor declined: ${response.declineReason || 'no reason given'}`);
  if (!processorHop.lastFourMatches) problems.push('the last four digits the processor returned do not match the card');
  if (!processorHop.cardToken?.openedByClient) problems.push('the card token was not sealed by the processor and opened by the client');
  if (processorHop.logPlaintextFree === false) problems.push('the processor logged plaintext');

  // Every other log outside the processor.
  const otherLogs: string[] = [];
  const otherHits: string[] = [];
  for (const name of ['keystore', 'nats'] as const) {
    const p = t.logs?.[name];
    const text = p ? appendedSince(p, logOffsets[name] ?? 0) : undefined;
    if (text === undefined) continue;
    otherLogs.push(`${name} log`);
    otherHits.push(...plaintextIn(text, needles));
  }

  const checked = [
    'the request bytes the gateway received',
    'the response bytes the gateway returned',
    ...(gatewayLogText !== undefined ? ['the gateway log'] : []),
    ...(observer ? [`${seen.length} NATS messages (subjects, headers, payloads)`] : []),
    ...otherLogs,
  ];
  // A hop the demo reports on but could not look at is a failure, never a
  // silent "nothing leaked" (issue 17 item 9): without the NATS view or a
  // service's log, the leak checks of that hop did not run.
  const logHint = 'run it against the stack npm start wrote (FLE_HOME/run/stack.json), or pass --home';
  if (!observer) problems.push(`NATS hop not observed: ${notObserved ?? 'no observer'}`);
  if (gatewayLogText === undefined) problems.push(`gateway hop not observed: its log is not readable (${logHint})`);
  if (processorLogText === undefined) problems.push(`processor hop not observed: its log is not readable (${logHint})`);

  const leaked = gatewayHop.plaintextFound.length > 0 || natsHop.plaintextFound.length > 0 || otherHits.length > 0;
  if (leaked) problems.push(`plaintext seen outside the processor: ${[...new Set([...gatewayHop.plaintextFound, ...natsHop.plaintextFound, ...otherHits])].join(', ')}`);

  const summary: DemoSummary = {
    ok: problems.length === 0,
    approved: response.approved,
    tenant: t.tenant,
    requestId,
    gateway: t.gateway,
    transport: t.transport ?? 'unknown',
    hops: [clientHop, gatewayHop, natsHop, processorHop],
    timingsMs: { keyFetch: round(keyFetch), seal: round(timings.seal), roundTrip: round(total - keyFetch - timings.seal - timings.open), open: round(timings.open), total: round(total) },
    plaintextSeenOutsideProcessor: leaked,
    checked,
    problems,
  };
  const sealedValues = sensitiveValues(schema.plan(REQUEST_TYPE), sealedRequest ?? {});
  return {
    summary,
    clientView: {
      fields: plaintextValues.map((v, i) => ({ field: v.name, ring: v.ring, plaintext: plaintextText(v.value), envelopePrefix: envelopeFacts(sealedValues[i]?.value ?? '')?.prefix ?? '' })),
      cardToken: response.cardToken,
    },
  };
}

function clientHopOf(plain: readonly SensitiveValue[], sealed: AuthorizeRequest, plan: ReturnType<ReturnType<typeof compileSchema>['plan']>, requestBytes: number): ClientHop {
  const sealedValues = sensitiveValues(plan, sealed);
  return {
    hop: 'client',
    sees: 'plaintext',
    identity: spiffeId('client'),
    sealedFields: plain.map((v, i) => {
      const e = envelopeFacts(sealedValues[i]?.value ?? '');
      return {
        field: v.name,
        ring: v.ring,
        plaintextBytes: typeof v.value === 'string' ? Buffer.byteLength(v.value) : v.value.byteLength,
        envelopeBytes: e?.bytes ?? 0,
        form: e?.form ?? (typeof v.value === 'string' ? 'base64url' : 'binary'),
        keyVersion: e?.keyVersion ?? 0,
      };
    }),
    requestBytes,
  };
}

function classify(m: ObservedMessage, ctx: { isRequest: boolean; inbox: string | undefined; nonce: string; kvBuckets: readonly string[] }): NatsMessageSummary['what'] | undefined {
  const nonceHeader = m.headers.get(STAMP_HEADERS.nonce)?.[0];
  if (ctx.isRequest) return 'request';
  if (nonceHeader === ctx.nonce && m.via === natsInbox('processor')) return 'delivery to the processor';
  if (ctx.inbox && m.subject === ctx.inbox) return 'reply';
  if (ctx.kvBuckets.some((b) => m.subject.startsWith(`$KV.${b}.`)) && m.subject.includes(ctx.nonce)) return 'stored record';
  if (m.subject.startsWith('fle.dlq.') && nonceHeader === ctx.nonce) return 'dead letter';
  return undefined;
}

/** The observer's subscriptions to the gateway's and the processor's reply inboxes. */
function isInboxSubscription(via: string): boolean {
  return via === natsInbox('gateway') || via === natsInbox('processor');
}

function pick(line: Record<string, unknown> | undefined, keys: readonly string[]): Record<string, unknown> | undefined {
  if (!line) return undefined;
  return Object.fromEntries(keys.filter((k) => line[k] !== undefined).map((k) => [k, line[k]]));
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function describeError(err: unknown): string {
  const e = err as { code?: unknown; status?: unknown; details?: unknown; message?: unknown };
  if (typeof e?.details === 'string' && e.details) return `${e.code ?? e.status}: ${e.details}`;
  return String(e?.message ?? err);
}

