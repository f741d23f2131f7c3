import { Request, Router } from 'express';
import { requireLogin } from '../auth/session';
import { safeReturnTo } from '../auth/return-to';
import { idParam } from '../http/params';
import { BookmarkService } from './bookmark.service';

/** Where to go after a bookmark button: back to the page it was on (same-origin only), else the recipe. */
const backTo = (req: Request, recipeId: number) => safeReturnTo((req.body as Record<string, unknown>)?.return_to, `/recipes/${recipeId}`);

/** The bookmarks page and the Bookmark / Remove bookmark buttons of the recipe pages. */
export function bookmarkWebRoutes(bookmarks: BookmarkService): Router {
  const router = Router();

  router.get('/bookmarks', requireLogin, async (req, res) => {
    const page = await bookmarks.list(req.user!.id, { cursor: req.query.cursor });
    const more = page.nextCursor && `/bookmarks?${new URLSearchParams({ cursor: page.nextCursor })}`;
    res.render('bookmarks', { title: 'Your bookmarks', items: page.items, more });
  });

  router.post('/recipes/:id/bookmark', requireLogin, async (req, res) => {
    const recipeId = idParam(req.params.id);
    await bookmarks.add(req.user!.id, recipeId);
    res.redirect(303, backTo(req, recipeId));
  });

  router.post('/recipes/:id/unbookmark', requireLogin, async (req, res) => {
    const recipeId = idParam(req.params.id);
    await bookmarks.remove(req.user!.id, recipeId);
    res.redirect(303, backTo(req, recipeId));
  });

  return router;
}
