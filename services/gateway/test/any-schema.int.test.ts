// The gateway fronts a schema it has never seen, with no code change: a team's
// own protos (another package, service, tenant field and sensitive fields,
// nested, repeated and map), built with `buf build` into an image, named in the
// config (`schema: { image }`, `service:`). A client with the same image seals
// and calls by path; a stand-in handler on NATS (processor identity) opens the
// request and answers sealed; plaintext is refused naming the field; health
// and reflection show the team's service.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Client, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { connect, type NatsConnection } from 'nats';
import type protobuf from 'protobufjs';
import { FleCallError, FleClient } from '@fle/client';
import { FieldCipher, StaticKeyProvider, compileSchema } from '@fle/field-crypto';
import { natsInboxPrefix } from '@fle/nats-setup';
import { channelCredentials, natsTlsOptions, type DevPki } from '@fle/pki';
import { FLE_PROTO_DIR, loadSchema, messageCodec } from '@fle/schema';
import { FLE_HEADERS, newReplayStamp, replayContext, stampFromHeaders } from '@fle/service-kit';
import { makeTestPki, startNats, type NatsHarness } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayProcess, type GatewayProcess } from '../src/testing.js';

const repo = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const GATEWAY_ID = 'spiffe://fle.local/gateway';
const TENANT = 'practice-9';

const DESK_PROTO = `syntax = "proto3";
package vet.v2;
import "fle/v1/options.proto";

message Owner {
  string full_name = 1 [(fle.v1.sensitive) = true];
  string phone = 2 [(fle.v1.sensitive) = true, (fle.v1.key_ring) = "contact"];
  string city = 3;
}

message RegisterPet {
  option (fle.v1.tenant_field) = "practice";
  string practice = 1;
  string species = 2;
  Owner owner = 3;
  map<string, bytes> records = 4 [(fle.v1.sensitive) = true];
  repeated string allergies = 5 [(fle.v1.sensitive) = true];
}

message PetRegistered {
  option (fle.v1.tenant_field) = "practice";
  string practice = 1;
  string chip_id = 2 [(fle.v1.sensitive) = true];
  uint32 visits = 3;
}

message Ping {
  option (fle.v1.tenant_field) = "practice";
  string practice = 1;
}
message Pong { string practice = 1; string echo = 2; }

service FrontDesk {
  rpc Register(RegisterPet) returns (PetRegistered);
  rpc Check(Ping) returns (Pong);
}
`;

let dir: string;
let root: protobuf.Root;
let pki: DevPki;
let nats: NatsHarness;
let gw: GatewayProcess;
let handler: NatsConnection;
let client: FleClient;
const seen: Array<{ subject: string; method: string | undefined; opened: Record<string, unknown>; raw: Uint8Array }> = [];

const keys = new StaticKeyProvider(['default', 'contact'].map((ring) => ({ tenant: TENANT, ring, versions: [{ version: 1, key: randomBytes(32) }] })));

