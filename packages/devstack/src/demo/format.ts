// The human view of a demo run: per hop, what it saw. Plaintext appears only
// under the client; every other hop is described by sizes, envelope
// prefixes (version/alg/key version/nonce: public), subjects and field names.
import type { DemoRun } from './run-demo.js';
import type { GatewayHop, NatsHop, ProcessorHop } from './summary.js';

export function formatDemo(run: DemoRun): string {
  const s = run.summary;
  const [, gateway, nats, processor] = s.hops as [unknown, GatewayHop, NatsHop, ProcessorHop];
  const out: string[] = [];
  const width = Math.max(...run.clientView.fields.map((f) => f.field.length));
  out.push(`demo: one AuthorizeRequest (${s.requestId}) for tenant "${s.tenant}" through ${s.gateway}; per hop, what it saw`);
  out.push('');
  out.push('  1. client — plaintext (it owns the data; keys fetched from the keystore as spiffe://fle.local/client)');
  for (const f of run.clientView.fields) {
    out.push(`       ${f.field.padEnd(width)}  ${JSON.stringify(clip(f.plaintext, 40)).padEnd(44)} → sealed (${f.ring}) ${f.envelopePrefix}`);
  }
  const client = s.hops[0];
  if (client && client.hop === 'client') {
    const env = client.sealedFields.reduce((n, f) => n + f.envelopeBytes, 0);
    out.push(`       ${client.sealedFields.length} fields sealed, ${env} envelope bytes; request ${client.requestBytes} bytes on the wire`);
  }
  out.push('');
  out.push(`  2. gateway — ciphertext only (holds no key): received ${gateway.receivedBytes} bytes over mTLS, routed to ${gateway.routedTo}${routedNote(gateway)}`);
  const shown = gateway.envelopes.slice(0, 3);
  for (const e of shown) out.push(`       ${e.field} as ${gateway.envelopesFrom === 'nats' ? 'routed' : 'received'}: ${e.prefix} (${e.envelopeBytes}-byte envelope, key version ${e.keyVersion})`);
  if (gateway.envelopes.length > shown.length) out.push(`       … and ${gateway.envelopes.length - shown.length} more envelopes`);
  if (gateway.log) out.push(`       its log: ${oneLine(gateway.log)}`);
  out.push(`       plaintext found at the gateway: ${list(gateway.plaintextFound)}`);
  out.push('');
  if (nats.observed) {
    out.push(`  3. NATS — ciphertext only: ${nats.messages.length} message(s) of this request, seen by the dev-only observer identity`);
    for (const m of nats.messages) out.push(`       ${m.what.padEnd(26)} ${m.subject} (${m.bytes} bytes)`);
    out.push(`       plaintext found in ${nats.scannedMessages} messages (${nats.scannedBytes} bytes: subjects, headers, payloads): ${list(nats.plaintextFound)}`);
  } else {
    out.push(`  3. NATS — not observed: ${nats.reason ?? 'no observer'}`);
  }
  out.push('');
  out.push('  4. processor — plaintext inside its boundary only (it fetched the keys and opened the fields)');
  out.push(`       Luhn check of the opened card number: ${processor.luhnCheckPassed ? 'passed' : 'failed'}; last four it returned: ${processor.cardLastFour || '(none)'}${processor.lastFourMatches ? ' (matches)' : ' (does NOT match)'}`);
  if (processor.cardToken) out.push(`       card_token sealed by it for the tenant (${processor.cardToken.envelopeBytes}-byte envelope, key version ${processor.cardToken.keyVersion}), opened by the client: ${clip(run.clientView.cardToken, 14)}`);
  if (processor.log) out.push(`       its log: ${oneLine(processor.log)}${processor.logPlaintextFree ? ' — no plaintext in its log' : ''}`);
  out.push('');
  out.push(`  timings: client key fetch ${s.timingsMs.keyFetch} ms, seal ${s.timingsMs.seal} ms, gateway → processor → gateway ${s.timingsMs.roundTrip} ms, open ${s.timingsMs.open} ms, total ${s.timingsMs.total} ms`);
  out.push(`  plaintext outside the processor: ${s.plaintextSeenOutsideProcessor ? 'FOUND' : 'none'} (checked ${s.checked.join('; ')})`);
  out.push(s.ok ? `  result: approved, nothing leaked` : `  result: PROBLEM — ${s.problems.join('; ')}`);
  return out.join('\n') + '\n';
}

function routedNote(g: GatewayHop): string {
  if (g.routedUnchanged === true) return ' — the same bytes, unchanged';
  if (g.routedUnchanged === false) return ' — CHANGED on the way';
  return '';
}

function list(items: readonly string[]): string {
  return items.length === 0 ? 'none' : items.join(', ');
}

function clip(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

function oneLine(o: Record<string, unknown>): string {
  return Object.entries(o)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}
