import express, { RequestHandler, Router } from 'express';
import { rejectNulBytes } from '../http/params';
import { noStore } from '../http/security-headers';
import { oauthErrors } from '../lib/errors';
import { authenticateClient, flatBody } from './client-auth';
import { ClientService } from './client.service';
import { createTokenEndpoint } from './oauth2-adapter';
import { TokenService } from './token.service';

const formOnly: RequestHandler = (req, _res, next) => {
  if (!req.is('application/x-www-form-urlencoded')) throw oauthErrors.invalidRequest('The request must be application/x-www-form-urlencoded.');
  next();
};

/** POST /oauth/token, /oauth/revoke (RFC 7009) and /oauth/introspect (RFC 7662): JSON, no session. */
export function tokenRoutes(deps: { clients: ClientService; tokens: TokenService; accessTokenTtlSeconds: number; issuer: string }): Router {
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
    const result = await token(req);
    res.status(200).json(result.body);
  });

  router.post('/oauth/revoke', formOnly, ...form, async (req, res) => {
    const body = flatBody(req);
    const client = await authenticateClient(req, body, deps.clients);
    if (!body.token) throw oauthErrors.invalidRequest('The token parameter is missing.');
    await deps.tokens.revoke(client, body.token);
    res.status(200).json({});
  });

  router.post('/oauth/introspect', formOnly, ...form, async (req, res) => {
    const body = flatBody(req);
    const client = await authenticateClient(req, body, deps.clients);
    if (client.secretHash === null) throw oauthErrors.invalidClient('Introspection needs a confidential client.');
    if (!body.token) throw oauthErrors.invalidRequest('The token parameter is missing.');
    res.status(200).json(await deps.tokens.introspect(client, body.token, deps.issuer));
  });

  return router;
}
