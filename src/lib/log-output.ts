import { writeSync } from 'node:fs';

/** How long a synchronous write (before buffer(), and at exit) keeps retrying a full pipe whose reader is slow. */
const EXIT_FLUSH_LIMIT_MS = 10_000;
const RETRY_MS = 10;

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Where the log lines go (standard output by default). Synchronous until `buffer()`; then lines
 * collect in memory and leave in one write(2) per event-loop turn, so a busy server makes one
 * system call for many lines instead of one per line, off the request's path. A full pipe
 * (EAGAIN: the collector reads slowly) is retried on a timer, never in a busy loop, and nothing
 * is dropped: the buffer has no limit. `flushSync()` (on exit, and registered for it by
 * `buffer()`) writes everything still held, waiting for a slow reader up to 10 s.
 *
 * Not sonic-boom's asynchronous mode: its writes run on libuv's thread pool, and at exit it skips
 * the chunk a retry or a pool thread still holds, so the last lines before an exit could be lost
 * (seen with a stalled pipe; test/reliability/request-log.test.ts).
 */
export class LogOutput {
  private pending: string[] = [];
  /** Bytes of a chunk a write took only part of (or none of: EAGAIN), to go first. */
  private rest: Buffer | undefined;
  private scheduled = false;
  private buffered = false;
  private broken = false;

  constructor(private readonly fd = 1) {}

  write(line: string): void {
    if (this.broken) return;
    if (!this.buffered) {
      this.writeAll(Buffer.from(line), EXIT_FLUSH_LIMIT_MS);
      return;
    }
    this.pending.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  }

  /** From now on, batched writes (the server); flushed on process exit. */
  buffer(): void {
    if (this.buffered) return;
    this.buffered = true;
    process.on('exit', () => this.flushSync());
  }

  /** Writes everything held now, synchronously. */
  flushSync(): void {
    if (this.broken) return;
    const chunk = this.take();
    if (chunk) this.writeAll(chunk, EXIT_FLUSH_LIMIT_MS);
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    const chunk = this.take();
    if (!chunk) return;
    const left = this.writeSome(chunk);
    if (left) {
      this.rest = left;
      this.scheduled = true;
      setTimeout(this.drain, RETRY_MS).unref();
    }
  };

  /** The held bytes: the unwritten rest first, then the pending lines. */
  private take(): Buffer | undefined {
    const lines = this.pending.length ? Buffer.from(this.pending.join('')) : undefined;
    this.pending = [];
    const rest = this.rest;
    this.rest = undefined;
    if (rest && lines) return Buffer.concat([rest, lines]);
    return rest ?? lines;
  }

  /** Writes what the fd takes now; returns what is left (a full non-blocking pipe), if anything. */
  private writeSome(buf: Buffer): Buffer | undefined {
    let off = 0;
    while (off < buf.length) {
      try {
        off += writeSync(this.fd, buf, off, buf.length - off);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return buf.subarray(off);
        this.broken = true; // EPIPE (nobody reads any more), EBADF: there is nowhere to log to
        return undefined;
      }
    }
    return undefined;
  }

  /** Writes all of `buf`, retrying a full pipe for up to `limitMs`. */
  private writeAll(buf: Buffer, limitMs: number): void {
    const deadline = Date.now() + limitMs;
    let left: Buffer | undefined = buf;
    while ((left = this.writeSome(left))) {
      if (Date.now() > deadline) return;
      sleepSync(RETRY_MS);
    }
  }
}
