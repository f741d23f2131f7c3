import { Knex } from 'knex';

/**
 * Login attempts counted in the database, so every process sees the same numbers. The count is
 * incremented atomically before the password is checked: N parallel attempts cannot all slip in
 * under the limit.
 */
export class ThrottleRepository {
  constructor(private readonly db: Knex) {}

  /** Counts one attempt for each key, in one statement; returns each key's attempts in the current window. */
  async hit(keys: string[], windowSeconds: number): Promise<Map<string, { attempts: number; windowStartedAt: Date }>> {
    const { rows } = await this.db.raw<{ rows: Array<{ key: string; attempts: number; window_started_at: Date }> }>(
      `INSERT INTO login_throttles AS t (key, attempts, window_started_at)
       SELECT k, 1, now() FROM unnest(?::text[]) AS k
       ON CONFLICT (key) DO UPDATE SET
         attempts = CASE WHEN t.window_started_at < now() - make_interval(secs => ?) THEN 1 ELSE t.attempts + 1 END,
         window_started_at = CASE WHEN t.window_started_at < now() - make_interval(secs => ?) THEN now() ELSE t.window_started_at END
       RETURNING key, attempts, window_started_at`,
      [keys, windowSeconds, windowSeconds],
    );
    return new Map(rows.map((r) => [r.key, { attempts: r.attempts, windowStartedAt: r.window_started_at }]));
  }

  async clear(key: string): Promise<void> {
    await this.db('login_throttles').where({ key }).delete();
  }

  async deleteExpired(windowSeconds: number): Promise<number> {
    return this.db('login_throttles').where('window_started_at', '<', new Date(Date.now() - windowSeconds * 1000)).delete();
  }
}
