import type { Command } from 'commander';

// Placeholder: the `fle keystore` commands land with their issue.
export function registerKeystoreCommands(_program: Command): void {}
