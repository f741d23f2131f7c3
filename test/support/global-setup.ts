import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbedded } from '../../src/db/embedded';
import { createKnex } from '../../src/db/knex';
import { migrateLatest } from '../../src/db/migrate';
import { reportChromium } from './chromium';

/**
 * One database for the run: a throwaway database on the PostgreSQL server named by
 * TEST_DATABASE_URL (or DATABASE_URL), or else an embedded PGlite in a temporary folder.
 * Workers find it in LB_TEST_DATABASE_URL. Tests create their own uniquely named data.
 */
export default async function globalSetup(): Promise<void> {
  reportChromium();
  const serverUrl = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  let url: string;
  if (serverUrl) {
    const name = `linkbridge_test_${Date.now()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const u = new URL(serverUrl);
    u.pathname = `/${name}`;
    url = u.toString();
    (globalThis as Record<string, unknown>).__lbTestDb = { kind: 'server', serverUrl, name };
  } else {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'linkbridge-test-'));
    const embedded = await startEmbedded({ dataDir, maxConnections: 500 });
    url = embedded.url;
    (globalThis as Record<string, unknown>).__lbTestDb = { kind: 'embedded', embedded, dataDir };
  }
  const knex = createKnex({ url, poolMax: 2 });
  await migrateLatest(knex);
  await knex.destroy();
  process.env.LB_TEST_DATABASE_URL = url;
  process.env.LB_TEST_DATABASE_KIND = serverUrl ? 'postgresql' : 'embedded';
  delete process.env.DATABASE_URL;
}
