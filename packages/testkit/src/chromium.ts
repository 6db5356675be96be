// Where headless Chromium is: one rule for the browser tests
// (test/browser/support/chromium.ts) and for `.ci/run`, which installs
// Debian's `chromium` when this finds nothing (scripts/find-tool.ts).
//
//   1. env FLE_CHROMIUM, when set: that file, and only that file;
//   2. else the first of CHROMIUM_NAMES on PATH;
//   3. else Debian's /usr/bin/chromium.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { HarnessError } from './errors.js';

export const CHROMIUM_ENV = 'FLE_CHROMIUM';
/** Names tried on PATH, in order: Debian's package, Ubuntu's older name, Google's builds. */
export const CHROMIUM_NAMES: readonly string[] = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];
const DEBIAN_PATH = '/usr/bin/chromium';

export const CHROMIUM_INSTALL_HINT =
  'Install Chromium (`sudo apt-get install chromium` on Debian/Ubuntu; `.ci/run` does it when missing), ' +
  `or point ${CHROMIUM_ENV} at a Chromium or Chrome binary.`;

/** The Chromium binary by the rule above, or undefined when there is none. */
export function locateChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env[CHROMIUM_ENV];
  if (explicit) return isExecutable(explicit) ? explicit : undefined;
  for (const name of CHROMIUM_NAMES) {
    for (const dir of (env['PATH'] ?? '').split(delimiter)) {
      if (dir && isExecutable(join(dir, name))) return join(dir, name);
    }
  }
  return isExecutable(DEBIAN_PATH) ? DEBIAN_PATH : undefined;
}

/** The Chromium binary, or HARNESS_NO_PROVIDER saying how to get one. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string {
  const found = locateChromium(env);
  if (found) return found;
  const explicit = env[CHROMIUM_ENV];
  const where = explicit ? `${CHROMIUM_ENV}=${JSON.stringify(explicit)} is not an executable file` : `no ${CHROMIUM_NAMES.join(', ')} on PATH and no ${DEBIAN_PATH}`;
  throw new HarnessError('HARNESS_NO_PROVIDER', `Chromium not found: ${where}. ${CHROMIUM_INSTALL_HINT}`);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
