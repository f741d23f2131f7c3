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
