import knexFactory, { Knex } from 'knex';
import pg from 'pg';
import { logger } from '../lib/logger';

// int8 (bigint) columns as JS numbers: they are ids and counts, far below 2^53. Set on our own
// connections only (pg's global parser table stays as it is). Timestamps stay Date objects.
const types = {
  getTypeParser: (oid: number, format: string) =>
    oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'),
};

export interface DbOptions {
  url: string;
  poolMax: number;
  /** Bound every statement so a stuck query answers an error instead of a hang. */
  statementTimeoutMs?: number;
}

/** The one knex pool of a process. */
export function createKnex(opts: DbOptions): Knex {
  return knexFactory({
    client: 'pg',
    connection: {
      connectionString: opts.url,
      connectionTimeoutMillis: 5000,
      types,
      // statement_timeout is a startup parameter, so no SET is needed (PGlite shares one session).
      ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {}),
    },
    pool: { min: 0, max: opts.poolMax, idleTimeoutMillis: 30000 },
    acquireConnectionTimeout: 5000,
    // knex prints to the console by default; its messages go to our logger instead.
    log: {
      warn: (m: unknown) => logger.warn({ knex: String(m) }, 'knex warning'),
      error: (m: unknown) => logger.debug({ knex: String(m) }, 'knex error'),
      debug: () => undefined,
      deprecate: (m: unknown) => logger.debug({ knex: String(m) }, 'knex deprecation'),
    },
  });
}
