import { Knex } from 'knex';
import pg from 'pg';
import { logger } from '../../lib/logger';

export const REVOCATION_CHANNEL = 'linkbridge_revocations';

/** What stopped being valid: grants (with all their tokens), single access tokens, or clients. */
export interface RevocationEvent {
  grants?: number[];
  tokens?: number[];
  clients?: string[];
  /** Too much to list: forget everything cached. */
  flush?: boolean;
}

export interface RevocationListener {
  onRevocation(event: RevocationEvent): void;
  /** Called with false when notifications may be missed (connection lost), true once listening again. */
  onListening(listening: boolean): void;
}

const MAX_IDS = 400; // keeps the payload far below NOTIFY's 8000-byte limit
const HEARTBEAT_MS = 5000;
const HEARTBEAT_TIMEOUT_MS = 3000;

type Probe = RevocationEvent & { probe?: string };
/** Where the listener listens, and where revocations are sent from (DATABASE_URL). */
type ListenUrls = { listen: string; notify: string };

/**
 * Tells every process that something was revoked, so their in-process caches of validated tokens
 * and clients drop it at once. The NOTIFY is sent in the revoking transaction, so PostgreSQL
 * delivers it exactly when the change commits (and never if it rolls back). This process's own
 * caches are told before and again right after the commit, so no request in flight can put the
 * revoked value back. A heartbeat proves the listening connection still hears: when it does not
 * (a connection silently dropped by a proxy, a failover), caching turns off until it does.
 */
export class RevocationBus {
  private readonly listeners: RevocationListener[] = [];
  private client: pg.Client | undefined;
  private stopped = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Our own notifications not heard back yet (nonce -> resolve). */
  private readonly pending = new Map<string, () => void>();

  subscribe(listener: RevocationListener): void {
    this.listeners.push(listener);
  }

  private tell(event: RevocationEvent): void {
    for (const l of this.listeners) l.onRevocation(event);
  }

  async publish(event: RevocationEvent, db: Knex | Knex.Transaction): Promise<void> {
    const size = (event.grants?.length ?? 0) + (event.tokens?.length ?? 0) + (event.clients?.length ?? 0);
    if (size === 0 && !event.flush) return;
    const payload: RevocationEvent = size > MAX_IDS ? { flush: true } : event;
    this.tell(payload);
    const nonce = Math.random().toString(36).slice(2);
    if (this.client) {
      const timer = setTimeout(() => this.pending.delete(nonce), 1000);
      this.pending.set(nonce, () => {
        clearTimeout(timer);
        this.pending.delete(nonce);
      });
    }
    await db.raw('SELECT pg_notify(?, ?)', [REVOCATION_CHANNEL, JSON.stringify({ ...payload, n: nonce })]);
    // Once more after the commit: a read between the first eviction and the commit saw the row
    // still live and may have cached it (its epoch was already the new one).
    if ('executionPromise' in db && db.isTransaction) {
      (db as Knex.Transaction).executionPromise.then(
        () => this.tell(payload),
        () => undefined,
      );
    }
  }

  /**
   * Resolves once this process has heard back every revocation it published (at most ~1 s).
   * PostgreSQL signals every listener at the same commit, so when ours has heard it, the other
   * processes' listeners have too: revocation paths wait for this before they answer, so a
   * client's next request, to any process, already meets the revocation.
   */
  async delivered(): Promise<void> {
    const deadline = Date.now() + 1000;
    while (this.pending.size > 0 && this.client && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  }

  /**
   * Listens on a dedicated connection to `listenUrl` (not from the pool), reconnecting when it
   * drops. `notifyUrl` is where revocations are sent from (the pool's DATABASE_URL, which may be a
   * transaction pooler: NOTIFY is transactional, so it works through one; LISTEN does not, so
   * `listenUrl` is PostgreSQL itself). The start-up probe is sent the way revocations are.
   */
  async start(listenUrl: string, notifyUrl: string = listenUrl): Promise<void> {
    this.stopped = false;
    const urls = { listen: listenUrl, notify: notifyUrl };
    await this.connect(urls).catch((err) => {
      logger.warn({ err }, 'revocation listener could not connect; token caching stays off until it does');
      this.scheduleReconnect(urls);
    });
  }

  private async connect(urls: ListenUrls): Promise<void> {
    const client = new pg.Client({ connectionString: urls.listen, connectionTimeoutMillis: 5000, keepAlive: true, keepAliveInitialDelayMillis: 10000 });
    const probes = new Map<string, () => void>();
    const lost = (err?: unknown) => {
      if (this.client === client) {
        this.client = undefined;
        this.pending.clear();
        if (this.heartbeat) clearInterval(this.heartbeat);
        this.heartbeat = undefined;
        for (const l of this.listeners) l.onListening(false);
        if (!this.stopped) {
          logger.warn({ err }, 'revocation listener lost its connection; token caching is off until it reconnects');
          this.scheduleReconnect(urls);
        }
      }
      client.end().catch(() => undefined);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (msg) => {
      if (msg.channel !== REVOCATION_CHANNEL || !msg.payload) return;
      let event: Probe;
      try {
        event = JSON.parse(msg.payload) as Probe;
      } catch {
        event = { flush: true };
      }
      if (event.probe) {
        probes.get(event.probe)?.();
        return;
      }
      this.tell(event);
      const nonce = (event as { n?: string }).n;
      if (nonce) this.pending.get(nonce)?.();
    });
    /** Sends a probe NOTIFY through `sender` and waits for it to arrive on the listener. */
    const probe = async (sender: pg.Client): Promise<boolean> => {
      const nonce = Math.random().toString(36).slice(2);
      const arrived = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), HEARTBEAT_TIMEOUT_MS);
        probes.set(nonce, () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      try {
        await sender.query('SELECT pg_notify($1, $2)', [REVOCATION_CHANNEL, JSON.stringify({ probe: nonce })]);
        return await arrived;
      } finally {
        probes.delete(nonce);
      }
    };

    try {
      await client.connect();
      await client.query(`LISTEN ${REVOCATION_CHANNEL}`);
      // A NOTIFY from another connection, sent where revocations are sent, must reach us. On a
      // single-session server (an embedded PGlite behind DATABASE_URL) it does not, nor when
      // DATABASE_LISTEN_URL names another database than DATABASE_URL: caching would be unsafe,
      // so it stays off for good.
      const sender = new pg.Client({ connectionString: urls.notify, connectionTimeoutMillis: 5000 });
      let delivered: boolean;
      try {
        await sender.connect();
        delivered = await probe(sender);
      } finally {
        await sender.end().catch(() => undefined);
      }
      if (!delivered) {
        logger.warn(
          urls.notify === urls.listen
            ? 'revocation notifications do not arrive on this database; token caching stays off'
            : 'revocation notifications sent through DATABASE_URL do not arrive on DATABASE_LISTEN_URL (do both name the same database?); token caching stays off',
        );
        this.stopped = true;
        await client.end().catch(() => undefined);
        return;
      }
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    // Heartbeat on the listening connection itself: a session hears its own notifications.
    this.heartbeat = setInterval(() => {
      probe(client).then(
        (ok) => ok || lost(new Error('revocation heartbeat not heard')),
        (err) => lost(err),
      );
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
    for (const l of this.listeners) l.onListening(true);
  }

  private scheduleReconnect(urls: ListenUrls): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect(urls).catch(() => this.scheduleReconnect(urls));
    }, 1000);
    this.retryTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    const client = this.client;
    this.client = undefined;
    for (const l of this.listeners) l.onListening(false);
    await client?.end().catch(() => undefined);
  }
}
