import { Request, Response, Router } from 'express';
import { ApiGuards, methodNotAllowed, tokenUserId } from '../api/api.support';
import { idParam } from '../http/params';
import { BookmarkService } from './bookmark.service';

/** /api/bookmarks: the user's bookmarks; PUT and DELETE are idempotent (204 every time). */
export function bookmarkApiRoutes(bookmarks: BookmarkService, guard: ApiGuards): Router {
  const router = Router();

  router
    .route('/bookmarks')
    .get(guard.read, async (req: Request, res: Response) => {
      const page = await bookmarks.list(tokenUserId(req), req.query);
      res.json({
        items: page.items.map((b) => ({ recipe_id: b.recipeId, title: b.title, summary: b.summary, minutes: b.minutes, created_at: b.createdAt.toISOString() })),
        next_cursor: page.nextCursor,
      });
    })
    .all(methodNotAllowed);

  router
    .route('/bookmarks/:recipeId')
    .put(guard.write, async (req: Request, res: Response) => {
      await bookmarks.add(tokenUserId(req), idParam(req.params.recipeId));
      res.status(204).end();
    })
    .delete(guard.write, async (req: Request, res: Response) => {
      await bookmarks.remove(tokenUserId(req), idParam(req.params.recipeId));
      res.status(204).end();
    })
    .all(methodNotAllowed);

  return router;
}
