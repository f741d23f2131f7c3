import express, { RequestHandler, Router } from 'express';
import { rejectNulBytes } from '../../http/params';
import { noStore } from '../../http/security-headers';
import { oauthErrors } from '../../lib/errors';
import { authenticateClient, flatBody } from '../clients/client-auth';
import { ClientService } from '../clients/client.service';
import { GrantHandler } from './grant-types/grant-handler';
import { IntrospectService } from './introspect.service';
import { RevokeService } from './revoke.service';
import { Metrics } from '../../metrics/metrics';
import { createTokenEndpoint } from './token-endpoint';

const formOnly: RequestHandler = (req, _res, next) => {
  if (!req.is('application/x-www-form-urlencoded')) throw oauthErrors.invalidRequest('The request must be application/x-www-form-urlencoded.');
  next();
};

export interface TokenRouteDeps {
  clients: ClientService;
  grantTypes: GrantHandler[];
  revoke: RevokeService;
  introspect: IntrospectService;
  /** Token answers, reasons and latency (the metrics); none in tests that do not need them. */
  metrics?: Metrics;
}

/** POST /oauth/token, /oauth/revoke (RFC 7009) and /oauth/introspect (RFC 7662): JSON, no session. */
export function tokenRoutes(deps: TokenRouteDeps): Router {
  const router = Router();
  const token = createTokenEndpoint(deps);
  const form: RequestHandler[] = [express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 }), rejectNulBytes];
  const endpoints = ['/oauth/token', '/oauth/revoke', '/oauth/introspect'];

  router.use(endpoints, noStore); // RFC 6749 §5.1: token answers are never cached
  router.all(endpoints, (req, res, next) => {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      res.status(405).json({ error: 'invalid_request', error_description: 'Use POST.' });
      return;
    }
    next();
  });

  router.post('/oauth/token', ...form, async (req, res) => {
    res.status(200).json(await token(req));
  });

  router.post('/oauth/revoke', formOnly, ...form, async (req, res) => {
    const body = flatBody(req);
    const client = await authenticateClient(req, body, deps.clients);
    if (!body.token) throw oauthErrors.invalidRequest('The token parameter is missing.');
    await deps.revoke.revoke(client, body.token);
    res.status(200).json({});
  });

  router.post('/oauth/introspect', formOnly, ...form, async (req, res) => {
    const body = flatBody(req);
    const client = await authenticateClient(req, body, deps.clients, { confidential: true });
    if (!body.token) throw oauthErrors.invalidRequest('The token parameter is missing.');
    res.status(200).json(await deps.introspect.introspect(client, body.token));
  });

  return router;
}
