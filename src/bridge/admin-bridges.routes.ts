import { RequestHandler, Router } from 'express';
import { requireLogin } from '../auth/session';
import { noStore } from '../http/security-headers';
import { ForbiddenError, NotFoundError } from '../lib/errors';
import { bridgeConsoleValues, bridgeJson, BridgeService } from './bridge.service';

const requireAdmin: RequestHandler = (req, _res, next) => {
  if (!req.user?.isAdmin) throw new ForbiddenError('Only administrators can see bridges.');
  next();
};

/**
 * /admin/bridges: every bridge with its upstream configuration and what to enter in the Alexa
 * console (never a secret: the upstream's is encrypted, ours was shown once). Bridges are
 * created and changed with `bridges:*` commands, which read the upstream secret from stdin.
 */
export function adminBridgeRoutes(bridges: BridgeService): Router {
  const router = Router();
  router.use('/admin/bridges', requireLogin, requireAdmin, noStore);

  router.get('/admin/bridges', async (_req, res) => {
    const list = await bridges.list();
    res.render('admin/bridges', { title: 'Bridges', bridges: list.map(bridgeJson) });
  });

  router.get('/admin/bridges/:name', async (req, res) => {
    const bridge = await bridges.findByName(String(req.params.name));
    if (!bridge) throw new NotFoundError('No such bridge.');
    const client = await bridges.clientOf(bridge);
    res.render('admin/bridges-show', {
      title: `Bridge ${bridge.name}`,
      bridge: bridgeJson(bridge),
      console: bridgeConsoleValues(bridge, client, null),
      liveLinks: await bridges.liveLinkCount(bridge),
    });
  });

  return router;
}
