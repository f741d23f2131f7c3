import { logger } from '../lib/logger';
import { Mailer, MailMessage } from './mailer';

interface Job {
  message: MailMessage;
  /** Failed attempts so far. */
  failures: number;
}

/**
 * A small in-process queue in front of the mailer: the request that causes a mail only enqueues
 * it (never waits, never fails because of mail), and a failed send is retried after each of
 * `retryDelaysMs`, then given up with a log line. Mails are sent one at a time, in order.
 *
 * Kept in memory on purpose: every mail we send is one the user can ask for again (a reset link,
 * a confirmation), so a mail lost to a crash costs a click, while a durable queue would cost a
 * table, a worker and locking across processes. The queue is bounded: a flood drops mails (and
 * logs it) instead of growing without limit.
 *
 * Log lines name what happened, the attempt and the mailer's error code; never the address, the
 * link or the token.
 */
export class MailQueue {
  private readonly jobs: Job[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private sending = false;
  private closed = false;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly mailer: Mailer,
    private readonly opts: { retryDelaysMs: readonly number[]; maxQueued?: number },
  ) {}

  get kind(): Mailer['kind'] {
    return this.mailer.kind;
  }

  /** Queues a mail; returns at once and never throws. */
  enqueue(message: MailMessage): void {
    if (this.closed) return;
    if (this.jobs.length + this.timers.size >= (this.opts.maxQueued ?? 1000)) {
      logger.error({ subject: message.subject }, 'mail queue full; mail dropped');
      return;
    }
    this.jobs.push({ message, failures: 0 });
    void this.pump();
  }

  /** Resolves when nothing is queued, being sent or waiting for a retry (tests, the CLI). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Stops: pending retries are dropped (with a log line) and the mailer is closed. */
  close(): void {
    this.closed = true;
    if (this.jobs.length || this.timers.size) logger.warn({ mails: this.jobs.length + this.timers.size }, 'mail queue closed with mails not sent');
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.jobs.length = 0;
    this.mailer.close();
    this.notifyIdle();
  }

  private isIdle(): boolean {
    return !this.sending && this.jobs.length === 0 && this.timers.size === 0;
  }

  private notifyIdle(): void {
    if (!this.isIdle() && !this.closed) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      for (let job = this.jobs.shift(); job && !this.closed; job = this.jobs.shift()) {
        await this.attempt(job);
      }
    } finally {
      this.sending = false;
      this.notifyIdle();
    }
  }

  private async attempt(job: Job): Promise<void> {
    try {
      await this.mailer.send(job.message);
      if (this.mailer.kind === 'smtp') logger.info({ subject: job.message.subject, attempts: job.failures + 1 }, 'mail sent');
    } catch (err) {
      job.failures += 1;
      const e = err as { code?: unknown; responseCode?: unknown; message?: unknown };
      const detail = { code: e.code, responseCode: e.responseCode, reason: String(e.message ?? err).replace(/[^\s<>@]+@[^\s<>]+/g, '[address]').slice(0, 200), attempt: job.failures };
      const delay = this.opts.retryDelaysMs[job.failures - 1];
      if (delay === undefined || this.closed) {
        logger.error({ ...detail, subject: job.message.subject }, 'mail could not be sent; giving up');
        return;
      }
      logger.warn({ ...detail, retryInMs: delay }, 'mail could not be sent; will retry');
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.closed) return;
        this.jobs.push(job);
        void this.pump();
      }, delay);
      timer.unref();
      this.timers.add(timer);
    }
  }
}
