// The machine-readable result of one demo run (`fle demo --json`). Hops are
// in path order. Outside the client, values are described (sizes, envelope
// headers and prefixes, field names), never shown; `plaintextFound` lists the
// fields whose plaintext was found somewhere it must not be.

export interface SealedFieldSummary {
  readonly field: string;
  readonly ring: string;
  readonly plaintextBytes: number;
  readonly envelopeBytes: number;
  readonly form: 'base64url' | 'binary';
  readonly keyVersion: number;
}

export interface ClientHop {
  readonly hop: 'client';
  readonly sees: 'plaintext';
  readonly identity: string;
  readonly sealedFields: readonly SealedFieldSummary[];
  /** The sealed request as sent (protobuf bytes). */
  readonly requestBytes: number;
}

export interface RoutedEnvelope {
  readonly field: string;
  readonly prefix: string;
  readonly envelopeBytes: number;
  readonly keyVersion: number;
}

export interface GatewayHop {
  readonly hop: 'gateway';
  readonly sees: 'ciphertext';
  readonly receivedBytes: number;
  /** `fle.js.<tenant>.authorize`, `fle.rpc.<tenant>.authorize`, or the processor's gRPC address. */
  readonly routedTo: string;
  /** Where `envelopes` were read: the message seen on NATS, or (not observed) the bytes the gateway received. */
  readonly envelopesFrom: 'nats' | 'received';
  /** True when the bytes on NATS equal the bytes the gateway received; undefined when not observed. */
  readonly routedUnchanged: boolean | undefined;
  readonly envelopes: readonly RoutedEnvelope[];
  /** The gateway's own `request routed` log line (fields it logs: no values), when its log file was readable. */
  readonly log: Record<string, unknown> | undefined;
  readonly plaintextFound: readonly string[];
}

export interface NatsMessageSummary {
  readonly subject: string;
  readonly bytes: number;
  readonly what: 'request' | 'delivery to the processor' | 'reply' | 'stored record' | 'publish ack' | 'dead letter' | 'other';
}

export interface NatsHop {
  readonly hop: 'nats';
  readonly sees: 'ciphertext';
  readonly observed: boolean;
  /** Why not, when not observed. */
  readonly reason?: string;
  /** This request's messages. */
  readonly messages: readonly NatsMessageSummary[];
  /** Every message seen during the run (any request's), all scanned. */
  readonly scannedMessages: number;
  readonly scannedBytes: number;
  readonly plaintextFound: readonly string[];
}

export interface ProcessorHop {
  readonly hop: 'processor';
  readonly sees: 'plaintext inside its boundary';
  /** The handler approves only a card number that passes the Luhn check (it opened it to check). */
  readonly luhnCheckPassed: boolean;
  /** Computed by the processor from the opened card number; clear by design. */
  readonly cardLastFour: string;
  readonly lastFourMatches: boolean;
  /** card_token, sealed by the processor for the tenant and opened by the client. */
  readonly cardToken: { readonly envelopeBytes: number; readonly keyVersion: number; readonly openedByClient: boolean } | undefined;
  /** The processor's `request handled` log line, when its log file was readable. */
  readonly log: Record<string, unknown> | undefined;
  /** Its log holds no plaintext either (undefined when not readable). */
  readonly logPlaintextFree: boolean | undefined;
}

export type DemoHop = ClientHop | GatewayHop | NatsHop | ProcessorHop;

export interface DemoSummary {
  /** approved, nothing leaked, every check that could run passed. */
  readonly ok: boolean;
  readonly approved: boolean;
  readonly tenant: string;
  readonly requestId: string;
  readonly gateway: string;
  readonly transport: string;
  readonly hops: readonly DemoHop[];
  /** keyFetch: the client's keys from the keystore; seal/open: field crypto at the client; roundTrip: gateway → processor → gateway. */
  readonly timingsMs: { readonly keyFetch: number; readonly seal: number; readonly roundTrip: number; readonly open: number; readonly total: number };
  readonly plaintextSeenOutsideProcessor: boolean;
  /** What was scanned for plaintext outside the processor. */
  readonly checked: readonly string[];
  /** Why `ok` is false. */
  readonly problems: readonly string[];
}
