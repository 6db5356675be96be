import type { Command } from 'commander';

// Placeholder: the `fle demo` commands land with their issue.
export function registerDemoCommands(_program: Command): void {}
