import type { Command } from 'commander';

// Placeholder: the `fle certs` commands land with their issue.
export function registerCertsCommands(_program: Command): void {}
