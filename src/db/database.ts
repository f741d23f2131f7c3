import { Knex } from 'knex';
import { Config } from '../config/config';
import { logger } from '../lib/logger';
import { findRunningEmbedded, startEmbedded, EmbeddedDatabase } from './embedded';
import { createKnex } from './knex';
import { migrateLatest } from './migrate';

const STATEMENT_TIMEOUT_MS = 15000;

export interface Database {
  knex: Knex;
  /** True when this process owns an embedded PGlite. */
  embedded: boolean;
  close(): Promise<void>;
}

/**
 * Opens the process's database: DATABASE_URL when set; otherwise the embedded PGlite in
 * DATA_DIR. `mode: 'server'` owns the folder (lock, published socket); `mode: 'cli'` reuses a
 * running server's socket when there is one and opens the folder itself only when there is not.
 */
export async function openDatabase(
  config: Config,
  opts: { mode: 'server' | 'cli'; migrate: boolean },
): Promise<Database> {
  let embedded: EmbeddedDatabase | undefined;
  let url = config.databaseUrl;
  if (!url && opts.mode === 'cli') url = findRunningEmbedded(config.dataDir);
  if (!url) {
    embedded = await startEmbedded({
      dataDir: config.dataDir,
      publish: opts.mode === 'server',
      onCreate: () => logger.info({ dataDir: config.dataDir }, 'creating the embedded database (first start takes a few seconds)'),
    });
    url = embedded.url;
  }
  // statement_timeout travels as a startup parameter, which PgBouncer refuses ("unsupported
  // startup parameter") and could not honour anyway: its server sessions are shared. Behind a
  // transaction pooler the bound comes from the role or database instead (checked below).
  const pooled = config.databasePooling === 'transaction';
  const knex = createKnex({ url, poolMax: config.dbPoolMax, statementTimeoutMs: pooled ? undefined : STATEMENT_TIMEOUT_MS });
  try {
    if (opts.migrate) await migrateLatest(knex);
    if (pooled && opts.mode === 'server') await warnWithoutStatementTimeout(knex);
  } catch (err) {
    await knex.destroy();
    await embedded?.close();
    throw err;
  }
  return {
    knex,
    embedded: embedded !== undefined,
    async close() {
      await knex.destroy();
      await embedded?.close();
    },
  };
}

/**
 * Behind a transaction pooler the server sessions' own statement_timeout applies: say so when it
 * is off, with the fix (a role setting reaches every session the pooler opens as that role).
 */
async function warnWithoutStatementTimeout(knex: Knex): Promise<void> {
  const { rows } = await knex.raw<{ rows: Array<{ statement_timeout: string }> }>('SHOW statement_timeout');
  if (rows[0]?.statement_timeout === '0') {
    logger.warn(
      { fix: `ALTER ROLE <DATABASE_URL's user> SET statement_timeout = '${STATEMENT_TIMEOUT_MS / 1000}s'` },
      'DATABASE_POOLING=transaction: statements have no time limit (statement_timeout is 0 on the server sessions); set it on the role or database',
    );
  }
}
