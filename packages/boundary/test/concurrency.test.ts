import { describe, expect, it } from 'vitest';
import { Limiter } from '../src/concurrency.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('Limiter', () => {
  it('runs at most `limit` at once, FIFO, and refuses beyond the queue bound', async () => {
    const l = new Limiter(2, 1);
    const order: number[] = [];
    let peak = 0;
    const releases: Array<() => void> = [];
    const job = (i: number) => () =>
      new Promise<void>((resolve) => {
        order.push(i);
        peak = Math.max(peak, l.active);
        releases.push(resolve);
      });
    expect(l.run(job(1))).toBe(true);
    expect(l.run(job(2))).toBe(true);
    expect(l.run(job(3))).toBe(true); // queued
    expect(l.run(job(4))).toBe(false); // queue full
    expect(order).toEqual([1, 2]);
    releases.shift()!();
    await tick();
    expect(order).toEqual([1, 2, 3]);
    releases.splice(0).forEach((r) => r());
    await l.idle(1000);
    expect(peak).toBe(2);
  });

  it('startWhenFree resolves only once the job has started', async () => {
    const l = new Limiter(1);
    let release!: () => void;
    await l.startWhenFree(() => new Promise<void>((r) => (release = r)));
    let started = false;
    const waiting = l.startWhenFree(async () => {
      started = true;
    });
    await tick();
    expect(started).toBe(false);
    release();
    await waiting;
    expect(started).toBe(true);
  });
});
