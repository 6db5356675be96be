// Preload for profiling a service under the e2e benchmark load:
//   NODE_OPTIONS="--import <this file>" FLE_CPU_PROFILE_DIR=/tmp/prof
// (--cpu-prof itself is not allowed in NODE_OPTIONS). Starts the V8 sampling
// profiler at startup and writes <dir>/<pid>.cpuprofile when the process exits.
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.FLE_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  process.once('exit', () => {
    // A same-thread inspector session answers synchronously.
    session.post('Profiler.stop', (err, res) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
