import { BusyError, Semaphore } from '../../src/lib/semaphore';

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
