import { createHash, timingSafeEqual } from 'node:crypto';
import express, { Express, RequestHandler, Router } from 'express';
import { Registry } from 'prom-client';
import { logger } from '../lib/logger';

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Bearer METRICS_TOKEN, compared in constant time (both sides hashed to the same length first,
 * so neither the content nor the length of the configured token leaks through timing).
 */
export function metricsTokenCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = sha(token);
  return (authorization) => {
    const m = typeof authorization === 'string' ? /^Bearer +([^\s]+) *$/i.exec(authorization) : null;
    return timingSafeEqual(sha(m ? m[1] : ''), expected) && m !== null;
  };
}

function scrape(registry: Registry): RequestHandler {
  return async (_req, res) => {
    try {
      const body = await registry.metrics();
      res.setHeader('Content-Type', registry.contentType);
      res.setHeader('Cache-Control', 'no-store');
      res.status(200).send(body);
    } catch (err) {
      logger.error({ err }, 'metrics collection failed');
      res.status(500).type('text/plain').send('metrics collection failed\n');
    }
  };
}

/**
 * GET /metrics on the main port, for requests with `Authorization: Bearer <METRICS_TOKEN>`.
 * Answered here in plain text (401 with a Bearer challenge), not by the page error handler, and
 * mounted before the session: a scrape never gets a cookie.
 */
export function metricsRoutes(registry: Registry, token: string): Router {
  const router = Router();
  const allowed = metricsTokenCheck(token);
  router.all('/metrics', (req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET');
      res.status(405).type('text/plain').send('Use GET.\n');
      return;
    }
    if (!allowed(req.headers.authorization)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
      res.status(401).type('text/plain').send('A bearer token (METRICS_TOKEN) is required.\n');
      return;
    }
    next();
  });
  router.get('/metrics', scrape(registry));
  return router;
}

/** METRICS_PORT: /metrics alone, for the loopback interface (main.ts binds it to 127.0.0.1). */
export function createMetricsApp(registry: Registry): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', scrape(registry));
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Only /metrics is served here.\n');
  });
  return app;
}
