import express from 'express';
import { createServer } from 'node:http';
import pg from 'pg';
import { serveChild } from './child';

/**
 * The floor: what one database round trip per request costs on this machine. A bare Express
 * route doing one indexed SELECT by a 32-byte hash (hex) on a bare `pg` pool with a named prepared
 * statement: no knex, no middleware, no logging. Run as a child process by bench/run.ts
 * (FLOOR_DATABASE_URL, FLOOR_PORT); it reports readiness over IPC.
 */

const url = process.env.FLOOR_DATABASE_URL;
const port = Number(process.env.FLOOR_PORT ?? 0);
if (!url) {
  process.stderr.write('FLOOR_DATABASE_URL is required\n');
  process.exit(2);
}

const pool = new pg.Pool({ connectionString: url, max: Number(process.env.FLOOR_POOL_MAX ?? 10) });
const BY_HASH = 'SELECT id, grant_id, scope, expires_at FROM oauth_access_tokens WHERE token_hash = $1';

const app = express();
app.disable('x-powered-by');
app.get('/floor/:hash', async (req, res) => {
  const { rows } = await pool.query({ name: 'floor_by_hash', text: BY_HASH, values: [req.params.hash] });
  if (rows.length === 0) {
    res.status(404).json({ error: 'not_found' });
    return;
  }
  res.json(rows[0]);
});

serveChild(createServer(app), port, pool).catch((err: Error) => {
  process.stderr.write(`floor failed: ${err.message}\n`);
  process.exit(1);
});
