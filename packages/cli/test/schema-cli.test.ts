// `fle schema check`, run as a real process: a Buf image and a .proto folder
// give the same report; a schema fle cannot use is one line and exit 1.
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FLE_PROTO_DIR } from '@fle/schema';
import { FIXTURE_PROTO_DIR } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SchemaReport } from '../src/commands/schema.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = join(repo, 'packages/cli/bin/fle.mjs');

interface Run { code: number; stdout: string; stderr: string }
function fle(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: repo, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

let dir: string;
let image: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fle-schema-cli-'));
  cpSync(FIXTURE_PROTO_DIR, join(dir, 'proto'), { recursive: true });
  cpSync(FLE_PROTO_DIR, join(dir, 'node_modules/@fle/schema/proto'), { recursive: true });
  writeFileSync(join(dir, 'buf.yaml'), 'version: v2\nmodules:\n  - path: proto\n  - path: node_modules/@fle/schema/proto\n');
  image = join(dir, 'schema.binpb');
  execFileSync(join(repo, 'node_modules/.bin/buf'), ['build', '-o', image], { cwd: dir, stdio: 'pipe' });
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fle schema check', () => {
  it('prints services, methods and every sensitive path with its ring, alike from a .proto folder and a Buf image', async () => {
    const fromDir = await fle(['schema', 'check', '--schema', FIXTURE_PROTO_DIR]);
    expect(fromDir.stderr).toBe('');
    expect(fromDir.code).toBe(0);
    const out = fromDir.stdout;
    expect(out).toContain('fletest.svc.v1.LedgerService');
    expect(out).toContain('Submit(fletest.svc.v1.SubmitRequest) returns (fletest.svc.v1.SubmitResponse)');
    expect(out).toMatch(/fletest\.svc\.v1\.SubmitRequest {2}tenant field tenant_id {2}rings pci, default/);
    expect(out).toMatch(/5\.1 +fletest\.svc\.v1\.Card\.number {2}string {2}ring pci/);
    expect(out).toMatch(/10\[<key>\] +fletest\.svc\.v1\.SubmitRequest\.customerAttributes {2}string map {2}ring default/);

    const fromImage = await fle(['schema', 'check', '--schema', image, '--json']);
    expect(fromImage.code).toBe(0);
    const report = JSON.parse(fromImage.stdout) as SchemaReport;
    const json = await fle(['schema', 'check', '--schema', FIXTURE_PROTO_DIR, '--json']);
    expect(report).toEqual(JSON.parse(json.stdout));
    expect(report.services[0]!.methods.map((m) => [m.path, m.routable])).toEqual([
      ['/fletest.svc.v1.LedgerService/Submit', true],
      ['/fletest.svc.v1.LedgerService/SubmitPlain', true],
    ]);
    expect(report.messages.find((m) => m.name === 'fletest.svc.v1.SubmitResponse')!.sensitivePaths).toEqual([
      { path: '5', field: 'fletest.svc.v1.SubmitResponse.cardToken', ring: 'pci', type: 'string', shape: 'singular' },
    ]);
  });

  it('a file that is not a descriptor set, a missing path, a sensitive int: one line, exit 1', async () => {
    const junk = join(dir, 'junk.binpb');
    writeFileSync(junk, 'not protobuf at all\n');
    const notImage = await fle(['schema', 'check', '--schema', junk]);
    expect(notImage.code).toBe(1);
    expect(notImage.stdout).toBe('');
    expect(notImage.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(notImage.stderr).toMatch(new RegExp(`^fle: schema: ${junk} is not a Buf image or FileDescriptorSet`));

    const missing = await fle(['schema', 'check', '--schema', join(dir, 'nope')]);
    expect([missing.code, missing.stderr]).toEqual([1, `fle: --schema: no such file or folder ${join(dir, 'nope')}\n`]);

    const bad = join(dir, 'bad');
    mkdirSync(join(bad, 'shop/v1'), { recursive: true });
    const file = join(bad, 'shop/v1/orders.proto');
    writeFileSync(file, 'syntax = "proto3";\npackage shop.v1;\nimport "fle/v1/options.proto";\nmessage Order {\n  option (fle.v1.tenant_field) = "shop";\n  string shop = 1;\n  int32 pin = 2 [(fle.v1.sensitive) = true];\n}\n');
    const mark = await fle(['schema', 'check', '--schema', bad]);
    expect(mark.code).toBe(1);
    expect(mark.stderr).toBe(`fle: ${file}: field shop.v1.Order.pin is marked (fle.v1.sensitive) but has type int32: only string and bytes fields can hold an envelope\n`);
  });
});
