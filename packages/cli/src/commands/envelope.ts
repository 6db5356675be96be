// `fle envelope inspect | open | seal`: one envelope v1 at a time
// (docs/envelope-v1.md). Failures reach main() as one-line errors; no message
// here ever contains a key or a plaintext (so no commander argParser is used
// for --key: its error would echo the value).
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
  key: string;
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

function parseKey(hex: string): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error('--key must be 64 hex characters (a 32-byte key)');
  return new Uint8Array(Buffer.from(hex, 'hex'));
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
    .requiredOption('--key <hex>', '32-byte key as 64 hex characters')
    .requiredOption('--tenant <tenant>', 'tenant id bound into the AAD')
    .requiredOption('--type <message>', 'full protobuf name of the root message, e.g. acme.payments.v1.AuthorizeRequest')
    .requiredOption('--path <path>', 'field path from the root: field numbers joined by ".", map keys in brackets (5.1, 10[ssn])')
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
    .action((text: string, opts: BindingOptions) => {
      const key = parseKey(opts.key);
      const env = parseEnvelope(decodeBase64url(text));
      const plaintext = openEnvelope(env, { backend: defaultBackend, key, binding: bindingOf(opts) });
      const out = opts.hex ? Buffer.from(plaintext).toString('hex') : decodeUtf8(plaintext);
      process.stdout.write(`${out}\n`);
    });

  withBindingOptions(envelope.command('seal'))
    .description('seal a plaintext and print the envelope (base64url)')
    .option('--key-version <n>', 'key version written into the header (1 … 4294967295)', '1')
    .option('--alg <alg>', '1 = ChaCha20-Poly1305, 2 = XChaCha20-Poly1305', '1')
    .option('--hex', 'the plaintext argument is hex, not UTF-8 text')
    .argument('<plaintext>', 'the value to seal')
    .action((plaintext: string, opts: SealOptions) => {
      const key = parseKey(opts.key);
      if (!/^\d+$/.test(opts.keyVersion)) throw new Error('--key-version must be an integer in 1…4294967295');
      const keyVersion = Number(opts.keyVersion);
      if (keyVersion < 1 || keyVersion > 0xffffffff) throw new Error('--key-version must be an integer in 1…4294967295');
      if (opts.alg !== '1' && opts.alg !== '2') throw new Error('--alg must be 1 or 2');
      const alg = Number(opts.alg) as SymmetricAlg;
      const bytes = opts.hex ? parseHex(plaintext, 'plaintext') : new TextEncoder().encode(plaintext);
      const env = sealEnvelope(bytes, { backend: defaultBackend, key, keyVersion, alg, binding: bindingOf(opts) });
      process.stdout.write(`${encodeBase64url(env)}\n`);
    });
}
