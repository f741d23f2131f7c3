import pg from 'pg';
import { testDatabaseUrl } from '../support/context';

/**
 * The embedded database is one Postgres session behind a socket. Several pools (a server, the
 * CLI, test workers) must be able to use it at once without their queries interleaving. This
 * runs on the run's own database: the embedded one by default (started outside jest's sandbox,
 * which cannot load PGlite), PostgreSQL when configured.
 */
describe('database under concurrent connections', () => {
  const table = `conc_${Date.now()}_${process.pid}`;

  it('when three pools run parameterized queries and transactions at once, then every answer is right and no query fails', async () => {
    const pools = [1, 2, 3].map(() => new pg.Pool({ connectionString: testDatabaseUrl(), max: 4 }));
    try {
      await pools[0].query(`CREATE TABLE ${table} (v int)`);
      let wrong = 0;
      let failed = 0;
      await Promise.all(
        Array.from({ length: 600 }, async (_, i) => {
          const pool = pools[i % 3];
          try {
            if (i % 3 === 0) {
              const c = await pool.connect();
              try {
                await c.query('BEGIN');
                await c.query(`INSERT INTO ${table} (v) VALUES ($1)`, [i]);
                if ((await c.query('SELECT $1::int AS x', [i])).rows[0].x !== i) wrong++;
                if (i % 7 === 0) {
                  await c.query('SELECT 1/0').catch(() => undefined);
                  await c.query('ROLLBACK');
                } else await c.query('COMMIT');
              } finally {
                c.release();
              }
            } else {
              const r = await pool.query('SELECT $1::int AS x, $2::text AS y', [i, `v${i}`]);
              if (r.rows[0].x !== i || r.rows[0].y !== `v${i}`) wrong++;
            }
          } catch {
            failed++;
          }
        }),
      );
      expect(wrong).toBe(0);
      expect(failed).toBe(0);
      const expected = Array.from({ length: 600 }, (_, i) => i).filter((i) => i % 3 === 0 && i % 7 !== 0).length;
      expect((await pools[1].query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n).toBe(expected);
    } finally {
      await pools[0].query(`DROP TABLE IF EXISTS ${table}`);
      await Promise.all(pools.map((p) => p.end()));
    }
  }, 60000);
});
