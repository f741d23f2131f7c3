import { rmSync } from 'node:fs';
import pg from 'pg';
import type { EmbeddedDatabase } from '../../src/db/embedded';

type TestDb =
  | { kind: 'server'; serverUrl: string; name: string }
  | { kind: 'embedded'; embedded: EmbeddedDatabase; dataDir: string };

/** Drops only the database this run created (the machine's PostgreSQL is shared). */
export default async function globalTeardown(): Promise<void> {
  const db = (globalThis as Record<string, unknown>).__lbTestDb as TestDb | undefined;
  if (!db) return;
  if (db.kind === 'server') {
    const admin = new pg.Client({ connectionString: db.serverUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`);
    await admin.end();
  } else {
    await db.embedded.close();
    rmSync(db.dataDir, { recursive: true, force: true });
  }
}
