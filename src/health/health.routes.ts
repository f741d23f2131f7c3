import { Router } from 'express';
import { Knex } from 'knex';

/** /healthz: the process is up. /readyz: the database answers (503 when it does not). */
export function healthRoutes(knex: Knex): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    try {
      await Promise.race([
        knex.raw('select 1'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('readiness timeout')), 2000).unref()),
      ]);
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'unavailable', error: 'temporarily_unavailable', error_description: 'The database is not reachable.' });
    }
  });
  return router;
}
