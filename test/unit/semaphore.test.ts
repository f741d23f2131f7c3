import { BusyError, LaneSemaphore, Semaphore } from '../../src/lib/semaphore';

describe('Semaphore', () => {
  it('when more jobs arrive than it runs at once, then the rest wait and the overflow is refused as busy', async () => {
    const s = new Semaphore(2, 1);
    let running = 0;
    let peak = 0;
    const release: Array<() => void> = [];
    const job = () =>
      s.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => release.push(r));
        running--;
      });
    const a = job();
    const b = job();
    const c = job(); // queued
    await expect(job()).rejects.toBeInstanceOf(BusyError);
    await new Promise((r) => setImmediate(r));
    expect(peak).toBe(2);
    release.shift()!();
    await a;
    await new Promise((r) => setImmediate(r));
    release.shift()!();
    release.shift()!();
    await Promise.all([b, c]);
    expect(peak).toBe(2);
  });
});

describe('LaneSemaphore', () => {
  const held = () => {
    const release: Array<() => void> = [];
    const order: string[] = [];
    const job = (s: LaneSemaphore<'high' | 'low'>, lane: 'high' | 'low', name: string) =>
      s.run(lane, async () => {
        order.push(name);
        await new Promise<void>((r) => release.push(r));
      });
    return { release, order, job };
  };
  const tick = () => new Promise((r) => setImmediate(r));

  it('when the low lane is flooded, then it keeps to its share and its own queue, and the high lane still gets a slot', async () => {
    const s = new LaneSemaphore<'high' | 'low'>(2, [['high', { concurrency: 2, queue: 0 }], ['low', { concurrency: 1, queue: 1 }]]);
    const { release, order, job } = held();
    const low1 = job(s, 'low', 'low1');
    const low2 = job(s, 'low', 'low2'); // queued
    await expect(job(s, 'low', 'low3')).rejects.toBeInstanceOf(BusyError);
    const high = job(s, 'high', 'high1');
    await tick();
    expect(order).toEqual(['low1', 'high1']);
    await expect(job(s, 'high', 'high2')).rejects.toBeInstanceOf(BusyError); // both slots taken, no high queue
    release.shift()!(); // low1 done: its slot goes to the queued low2
    await low1;
    await tick();
    expect(order).toEqual(['low1', 'high1', 'low2']);
    release.shift()!();
    release.shift()!();
    await Promise.all([high, low2]);
  });

  it('when a slot frees and both lanes wait, then the high lane goes first', async () => {
    const s = new LaneSemaphore<'high' | 'low'>(1, [['high', { concurrency: 1, queue: 2 }], ['low', { concurrency: 1, queue: 2 }]]);
    const { release, order, job } = held();
    const jobs = [job(s, 'low', 'low1'), job(s, 'low', 'low2'), job(s, 'high', 'high1')];
    await tick();
    for (let i = 0; i < 3; i++) {
      release.shift()!();
      await tick();
      await tick();
    }
    await Promise.all(jobs);
    expect(order).toEqual(['low1', 'high1', 'low2']);
  });
});
