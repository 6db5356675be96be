// Typed errors of the test harness. A missing NATS is a failure with a way
// out in its message, never a silent skip (issue 6 item 1).

export type HarnessErrorCode = 'HARNESS_NO_PROVIDER' | 'HARNESS_BAD_ENV' | 'HARNESS_UNSUPPORTED' | 'HARNESS_NOT_READY';

export class HarnessError extends Error {
  readonly code: HarnessErrorCode;
  constructor(code: HarnessErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'HarnessError';
  }
}
