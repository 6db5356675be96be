// Rotation by age and by volume (issue 18 item 3; envelope-v1.md §2: random
// nonces bound how much one version may seal). Every `intervalMs` the
// scheduler applies each ring's rotation policy (Keystore.applyRotationPolicy):
// a pending version past the propagation delay is promoted (the old primary
// becomes decrypt-only), else a primary that is due gets a pending successor.
// Each step is audited (identity null: the keystore acted on its own) and
// counted. Several keystore instances may run it on one NATS KV bucket: every
// step is a compare-and-set decided on the current record, so one acts.
import type { AuditSink } from './audit.js';
import type { Keystore, RotationStep } from './keystore.js';
import type { KeystoreMetrics } from './metrics.js';

export const DEFAULT_ROTATION_CHECK_MS = 60_000;

export interface RotationSchedulerOptions {
  keystore: Keystore;
  audit: AuditSink;
  metrics?: KeystoreMetrics;
  /** How often every ring is checked. Default 60 s. */
  intervalMs?: number;
  /** Failures (never key material). */
  onError?: (err: unknown, ring: { tenant: string; ring: string }) => void;
}

export interface RotationTickResult {
  checked: number;
  steps: Array<{ tenant: string; ring: string } & Exclude<RotationStep, { action: 'none' }>>;
  failed: number;
}

export class RotationScheduler {
  readonly #opts: RotationSchedulerOptions;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<RotationTickResult> | undefined;

  constructor(opts: RotationSchedulerOptions) {
    this.#opts = opts;
    this.#intervalMs = opts.intervalMs ?? DEFAULT_ROTATION_CHECK_MS;
    if (!Number.isFinite(this.#intervalMs) || this.#intervalMs <= 0) throw new RangeError('intervalMs must be a positive number of milliseconds');
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.tick(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a running check. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** One check of every ring with a policy (tests call it with an injected clock). One at a time. */
  tick(): Promise<RotationTickResult> {
    this.#running ??= this.#check().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #check(): Promise<RotationTickResult> {
    const { keystore, audit, metrics } = this.#opts;
    const out: RotationTickResult = { checked: 0, steps: [], failed: 0 };
    let rings;
    try {
      rings = (await keystore.listRings()).filter((r) => r.rotation !== null);
    } catch (err) {
      metrics?.rotationFailures.inc();
      this.#opts.onError?.(err, { tenant: '*', ring: '*' });
      out.failed++;
      return out;
    }
    for (const { tenant, ring } of rings) {
      out.checked++;
      try {
        const step = await keystore.applyRotationPolicy(tenant, ring);
        if (step.action === 'none') continue;
        out.steps.push({ tenant, ring, ...step });
        if (step.action === 'rotated') {
          metrics?.rotations.inc({ reason: step.reason });
          audit.record({
            identity: null,
            action: 'AutoRotate',
            tenant,
            ring,
            version: step.version,
            generation: step.generation ?? null,
            allowed: true,
            reason:
              step.reason === 'age'
                ? `rotation policy: primary v${step.primary} is past rotateAfter`
                : `rotation policy: primary v${step.primary} has ${step.sealCount} reported seals, at or past maxEnvelopes`,
            outcome: 'OK',
          });
        } else {
          metrics?.promotions.inc();
          audit.record({
            identity: null,
            action: 'AutoPromote',
            tenant,
            ring,
            version: step.version,
            generation: step.generation ?? null,
            allowed: true,
            reason: `rotation policy: pending v${step.version} is past propagationDelay; v${step.previousPrimary} is now decrypt-only`,
            outcome: 'OK',
          });
        }
      } catch (err) {
        out.failed++;
        metrics?.rotationFailures.inc();
        this.#opts.onError?.(err, { tenant, ring });
      }
    }
    return out;
  }
}
