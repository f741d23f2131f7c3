import { Knex } from 'knex';

/**
 * Login attempts counted in the database, so every process sees the same numbers. The count is
 * incremented atomically before the password is checked: N parallel attempts cannot all slip in
 * under the limit.
 */
export class ThrottleRepository {
  constructor(private readonly db: Knex) {}

  /** Counts one attempt for each key; returns each key's attempts in the current window. */
  async hit(keys: string[], windowSeconds: number): Promise<Map<string, { attempts: number; windowStartedAt: Date }>> {
    const result = new Map<string, { attempts: number; windowStartedAt: Date }>();
    for (const key of keys) {
      const { rows } = await this.db.raw<{ rows: Array<{ attempts: number; window_started_at: Date }> }>(
        `INSERT INTO login_throttles AS t (key, attempts, window_started_at) VALUES (?, 1, now())
         ON CONFLICT (key) DO UPDATE SET
           attempts = CASE WHEN t.window_started_at < now() - make_interval(secs => ?) THEN 1 ELSE t.attempts + 1 END,
           window_started_at = CASE WHEN t.window_started_at < now() - make_interval(secs => ?) THEN now() ELSE t.window_started_at END
         RETURNING attempts, window_started_at`,
        [key, windowSeconds, windowSeconds],
      );
      result.set(key, { attempts: rows[0].attempts, windowStartedAt: rows[0].window_started_at });
    }
    return result;
  }

  async clear(key: string): Promise<void> {
    await this.db('login_throttles').where({ key }).delete();
  }

  async deleteExpired(windowSeconds: number): Promise<number> {
    return this.db('login_throttles').where('window_started_at', '<', new Date(Date.now() - windowSeconds * 1000)).delete();
  }
}
