// Memory and CPU of the pipeline's processes, read from /proc (Linux).
//
// Peak RSS per phase: writing "5" to /proc/<pid>/clear_refs resets the
// kernel's RSS high-water mark (VmHWM) to the current RSS (proc(5)); reading
// VmHWM after the phase gives that phase's exact peak, no sampling gaps.
// CPU: utime + stime of /proc/<pid>/stat (clock ticks, 100 Hz).
import { readFileSync, writeFileSync } from 'node:fs';

const TICK_MS = 10;

function status(pid: number): string {
  return readFileSync(`/proc/${pid}/status`, 'utf8');
}

function kib(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Resets `pid`'s RSS high-water mark; false when the kernel refuses (then the peak is since start). */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Peak RSS (VmHWM) since start or the last reset, in MiB. */
export function peakRssMiB(pid: number): number {
  return kib(status(pid), 'VmHWM') / 1024;
}

/** CPU time (user + system) used so far, ms. */
export function cpuMs(pid: number): number {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** 1-minute load average and core count, to say how busy the machine was. */
export function loadAverage(): { load1: number; load5: number } {
  const [l1, l5] = readFileSync('/proc/loadavg', 'utf8').split(' ');
  return { load1: Number(l1), load5: Number(l5) };
}
