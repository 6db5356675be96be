// SealCounter: counts per (tenant, ring, version) whatever material object a
// cache handed out, drained once, and put back after a failed report.
import type { KeyVersionMaterial } from '@fle/field-crypto';
import { describe, expect, it } from 'vitest';
import { SealCounter } from '../src/seal-counts.js';

const material = (version: number): KeyVersionMaterial => ({ version }) as KeyVersionMaterial;
const acme = { tenant: 'acme', ring: 'default' };

describe('SealCounter', () => {
  it('merges counts of one version across material objects (refetches) and keeps rings and versions apart', () => {
    const c = new SealCounter();
    const v1 = material(1);
    const v1again = material(1); // the same version fetched again after its TTL
    for (let i = 0; i < 5; i++) c.count(acme, v1);
    c.count(acme, v1again, 3);
    c.count(acme, material(2));
    c.count({ tenant: 'acme', ring: 'pci' }, material(1), 4);
    c.count({ tenant: 'globex', ring: 'default' }, material(1), 2);
    expect(c.total).toBe(15);
    expect(c.drain()).toEqual([
      { tenant: 'acme', ring: 'default', version: 1, seals: 8 },
      { tenant: 'acme', ring: 'default', version: 2, seals: 1 },
      { tenant: 'acme', ring: 'pci', version: 1, seals: 4 },
      { tenant: 'globex', ring: 'default', version: 1, seals: 2 },
    ]);
    expect(c.drain()).toEqual([]); // drained once
    c.count(acme, v1);
    expect(c.drain()).toEqual([{ tenant: 'acme', ring: 'default', version: 1, seals: 1 }]);
    expect(c.total).toBe(16);
  });

  it('counts put back after a failed report go with the next drain', () => {
    const c = new SealCounter();
    const v1 = material(1);
    c.count(acme, v1, 10);
    const failed = c.drain();
    c.count(acme, v1, 2);
    c.restore(failed);
    expect(c.drain()).toEqual([{ tenant: 'acme', ring: 'default', version: 1, seals: 12 }]);
  });
});
