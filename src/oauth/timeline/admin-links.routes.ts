import { RequestHandler, Router } from 'express';
import { requireLogin } from '../../auth/session';
import { noStore } from '../../http/security-headers';
import { AppError, BadRequestError, ForbiddenError } from '../../lib/errors';
import { LINK_EVENT_LABELS } from './link-event';
import { LinkTimeline } from './link-timeline.service';

const requireAdmin: RequestHandler = (req, _res, next) => {
  if (!req.user?.isAdmin) throw new ForbiddenError('Only administrators can see links.');
  next();
};

/** One optional text parameter: absent or empty is undefined; repeated or too long is a 400. */
function textParam(query: Record<string, unknown>, name: string, max: number): string | undefined {
  const v = query[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw new BadRequestError(`Send ${name} once.`);
  const trimmed = v.trim();
  if (trimmed.length > max) throw new BadRequestError(`${name} is too long.`);
  return trimmed === '' ? undefined : trimmed;
}

/**
 * /admin/links: find a link by the user's email (each of their links with its timeline), by
 * client (its latest links), or both (that one link). Admins only; a search is a GET (no change).
 */
export function adminLinkRoutes(timeline: LinkTimeline): Router {
  const router = Router();
  router.use('/admin/links', requireLogin, requireAdmin, noStore);

  router.get('/admin/links', async (req, res) => {
    const query = req.query as Record<string, unknown>;
    const email = textParam(query, 'email', 254);
    const clientId = textParam(query, 'client_id', 200);
    const page = { title: 'Links', email: email ?? '', clientId: clientId ?? '', labels: LINK_EVENT_LABELS, found: undefined as unknown, byClient: undefined as unknown, error: undefined as string | undefined };
    try {
      if (email) page.found = await timeline.show(email, clientId);
      else if (clientId) page.byClient = await timeline.linksOfClient(clientId);
    } catch (err) {
      if (!(err instanceof AppError) || err.status !== 404) throw err;
      page.error = err.message;
      res.status(404);
    }
    res.render('admin/links', page);
  });

  return router;
}
