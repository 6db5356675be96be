// `fle envelope inspect | open | seal`, run as real processes.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import vectors from '../../../test/vectors/envelope-v1.json' with { type: 'json' };

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = join(repo, 'packages/cli/bin/fle.mjs');

interface Run { code: number; stdout: string; stderr: string }

function fle(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: repo, timeout: 90_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const KEY = '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f';
const TYPE = 'acme.payments.v1.AuthorizeRequest';
const bind = ['--key', KEY, '--tenant', 'acme-eu', '--type', TYPE];
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
    const sealed = await fle('envelope', 'seal', ...bind, '--path', '10[ssn]', '--context', 'req/1/abc', '--alg', '2', '--key-version', '9', SECRET);
    expect(sealed.code).toBe(0);
    const text = sealed.stdout.trim();
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    const [inspected, opened, hexOpened] = await Promise.all([
      fle('envelope', 'inspect', text),
      fle('envelope', 'open', ...bind, '--path', '10[ssn]', '--context', 'req/1/abc', text),
      fle('envelope', 'open', ...bind, '--path', '10[ssn]', '--context', 'req/1/abc', '--hex', text),
    ]);
    const plaintextLength = new TextEncoder().encode(SECRET).length;
    expect(JSON.parse(inspected.stdout)).toEqual({ version: 1, alg: 2, keyVersion: 9, nonceLength: 24, ciphertextLength: plaintextLength });
    expect(opened).toEqual({ code: 0, stdout: `${SECRET}\n`, stderr: '' });
    expect(hexOpened.stdout).toBe(`${Buffer.from(SECRET).toString('hex')}\n`);
  });

  it('seals hex plaintext with the defaults (alg 1, key version 1, no context)', async () => {
    const sealed = await fle('envelope', 'seal', ...bind, '--path', '7', '--hex', '00ff10');
    const text = sealed.stdout.trim();
    const [inspected, opened] = await Promise.all([
      fle('envelope', 'inspect', text),
      fle('envelope', 'open', ...bind, '--path', '7', '--hex', text),
    ]);
    expect(JSON.parse(inspected.stdout)).toEqual({ version: 1, alg: 1, keyVersion: 1, nonceLength: 12, ciphertextLength: 3 });
    expect(opened.stdout).toBe('00ff10\n');
  });

  it('opens the committed golden vectors', async () => {
    const picks = vectors.vectors.filter((v) => v.fieldType === 'string' && v.context !== '').slice(0, 1);
    const runs = await Promise.all(
      picks.map((v) =>
        fle('envelope', 'open', '--key', v.key, '--tenant', v.tenant, '--type', v.messageType, '--path', v.fieldPath, '--context', v.context, v.envelopeText),
      ),
    );
    runs.forEach((run, i) => expect(run.stdout).toBe(`${picks[i]!.plaintextText}\n`));
  });

  it('fails with one line and exit 1 on a wrong path or key, or a tampered envelope', async () => {
    const text = (await fle('envelope', 'seal', ...bind, '--path', '6', SECRET)).stdout.trim();
    const flipped = (text[20] === 'A' ? 'B' : 'A');
    const runs = await Promise.all([
      fle('envelope', 'open', ...bind, '--path', '11', text),
      fle('envelope', 'open', '--key', KEY.replace('80', '00'), '--tenant', 'acme-eu', '--type', TYPE, '--path', '6', text),
      fle('envelope', 'open', ...bind, '--path', '6', text.slice(0, 20) + flipped + text.slice(21)),
    ]);
    for (const run of runs) expectOneLineFailure(run, /^fle: decryption failed$/m);
  });

  it('fails with one line on malformed input, never echoing it', async () => {
    const runs = await Promise.all([
      fle('envelope', 'inspect', 'not+base64url'),
      fle('envelope', 'inspect', 'AgEAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
      fle('envelope', 'open', '--key', '4111', '--tenant', 't', '--type', TYPE, '--path', '6', 'AQEAAAAB'),
      fle('envelope', 'seal', ...bind, '--path', '6', '--alg', '3', SECRET),
      fle('envelope', 'seal', ...bind, '--path', '6', '--hex', SECRET),
    ]);
    const why = [/invalid base64url/, /unknown envelope version 2/, /--key must be 64 hex/, /--alg must be 1 or 2/, /plaintext must be hex/];
    runs.forEach((run, i) => expectOneLineFailure(run, why[i]!));
  });

  it('reports a missing required option', async () => {
    const run = await fle('envelope', 'open', '--tenant', 't', '--type', TYPE, '--path', '6', 'AQEAAAAB');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/required option '--key <hex>'/);
  });
});
