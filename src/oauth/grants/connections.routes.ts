import { Router } from 'express';
import { requireLogin } from '../../auth/session';
import { idParam } from '../../http/params';
import { noStore } from '../../http/security-headers';
import { SCOPES, Scope } from '../scopes';
import { GrantService } from './grant.service';

/** The user's connected apps: each live link with its scopes and dates, and a Revoke button. */
export function connectionsRoutes(grants: GrantService): Router {
  const router = Router();
  router.use('/account/connections', requireLogin, noStore);

  router.get('/account/connections', async (req, res) => {
    const connections = await grants.listForUser(req.user!.id);
    res.render('connections', {
      title: 'Connected apps',
      connections: connections.map((c) => ({ ...c, scopes: c.scope.map((s) => SCOPES[s as Scope] ?? s) })),
      revoked: req.query.revoked === '1',
    });
  });

  router.post('/account/connections/:grantId/revoke', async (req, res) => {
    await grants.revokeOwn(req.user!.id, idParam(req.params.grantId));
    res.redirect(303, '/account/connections?revoked=1');
  });

  return router;
}
