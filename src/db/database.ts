import { Knex } from 'knex';
import { Config } from '../config/config';
import { logger } from '../lib/logger';
import { findRunningEmbedded, startEmbedded, EmbeddedDatabase } from './embedded';
import { createKnex } from './knex';
import { migrateLatest } from './migrate';

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
  const knex = createKnex({ url, poolMax: config.dbPoolMax, statementTimeoutMs: 15000 });
  try {
    if (opts.migrate) await migrateLatest(knex);
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
