// Where a plaintext value would show if it leaked: as UTF-8, or base64 /
// base64url of it (how bytes often end up in JSON logs and headers). Results
// name the field, never the value.
import type { SensitiveValue } from './sensitive.js';
import { plaintextText } from './sensitive.js';

export interface Needle {
  readonly field: string;
  readonly forms: readonly Buffer[];
}

/** Values shorter than 8 bytes are skipped: too short to tell a leak from chance. */
export function needlesOf(values: readonly SensitiveValue[]): Needle[] {
  const out: Needle[] = [];
  for (const v of values) {
    const text = plaintextText(v.value);
    if (Buffer.byteLength(text) < 8) continue;
    const raw = Buffer.from(text, 'utf8');
    const forms = [raw, Buffer.from(raw.toString('base64').replace(/=+$/, '')), Buffer.from(raw.toString('base64url'))];
    out.push({ field: v.name, forms });
  }
  return out;
}

/** The fields whose plaintext occurs in `haystack`. */
export function plaintextIn(haystack: Uint8Array | string, needles: readonly Needle[]): string[] {
  const buf = typeof haystack === 'string' ? Buffer.from(haystack, 'utf8') : Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength);
  const hits = new Set<string>();
  for (const n of needles) if (n.forms.some((f) => buf.includes(f))) hits.add(n.field);
  return [...hits];
}
