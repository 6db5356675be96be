// The fast cipher backend's load-time self-check (@fle/field-crypto
// fast-backend.ts) made loud: when libsodium does not load or fails the check,
// every value still seals and opens (on node:crypto, slower), so nothing
// breaks: hence one warning in the log and a gauge to alert on, instead of a
// silent fallback. field-crypto does no I/O; a service calls this once at start.
import { fastBackendReady, type FastBackendStatus } from '@fle/field-crypto';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from './logger.js';

export const CIPHER_BACKEND_GAUGE = 'fle_cipher_fast_backend_up';

export interface CipherBackendWatchOptions {
  readonly log: Logger;
  readonly registry: Registry;
  /** Default: the Node entry's fastBackendReady (tests pass their own). */
  readonly status?: Promise<FastBackendStatus>;
}

/**
 * Sets `fle_cipher_fast_backend_up` (1: libsodium serves small values, 0:
 * node:crypto only) once the self-check has run, and logs one warning with
 * the reason when it is 0. Resolves with the status.
 */
export async function watchCipherBackend(opts: CipherBackendWatchOptions): Promise<FastBackendStatus> {
  const gauge =
    (opts.registry.getSingleMetric(CIPHER_BACKEND_GAUGE) as Gauge | undefined) ??
    new Gauge({
      name: CIPHER_BACKEND_GAUGE,
      help: '1 when libsodium seals and opens values up to 2 KiB (its load-time self-check passed), 0 when every value runs on node:crypto (the log says why)',
      registers: [opts.registry],
    });
  const status = await (opts.status ?? fastBackendReady);
  gauge.set(status.state === 'sodium' ? 1 : 0);
  if (status.state === 'native-only') {
    opts.log.warn({ reason: status.reason }, 'fast cipher backend off: libsodium is not used, every value runs on node:crypto (correct, slower)');
  }
  return status;
}
