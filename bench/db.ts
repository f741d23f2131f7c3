import pg from 'pg';

/**
 * The benchmark's throwaway database: created on the machine's PostgreSQL under a name of its own
 * (linkbridge_bench_<timestamp>) and dropped at the end, also after a failure or Ctrl-C. No other
 * database is touched.
 */

export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export class BenchSetupError extends Error {}

export function databaseUrl(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

export async function connectAdmin(adminUrl: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    throw new BenchSetupError(
      [
        `Cannot connect to PostgreSQL at ${redactUrl(adminUrl)}: ${(err as Error).message}`,
        'The benchmark needs a PostgreSQL server where it may create (and drop) a throwaway database.',
        'Start one, or point the benchmark at one with a user allowed to CREATE DATABASE:',
        '  BENCH_DATABASE_URL=postgres://user:password@host:5432/postgres npm run bench',
      ].join('\n'),
    );
  }
  return client;
}

export function benchDatabaseName(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').replace(/\..*$/, '');
  return `linkbridge_bench_${stamp}_${process.pid}`;
}

export async function createDatabase(admin: pg.Client, name: string): Promise<void> {
  if (!/^linkbridge_bench_[0-9_]+$/.test(name)) throw new Error(`refusing to create database ${name}`);
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } catch (err) {
    throw new BenchSetupError(`Cannot create the benchmark database ${name}: ${(err as Error).message}\nThe user of BENCH_DATABASE_URL needs the CREATEDB privilege.`);
  }
}

/** Drops the benchmark's database, closing any connection still open to it. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  if (!/^linkbridge_bench_[0-9_]+$/.test(name)) throw new Error(`refusing to drop database ${name}`);
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
    if (Number(rows[0].v) >= 130000) {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } else {
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    }
  } finally {
    await admin.end();
  }
}
