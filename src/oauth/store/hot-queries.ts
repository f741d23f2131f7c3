import { Knex } from 'knex';
import type { PoolClient } from 'pg';

/**
 * The few statements on the hot paths (token validation, refresh, code exchange) run as named
 * prepared statements straight on a pooled pg connection: no query building, and PostgreSQL
 * plans each once per connection instead of on every request (the refresh statement's planning
 * cost PostgreSQL more CPU than running it). The embedded PGlite is a single session shared by
 * every connection, where one connection's prepared name would clash with another's, so there
 * they run unnamed. Same pool as knex.
 */
export class HotQueries {
  private named: Promise<boolean> | undefined;

  constructor(private readonly knex: Knex) {}

  private async useNames(): Promise<boolean> {
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
