import { Request, Response, Router } from 'express';
import { ApiGuards, methodNotAllowed, tokenUserId } from '../api/api.support';
import { idParam } from '../http/params';
import { Recipe, RecipeSummary } from './recipe.repository';
import { RecipeService } from './recipe.service';

/** The API's JSON for a recipe; list items leave out the steps. */
export function recipeJson(recipe: RecipeSummary | Recipe, viewerId: number) {
  return {
    id: recipe.id,
    title: recipe.title,
    summary: recipe.summary,
    ingredients: recipe.ingredients,
    ...('steps' in recipe ? { steps: recipe.steps } : {}),
    minutes: recipe.minutes,
    servings: recipe.servings,
    published: recipe.published,
    author: { id: recipe.authorId, name: recipe.authorName },
    mine: recipe.authorId === viewerId,
    bookmarked: recipe.bookmarked,
    created_at: recipe.createdAt.toISOString(),
    updated_at: recipe.updatedAt.toISOString(),
  };
}

/** /api/recipes: published recipes and the user's own; writes touch only the user's own. */
export function recipeApiRoutes(recipes: RecipeService, guard: ApiGuards): Router {
  const router = Router();

  router
    .route('/recipes')
    .get(guard.read, async (req: Request, res: Response) => {
      const userId = tokenUserId(req);
      const page = await recipes.list(userId, req.query);
      res.json({ items: page.items.map((r) => recipeJson(r, userId)), next_cursor: page.nextCursor });
    })
    .post(guard.write, async (req: Request, res: Response) => {
      const userId = tokenUserId(req);
      const recipe = await recipes.create(userId, req.body);
      res.status(201).location(`/api/recipes/${recipe.id}`).json(recipeJson(recipe, userId));
    })
    .all(methodNotAllowed);

  router
    .route('/recipes/:id')
    .get(guard.read, async (req: Request, res: Response) => {
      const userId = tokenUserId(req);
      res.json(recipeJson(await recipes.get(userId, idParam(req.params.id)), userId));
    })
    .patch(guard.write, async (req: Request, res: Response) => {
      const userId = tokenUserId(req);
      res.json(recipeJson(await recipes.update(userId, idParam(req.params.id), req.body), userId));
    })
    .delete(guard.write, async (req: Request, res: Response) => {
      await recipes.delete(tokenUserId(req), idParam(req.params.id));
      res.status(204).end();
    })
    .all(methodNotAllowed);

  return router;
}