beforeAll(async () => {
  // The team's project: its proto, fle's options from the package folder, one buf.yaml.
  dir = mkdtempSync(join(tmpdir(), 'fle-gw-any-'));
  mkdirSync(join(dir, 'proto/vet/v2'), { recursive: true });
  writeFileSync(join(dir, 'proto/vet/v2/desk.proto'), DESK_PROTO);
  cpSync(FLE_PROTO_DIR, join(dir, 'node_modules/@fle/schema/proto'), { recursive: true });
  writeFileSync(join(dir, 'buf.yaml'), 'version: v2\nmodules:\n  - path: proto\n  - path: node_modules/@fle/schema/proto\n');
  const image = join(dir, 'schema.binpb');
  execFileSync(join(repo, 'node_modules/.bin/buf'), ['build', '-o', image], { cwd: dir, stdio: 'pipe' });
  root = loadSchema({ image });
  const cipher = new FieldCipher({ schema: compileSchema(root), keys });

  pki = await makeTestPki();
  nats = await startNats({ tls: pki });
  gw = await startGatewayProcess({
    pki,
    natsUrls: nats.urls,
    schema: { image },
    routes: [{ service: 'vet.v2.FrontDesk', route: 'desk', transport: 'nats', timeoutMs: 5000 }],
    maxEnvelopes: 8,
    allowedCallers: ['spiffe://fle.local/client'],
  });

  // The team's handler, standing in on NATS with the processor identity.
  handler = await connect({ servers: nats.urls, tls: natsTlsOptions(pki.files('processor')), inboxPrefix: natsInboxPrefix('processor') });
  const reqCodec = messageCodec(root, 'vet.v2.RegisterPet');
  const resCodec = messageCodec(root, 'vet.v2.PetRegistered');
  handler.subscribe('fle.rpc.*.desk-register', {
    callback: (_err, msg) => {
      void (async () => {
        const context = replayContext(stampFromHeaders(msg.headers));
        const opened = await cipher.openMessage('vet.v2.RegisterPet', reqCodec.decode(msg.data), { context });
        seen.push({ subject: msg.subject, method: msg.headers?.get(FLE_HEADERS.method), opened, raw: msg.data });
        const owner = opened.owner as { fullName: string };
        const reply = await cipher.sealMessage('vet.v2.PetRegistered', { practice: opened.practice, chipId: `chip-${owner.fullName}`, visits: 1 }, { context });
        msg.respond(resCodec.encode(reply));
      })();
    },
  });
  const pingCodec = messageCodec(root, 'vet.v2.Pong');
  handler.subscribe('fle.rpc.*.desk-check', { callback: (_err, msg) => msg.respond(pingCodec.encode({ practice: TENANT, echo: 'pong' })) });
  await handler.flush();

  client = new FleClient({
    address: gw.address,
    schema: root,
    cipher,
    credentials: channelCredentials(pki.files('client'), { expectedServerIdentity: GATEWAY_ID }),
    deadlineMs: 10_000,
  });
}, 120_000);

