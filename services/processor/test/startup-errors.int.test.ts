// Bad input to the processor stops it before anything listens, with a line
// naming the problem and a non-zero exit: an image that is not a descriptor
// set, a routed method the schema lacks, a routed method without a handler.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURE_METHOD, FIXTURE_PLAIN_METHOD, FIXTURE_PROTO_DIR, LEDGER_HANDLERS, makeTestPki, startNats, tempDir, type NatsHarness } from '@fle/testkit';
import type { DevPki } from '@fle/pki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProcessorProcess, type ProcessorProcessOptions } from '../src/testing.js';

describe('processor start-up refuses bad schema and handler input', () => {
  let pki: DevPki;
  let nats: NatsHarness;
  let base: ProcessorProcessOptions;

  beforeAll(async () => {
    pki = await makeTestPki();
    nats = await startNats({ tls: pki, users: 'none' });
    base = { pki, natsUrls: nats.urls, keystoreAddress: '127.0.0.1:1', grpc: true, testProbe: false, schema: { protoRoots: [FIXTURE_PROTO_DIR] }, handlers: LEDGER_HANDLERS };
  });
  afterAll(async () => {
    await nats?.stop();
  });

  async function refusal(extra: Partial<ProcessorProcessOptions>): Promise<string> {
    const err = await startProcessorProcess({ ...base, ...extra }).then(
      async (p) => {
        await p.stop();
        throw new Error('the processor started');
      },
      (e: unknown) => e as Error,
    );
    expect(err.message).toMatch(/^processor exited \(code 1, signal null\) before ready/);
    return err.message;
  }

  it('an image that is not a descriptor set', async () => {
    const image = join(await tempDir('fle-image-'), 'schema.binpb');
    writeFileSync(image, 'not protobuf at all');
    expect(await refusal({ schema: { image } })).toContain(`schema: ${image} is not a Buf image or FileDescriptorSet`);
  });

  it('a routed method the schema lacks', async () => {
    expect(await refusal({ routes: [{ method: '/fletest.svc.v1.LedgerService/Refund' }] })).toContain('method \\"/fletest.svc.v1.LedgerService/Refund\\": the schema has no such method');
  });

  it('a routed method without a handler', async () => {
    const handlers = join(await tempDir('fle-handlers-'), 'handlers.mjs');
    writeFileSync(handlers, 'export async function Submit() { return {}; }\n');
    const msg = await refusal({ handlers, routes: [{ method: FIXTURE_METHOD }, { method: FIXTURE_PLAIN_METHOD }] });
    expect(msg).toContain(`no handler for ${FIXTURE_PLAIN_METHOD}`);
  });
});
