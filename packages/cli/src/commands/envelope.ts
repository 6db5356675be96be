// `fle envelope inspect | open | seal`: one envelope v1 at a time
// (docs/envelope-v1.md). Failures reach main() as one-line errors; no message
// here ever contains a key or a plaintext (so no commander argParser is used
// for the key: its error would echo the value).
//
// The key comes from a file (--key-file) or standard input (--key-stdin):
// on the command line (--key <hex>) it would sit in the process list and the
// shell history, so --key still works but prints a warning (issue 18 item 8).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  decodeBase64url,
  defaultBackend,
  encodeBase64url,
  inspectEnvelope,
  openEnvelope,
  parseEnvelope,
  sealEnvelope,
  type AadBinding,
  type SymmetricAlg,
} from '@fle/field-crypto';

interface BindingOptions {
  key?: string;
  keyFile?: string;
  keyStdin?: boolean;
  tenant: string;
  type: string;
  path: string;
  context?: string;
  hex?: boolean;
}

interface SealOptions extends BindingOptions {
  keyVersion: string;
  alg: string;
}

const KEY_WARNING = 'fle: warning: --key puts the key in the process list and shell history; use --key-file <path> or --key-stdin\n';

/** A key given as text: 64 hex characters (whitespace around them ignored). */
function parseKey(hex: string, source: string): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`${source} must be 64 hex characters (a 32-byte key)`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Key bytes read from a file or stdin: 64 hex characters (and whitespace), or exactly 32 raw bytes. Wipes what it read. */
function keyFromBytes(raw: Buffer, source: string): Uint8Array {
  try {
    const text = raw.toString('latin1').trim();
    if (/^[0-9a-fA-F]{64}$/.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
    if (raw.length === 32) return new Uint8Array(raw);
    throw new Error(`${source} must hold 64 hex characters or 32 bytes (a key)`);
  } finally {
    raw.fill(0);
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const all = Buffer.concat(chunks);
  for (const c of chunks) c.fill(0);
  return all;
}

/** The 32-byte key from exactly one of --key-file, --key-stdin and (with a warning) --key. The caller wipes it. */
async function keyOf(opts: BindingOptions): Promise<Uint8Array> {
  const given = [opts.keyFile !== undefined, opts.keyStdin === true, opts.key !== undefined].filter(Boolean).length;
  if (given === 0) throw new Error('give the key with --key-file <path> or --key-stdin (64 hex characters or 32 bytes)');
  if (given > 1) throw new Error('give only one of --key-file, --key-stdin, --key');
  if (opts.key !== undefined) {
    process.stderr.write(KEY_WARNING);
    return parseKey(opts.key, '--key');
  }
  if (opts.keyStdin) return keyFromBytes(await readStdin(), '--key-stdin');
  const path = opts.keyFile!;
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read --key-file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return keyFromBytes(raw, `--key-file ${path}`);
}

function parseHex(hex: string, what: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new Error(`${what} must be hex (an even number of 0-9a-f characters)`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function bindingOf(opts: BindingOptions): AadBinding {
  return { tenant: opts.tenant, messageType: opts.type.replace(/^\./, ''), fieldPath: opts.path, context: opts.context ?? '' };
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error('plaintext is not valid UTF-8 (use --hex)');
  }
}

function withBindingOptions(cmd: Command): Command {
  return cmd
    .option('--key-file <path>', 'file holding the 32-byte key: 64 hex characters, or 32 raw bytes')
    .option('--key-stdin', 'read the key from standard input (64 hex characters, or 32 raw bytes)')
    .option('--key <hex>', 'the key as 64 hex characters (discouraged: it shows in the process list and shell history)')
    .requiredOption('--tenant <tenant>', 'tenant id bound into the AAD')
    .requiredOption('--type <message>', 'full protobuf name of the root message, e.g. shop.v1.PlaceOrderRequest')
    .requiredOption('--path <path>', 'field path from the root: field numbers joined by ".", map keys in brackets, percent-encoded (5.1, 10[ssn], 10[a%5D.3%5Bb])')
    .option('--context <context>', 'context bound into the AAD (default: empty)');
}

export function registerEnvelopeCommands(program: Command): void {
  const envelope = program
    .command('envelope')
    .description('inspect, open and seal field envelopes (envelope v1, base64url text form)');

  envelope
    .command('inspect')
    .description('print the header and lengths of an envelope as JSON (no key needed)')
    .argument('<envelope>', 'the envelope, base64url')
    .action((text: string) => {
      const info = inspectEnvelope(decodeBase64url(text));
      process.stdout.write(`${JSON.stringify(info)}\n`);
    });

  withBindingOptions(envelope.command('open'))
    .description('open an envelope and print its plaintext')
    .option('--hex', 'print the plaintext as lowercase hex instead of UTF-8')
    .argument('<envelope>', 'the envelope, base64url')
    .action(async (text: string, opts: BindingOptions) => {
      const key = await keyOf(opts);
      try {
        const env = parseEnvelope(decodeBase64url(text));
        const plaintext = openEnvelope(env, { backend: defaultBackend, key, binding: bindingOf(opts) });
        const out = opts.hex ? Buffer.from(plaintext).toString('hex') : decodeUtf8(plaintext);
        process.stdout.write(`${out}\n`);
      } finally {
        key.fill(0);
      }
    });

  withBindingOptions(envelope.command('seal'))
    .description('seal a plaintext and print the envelope (base64url)')
    .option('--key-version <n>', 'key version written into the header (1 … 4294967295)', '1')
    .option('--alg <alg>', 'the alg of the key version (spec §4): 1 = ChaCha20-Poly1305, 2 = XChaCha20-Poly1305', '1')
    .option('--hex', 'the plaintext argument is hex, not UTF-8 text')
    .argument('<plaintext>', 'the value to seal')
    .action(async (plaintext: string, opts: SealOptions) => {
      if (!/^\d+$/.test(opts.keyVersion)) throw new Error('--key-version must be an integer in 1…4294967295');
      const keyVersion = Number(opts.keyVersion);
      if (keyVersion < 1 || keyVersion > 0xffffffff) throw new Error('--key-version must be an integer in 1…4294967295');
      if (opts.alg !== '1' && opts.alg !== '2') throw new Error('--alg must be 1 or 2');
      const alg = Number(opts.alg) as SymmetricAlg;
      const bytes = opts.hex ? parseHex(plaintext, 'plaintext') : new TextEncoder().encode(plaintext);
      const key = await keyOf(opts);
      try {
        const env = sealEnvelope(bytes, { backend: defaultBackend, key, keyVersion, alg, binding: bindingOf(opts) });
        process.stdout.write(`${encodeBase64url(env)}\n`);
      } finally {
        key.fill(0);
      }
    });
}
