// createLauncher: the lifecycle npm start and the test stacks share. Parts
// stop in reverse order, once; a part whose stop fails is killed and the
// rest still stop; the exit hook is there while the stack runs, gone after.
import { describe, expect, it } from 'vitest';
import { createLauncher } from '../src/launcher.js';

describe('createLauncher', () => {
  it('stops parts and deferred steps in reverse order, once', async () => {
    const order: string[] = [];
    const l = createLauncher();
    l.defer(() => order.push('cleanup'));
    l.add({ name: 'nats', stop: () => order.push('nats') });
    l.add({ name: 'keystore', stop: async () => void order.push('keystore') });
    await Promise.all([l.stop(), l.stop()]);
    await l.stop();
    expect(order).toEqual(['keystore', 'nats', 'cleanup']);
  });

  it('kills a part whose stop fails and still stops the earlier ones', async () => {
    const order: string[] = [];
    const l = createLauncher();
    l.add({ name: 'nats', stop: () => order.push('nats stop') });
    l.add({ name: 'gateway', stop: () => Promise.reject(new Error('stuck')), killNow: () => order.push('gateway kill') });
    await l.stop();
    expect(order).toEqual(['gateway kill', 'nats stop']);
  });

  it('holds an exit hook that kills every part until stop()', async () => {
    const killed: string[] = [];
    const before = process.listenerCount('exit');
    const l = createLauncher({ killOnExit: true });
    l.add({ name: 'a', stop: () => undefined, killNow: () => killed.push('a') });
    l.add({ name: 'b', stop: () => undefined });
    expect(process.listenerCount('exit')).toBe(before + 1);
    const hook = process.listeners('exit').at(-1) as () => void;
    hook();
    expect(killed).toEqual(['a']);
    await l.stop();
    expect(process.listenerCount('exit')).toBe(before);
  });
});
