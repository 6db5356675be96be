// The external programs the test suite needs, found exactly the way the tests
// find them (nats-server: @fle/nats-setup findNatsServer; Chromium:
// @fle/testkit locateChromium), so `.ci/run` installs what the tests would miss.
// Redis: the tests use the server on 127.0.0.1:6379; `.ci/run` starts
// `redis-server` (REDIS_SERVER_BIN, else PATH, else /usr/bin) when none listens.
//
//   npx tsx --conditions=@fle/source scripts/find-tool.ts nats-server chromium redis-server             # each path; exit 1 naming what is missing
//   npx tsx --conditions=@fle/source scripts/find-tool.ts --missing nats-server chromium redis-server   # the Debian packages to install, space-separated (empty when none)
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { findNatsServer } from '@fle/nats-setup';
import { locateChromium } from '@fle/testkit';

interface Tool {
  /** Where it is, or undefined. */
  locate(): string | undefined;
  /** Debian's package for it. */
  readonly debianPackage: string;
}

const TOOLS: Readonly<Record<string, Tool>> = {
  'nats-server': {
    locate: () => {
      try {
        return findNatsServer();
      } catch {
        return undefined;
      }
    },
    debianPackage: 'nats-server',
  },
  chromium: { locate: () => locateChromium(), debianPackage: 'chromium' },
  'redis-server': {
    locate: () => {
      const explicit = process.env['REDIS_SERVER_BIN'];
      if (explicit) return isExecutable(explicit) ? explicit : undefined;
      const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), '/usr/bin'];
      return dirs.map((d) => join(d, 'redis-server')).find(isExecutable);
    },
    debianPackage: 'redis-server',
  },
};

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const args = process.argv.slice(2);
const missingMode = args[0] === '--missing';
const names = missingMode ? args.slice(1) : args;
const unknown = names.filter((n) => !TOOLS[n]);
if (names.length === 0 || unknown.length > 0) {
  process.stderr.write(`usage: find-tool.ts [--missing] ${Object.keys(TOOLS).join(' ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}\n`);
  process.exit(2);
}
const missing: string[] = [];
for (const name of names) {
  const path = TOOLS[name]!.locate();
  if (path === undefined) missing.push(name);
  else if (!missingMode) process.stdout.write(`${name}: ${path}\n`);
}
if (missingMode) {
  process.stdout.write(`${missing.map((n) => TOOLS[n]!.debianPackage).join(' ')}\n`);
} else if (missing.length > 0) {
  process.stderr.write(`not found: ${missing.join(', ')} (.ci/run installs them with apt-get; see README)\n`);
  process.exit(1);
}
