import { Knex } from 'knex';
import pg from 'pg';
import { logger } from '../lib/logger';

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

/**
 * Tells every process that something was revoked, so their in-process caches of validated tokens
 * and clients drop it at once. The NOTIFY is sent in the revoking transaction, so PostgreSQL
 * delivers it exactly when the change commits (and never if it rolls back). The local listeners
 * are told immediately too.
 */
export class RevocationBus {
  private readonly listeners: RevocationListener[] = [];
  private client: pg.Client | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  subscribe(listener: RevocationListener): void {
    this.listeners.push(listener);
  }

  async publish(event: RevocationEvent, db: Knex | Knex.Transaction): Promise<void> {
    const size = (event.grants?.length ?? 0) + (event.tokens?.length ?? 0) + (event.clients?.length ?? 0);
    if (size === 0 && !event.flush) return;
    const payload = size > MAX_IDS ? { flush: true } : event;
    for (const l of this.listeners) l.onRevocation(payload);
    await db.raw('SELECT pg_notify(?, ?)', [REVOCATION_CHANNEL, JSON.stringify(payload)]);
  }

  /** Listens on a dedicated connection (not from the pool), reconnecting when it drops. */
  async start(databaseUrl: string): Promise<void> {
    this.stopped = false;
    await this.connect(databaseUrl).catch((err) => {
      logger.warn({ err }, 'revocation listener could not connect; token caching stays off until it does');
      this.scheduleReconnect(databaseUrl);
    });
  }

  private async connect(databaseUrl: string): Promise<void> {
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000, keepAlive: true });
    const lost = (err?: unknown) => {
      if (this.client !== client) return;
      this.client = undefined;
      for (const l of this.listeners) l.onListening(false);
      if (!this.stopped) {
        logger.warn({ err }, 'revocation listener lost its connection; token caching is off until it reconnects');
        this.scheduleReconnect(databaseUrl);
      }
      client.end().catch(() => undefined);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (msg) => {
      if (msg.channel !== REVOCATION_CHANNEL || !msg.payload) return;
      let event: RevocationEvent & { probe?: string };
      try {
        event = JSON.parse(msg.payload) as RevocationEvent & { probe?: string };
      } catch {
        event = { flush: true };
      }
      if (event.probe) return;
      for (const l of this.listeners) l.onRevocation(event);
    });
    await client.connect();
    await client.query(`LISTEN ${REVOCATION_CHANNEL}`);
    if (!(await this.probe(client, databaseUrl))) {
      // Notifications sent from other connections do not reach us (a single-session server such
      // as an embedded PGlite behind DATABASE_URL): caching would be unsafe, so it stays off.
      logger.warn('revocation notifications do not arrive on this database; token caching stays off');
      await client.end().catch(() => undefined);
      this.stopped = true;
      return;
    }
    if (this.stopped) {
      await client.end();
      return;
    }
    this.client = client;
    for (const l of this.listeners) l.onListening(true);
  }

  /** Sends a NOTIFY from another connection and waits for it to arrive on the listener. */
  private async probe(listener: pg.Client, databaseUrl: string): Promise<boolean> {
    const nonce = Math.random().toString(36).slice(2);
    const arrived = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 2000);
      const onNotification = (msg: pg.Notification) => {
        if (msg.channel === REVOCATION_CHANNEL && msg.payload?.includes(nonce)) {
          clearTimeout(timer);
          listener.off('notification', onNotification);
          resolve(true);
        }
      };
      listener.on('notification', onNotification);
    });
    const sender = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
    try {
      await sender.connect();
      await sender.query('SELECT pg_notify($1, $2)', [REVOCATION_CHANNEL, JSON.stringify({ probe: nonce })]);
    } finally {
      await sender.end().catch(() => undefined);
    }
    return arrived;
  }

  private scheduleReconnect(databaseUrl: string): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect(databaseUrl).catch(() => this.scheduleReconnect(databaseUrl));
    }, 1000);
    this.retryTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    for (const l of this.listeners) l.onListening(false);
    await client?.end().catch(() => undefined);
  }
}
