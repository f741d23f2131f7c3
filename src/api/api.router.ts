import { rejectNulBytes } from '../http/params';
import express, { Request, Response, Router } from 'express';
import { bookmarkApiRoutes } from '../bookmarks/bookmark.api.routes';
import { Config } from '../config/config';
import { noStore } from '../http/security-headers';
import { recipeApiRoutes } from '../recipes/recipe.api.routes';
import { Services } from '../services';
import { ApiGuards, methodNotAllowed } from './api.support';
import { openApiDocument } from './openapi';

/**
 * /api: the bearer-protected JSON API a skill calls with the linked token. It has no session, no
 * cookies and no CSRF (it is mounted before the browser routes), so a session cookie alone never
 * reaches it. The token is checked before a body is parsed: an unauthenticated caller cannot make
 * us read 64 kB of JSON.
 */
export function apiRouter({ config, services }: { config: Config; services: Services }): Router {
  const router = Router();
  // strict: only objects and arrays are JSON bodies (a bare string is a 400); the schemas refuse arrays.
  const jsonBody = express.json({ limit: '64kb', strict: true, type: 'application/json' });
  const guards: ApiGuards = {
    read: services.bearer.requireScope('read'),
    write: [...services.bearer.requireScope('write'), jsonBody, rejectNulBytes],
  };

  const document = openApiDocument(config.publicUrl);
  router.route('/openapi.json').get((_req, res) => res.json(document)).all(methodNotAllowed);

  // Everything else carries personal data: never cached.
  router.use(noStore);

  router
    .route('/me')
    // The validated token carries its user (a disabled user's tokens are revoked): no query.
    .get(guards.read, (req: Request, res: Response) => {
      const { id, name, email } = req.auth!.user;
      res.json({ id, name, email });
    })
    .all(methodNotAllowed);

  router.use(recipeApiRoutes(services.recipes, guards));
  router.use(bookmarkApiRoutes(services.bookmarks, guards));
  return router;
}
