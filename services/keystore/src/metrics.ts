// The keystore's own counters (prom-client), served on GET /metrics when the
// config names `metrics.listen` (loopback; @fle/service-kit's metrics server).
import { Counter, Registry } from 'prom-client';

export class KeystoreMetrics {
  readonly registry: Registry;
  /** Versions the rotation policy added, by what made the primary due. */
  readonly rotations: Counter<'reason'>;
  /** Pending versions the rotation policy promoted. */
  readonly promotions: Counter;
  /** Rotation policy steps that failed (storage unavailable, a refused record). */
  readonly rotationFailures: Counter;
  /** Ring records refused, by cause (record-auth.ts). */
  readonly recordsRefused: Counter<'cause'>;

  constructor(registry = new Registry()) {
    this.registry = registry;
    this.rotations = new Counter({
      name: 'fle_keystore_rotations_total',
      help: 'Pending versions added by a rotation policy, by reason (age, volume)',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.promotions = new Counter({ name: 'fle_keystore_promotions_total', help: 'Pending versions promoted by a rotation policy', registers: [registry] });
    this.rotationFailures = new Counter({
      name: 'fle_keystore_rotation_failures_total',
      help: 'Rotation policy steps that failed (see the keystore log)',
      registers: [registry],
    });
    this.recordsRefused = new Counter({
      name: 'fle_keystore_records_refused_total',
      help: 'Key ring records refused: failed integrity check, or older than one seen before',
      labelNames: ['cause'],
      registers: [registry],
    });
  }
}
