// A pid lock file: one process at a time owns the file store (storage/file.ts)
// and appends to the audit log (audit.ts), whose hash chain a second writer
// would break. A lock left by a dead process (kill -9) is taken over.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { StorageError } from './errors.js';

/** Creates `lockPath` holding our pid; throws (naming the holder) when a live process holds it. */
export function takeLock(lockPath: string, what = 'store'): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StorageError(`cannot create lock ${lockPath}`, { cause: err });
    }
    const pid = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new StorageError(`${what} is in use by process ${pid} (lock ${lockPath})`);
    }
    unlinkSync(lockPath);
  }
  throw new StorageError(`cannot take lock ${lockPath}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the lock if it is still ours. */
export function releaseLock(lockPath: string): void {
  try {
    if (Number.parseInt(readFileSync(lockPath, 'utf8'), 10) === process.pid) unlinkSync(lockPath);
  } catch {
    // gone already
  }
}
