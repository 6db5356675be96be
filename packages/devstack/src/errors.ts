// Typed errors of the local stack, each with a stable `code`. Messages are one
// line a developer can act on; they name ports, paths and commands, never a
// key or a plaintext value.

export type DevStackErrorCode =
  | 'DEVSTACK_BAD_ENV'
  | 'DEVSTACK_PORT_IN_USE'
  | 'DEVSTACK_ALREADY_RUNNING'
  | 'DEVSTACK_NATS_UNAVAILABLE'
  | 'DEVSTACK_SERVICE_FAILED'
  | 'DEVSTACK_DEMO_FAILED';

export class DevStackError extends Error {
  readonly code: DevStackErrorCode;
  constructor(code: DevStackErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'DevStackError';
  }
}
