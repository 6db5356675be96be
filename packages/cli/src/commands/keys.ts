import type { Command } from 'commander';

// Placeholder: the `fle keys` commands land with their issue.
export function registerKeysCommands(_program: Command): void {}
