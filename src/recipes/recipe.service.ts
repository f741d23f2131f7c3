import { Knex } from 'knex';
import { parseInput } from '../lib/validation';
import { NotFoundError } from '../lib/errors';
import { Page, toPage } from '../lib/pagination';
import { Recipe, RecipeRepository, RecipeSummary } from './recipe.repository';
import { recipeInputSchema, recipeListQuerySchema, recipePatchSchema } from './recipe.schemas';

/** A private recipe of someone else answers exactly like one that does not exist. */
export const recipeNotFound = () => new NotFoundError('This recipe does not exist.');

/** Recipes for the API and the website; every method acts as one user (the viewer or author). */
export class RecipeService {
  constructor(
    private readonly db: Knex,
    private readonly recipes: RecipeRepository,
  ) {}

  /** `query` holds the raw parameters: q, mine, limit, cursor (strings, as in a query string). */
  async list(viewerId: number, query: unknown): Promise<Page<RecipeSummary>> {
    const { q, mine, limit, cursor } = parseInput(recipeListQuerySchema, query);
    const rows = await this.recipes.list({ viewerId, search: q || undefined, mineOnly: mine, beforeId: cursor?.id, limit: limit + 1 });
    return toPage(rows, limit, (last) => ({ id: last.id }));
  }

  async get(viewerId: number, id: number): Promise<Recipe> {
    const recipe = await this.recipes.findVisible(id, viewerId);
    if (!recipe) throw recipeNotFound();
    return recipe;
  }

  /** The author's own recipe (for editing); anyone else's is not found. */
  async getOwn(authorId: number, id: number): Promise<Recipe> {
    const recipe = await this.get(authorId, id);
    if (recipe.authorId !== authorId) throw recipeNotFound();
    return recipe;
  }

  async create(authorId: number, input: unknown): Promise<Recipe> {
    const data = parseInput(recipeInputSchema, input);
    const id = await this.recipes.create(authorId, data);
    return this.get(authorId, id);
  }

  async update(authorId: number, id: number, input: unknown): Promise<Recipe> {
    const patch = parseInput(recipePatchSchema, input);
    if (!(await this.recipes.update(id, authorId, patch))) throw recipeNotFound();
    return this.get(authorId, id);
  }

  async delete(authorId: number, id: number): Promise<void> {
    if (!(await this.recipes.delete(id, authorId))) throw recipeNotFound();
  }

  /**
   * Adds the recipes the author does not have yet (matched by title), so loading demo data twice
   * does not duplicate it. Every recipe is validated like one sent to the API.
   */
  async addMissing(authorId: number, inputs: unknown[]): Promise<{ created: number; existing: number }> {
    const recipes = inputs.map((input) => parseInput(recipeInputSchema, input));
    return this.db.transaction(async (trx) => {
      const titles = new Set(await this.recipes.titlesByAuthor(authorId, trx));
      let created = 0;
      for (const recipe of recipes) {
        if (titles.has(recipe.title)) continue;
        await this.recipes.create(authorId, recipe, trx);
        titles.add(recipe.title);
        created++;
      }
      return { created, existing: recipes.length - created };
    });
  }
}
