import session from 'express-session';
import { Knex } from 'knex';

/**
 * express-session store on our knex pool (one pool per process, the table comes from our own
 * migrations, and no timers: expired rows are ignored on read and removed by `tokens:cleanup`).
 */
export class KnexSessionStore extends session.Store {
  constructor(
    private readonly knex: Knex,
    private readonly ttlSeconds: number,
  ) {
    super();
  }

  private expiry(sess: session.SessionData): Date {
    const cookieExpiry = sess.cookie?.expires ? new Date(sess.cookie.expires) : undefined;
    return cookieExpiry && !Number.isNaN(cookieExpiry.getTime()) ? cookieExpiry : new Date(Date.now() + this.ttlSeconds * 1000);
  }

  override get(sid: string, cb: (err: unknown, session?: session.SessionData | null) => void): void {
    this.knex('sessions')
      .select('sess')
      .where({ sid })
      .andWhere('expires_at', '>', new Date())
      .first()
      .then((row: { sess: session.SessionData } | undefined) => cb(null, row ? row.sess : null), cb);
  }

  override set(sid: string, sess: session.SessionData, cb?: (err?: unknown) => void): void {
    this.knex('sessions')
      // user_id mirrors sess.userId, so a user's sessions can be found (and signed out) at once.
      .insert({ sid, sess: JSON.stringify(sess), expires_at: this.expiry(sess), user_id: typeof sess.userId === 'number' ? sess.userId : null })
      .onConflict('sid')
      .merge()
      .then(() => cb?.(), (err: unknown) => cb?.(err));
  }

  override touch(sid: string, sess: session.SessionData, cb?: (err?: unknown) => void): void {
    this.knex('sessions')
      .where({ sid })
      .update({ expires_at: this.expiry(sess) })
      .then(() => cb?.(), (err: unknown) => cb?.(err));
  }

  override destroy(sid: string, cb?: (err?: unknown) => void): void {
    this.knex('sessions')
      .where({ sid })
      .delete()
      .then(() => cb?.(), (err: unknown) => cb?.(err));
  }
}

/** Sessions past their expiry (tokens:cleanup). */
export class SessionRepository {
  constructor(private readonly knex: Knex) {}

  deleteExpired(now: Date): Promise<number> {
    return this.knex('sessions').where('expires_at', '<', now).delete();
  }

  /** Signs the user out everywhere, except in the session `exceptSid` (the browser that asked). */
  deleteForUser(trx: Knex | Knex.Transaction, userId: number, exceptSid?: string): Promise<number> {
    const q = trx('sessions').where({ user_id: userId });
    return (exceptSid ? q.whereNot({ sid: exceptSid }) : q).delete();
  }
}
