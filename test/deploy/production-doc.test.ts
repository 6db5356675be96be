// docs/production.md stays true to the code: every `fle …` command line in it
// names a real sub-command and only options that sub-command has, and every
// deploy/ path it mentions exists.
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerCertsCommands } from '../../packages/cli/src/commands/certs.js';
import { registerDevicesCommands } from '../../packages/cli/src/commands/devices.js';
import { registerKeysCommands } from '../../packages/cli/src/commands/keys.js';
import { registerKeystoreCommands } from '../../packages/cli/src/commands/keystore.js';
import { readText, repoPath } from './repo.js';

const doc = readText(repoPath('docs/production.md'));

function program(): Command {
  const p = new Command('fle');
  registerKeystoreCommands(p);
  registerKeysCommands(p);
  registerCertsCommands(p);
  registerDevicesCommands(p);
  return p;
}

/** Command lines from the code blocks and inline code: `fle <area> <verb> …` (also via packages/cli/bin/fle.mjs). */
function commandLines(): string[][] {
  const lines: string[][] = [];
  for (const m of doc.matchAll(/(?:^|[\s`])(?:fle|packages\/cli\/bin\/fle\.mjs) ((?:keys|keystore|certs|devices) [^`\n#]*)/g)) {
    lines.push(m[1]!.replace(/\\$/, '').trim().split(/\s+/));
  }
  return lines;
}

describe('docs/production.md', () => {
  it('uses only real fle sub-commands and options', () => {
    const lines = commandLines();
    expect(lines.length).toBeGreaterThanOrEqual(8);
    const p = program();
    for (const words of lines) {
      const area = p.commands.find((c) => c.name() === words[0]);
      expect(area, words.join(' ')).toBeDefined();
      // A verb may have verbs of its own (`keys policy set`): follow the words down.
      let verb = area!.commands.find((c) => c.name() === words[1]);
      let depth = 2;
      expect(verb, words.join(' ')).toBeDefined();
      for (let sub = verb!.commands.find((c) => c.name() === words[depth]); sub; sub = verb!.commands.find((c) => c.name() === words[depth])) {
        verb = sub;
        depth++;
      }
      expect(verb!.commands.length, `${words.join(' ')}: a command group needs one of its verbs`).toBe(0);
      const known = new Set(verb!.options.flatMap((o) => [o.long, o.short].filter(Boolean) as string[]));
      for (const w of words.slice(depth).filter((x) => x.startsWith('-'))) expect(known.has(w), `${words.slice(0, depth).join(' ')} ${w}`).toBe(true);
    }
  });

  it('names the rotation steps in order with their commands', () => {
    const order = ['keys rotate', 'keys promote', 'keys disable', 'keys destroy'].map((c) => doc.indexOf(`fle ${c}`));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('mentions only deploy/ and docs/ paths that exist', () => {
    const paths = [...doc.matchAll(/`((?:deploy|docs)\/[A-Za-z0-9_./<>-]+)`/g)].map((m) => m[1]!).filter((p) => !p.includes('<'));
    expect(paths.length).toBeGreaterThan(5);
    for (const p of paths) expect(existsSync(repoPath(p.replace(/\/$/, ''))), p).toBe(true);
  });
});
