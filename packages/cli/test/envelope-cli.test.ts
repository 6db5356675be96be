// `fle envelope inspect | open | seal`, run as real processes.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import vectors from '../../../test/vectors/envelope-v1.json' with { type: 'json' };

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = join(repo, 'packages/cli/bin/fle.mjs');

interface Run { code: number; stdout: string; stderr: string }

/** Runs `fle`, writing `stdin` to its standard input when given (the key for --key-stdin). */
function fle(args: string[], stdin?: string | Buffer): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { cwd: repo, timeout: 90_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin!.end(stdin);
  });
}

const KEY = '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f';
const TYPE = 'fletest.v1.Record';
const dir = mkdtempSync(join(tmpdir(), 'fle-envelope-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
/** A key file (hex text, or raw bytes), mode 0600. */
function keyFile(content: string | Buffer): string {
  const path = join(dir, `key-${files++}`);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}
const KEY_FILE = keyFile(`${KEY}\n`);
const bind = ['--key-file', KEY_FILE, '--tenant', 'tenant-eu', '--type', TYPE];
const SECRET = 'Zoë 4111111111111111';

/** One line on stderr, nothing on stdout, exit 1, and no secret anywhere. */
function expectOneLineFailure(run: Run, why: RegExp): void {
  expect(run.code).toBe(1);
  expect(run.stdout).toBe('');
  expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(run.stderr).toMatch(why);
  for (const secret of [SECRET, '4111', KEY]) expect(run.stderr).not.toContain(secret);
}

// Each spawn loads the CLI through tsx: seconds on a loaded 2-core box, hence the generous timeouts.
describe('fle envelope', { timeout: 180_000 }, () => {
  it('seals, inspects and opens (alg 2, key version, context, UTF-8)', async () => {
    const sealed = await fle(['envelope', 'seal', ...bind, '--path', '10[ssn]', '--context', 'req/1/abc', '--alg', '2', '--key-version', '9', SECRET]);
    expect(sealed.code).toBe(0);
    const text = sealed.stdout.trim();
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    const [inspected, opened, hexOpened] = await Promise.all([
      fle(['envelope', 'inspect', text]),
      fle(['envelope', 'open', ...bind, '--path', '10[ssn]', '--context', 'req/1/abc', text]),
      fle(['envelope', 'open', ...bind, '--path', '10[ssn]', '--context', 'req/1/abc', '--hex', text]),
    ]);
    const plaintextLength = new TextEncoder().encode(SECRET).length;
    expect(JSON.parse(inspected.stdout)).toEqual({ version: 1, alg: 2, keyVersion: 9, nonceLength: 24, ciphertextLength: plaintextLength });
    expect(opened).toEqual({ code: 0, stdout: `${SECRET}\n`, stderr: '' });
    expect(hexOpened.stdout).toBe(`${Buffer.from(SECRET).toString('hex')}\n`);
  });

  it('seals hex plaintext with the defaults (alg 1, key version 1, no context)', async () => {
    const sealed = await fle(['envelope', 'seal', ...bind, '--path', '7', '--hex', '00ff10']);
    const text = sealed.stdout.trim();
    const [inspected, opened] = await Promise.all([
      fle(['envelope', 'inspect', text]),
      fle(['envelope', 'open', ...bind, '--path', '7', '--hex', text]),
    ]);
    expect(JSON.parse(inspected.stdout)).toEqual({ version: 1, alg: 1, keyVersion: 1, nonceLength: 12, ciphertextLength: 3 });
    expect(opened.stdout).toBe('00ff10\n');
  });

  it('opens the committed golden vectors', async () => {
    const picks = vectors.vectors.filter((v) => v.fieldType === 'string' && v.context !== '').slice(0, 1);
    const runs = await Promise.all(
      picks.map((v) =>
        fle(['envelope', 'open', '--key-file', keyFile(v.key), '--tenant', v.tenant, '--type', v.messageType, '--path', v.fieldPath, '--context', v.context, v.envelopeText]),
      ),
    );
    runs.forEach((run, i) => expect(run.stdout).toBe(`${picks[i]!.plaintextText}\n`));
  });

  it('fails with one line and exit 1 on a wrong path or key, or a tampered envelope', async () => {
    const text = (await fle(['envelope', 'seal', ...bind, '--path', '6', SECRET])).stdout.trim();
    const flipped = (text[20] === 'A' ? 'B' : 'A');
    const runs = await Promise.all([
      fle(['envelope', 'open', ...bind, '--path', '11', text]),
      fle(['envelope', 'open', '--key-file', keyFile(KEY.replace('80', '00')), '--tenant', 'tenant-eu', '--type', TYPE, '--path', '6', text]),
      fle(['envelope', 'open', ...bind, '--path', '6', text.slice(0, 20) + flipped + text.slice(21)]),
    ]);
    for (const run of runs) expectOneLineFailure(run, /^fle: decryption failed$/m);
  });

  it('fails with one line on malformed input, never echoing it', async () => {
    const runs = await Promise.all([
      fle(['envelope', 'inspect', 'not+base64url']),
      fle(['envelope', 'inspect', 'AgEAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']),
      fle(['envelope', 'open', '--key-file', keyFile('4111'), '--tenant', 't', '--type', TYPE, '--path', '6', 'AQEAAAAB']),
      fle(['envelope', 'seal', ...bind, '--path', '6', '--alg', '3', SECRET]),
      fle(['envelope', 'seal', ...bind, '--path', '6', '--hex', SECRET]),
    ]);
    const why = [/invalid base64url/, /unknown envelope version 2/, /--key-file .* must hold 64 hex characters or 32 bytes/, /--alg must be 1 or 2/, /plaintext must be hex/];
    runs.forEach((run, i) => expectOneLineFailure(run, why[i]!));
  });

  it('fails with one line on a key that cannot be read or is not a key, never echoing it', async () => {
    const runs = await Promise.all([
      fle(['envelope', 'open', '--key-stdin', '--tenant', 't', '--type', TYPE, '--path', '6', 'AQEAAAAB'], `${KEY.slice(0, 60)}\n`),
      fle(['envelope', 'open', '--key-file', join(dir, 'no-such-file'), '--tenant', 't', '--type', TYPE, '--path', '6', 'AQEAAAAB']),
    ]);
    const why = [/--key-stdin must hold 64 hex characters or 32 bytes/, /cannot read --key-file .*no-such-file: ENOENT/];
    runs.forEach((run, i) => expectOneLineFailure(run, why[i]!));
  });

  it('reports a missing key, or more than one way of giving it', async () => {
    const none = await fle(['envelope', 'open', '--tenant', 't', '--type', TYPE, '--path', '6', 'AQEAAAAB']);
    expectOneLineFailure(none, /give the key with --key-file <path> or --key-stdin/);
    const two = await fle(['envelope', 'open', '--key-file', KEY_FILE, '--key-stdin', '--tenant', 't', '--type', TYPE, '--path', '6', 'AQEAAAAB'], KEY);
    expectOneLineFailure(two, /only one of --key-file, --key-stdin, --key/);
  });
});

// Issue 18 item 8: `--key <hex>` put the key in the process list and in shell history.
describe('fle envelope: keys off the command line', { timeout: 180_000 }, () => {
  it('takes the key from a file (hex text or 32 raw bytes) or from standard input, and each opens what the other sealed', async () => {
    const raw = keyFile(Buffer.from(KEY, 'hex'));
    const common = ['--tenant', 'tenant-eu', '--type', TYPE, '--path', '6', '--context', 'req/1/abc'];
    const [viaFile, viaRaw, viaStdin] = await Promise.all([
      fle(['envelope', 'seal', '--key-file', KEY_FILE, ...common, SECRET]),
      fle(['envelope', 'seal', '--key-file', raw, ...common, SECRET]),
      fle(['envelope', 'seal', '--key-stdin', ...common, SECRET], `${KEY}\n`),
    ]);
    for (const run of [viaFile, viaRaw, viaStdin]) expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const opened = await Promise.all([
      fle(['envelope', 'open', '--key-stdin', ...common, viaFile.stdout.trim()], KEY),
      fle(['envelope', 'open', '--key-file', KEY_FILE, ...common, viaRaw.stdout.trim()]),
      fle(['envelope', 'open', '--key-file', raw, ...common, viaStdin.stdout.trim()]),
    ]);
    for (const run of opened) expect(run).toEqual({ code: 0, stdout: `${SECRET}\n`, stderr: '' });
  });

  it('still takes --key, with a warning on stderr (never echoing the key)', async () => {
    const common = ['--tenant', 'tenant-eu', '--type', TYPE, '--path', '6'];
    const sealed = await fle(['envelope', 'seal', '--key', KEY, ...common, SECRET]);
    expect(sealed.code).toBe(0);
    expect(sealed.stderr).toMatch(/^fle: warning: --key puts the key in the process list and shell history; use --key-file <path> or --key-stdin\n$/);
    const opened = await fle(['envelope', 'open', '--key-file', KEY_FILE, ...common, sealed.stdout.trim()]);
    expect(opened.stdout).toBe(`${SECRET}\n`);
    const bad = await fle(['envelope', 'open', '--key', '4111', ...common, sealed.stdout.trim()]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/warning: --key/);
    expect(bad.stderr).toMatch(/--key must be 64 hex/);
    expect(bad.stderr).not.toContain('4111');
  });
});
