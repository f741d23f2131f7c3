import express, { Express } from 'express';
import { errorHandler } from '../../src/http/error-handler';
import { TestContext } from './context';

/** A tiny resource server using the app's bearer middleware, for tests of tokens themselves. */
export function bearerProbeApp(ctx: TestContext): Express {
  const app = express();
  app.get('/api/probe', ctx.services.bearer.requireScope('read'), (req, res) => res.json(req.auth));
  app.post('/api/probe', ctx.services.bearer.requireScope('write'), (req, res) => res.json(req.auth));
  app.use(errorHandler);
  return app;
}
