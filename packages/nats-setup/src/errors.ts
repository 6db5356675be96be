// Typed errors of @fle/nats-setup, each with a stable `code`.

export type NatsSetupErrorCode = 'NATS_CONFIG_INVALID' | 'NATS_SERVER_NOT_FOUND' | 'NATS_SERVER_START_FAILED';

export class NatsSetupError extends Error {
  readonly code: NatsSetupErrorCode;
  constructor(code: NatsSetupErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'NatsSetupError';
  }
}

export const INSTALL_HINT =
  'Install nats-server 2.9 or later: `sudo apt-get install nats-server` (Debian/Ubuntu), ' +
  '`brew install nats-server` (macOS), or a release from https://github.com/nats-io/nats-server/releases; ' +
  'or point NATS_SERVER_BIN at the binary.';
