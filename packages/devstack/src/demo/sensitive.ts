// The sensitive values of a message, found by the schema's plan (the same
// plan field-crypto's walk follows), with readable names such as
// `card.number`, `previous_addresses[0]`, `customer_attributes[loyalty]`.
import { decodeBase64url, readHeader, type MessagePlan, type NodePlan } from '@fle/field-crypto';

export interface SensitiveValue {
  /** Proto field names from the root, e.g. `card.number`. */
  readonly name: string;
  readonly ring: string;
  readonly value: string | Uint8Array;
}

export function sensitiveValues(plan: MessagePlan, msg: object): SensitiveValue[] {
  const out: SensitiveValue[] = [];
  walk(plan.root, msg as Record<string, unknown>, '', out);
  return out;
}

function walk(node: NodePlan, msg: Record<string, unknown>, prefix: string, out: SensitiveValue[]): void {
  for (const f of node.fields) {
    const v = msg[f.prop];
    if (v === undefined || v === null) continue;
    const name = prefix + protoName(f.fieldName.slice(f.fieldName.lastIndexOf('.') + 1));
    const items: Array<[string, unknown]> =
      f.shape === 'singular'
        ? [[name, v]]
        : f.shape === 'repeated'
          ? (v as unknown[]).map((x, i) => [`${name}[${i}]`, x])
          : Object.entries(v as Record<string, unknown>).map(([k, x]) => [`${name}[${k}]`, x]);
    for (const [itemName, x] of items) {
      if (f.kind === 'nested') {
        if (x && typeof x === 'object') walk(f.node, x as Record<string, unknown>, `${itemName}.`, out);
      } else if ((typeof x === 'string' && x !== '') || (x instanceof Uint8Array && x.byteLength > 0)) {
        out.push({ name: itemName, ring: f.ring, value: x as string | Uint8Array });
      }
    }
  }
}

/** protobufjs reports names in camelCase; proto field names are snake_case (buf lint enforces it). */
function protoName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export interface EnvelopeFacts {
  /** The envelope's size in bytes (binary form). */
  readonly bytes: number;
  /** How it travels: base64url text in a string field, binary in a bytes field. */
  readonly form: 'base64url' | 'binary';
  readonly alg: 1 | 2 | 3 | 4;
  readonly keyVersion: number;
  /** The first characters as they travel (text form) or the first bytes in hex (binary form). */
  readonly prefix: string;
}

/** What a sealed value looks like, read from its header (spec §1); undefined when it is not an envelope. */
export function envelopeFacts(value: string | Uint8Array): EnvelopeFacts | undefined {
  try {
    const bytes = typeof value === 'string' ? decodeBase64url(value) : value;
    const { alg, keyVersion } = readHeader(bytes);
    return typeof value === 'string'
      ? { bytes: bytes.byteLength, form: 'base64url', alg, keyVersion, prefix: `${value.slice(0, 16)}…` }
      : { bytes: bytes.byteLength, form: 'binary', alg, keyVersion, prefix: `${Buffer.from(bytes.subarray(0, 10)).toString('hex')}…` };
  } catch {
    return undefined;
  }
}

/** The plaintext as UTF-8 text (bytes fields of the demo hold text too). */
export function plaintextText(value: string | Uint8Array): string {
  return typeof value === 'string' ? value : Buffer.from(value).toString('utf8');
}
