import { BadRequestError, NotFoundError } from '../lib/errors';

/**
 * Reads one optional string parameter. A repeated parameter arrives as an array and a bracketed
 * one as an object: both are invalid requests, never silently "the first one".
 */
export function optionalString(source: unknown, name: string, maxLength = 2048): string | undefined {
  const value = source && typeof source === 'object' ? (source as Record<string, unknown>)[name] : undefined;
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadRequestError(`The parameter "${name}" must be given once, as text.`);
  if (value.length > maxLength) throw new BadRequestError(`The parameter "${name}" is too long.`);
  return value;
}

/** Same as optionalString, and the empty string counts as absent (RFC 6749 §3.1). */
export function optionalParam(source: unknown, name: string, maxLength = 2048): string | undefined {
  const v = optionalString(source, name, maxLength);
  return v === '' ? undefined : v;
}

/**
 * An id from a URL path. Ids are positive integers well below 2^53; anything else (`abc`, `0`,
 * `1.5`, twenty digits) names nothing, so it is a 404 like any unknown id, never a database error.
 */
export function idParam(value: unknown): number {
  if (typeof value !== 'string' || !/^[1-9][0-9]{0,14}$/.test(value)) throw new NotFoundError();
  return Number(value);
}
