// logger: what the per-request log lines cost at the shipped default level
// (issue 23.3). One request writes two lines at `info`: the gateway's
// "request routed" and the processor's "request handled" (their fields as in
// services/gateway/src/gateway.ts and services/processor/src/transports/*).
// Candidates, interleaved, each writing both lines to a destination that
// drops them (so only formatting and redaction are measured, not the pipe):
//
//   before      pino with the wildcard redact paths createLogger had
//               (`k`, `*.k`, `*.*.k` for each secret key)
//   exact paths pino redacting the top-level keys only (the other fix the
//               issue names; it misses nested keys, so it is not shipped)
//   shipped     createLogger: scrubForLog as pino's log formatter
//   no redaction pino with nothing redacted (the floor)
//   at debug    createLogger at `info` with both lines written at `debug`
//               (what moving the per-request lines to debug would cost)
//
// Target: the shipped logger's two request lines cost <= 5 µs per request.
import { pino, type DestinationStream, type Logger } from 'pino';
import { createLogger } from '@fle/service-kit';
import { interleaved, pairedRatio, rowOf, target, type BenchSuite } from './lib.js';

/** The secret keys createLogger had as pino redact paths before issue 23.3. */
const SECRET_KEYS = ['body', 'data', 'payload', 'plaintext', 'message_body', 'request', 'response', 'msg_bytes', 'bytes', 'key', 'keys', 'secret', 'nonceBytes', 'authorization', 'password', 'token'];
const WILDCARD_PATHS = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

const drop: DestinationStream = { write() {} };

function gatewayLine(i: number) {
  return {
    method: '/acme.payments.v1.PaymentService/Authorize',
    route: 'payments.authorize',
    transport: 'jetstream',
    tenant: 't0',
    caller: 'client-acme',
    size: 1900 + (i & 7),
    envelopes: 13,
    replySize: 412,
    ms: 4,
  };
}

function processorLine(i: number) {
  return { transport: 'jetstream', tenant: 't0', route: 'payments.authorize', origin: 'gateway-1', deliveries: 1, size: 1900 + (i & 7), ms: 3 };
}

const suite: BenchSuite = {
  description: 'per-request log lines (gateway + processor) at the default level: redaction before and after issue 23.3',
  async run() {
    const common = { level: 'info', base: { service: 'bench', pid: process.pid } };
    const before = pino({ ...common, redact: { paths: WILDCARD_PATHS, censor: '[redacted]' } }, drop);
    const exact = pino({ ...common, redact: { paths: SECRET_KEYS, censor: '[redacted]' } }, drop);
    const bare = pino(common, drop);
    const shipped = createLogger({ name: 'bench', level: 'info', destination: drop });
    let i = 0;
    const request = (log: Logger) => () => {
      i++;
      log.info(gatewayLine(i), 'request routed');
      log.info(processorLine(i), 'request handled');
    };
    const [b, e, s, n, d] = await interleaved(
      [
        { name: 'pino, wildcard redact paths (before)', fn: request(before) },
        { name: 'pino, exact top-level redact paths', fn: request(exact) },
        { name: 'createLogger, scrubForLog (shipped)', fn: request(shipped) },
        { name: 'pino, no redaction (floor)', fn: request(bare) },
        {
          name: 'createLogger, both lines at debug (level info)',
          fn: () => {
            i++;
            shipped.debug(gatewayLine(i), 'request routed');
            shipped.debug(processorLine(i), 'request handled');
          },
        },
      ],
      { rounds: 15, batchMs: 30 },
    );
    const group = 'two lines per request';
    const rows = [rowOf(group, b!), ...[e!, s!, n!, d!].map((m) => rowOf(group, m, `${pairedRatio(m, b!).toFixed(3)}x before`))];
    return {
      rows,
      targets: [target('shipped logger, two request lines at info, per request', s!.nsPerOp / 1000, '<=', 5, ' µs')],
      notes: [
        `per line: before ${(b!.nsPerOp / 2000).toFixed(2)} µs, shipped ${(s!.nsPerOp / 2000).toFixed(2)} µs, no redaction ${(n!.nsPerOp / 2000).toFixed(2)} µs`,
        'time/op is one request (two lines), CPU time, written to a destination that drops them',
      ],
    };
  },
};
export default suite;
