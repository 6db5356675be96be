import type { Command } from 'commander';

// Placeholder until field-crypto lands: `fle envelope` inspect/open/seal.
export function registerEnvelopeCommands(program: Command): void {
  program.command('envelope').description('inspect, open and seal envelopes (coming with field-crypto)');
}
