import { Knex } from 'knex';
import type { PoolClient } from 'pg';

export interface HotQueriesOptions {
  /**
   * `transaction`: DATABASE_URL is a transaction pooler (PgBouncer pool_mode = transaction), so
   * statements are never named. A named statement is prepared on one server session, but the
   * pooler may send the connection's next statement to another one: pg then skips the Parse it
   * believes done ("prepared statement ... does not exist"), or a second connection prepares the
   * same name on a session that already has it ("... already exists"). PgBouncer 1.18 does not
   * track prepared statements (1.21's max_prepared_statements does; we do not rely on it).
   */
  pooling?: 'session' | 'transaction';
}

/**
 * The few statements on the hot paths (token validation, refresh, code exchange) run straight on
 * a pooled pg connection: no query building. Where each pooled connection is its own PostgreSQL
 * session they are named prepared statements, so PostgreSQL plans each once per connection
 * instead of on every request (the refresh statement's planning cost PostgreSQL more CPU than
 * running it). They run unnamed behind a transaction pooler (above) and on the embedded PGlite,
 * a single session shared by every connection, where one connection's prepared name would clash
 * with another's. Same pool as knex.
 */
export class HotQueries {
  private named: Promise<boolean> | undefined;

  constructor(
    private readonly knex: Knex,
    private readonly opts: HotQueriesOptions = {},
  ) {}

  private async useNames(): Promise<boolean> {
    if (this.opts.pooling === 'transaction') return false;
    this.named ??= this.knex
      .raw<{ rows: Array<{ version: string }> }>('SELECT version()')
      .then((r) => !/PGlite|emscripten/i.test(r.rows[0]?.version ?? ''))
      .catch((err) => {
        this.named = undefined; // ask again next time
        throw err;
      });
    return this.named;
  }

  async query<T>(name: string, text: string, values: unknown[]): Promise<T[]> {
    const named = await this.useNames();
    const client = (await this.knex.client.acquireConnection()) as PoolClient;
    try {
      const result = await client.query<T & object>(named ? { name, text, values } : { text, values });
      return result.rows;
    } finally {
      await this.knex.client.releaseConnection(client);
    }
  }
}
