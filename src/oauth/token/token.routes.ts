import { RequestHandler, Router } from 'express';
import { noStore } from '../../http/security-headers';
import { oauthErrors } from '../../lib/errors';
import { authenticateClient, flatBody } from '../clients/client-auth';
import { ClientService } from '../clients/client.service';
import { formBody, isFormBody } from './form-body';
import { GrantHandler } from './grant-types/grant-handler';
import { IntrospectService } from './introspect.service';
import { RevokeService } from './revoke.service';
import { createTokenEndpoint } from './token-endpoint';

const formOnly: RequestHandler = (req, _res, next) => {
  if (!isFormBody(req)) throw oauthErrors.invalidRequest('The request must be application/x-www-form-urlencoded (or multipart/form-data).');
  next();
};

export interface TokenRouteDeps {
  clients: ClientService;
  grantTypes: GrantHandler[];
  revoke: RevokeService;
  introspect: IntrospectService;
}

/** POST /oauth/token, /oauth/revoke (RFC 7009) and /oauth/introspect (RFC 7662): JSON, no session. */
export function tokenRoutes(deps: TokenRouteDeps): Router {
  const router = Router();
  const token = createTokenEndpoint(deps);
  // Form bodies, or the same as multipart/form-data (curl -F): 16 kB, 50 parameters, no NUL.
  const form: RequestHandler[] = formBody;
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
