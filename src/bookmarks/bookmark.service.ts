import { z } from 'zod';
import { parseInput } from '../lib/validation';
import { Page, pageQuerySchema, toPage } from '../lib/pagination';
import { recipeNotFound } from '../recipes/recipe.service';
import { Bookmark, BookmarkRepository } from './bookmark.repository';

/** Bookmarks are listed newest first; the cursor holds the last one's time and recipe id. */
const bookmarkCursorSchema = z
  .strictObject({ t: z.iso.datetime(), r: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) })
  .transform(({ t, r }) => ({ createdAt: new Date(t), recipeId: r }));

const bookmarkListQuerySchema = pageQuerySchema(bookmarkCursorSchema);

/** A user's bookmarks. Adding and removing are idempotent. */
export class BookmarkService {
  constructor(private readonly bookmarks: BookmarkRepository) {}

  /** `query` holds the raw parameters: limit, cursor. */
  async list(userId: number, query: unknown): Promise<Page<Bookmark>> {
    const { limit, cursor } = parseInput(bookmarkListQuerySchema, query);
    const rows = await this.bookmarks.list({ userId, before: cursor, limit: limit + 1 });
    return toPage(rows, limit, (last) => ({ t: last.createdAt.toISOString(), r: last.recipeId }));
  }

  /** A recipe the user cannot see (someone else's private one, or none) is not found. */
  async add(userId: number, recipeId: number): Promise<void> {
    if (!(await this.bookmarks.add(userId, recipeId))) throw recipeNotFound();
  }

  /** Removing a bookmark that does not exist is fine: the outcome is the same. */
  async remove(userId: number, recipeId: number): Promise<void> {
    await this.bookmarks.remove(userId, recipeId);
  }
}
