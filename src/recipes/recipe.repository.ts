import { Knex } from 'knex';

type Db = Knex | Knex.Transaction;

/** A recipe as lists show it: everything but the steps. */
export interface RecipeSummary {
  id: number;
  authorId: number;
  authorName: string;
  title: string;
  summary: string;
  ingredients: string[];
  minutes: number | null;
  servings: number | null;
  published: boolean;
  /** Whether the viewer has bookmarked it. */
  bookmarked: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface Recipe extends RecipeSummary {
  /** In order. */
  steps: string[];
}

export interface RecipeData {
  title: string;
  summary: string;
  ingredients: string[];
  steps: string[];
  minutes: number | null;
  servings: number | null;
  published: boolean;
}

export interface RecipeListQuery {
  viewerId: number;
  /** Full-text search (websearch syntax) over title, summary and ingredients. */
  search?: string;
  mineOnly: boolean;
  /** Keyset pagination: only recipes with a smaller id. */
  beforeId?: number;
  limit: number;
}

/**
 * Who may see a recipe: everyone when it is published, else only its author. `r` is the recipes
 * alias and the one binding is the viewer's id. Bookmarks use the same rule.
 */
export const VISIBLE_TO_VIEWER = '(r.is_published OR r.author_id = ?)';

interface RecipeRow {
  id: number;
  author_id: number;
  author_name: string;
  title: string;
  summary: string;
  ingredients: string[];
  steps?: string[];
  minutes: number | null;
  servings: number | null;
  is_published: boolean;
  bookmarked: boolean;
  created_at: Date;
  updated_at: Date;
}

function toSummary(r: RecipeRow): RecipeSummary {
  return {
    id: Number(r.id),
    authorId: Number(r.author_id),
    authorName: r.author_name,
    title: r.title,
    summary: r.summary,
    ingredients: r.ingredients,
    minutes: r.minutes,
    servings: r.servings,
    published: r.is_published,
    bookmarked: r.bookmarked,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const toRecipe = (r: RecipeRow): Recipe => ({ ...toSummary(r), steps: r.steps ?? [] });

const SUMMARY_COLUMNS = ['r.id', 'r.author_id', 'u.name as author_name', 'r.title', 'r.summary', 'r.ingredients', 'r.minutes', 'r.servings', 'r.is_published', 'r.created_at', 'r.updated_at'];

function toColumns(data: Partial<RecipeData>): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  if (data.title !== undefined) columns.title = data.title;
  if (data.summary !== undefined) columns.summary = data.summary;
  if (data.ingredients !== undefined) columns.ingredients = data.ingredients;
  if (data.steps !== undefined) columns.steps = data.steps;
  if (data.minutes !== undefined) columns.minutes = data.minutes;
  if (data.servings !== undefined) columns.servings = data.servings;
  if (data.published !== undefined) columns.is_published = data.published;
  return columns;
}

export class RecipeRepository {
  constructor(private readonly db: Knex) {}

  /** Recipes the viewer may see, with the author's name and the viewer's bookmark flag. */
  private visibleTo(viewerId: number) {
    return this.db('recipes as r')
      .join('users as u', 'u.id', 'r.author_id')
      .whereRaw(VISIBLE_TO_VIEWER, [viewerId])
      .select(SUMMARY_COLUMNS)
      .select(this.db.raw('EXISTS (SELECT 1 FROM bookmarks b WHERE b.recipe_id = r.id AND b.user_id = ?) AS bookmarked', [viewerId]));
  }

  /** Newest first (by id: stable, and what the cursor holds). */
  async list(q: RecipeListQuery): Promise<RecipeSummary[]> {
    const query = this.visibleTo(q.viewerId).orderBy('r.id', 'desc').limit(q.limit);
    if (q.mineOnly) query.where('r.author_id', q.viewerId);
    if (q.search) query.whereRaw("r.search @@ websearch_to_tsquery('english', ?)", [q.search]);
    if (q.beforeId !== undefined) query.where('r.id', '<', q.beforeId);
    const rows: RecipeRow[] = await query;
    return rows.map(toSummary);
  }

  async findVisible(id: number, viewerId: number): Promise<Recipe | undefined> {
    const row: RecipeRow | undefined = await this.visibleTo(viewerId).select('r.steps').where('r.id', id).first();
    return row ? toRecipe(row) : undefined;
  }

  async create(authorId: number, data: RecipeData, trx: Db = this.db): Promise<number> {
    const [row] = await trx('recipes')
      .insert({ author_id: authorId, ...toColumns(data) })
      .returning('id');
    return Number((row as { id: number }).id);
  }

  /** Changes the author's own recipe; false when there is no such recipe of theirs. */
  async update(id: number, authorId: number, data: Partial<RecipeData>): Promise<boolean> {
    const n = await this.db('recipes')
      .where({ id, author_id: authorId })
      .update({ ...toColumns(data), updated_at: this.db.fn.now() });
    return n > 0;
  }

  /** Deletes the author's own recipe (its bookmarks go with it); false when there is none. */
  async delete(id: number, authorId: number): Promise<boolean> {
    const n = await this.db('recipes').where({ id, author_id: authorId }).delete();
    return n > 0;
  }

  async titlesByAuthor(authorId: number, trx: Db = this.db): Promise<string[]> {
    const rows: Array<{ title: string }> = await trx('recipes').where({ author_id: authorId }).select('title');
    return rows.map((r) => r.title);
  }
}
