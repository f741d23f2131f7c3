import { Knex } from 'knex';
import { HotQueries } from '../oauth/store/hot-queries';
import { VISIBLE_TO_VIEWER } from '../recipes/recipe.repository';

export interface Bookmark {
  recipeId: number;
  title: string;
  summary: string;
  minutes: number | null;
  /** When the user bookmarked it (millisecond precision, see the migration). */
  createdAt: Date;
}

export interface BookmarkListQuery {
  userId: number;
  /** Keyset pagination: only bookmarks older than this (created_at, recipe_id). */
  before?: { createdAt: Date; recipeId: number };
  limit: number;
}

interface BookmarkRow {
  recipe_id: number;
  title: string;
  summary: string;
  minutes: number | null;
  created_at: Date;
}

const isForeignKeyViolation = (err: unknown) => (err as { code?: string })?.code === '23503';

/**
 * A page of a user's bookmarks, newest first, the recipe's visibility checked for the user. The
 * bearer API's busiest read after the token itself: one fixed statement per shape (first page,
 * next page), run as a hot query so PostgreSQL plans it once per connection, not on each call.
 */
const LIST_COLUMNS = `SELECT b.recipe_id, r.title, r.summary, r.minutes, b.created_at
   FROM bookmarks b JOIN recipes r ON r.id = b.recipe_id
  WHERE b.user_id = $1 AND ${VISIBLE_TO_VIEWER.replace('?', '$1')}`;
const LIST_FIRST = `${LIST_COLUMNS}
  ORDER BY b.created_at DESC, b.recipe_id DESC LIMIT $2`;
const LIST_AFTER = `${LIST_COLUMNS} AND (b.created_at, b.recipe_id) < ($3, $4)
  ORDER BY b.created_at DESC, b.recipe_id DESC LIMIT $2`;

export class BookmarkRepository {
  constructor(
    private readonly db: Knex,
    private readonly hot: HotQueries,
  ) {}

  /**
   * The user's bookmarks, newest first. A bookmarked recipe its author has since made private is
   * left out: the bookmark must not leak its title.
   */
  async list(q: BookmarkListQuery): Promise<Bookmark[]> {
    const rows = q.before
      ? await this.hot.query<BookmarkRow>('lb_bookmarks_after', LIST_AFTER, [q.userId, q.limit, q.before.createdAt, q.before.recipeId])
      : await this.hot.query<BookmarkRow>('lb_bookmarks_first', LIST_FIRST, [q.userId, q.limit]);
    return rows.map((r) => ({ recipeId: Number(r.recipe_id), title: r.title, summary: r.summary, minutes: r.minutes, createdAt: r.created_at }));
  }

  /**
   * Bookmarks the recipe when the user may see it, in one statement: a repeated or concurrent
   * call is a no-op (ON CONFLICT DO NOTHING) and keeps the first bookmark's time. Returns whether
   * the recipe is visible to the user, i.e. whether the bookmark now exists.
   */
  async add(userId: number, recipeId: number): Promise<boolean> {
    try {
      const { rows } = await this.db.raw<{ rows: Array<{ visible: boolean }> }>(
        `WITH visible AS (SELECT r.id FROM recipes r WHERE r.id = ? AND ${VISIBLE_TO_VIEWER}),
              added AS (INSERT INTO bookmarks (user_id, recipe_id) SELECT ?, id FROM visible ON CONFLICT DO NOTHING)
         SELECT EXISTS (SELECT 1 FROM visible) AS visible`,
        [recipeId, userId, userId],
      );
      return rows[0].visible;
    } catch (err) {
      // The recipe was deleted between the check and the insert.
      if (isForeignKeyViolation(err)) return false;
      throw err;
    }
  }

  async remove(userId: number, recipeId: number): Promise<void> {
    await this.db('bookmarks').where({ user_id: userId, recipe_id: recipeId }).delete();
  }
}
