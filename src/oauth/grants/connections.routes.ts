import { Router } from 'express';
import { requireLogin } from '../../auth/session';
import { idParam } from '../../http/params';
import { noStore } from '../../http/security-headers';
import { SCOPES, Scope } from '../scopes';
import { GrantService } from './grant.service';

/** Bridged links (issue 15): the ones their upstream ended, and the upstream revocation after a disconnect. */
export interface BridgedConnections {
  endedForUser(userId: number): Promise<Array<{ linkId: number; clientName: string; upstreamHost: string; endedAt: Date }>>;
  settleRevokedGrants(): Promise<number>;
}

/** The user's connected apps: each live link with its scopes and dates, and a Revoke button. */
export function connectionsRoutes(grants: GrantService, bridged?: BridgedConnections): Router {
  const router = Router();
  router.use('/account/connections', requireLogin, noStore);

  router.get('/account/connections', async (req, res) => {
    const connections = await grants.listForUser(req.user!.id);
    res.render('connections', {
      title: 'Connected apps',
      connections: connections.map((c) => ({ ...c, scopes: c.scope.map((s) => SCOPES[s as Scope] ?? s) })),
      revoked: req.query.revoked === '1',
      ended: bridged ? await bridged.endedForUser(req.user!.id) : [],
    });
  });

  router.post('/account/connections/:grantId/revoke', async (req, res) => {
    await grants.revokeOwn(req.user!.id, idParam(req.params.grantId));
    if (bridged) await bridged.settleRevokedGrants(); // a bridged link's upstream is told too
    res.redirect(303, '/account/connections?revoked=1');
  });

  return router;
}
