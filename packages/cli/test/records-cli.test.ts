// The parts of `fle records` that need no server: schema loading, the
// progress line on a terminal and in a log, and the flag checks.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadSchemaFiles, progressReporter } from '../src/commands/records.js';
import { main } from '../src/main.js';
import { FIXTURE_PROTO } from '../../records/test/fixtures/schema.js';

function sink(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const stream = new Writable({ write: (chunk, _enc, cb) => ((text += String(chunk)), cb()) }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY });
  return { stream, text: () => text };
}

const progress = (seen: number) => ({ seen, rewrapped: seen - 1, current: 1, skipped: 0, deleted: 0, failed: 0, estimatedTotal: 10 });

describe('loadSchemaFiles', () => {
  it('loads .proto files with fle/v1/options.proto found in fle\'s own protos, and gives a codec per type', async () => {
    const { schema, codecFor } = await loadSchemaFiles({ schema: [FIXTURE_PROTO] });
    expect(schema.rootTypes).toContain('fletest.records.v1.Dossier');
    const codec = codecFor('fletest.records.v1.Dossier')!;
    expect(codec.decode(codec.encode({ owner: 'o', status: 's' }).finish())).toEqual({ owner: 'o', status: 's' });
    expect(codecFor('fletest.records.v1.Nope')).toBeUndefined();
  });

  it('names a missing file', async () => {
    await expect(loadSchemaFiles({ schema: ['no/such.proto'] })).rejects.toThrow(/--schema: no such file .*no\/such\.proto/);
  });
});

describe('progressReporter', () => {
  it('redraws one line on a terminal and ends it with a newline', () => {
    const out = sink(true);
    const p = progressReporter(out.stream);
    p.update(progress(1));
    p.update(progress(2)); // within 100 ms: not drawn
    p.end();
    const text = out.text();
    expect(text.startsWith('\r\x1b[2Krewrap [')).toBe(true);
    expect(text.endsWith('\n')).toBe(true);
    expect(text).toContain('2/~10 rewrapped 1, current 1, skipped 0, failed 0');
    expect(text.split('\n')).toHaveLength(2);
  });

  it('writes plain lines, no control characters, when stderr is not a terminal', () => {
    const out = sink(false);
    const p = progressReporter(out.stream);
    p.update(progress(3));
    p.end();
    expect(out.text()).toMatch(/^rewrap: seen 3 of ~10, rewrapped 2, current 1, skipped 0, failed 0 \(\d+\/s\)\n/);
    expect(out.text()).not.toMatch(/[\r\x1b]/);
  });
});

describe('flags', () => {
  async function fle(...args: string[]): Promise<{ code: number; stderr: string }> {
    let stderr = '';
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
    try {
      return { code: await main(['node', 'fle', ...args]), stderr };
    } finally {
      process.stderr.write = write;
    }
  }

  it('rewrap needs its bucket, schema and identity', async () => {
    const r = await fle('records', 'rewrap', '--schema', FIXTURE_PROTO, '--identity', 'svc');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("required option '--bucket <bucket>' not specified");
  });

  it('rewrap refuses a bad --concurrency before connecting anywhere', async () => {
    const r = await fle('records', 'rewrap', '--bucket', 'b', '--schema', FIXTURE_PROTO, '--identity', 'svc', '--concurrency', '0');
    expect(r).toEqual({ code: 1, stderr: 'fle: --concurrency must be an integer from 1 to 1024\n' });
  });

  it('destroy --check-bucket needs --schema, and checks before anything is destroyed', async () => {
    const r = await fle('keys', 'destroy', '--tenant', 't', '--ring', 'r', '--version', '1', '--yes', '--check-bucket', 'b', '--address', '127.0.0.1:1');
    expect(r).toEqual({ code: 1, stderr: 'fle: --check-bucket needs --schema (the record types, to find their envelopes)\n' });
  });
});
