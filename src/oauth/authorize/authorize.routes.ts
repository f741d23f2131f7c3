import { Router } from 'express';
import { loginUrlFor } from '../../auth/return-to';
import { requireLogin } from '../../auth/session';
import { noStore } from '../../http/security-headers';
import { AuthorizeService } from './authorize.service';
import { errorRedirect, RedirectableError } from './redirect';
import { SCOPES, Scope } from '../scopes';

/**
 * GET /oauth/authorize validates, sends a signed-out user to log in and back, and shows the
 * consent page. POST /oauth/authorize (CSRF-checked) carries the opaque transaction id and the
 * decision. No GET ever grants.
 */
export function authorizeRoutes(authorize: AuthorizeService): Router {
  const router = Router();
  router.use('/oauth/authorize', noStore);

  router.get('/oauth/authorize', async (req, res) => {
    let validated;
    try {
      validated = await authorize.validate(req.query as Record<string, unknown>);
    } catch (err) {
      if (err instanceof RedirectableError) return res.redirect(302, errorRedirect(err));
      throw err; // not proven: the error page, never a redirect
    }
    if (!req.user) return res.redirect(302, loginUrlFor(req.originalUrl));
    const { client, request } = validated;
    const transactionId = await authorize.startConsent(req.user.id, client, request);
    res.render('consent', {
      title: `Connect ${client.name}`,
      clientName: client.name,
      scopes: request.scope.map((s) => ({ name: s, description: SCOPES[s as Scope] ?? s })),
      transactionId,
      implicit: request.responseType === 'token',
    });
  });

  router.post('/oauth/authorize', requireLogin, async (req, res) => {
    const body = req.body as Record<string, unknown>;
    try {
      const outcome = await authorize.decide(req.user!.id, body.transaction_id, body.decision);
      if (outcome.kind === 'oob') return res.render('oob-code', { title: 'Your authorization code', code: outcome.code, clientName: outcome.clientName });
      res.redirect(302, outcome.location);
    } catch (err) {
      if (err instanceof RedirectableError) return res.redirect(302, errorRedirect(err));
      throw err;
    }
  });

  return router;
}
