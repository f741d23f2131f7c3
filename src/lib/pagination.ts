import { z } from 'zod';

/**
 * Keyset pagination shared by every list: the cursor is an opaque base64url token holding the
 * sort key of the last item shown, so pages stay stable while rows are added or removed (no
 * OFFSET). Lists fetch `limit + 1` rows to know whether another page exists.
 */
export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;
const MAX_CURSOR_LENGTH = 200;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** An empty query parameter (`?q=`, as a search form sends) means "not given". */
export const emptyAsAbsent = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema);

const LIMIT_MESSAGE = `limit must be a whole number from 1 to ${MAX_LIMIT}.`;

export const limitSchema = emptyAsAbsent(
  z
    .string({ error: LIMIT_MESSAGE })
    .regex(/^\d{1,4}$/, LIMIT_MESSAGE)
    .transform(Number)
    .pipe(z.number().int().min(1, LIMIT_MESSAGE).max(MAX_LIMIT, LIMIT_MESSAGE))
    .optional(),
).transform((v) => v ?? DEFAULT_LIMIT);

export function encodeCursor(key: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): unknown {
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** A cursor parameter whose decoded key must match `key`; anything else is one clear error. */
export function cursorSchema<T>(key: z.ZodType<T>) {
  return emptyAsAbsent(
    z
      .string({ error: 'cursor must be given once.' })
      .transform((cursor, ctx) => {
        const parsed = key.safeParse(decodeCursor(cursor));
        if (parsed.success) return parsed.data;
        ctx.addIssue({ code: 'custom', message: 'The cursor is not valid: start again from the first page.' });
        return z.NEVER;
      })
      .optional(),
  );
}

/** `limit` and `cursor`, the parameters of every list. */
export const pageQuerySchema = <T>(key: z.ZodType<T>) => z.object({ limit: limitSchema, cursor: cursorSchema(key) });

/** Cuts the `limit + 1` rows a list fetched into a page and the cursor of the next one. */
export function toPage<T>(rows: T[], limit: number, keyOf: (last: T) => Record<string, string | number>): Page<T> {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor(keyOf(items[items.length - 1])) };
}
