// findChromium / locateChromium: FLE_CHROMIUM first (and then only it), else
// the first known name on PATH, else Debian's /usr/bin/chromium.
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHROMIUM_ENV, findChromium, locateChromium, tempDir } from '../src/mod.js';

async function fakeBinaries(names: string[], executable = true): Promise<string> {
  const dir = await tempDir('fle-chromium-');
  for (const n of names) {
    writeFileSync(join(dir, n), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, n), executable ? 0o755 : 0o644);
  }
  return dir;
}

describe('locateChromium', () => {
  it('takes FLE_CHROMIUM when it names an executable file', async () => {
    const dir = await fakeBinaries(['my-chrome', 'chromium']);
    expect(locateChromium({ [CHROMIUM_ENV]: join(dir, 'my-chrome'), PATH: dir })).toBe(join(dir, 'my-chrome'));
  });

  it('does not fall back to PATH when FLE_CHROMIUM names nothing runnable', async () => {
    const dir = await fakeBinaries(['chromium']);
    const notExecutable = await fakeBinaries(['chrome'], false);
    expect(locateChromium({ [CHROMIUM_ENV]: join(notExecutable, 'chrome'), PATH: dir })).toBeUndefined();
    expect(() => findChromium({ [CHROMIUM_ENV]: join(dir, 'missing'), PATH: dir })).toThrow(/FLE_CHROMIUM=".*missing" is not an executable file.*apt-get install chromium/);
  });

  it('takes the first known name on PATH, in the documented order', async () => {
    const later = await fakeBinaries(['chromium']);
    const earlier = await fakeBinaries(['chromium-browser', 'google-chrome']);
    expect(locateChromium({ PATH: `${earlier}:${later}` })).toBe(join(later, 'chromium'));
    expect(locateChromium({ PATH: earlier })).toBe(join(earlier, 'chromium-browser'));
  });

  it("falls back to Debian's /usr/bin/chromium, else says how to install it", async () => {
    const empty = await tempDir('fle-chromium-');
    if (existsSync('/usr/bin/chromium')) expect(locateChromium({ PATH: empty })).toBe('/usr/bin/chromium');
    else expect(() => findChromium({ PATH: empty })).toThrow(/Chromium not found: no chromium, chromium-browser.* on PATH and no \/usr\/bin\/chromium/);
  });
});
