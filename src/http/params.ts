import { RequestHandler } from 'express';
import { BadRequestError, NotFoundError } from '../lib/errors';

/**
 * An id from a URL path. Ids are positive integers well below 2^53; anything else (`abc`, `0`,
 * `1.5`, twenty digits) names nothing, so it is a 404 like any unknown id, never a database error.
 */
export function idParam(value: unknown): number {
  if (typeof value !== 'string' || !/^[1-9][0-9]{0,14}$/.test(value)) throw new NotFoundError();
  return Number(value);
}

function containsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (depth > 20 || value === null || typeof value !== 'object') return false;
  for (const [k, v] of Object.entries(value)) if (k.includes('\u0000') || containsNul(v, depth + 1)) return true;
  return false;
}

/** Whether the URL's query string has an encoded NUL (the only way one can be in it: the HTTP parser refuses raw NUL bytes). */
function queryHasNul(url: string): boolean {
  const q = url.indexOf('?');
  return q !== -1 && url.includes('%00', q);
}

/**
 * PostgreSQL cannot store a NUL character in text (or \u0000 in jsonb): a parameter carrying one
 * would fail deep in a query as a 500. No legitimate input has one, so it is refused up front.
 * Mount after the body parser (it checks the query string too). The query string is checked as
 * the raw URL (an encoded %00), not through req.query, which Express 5 parses again on each read.
 */
export const rejectNulBytes: RequestHandler = (req, _res, next) => {
  if (queryHasNul(req.originalUrl ?? req.url) || containsNul(req.body)) throw new BadRequestError('The request contains a NUL character.');
  next();
};
