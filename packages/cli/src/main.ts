// `fle`: one program, one sub-command module per area. Each module adds its
// commands to the program; nothing else is shared between them.
import { Command, CommanderError } from 'commander';
import { registerCertsCommands } from './commands/certs.js';
import { registerDemoCommands } from './commands/demo.js';
import { registerDevicesCommands } from './commands/devices.js';
import { registerEnvelopeCommands } from './commands/envelope.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerKeystoreCommands } from './commands/keystore.js';
import { registerRecordsCommands } from './commands/records.js';
import { registerSchemaCommands } from './commands/schema.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('fle')
    .description('fle: field-level encryption for gRPC + NATS')
    .exitOverride()
    .showHelpAfterError(false);
  registerEnvelopeCommands(program);
  registerKeystoreCommands(program);
  registerKeysCommands(program);
  registerDevicesCommands(program);
  registerCertsCommands(program);
  registerDemoCommands(program);
  registerRecordsCommands(program);
  registerSchemaCommands(program);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    // One line saying why; never a stack trace (it could carry inputs).
    process.stderr.write(`fle: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
