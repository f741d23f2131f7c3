import { AppError } from './errors';

export class BusyError extends AppError {
  constructor() {
    super(503, 'busy', 'We are handling a lot of sign-ins right now. Please try again in a few seconds.', {
      headers: { 'Retry-After': '2' },
    });
  }
}

/**
 * Bounds how many expensive jobs (password hashes) run at once, with a bounded queue: a storm of
 * logins waits in line or is told to try again, and cannot starve the rest of the server.
 */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly max: number,
    private readonly maxQueue: number,
  ) {}

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) {
      if (this.waiting.length >= this.maxQueue) throw new BusyError();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export interface LaneLimits {
  /** At most this many of the lane's jobs run at once (never more than the semaphore's total). */
  concurrency: number;
  /** At most this many of the lane's jobs wait; beyond that the lane answers busy. */
  queue: number;
}

/**
 * A semaphore whose slots are shared by lanes in priority order (the first lane named first).
 * Each lane has its own cap and its own bounded queue, so a flood in a low-priority lane (sign-up)
 * fills only its own share and its own queue: a high-priority lane (log-in, which Alexa linking
 * waits on) still finds a slot free, or waits first in line for the next one, and is never told
 * "busy" because of the other lane's queue.
 */
export class LaneSemaphore<L extends string> {
  private active = 0;
  private readonly lanes: Map<L, LaneLimits & { active: number; waiting: Array<() => void>; busy: number }>;

  constructor(
    private readonly max: number,
    lanes: Array<[L, LaneLimits]>,
  ) {
    this.lanes = new Map(lanes.map(([name, l]) => [name, { concurrency: Math.min(l.concurrency, max), queue: l.queue, active: 0, waiting: [], busy: 0 }]));
  }

  /** Per lane: jobs running, waiting, and refused as busy so far (for the metrics). */
  stats(): Array<{ lane: L; active: number; waiting: number; busy: number }> {
    return [...this.lanes].map(([lane, l]) => ({ lane, active: l.active, waiting: l.waiting.length, busy: l.busy }));
  }

  async run<T>(laneName: L, job: () => Promise<T>): Promise<T> {
    const lane = this.lanes.get(laneName);
    if (!lane) throw new Error(`unknown lane ${laneName}`);
    if (this.active < this.max && lane.active < lane.concurrency) {
      this.active++;
      lane.active++;
    } else {
      if (lane.waiting.length >= lane.queue) {
        lane.busy++;
        throw new BusyError();
      }
      await new Promise<void>((resolve) => lane.waiting.push(resolve)); // the slot is handed over in release()
    }
    try {
      return await job();
    } finally {
      this.release(lane);
    }
  }

  private release(done: LaneLimits & { active: number }): void {
    this.active--;
    done.active--;
    for (const lane of this.lanes.values()) {
      if (lane.waiting.length > 0 && lane.active < lane.concurrency) {
        this.active++;
        lane.active++;
        lane.waiting.shift()!();
        return;
      }
    }
  }
}