afterAll(async () => {
  client?.close();
  await handler?.drain().catch(() => undefined);
  await gw?.stop();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const pet = () => ({
  practice: TENANT,
  species: 'cat',
  owner: { fullName: 'Mina Okafor', phone: '+44 7700 900123', city: 'Leeds' },
  records: { xray: Uint8Array.of(1, 2, 3), bloods: new TextEncoder().encode('HCT 0.41') },
  allergies: ['penicillin', 'chicken'],
});

describe('the gateway on a schema it has never seen (Buf image, service route)', () => {
  it('forwards a sealed request to the method subject and returns the opened response', async () => {
    const { response } = await client.call('/vet.v2.FrontDesk/Register', pet());
    expect(response).toMatchObject({ practice: TENANT, chipId: 'chip-Mina Okafor', visits: 1 });
    const last = seen.at(-1)!;
    expect(last.subject).toBe(`fle.rpc.${TENANT}.desk-register`);
    expect(last.method).toBe('/vet.v2.FrontDesk/Register');
    expect(last.opened).toMatchObject({ owner: { fullName: 'Mina Okafor', phone: '+44 7700 900123', city: 'Leeds' }, allergies: ['penicillin', 'chicken'] });
    expect(new TextDecoder().decode((last.opened.records as Record<string, Uint8Array>).bloods)).toBe('HCT 0.41');
    // What crossed NATS: ciphertext in every sensitive field, the clear ones clear.
    const wire = Buffer.from(last.raw).toString('latin1');
    for (const secret of ['Mina Okafor', '7700 900123', 'penicillin', 'HCT 0.41']) expect(wire).not.toContain(secret);
    expect(wire).toContain('Leeds');

    // The other method of the service, no sensitive field: routed to its own subject.
    const { response: pong } = await client.call('/vet.v2.FrontDesk/Check', { practice: TENANT });
    expect(pong).toMatchObject({ echo: 'pong' });
  });

  it('refuses plaintext in a nested, map or repeated sensitive field with INVALID_ARGUMENT naming it', async () => {
    const sealed = await new FieldCipher({ schema: compileSchema(root), keys }).sealMessage('vet.v2.RegisterPet', pet(), { context: 'req/1/x' });
    const cases: Array<[string, Record<string, unknown>]> = [
      ['vet.v2.Owner.phone', { ...sealed, owner: { ...(sealed.owner as object), phone: 'clear phone' } }],
      ['vet.v2.RegisterPet.records', { ...sealed, records: { xray: Uint8Array.of(9, 9) } }],
      ['vet.v2.RegisterPet.allergies', { ...sealed, allergies: ['clear allergy'] }],
    ];
    const before = seen.length;
    for (const [field, msg] of cases) {
      const err = await client.callRaw('/vet.v2.FrontDesk/Register', msg, newReplayStamp()).then(() => undefined, (e: unknown) => e as FleCallError);
      expect(err, field).toMatchObject({ status: status.INVALID_ARGUMENT, code: 'PLAINTEXT_IN_SENSITIVE_FIELD' });
      expect(err!.details).toContain(field);
      expect(err!.details).not.toContain('clear');
    }
    expect(seen.length).toBe(before); // nothing reached the handler
  });

  it('refuses bytes hiding plaintext from the decoded view, and more envelopes than maxEnvelopes (config)', async () => {
    const cipher = new FieldCipher({ schema: compileSchema(root), keys });
    const stamp = newReplayStamp();
    const sealed = await cipher.sealMessage('vet.v2.RegisterPet', pet(), { context: replayContext(stamp) });
    const good = messageCodec(root, 'vet.v2.RegisterPet').encode(sealed);
    // An earlier Owner (3) with the phone in clear: a decoder merges it under the sealed one.
    const phone = new TextEncoder().encode('+44 7700 900999');
    const hidden = Uint8Array.from([0x1a, phone.length + 2, 0x12, phone.length, ...phone, ...good]);
    const before = seen.length;
    const err = await client.callRaw('/vet.v2.FrontDesk/Register', hidden, stamp).then(() => undefined, (e: unknown) => e as FleCallError);
    expect(err).toMatchObject({ status: status.INVALID_ARGUMENT, code: 'WIRE_FORMAT' });
    expect(err!.details).toContain('field 3');
    expect(err!.details).not.toContain('7700');

    const many = await client.call('/vet.v2.FrontDesk/Register', { ...pet(), allergies: Array.from({ length: 5 }, (_, i) => `a${i}`) }).then(() => undefined, (e: unknown) => e as FleCallError);
    expect(many).toMatchObject({ status: status.INVALID_ARGUMENT, code: 'TOO_MANY_ENVELOPES' }); // 2 + 2 + 5 > 8
    expect(seen.length).toBe(before);
  });

  it('health and reflection show the team service; an unrouted method is UNIMPLEMENTED', async () => {
    const raw = new Client(gw.address, channelCredentials(pki.files('client'), { expectedServerIdentity: GATEWAY_ID }));
    const unary = (path: string, body: Buffer) =>
      new Promise<Buffer>((res, rej) =>
        raw.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, new Metadata(), { deadline: Date.now() + 5000 }, (e: ServiceError | null, v?: Buffer) => (e ? rej(e) : res(v!))),
      );
    try {
      const svc = Buffer.from('vet.v2.FrontDesk');
      expect([...(await unary('/grpc.health.v1.Health/Check', Buffer.concat([Buffer.of(0x0a, svc.length), svc])))]).toEqual([0x08, 0x01]);
      const listed = await new Promise<Buffer>((res, rej) => {
        const call = raw.makeBidiStreamRequest('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', (b: Buffer) => b, (b: Buffer) => b, new Metadata(), { deadline: Date.now() + 5000 });
        call.on('data', (b: Buffer) => {
          res(b);
          call.end();
        });
        call.on('error', rej);
        call.write(Buffer.of(0x3a, 0x01, 0x2a));
      });
      expect(listed.includes(svc)).toBe(true);
      // The file descriptor of the team's proto, by symbol (file_containing_symbol = field 4).
      const sym = Buffer.from('vet.v2.FrontDesk');
      const file = await new Promise<Buffer>((res, rej) => {
        const call = raw.makeBidiStreamRequest('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', (b: Buffer) => b, (b: Buffer) => b, new Metadata(), { deadline: Date.now() + 5000 });
        call.on('data', (b: Buffer) => {
          res(b);
          call.end();
        });
        call.on('error', rej);
        call.write(Buffer.concat([Buffer.of(0x22, sym.length), sym]));
      });
      expect(file.includes(Buffer.from('RegisterPet'))).toBe(true);
      const err = await unary('/vet.v2.Billing/Charge', Buffer.alloc(0)).then(() => undefined, (e: ServiceError) => e);
      expect(err?.code).toBe(status.UNIMPLEMENTED);
    } finally {
      raw.close();
    }
  });
});
