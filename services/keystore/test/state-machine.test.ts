import { describe, expect, it } from 'vitest';
import { InvalidTransitionError, NotFoundError } from '../src/errors.js';
import { assertRingRecord, type KeyRingRecord } from '../src/model.js';
import * as sm from '../src/state-machine.js';

const wrap = (v: number): string => `wrapped-${v}`;
const ring = (): KeyRingRecord => sm.newRing({ tenant: 'acme', ring: 'default', kind: 'symmetric', alg: 1 }, 1000, wrap);
const states = (r: KeyRingRecord): string[] => r.versions.map((v) => `${v.version}:${v.state}`);

describe('version state machine', () => {
  it('creates a ring with version 1 primary', () => {
    const r = ring();
    expect(states(r)).toEqual(['1:primary']);
    expect(r.versions[0]!.wrapped).toBe('wrapped-1');
  });

  it('staged rotation: rotate adds pending, promote swaps primary to decrypt-only', () => {
    let r = ring();
    const rotated = sm.rotate(r, 2000, wrap);
    r = rotated.ring;
    expect(rotated.added.version).toBe(2);
    expect(states(r)).toEqual(['1:primary', '2:pending']);
    const promoted = sm.promote(r, 2, 3000);
    r = promoted.ring;
    expect(promoted.previousPrimary).toBe(1);
    expect(states(r)).toEqual(['1:decrypt-only', '2:primary']);
    expect(r.versions[0]!.stateChangedAt).toBe(3000);
    r = sm.disable(r, 1, 4000);
    r = sm.destroy(r, 1, 5000);
    expect(states(r)).toEqual(['1:destroyed', '2:primary']);
    expect(r.versions[0]!.wrapped).toBeNull();
    expect(() => assertRingRecord(r)).not.toThrow();
  });

  it('never reuses version numbers', () => {
    let r = ring();
    r = sm.rotate(r, 1, wrap).ring;
    r = sm.disable(r, 2, 1); // abandon the pending version
    r = sm.rotate(r, 1, wrap).ring;
    expect(states(r)).toEqual(['1:primary', '2:disabled', '3:pending']);
  });

  it('keeps exactly one primary through every allowed transition', () => {
    let r = ring();
    for (let i = 0; i < 5; i++) {
      const { ring: next, added } = sm.rotate(r, i, wrap);
      r = sm.promote(next, added.version, i).ring;
      expect(r.versions.filter((v) => v.state === 'primary')).toHaveLength(1);
    }
    // roll back: promote a decrypt-only version again
    r = sm.promote(r, 3, 99).ring;
    expect(r.versions.find((v) => v.state === 'primary')!.version).toBe(3);
    expect(r.versions.filter((v) => v.state === 'primary')).toHaveLength(1);
  });

  it('re-enables a disabled version as decrypt-only', () => {
    let r = sm.promote(sm.rotate(ring(), 1, wrap).ring, 2, 1).ring;
    r = sm.disable(r, 1, 2);
    r = sm.enable(r, 1, 3);
    expect(states(r)).toEqual(['1:decrypt-only', '2:primary']);
  });

  it.each([
    ['rotate twice without promoting', (r: KeyRingRecord) => sm.rotate(sm.rotate(r, 1, wrap).ring, 1, wrap), /already has pending version 2/],
    ['promote the primary', (r: KeyRingRecord) => sm.promote(r, 1, 1), /already primary/],
    ['disable the primary', (r: KeyRingRecord) => sm.disable(r, 1, 1), /is primary: promote another version/],
    ['destroy the primary', (r: KeyRingRecord) => sm.destroy(r, 1, 1), /disable it before destroying/],
    ['enable a primary', (r: KeyRingRecord) => sm.enable(r, 1, 1), /only a disabled version can be enabled/],
    [
      'destroy a decrypt-only version',
      (r: KeyRingRecord) => sm.destroy(sm.promote(sm.rotate(r, 1, wrap).ring, 2, 1).ring, 1, 1),
      /is decrypt-only: disable it before destroying/,
    ],
    [
      'promote a disabled version',
      (r: KeyRingRecord) => sm.promote(sm.disable(sm.rotate(r, 1, wrap).ring, 2, 1), 2, 1),
      /is disabled.*enable it first/,
    ],
    [
      'disable twice',
      (r: KeyRingRecord) => sm.disable(sm.disable(sm.rotate(r, 1, wrap).ring, 2, 1), 2, 1),
      /already disabled/,
    ],
    [
      'destroy twice',
      (r: KeyRingRecord) => sm.destroy(sm.destroy(sm.disable(sm.rotate(r, 1, wrap).ring, 2, 1), 2, 1), 2, 1),
      /already destroyed/,
    ],
    [
      'enable a destroyed version',
      (r: KeyRingRecord) => sm.enable(sm.destroy(sm.disable(sm.rotate(r, 1, wrap).ring, 2, 1), 2, 1), 2, 1),
      /is destroyed: only a disabled version/,
    ],
  ])('refuses to %s with FAILED_PRECONDITION', (_name, op, message) => {
    let thrown: unknown;
    try {
      op(ring());
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InvalidTransitionError);
    expect((thrown as InvalidTransitionError).code).toBe('FAILED_PRECONDITION');
    expect((thrown as Error).message).toMatch(message);
  });

  it('reports a missing version as NOT_FOUND', () => {
    expect(() => sm.promote(ring(), 7, 1)).toThrow(NotFoundError);
  });

  it('assertRingRecord rejects a record with two primaries or a destroyed key that kept its bytes', () => {
    const two = ring();
    two.versions.push({ version: 2, state: 'primary', createdAt: 1, stateChangedAt: 1, wrapped: 'x' });
    expect(() => assertRingRecord(two)).toThrow(/exactly one primary/);
    const kept = sm.rotate(ring(), 1, wrap).ring;
    kept.versions[1] = { ...kept.versions[1]!, state: 'destroyed' };
    expect(() => assertRingRecord(kept)).toThrow(/wrapped key/);
  });
});
