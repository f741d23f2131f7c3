import { rejectNulBytes } from '../http/params';
import express, { Request, Response, Router } from 'express';
import { bookmarkApiRoutes } from '../bookmarks/bookmark.api.routes';
import { BookmarkService } from '../bookmarks/bookmark.service';
import { noStore } from '../http/security-headers';
import { BearerAuth } from '../oauth/access/bearer';
import { recipeApiRoutes } from '../recipes/recipe.api.routes';
import { RecipeService } from '../recipes/recipe.service';
import { ApiGuards, methodNotAllowed } from './api.support';
import { openApiDocument } from './openapi';

/**
 * /api: the bearer-protected JSON API a skill calls with the linked token. It has no session, no
 * cookies and no CSRF (it is mounted before the browser routes), so a session cookie alone never
 * reaches it. The token is checked before a body is parsed: an unauthenticated caller cannot make
 * us read 64 kB of JSON.
 */
export function apiRouter(deps: { publicUrl: string; bearer: BearerAuth; recipes: RecipeService; bookmarks: BookmarkService }): Router {
  const router = Router();
  // strict: only objects and arrays are JSON bodies (a bare string is a 400); the schemas refuse arrays.
  const jsonBody = express.json({ limit: '64kb', strict: true, type: 'application/json' });
  const guards: ApiGuards = {
    read: [deps.bearer.requireScope('read')],
    write: [deps.bearer.requireScope('write'), jsonBody, rejectNulBytes],
  };

  const document = openApiDocument(deps.publicUrl);
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

  router.use(recipeApiRoutes(deps.recipes, guards));
  router.use(bookmarkApiRoutes(deps.bookmarks, guards));
  return router;
}
