import type { PGlite } from '@electric-sql/pglite';

interface Item {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (err: unknown) => void;
}

const QUERY = 0x51; // 'Q': a simple query ends its own exchange
const SYNC = 0x53; // 'S': ends an extended-protocol exchange (Parse/Bind/Execute/.../Sync)
const TERMINATE = 0x58; // 'X'

/**
 * PGlite is one Postgres session shared by every socket connection. pglite-socket 0.2.17 keeps a
 * connection's messages together only while a transaction is open, so two connections'
 * extended-protocol exchanges interleave (one connection's Bind meets another's Parse: "unnamed
 * prepared statement does not exist" or, worse, another query's rows), and a failed message
 * leaves its queue stuck for good. This queue replaces it: a connection owns the session from
 * its first message until the end of its exchange (Sync or a simple Query) and, if a
 * transaction is open, until it ends; the others wait their turn.
 */
export class PgliteSessionQueue {
  private queue: Item[] = [];
  private processing = false;
  private owner: number | null = null;

  constructor(private readonly db: PGlite) {}

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ handlerId, message, onData, resolve, reject });
      void this.process();
    });
  }

  private next(): Item | undefined {
    if (this.owner === null) return this.queue.shift();
    const i = this.queue.findIndex((item) => item.handlerId === this.owner);
    return i < 0 ? undefined : this.queue.splice(i, 1)[0];
  }

  private async process(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      for (let item = this.next(); item; item = this.next()) {
        let bytes = 0;
        const current = item;
        try {
          await this.db.runExclusive(() =>
            this.db.execProtocolRawStream(current.message, {
              onRawData: (data: Uint8Array) => {
                bytes += data.length;
                current.onData(data);
              },
            }),
          );
          const type = current.message[0];
          // A startup packet has no type byte (it starts with its length, whose first byte is 0).
          const exchangeEnds = type === QUERY || type === SYNC || type === TERMINATE || type === 0;
          this.owner = exchangeEnds && !this.db.isInTransaction() ? null : current.handlerId;
          current.resolve(bytes);
        } catch (err) {
          if (!this.db.isInTransaction()) this.owner = null;
          current.reject(err);
        }
      }
    } finally {
      this.processing = false;
    }
  }

  getQueueLength(): number {
    return this.queue.length;
  }

  clearQueueForHandler(handlerId: number): void {
    this.queue = this.queue.filter((item) => {
      if (item.handlerId !== handlerId) return true;
      item.reject(new Error('Handler disconnected'));
      return false;
    });
  }

  /** A connection that goes away mid-exchange or mid-transaction releases the session. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.owner !== handlerId) return;
    if (this.db.isInTransaction()) await this.db.exec('ROLLBACK');
    this.owner = null;
    void this.process();
  }
}
